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
    assert parse("fastsms://t@", providers()).url(provider, "/api") == "https://my.fastsms.co.uk/api"
    with_prefix = parse("fastsms://t@?endpoint=http://127.0.0.1:9/prefix/", providers())
    assert with_prefix.url(provider, "/api") == "http://127.0.0.1:9/prefix/api"


def test_percent_encoded_secrets_survive() -> None:
    account = parse("fastsms://a%40b%2Fc%3Ad%23e%2Bf@", providers())
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
    assert parse("fastsms://t@?region=gb", providers()).options["region"] == "GB"


def test_a_sender_the_gateway_refuses_is_refused_with_the_url() -> None:
    """One check for every way in: command line, config file, Apprise."""
    with pytest.raises(ConfigError, match=r"request: sender 'WayTooLongSender'"):
        parse("fastsms://t@?from=WayTooLongSender", providers())
    assert parse("fastsms://t@?from=Alerts", providers()).sender == "Alerts"
