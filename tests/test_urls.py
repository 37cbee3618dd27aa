from __future__ import annotations

import pytest

from sms_notify.errors import ConfigError
from sms_notify.manager import providers
from sms_notify.urls import build, mask, parse


def test_parse_token_url_with_targets_and_options() -> None:
    account = parse(
        "fastsms://T0K3N@447700900123/%2B447700900124?from=Alerts&endpoint=http://127.0.0.1:8025"
        "&to=+447700900125,447700900126",
        providers(),
    )
    assert account.scheme == "fastsms"
    assert account.user == "T0K3N"
    assert account.targets == ("447700900123", "+447700900124", "+447700900125", "447700900126")
    assert account.sender == "Alerts"
    assert account.url(providers()["fastsms"], "/api") == "http://127.0.0.1:8025/api"


def test_endpoint_keeps_the_documented_path_and_default_is_documented_host() -> None:
    provider = providers()["fastsms"]
    assert parse("fastsms://t@?from=A", providers()).url(provider, "/api") == (
        "https://my.fastsms.co.uk/api")
    with_prefix = parse("fastsms://t@?from=A&endpoint=http://127.0.0.1:9/prefix/", providers())
    assert with_prefix.url(provider, "/api") == "http://127.0.0.1:9/prefix/api"


def test_percent_encoded_secrets_survive() -> None:
    account = parse("fastsms://a%40b%2Fc%3Ad%23e%2Bf@?from=A", providers())
    assert account.user == "a@b/c:d#e+f"
    assert "a@b" not in mask(account)
    assert build(account, providers()).startswith("fastsms://a%40b%2Fc%3Ad%23e%2Bf@")


def test_mask_hides_token_and_keeps_the_rest() -> None:
    account = parse("fastsms://SECRET@447700900123?from=Alerts", providers())
    shown = mask(account)
    assert "SECRET" not in shown
    assert shown == "fastsms://****@447700900123?from=Alerts"
    assert account.label() == "fastsms"


def test_build_round_trips() -> None:
    url = "fastsms://tok@447700900123/447700900124?from=Alerts&list=oncall&max_segments=2"
    account = parse(url, providers())
    assert parse(build(account, providers()), providers()) == account


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nope", "not a provider URL"),
        ("acme://u:p@", "unknown gateway 'acme'"),
        ("fastsms://447700900123", "takes TOKEN@"),
        ("fastsms://tok@?form=Alerts", "unknown option 'form'"),
        ("fastsms://tok@?timeout=abc", "timeout='abc' must be seconds above 0 and at most a day"),
        ("fastsms://tok@?max_segments=0", "max_segments='0'"),
        ("fastsms://tok@?endpoint=ftp://x", "must start with http"),
        ("fastsms://tok#en@", "'#'"),
    ],
)
def test_bad_urls_name_the_problem(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse(url, providers())


def test_errors_never_echo_the_secret() -> None:
    with pytest.raises(ConfigError) as info:
        parse("fastsms://SUPERSECRET@?bogus=1", providers())
    assert "SUPERSECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("endpoint=http://[::1", "endpoint is not a valid URL"),
        ("endpoint=http://127.0.0.1:port", "endpoint is not a valid URL"),
        ("endpoint=http://u:EPSECRET@127.0.0.1:9", "endpoint= must not carry a user or password"),
        ("endpoint=http://", "has no host"),
        ("endpoint=ftp://u:EPSECRET@host", "(hidden: it holds an '@')"),
        ("timeout=nan", "timeout='nan' must be seconds above 0 and at most a day"),
        ("timeout=inf", "must be seconds above 0"),
        ("timeout=0", "must be seconds above 0"),
        ("region=ZZ", "region='ZZ' is not a region code"),
    ],
)
def test_options_that_cannot_work_are_refused_naming_the_problem(query: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(f"fastsms://T0K3N@447700900123?{query}", providers(), "accounts.primary")
    assert message in str(caught.value)
    assert str(caught.value).startswith("accounts.primary: ")
    assert "EPSECRET" not in str(caught.value)


def test_a_region_is_kept_upper_case() -> None:
    assert parse("fastsms://t@?from=A&region=gb", providers()).options["region"] == "GB"


def test_a_sender_the_gateway_refuses_is_refused_with_the_url() -> None:
    """One check for every way in: command line, config file, Apprise."""
    with pytest.raises(ConfigError, match=r"^sender 'WayTooLongSender' must be at most 11"):
        parse("fastsms://t@?from=WayTooLongSender", providers())
    assert parse("fastsms://t@?from=Alerts", providers()).sender == "Alerts"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # The documents make the sender mandatory: every send would fail (24x answers 02).
        ("fastsms://t@447700900123", "FastSMS needs a sender: add from=NAME or a number"),
        ("sms24x://u:p@447700900123", "24x needs a sender"),
        # 24x: "11 characters alphanumeric or 12 numeric"
        ("sms24x://u:p@?from=Alerts%20Ltd", "sender 'Alerts Ltd' must be at most 11 characters of [A-Za-z0-9]"),
        ("sms24x://u:p@?from=Ops.Team", "must be at most 11 characters of [A-Za-z0-9]"),
        ("sms24x://u:p@?from=4477009001234", "longer than 12 digits"),
        ("mymobileapi://u:p@?live=maybe", "live='maybe' must be one of yes, no"),
        ("fastsms://t@?from=A&validity=2d", "validity='2d' must be above 0 and at most 86400s"),
        ("fastsms://t@?from=A&validity=soon", "validity='soon' is not a duration"),
        ("server2sms://u:p@?validity=1h", "unknown option 'validity'"),
        ("fastsms://t@?from=A&token=other", "two tokens"),
    ],
)
def test_urls_that_can_never_send_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(url, providers())
    assert message in str(caught.value)


def test_sender_rules_that_pass() -> None:
    assert parse("sms24x://u:p@?from=Alerts2", providers()).sender == "Alerts2"
    assert parse("sms24x://u:p@?from=447700900123", providers()).sender == "447700900123"
    assert parse("server2sms://u:p@?from=Ops%20Team", providers()).sender == "Ops Team"
    assert parse("intellisms://u:p@", providers()).sender is None  # optional there


def test_source_is_another_name_for_from_and_token_for_the_token() -> None:
    """As in Apprise's own SMS plugins."""
    account = parse("fastsms://?token=T0K3N&source=Alerts&to=447700900123", providers())
    assert (account.user, account.sender, account.targets) == ("T0K3N", "Alerts", ("447700900123",))
    assert mask(account) == "fastsms://****@447700900123?from=Alerts"
    assert parse("fastsms://T0K3N@?token=T0K3N&from=A", providers()).user == "T0K3N"
    with pytest.raises(ConfigError, match="unknown option 'token'"):
        parse("intellisms://u:p@?token=x", providers())  # no token there


@pytest.mark.parametrize(("value", "seconds"), [("30m", "1800"), ("1h", "3600"), ("90", "90"),
                                               ("1d", "86400")])
def test_validity_is_kept_in_seconds(value: str, seconds: str) -> None:
    account = parse(f"fastsms://t@?from=A&validity={value}", providers())
    assert account.options["validity"] == seconds and account.validity == float(seconds)
    assert parse(f"mymobileapi://u:p@?validity={value}", providers()).validity == float(seconds)


@pytest.mark.parametrize(("url", "region", "message"), [
    ("intellisms://me:pw@NOTANUMBER?from=A", None,
     "target 1 of the URL is not a phone number (+447700900123, or national with region=)"),
    ("intellisms://me:pw@+447700900123/s3cretPW?from=A", None, "target 2 of the URL is not a phone"),
    ("fastsms://t@?from=A&to=+447700900123,123", None, "target 2 of the URL is not a phone"),
    ("fastsms://t@07700900123?from=A&region=GB&to=0770", None, "target 2 of the URL"),
    ("fastsms://t@0770?from=A", "GB", "target 1 of the URL"),
])
def test_a_target_that_can_never_be_a_phone_number_is_refused_without_echoing_it(
        url: str, region: str | None, message: str) -> None:
    """`intellisms://me:pw@NOTANUMBER` passed check-config and failed every send; a ${PW}
    misplaced after the @ was printed in clear."""
    with pytest.raises(ConfigError) as caught:
        parse(url, providers(), region=region)
    assert str(caught.value) == message or str(caught.value).startswith(message)
    assert not any(t in str(caught.value) for t in ("NOTANUMBER", "s3cretPW", "0770", ",123"))


def test_targets_that_may_be_phone_numbers_pass() -> None:
    account = parse("fastsms://t@+447700900123/447700900124/07700900125?from=A", providers())
    assert len(account.targets) == 3  # a national number without a region: --region may place it
    assert parse("fastsms://t@07700900125?from=A", providers(), region="GB").targets == (
        "07700900125",)
