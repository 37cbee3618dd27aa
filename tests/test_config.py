from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from sms_notify.cli import main
from sms_notify.config import AckSettings, Escalation, load, loads, parse_duration, resolve
from sms_notify.errors import ConfigError

GOOD = """
accounts:
  primary: fastsms://${FASTSMS_TOKEN}@?from=Alerts
  backup:  fastsms://second@?from=Backup
routes:
  oncall:
    to: ["+447700900123", "+447700900124"]
    via: [primary, backup]
    max_segments: 2
    send_resolved: false
    template: "{{ status|upper }} {{ commonLabels.alertname }}"
defaults: {region: gb}
limits: {per_recipient: 20/1h}
dedup_window: 10m
server:
  listen: 127.0.0.1:9717
  bearer_token: ${SMS_NOTIFY_TOKEN}
  outbox: /tmp/outbox.sqlite
"""


def test_a_full_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTSMS_TOKEN", "t@k/e:n#1+")
    monkeypatch.setenv("SMS_NOTIFY_TOKEN", "s3cret")
    config = loads(GOOD, "sms.yml")
    assert config.accounts["primary"].user == "t@k/e:n#1+"  # substituted values are encoded
    assert config.accounts["primary"].name == "primary"
    assert [a.name for a in config.accounts_for("oncall")] == ["primary", "backup"]
    route = config.routes["oncall"]
    assert (route.to, route.max_segments, route.send_resolved) == (
        ["+447700900123", "+447700900124"], 2, False)
    assert config.region == "GB"
    assert config.per_recipient == (20, 3600.0)
    assert config.dedup_window == 600.0
    assert config.server.bearer_token == "s3cret"
    assert config.warnings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts: [a]", "accounts: must be a mapping"),
        ("accounts: {p: 'fastsms://t@?form=x'}", "accounts.p: unknown option 'form'"),
        ("accounts: {p: 'fastsms://${NOPE_NOT_SET}@'}", "accounts.p: environment variable NOPE_NOT_SET is not set"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: [p, q]}}", r"routes.r.via\[1\]: unknown account 'q'"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: [1]}}", "routes.r: missing 'via'"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: p, max_segments: 0}}", "routes.r.max_segments"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: p, template: '{{ x '}}", "routes.r.template: template line 1"),
        ("accounts: {p: 'fastsms://t@?from=WayTooLongSender'}", "accounts.p: sender .WayTooLongSender. must be"),
        ("dedup_window: soon", "dedup_window: 'soon' is not a duration"),
        ("limits: {per_recipient: lots}", "limits.per_recipient: 'lots' is not a rate"),
        ("server: {listen: nowhere}", "server.listen"),
        ("server: {bearer_token: a, basic_auth: {username: u, password: p}}", "server: use bearer_token or basic_auth"),
        ("routs: {}", "routs: unknown key"),
        # What `serve` would crash on or refuse must be refused here too.
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: p, template: \"{{ foo | nofilter }}\"}}",
         "routes.r.template: template line 1: .*nofilter"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: p, template: \"a\\n{{ x is notatest }}\"}}",
         "routes.r.template: template line 2: .*notatest"),
        ("server: {listen: '127.0.0.1:99999'}", "server.listen: '127.0.0.1:99999'"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123', notanumber], via: p}}",
         r"routes.r.to\[1\]: 'notanumber' is not a phone number"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+44'], via: p}}", r"routes.r.to\[0\]"),
        ("defaults: {region: ZZ}", "defaults.region: 'ZZ' is not a region"),
        ("limits: {per_recipient: 20/0s}", "limits.per_recipient: .*window"),
        ("limits: {per_recipient: 20/}", "limits.per_recipient"),
        ("accounts: {p: 'fastsms://t@?from=A'\n", "line 2, column 1: not valid YAML"),
        # Configs that can never send.
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: []}}",
         r"routes.r.via: empty"),
        ("server: {max_age: 0}", "server.max_age: must be longer than 0"),
        ("server: {max_age: 0s}", "server.max_age: must be longer than 0"),
        ("server: {workers: 100000}", "server.workers: must be a whole number from 1 to 64"),
        ("server: {workers: 0}", "server.workers"),
        # Empty secrets, and an open receiver's switch.
        ("server: {bearer_token: ''}", "server.bearer_token: is empty"),
        ("server: {bearer_token: }", "server.bearer_token: is empty"),
        ("server: {basic_auth: {username: '', password: p}}", "server.basic_auth.username: is empty"),
        ("server: {basic_auth: {username: u, password: ''}}", "server.basic_auth.password: is empty"),
        ("server: {insecure_no_auth: yes please}", "server.insecure_no_auth: must be true or false"),
        ("server: {insecure_no_auth: true, bearer_token: t}", "server: insecure_no_auth: true and"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("dedup_window: [" + ", ".join(["x"] * 10000) + "]",
         r"dedup_window: a list is not a duration \(like"),
        # Closing the loop (docs/design.md, Decision 15).
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: p, "
         "escalate: {after: 10m}}}", "routes.r.escalate: needs after"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: p, "
         "escalate: {after: 0s, to: ['+447700900125']}}}", "routes.r.escalate.after: must be"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: p, "
         "escalate: {after: 10m, to: []}}}", "routes.r.escalate.to: empty"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: p, "
         "escalate: {after: 10m, to: [nope]}}}", r"routes.r.escalate.to\[0\]: 'nope'"),
        ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: p, "
         "escalate: {after: 10m, to: ['+447700900125'], when: now}}}",
         "routes.r.escalate.when: unknown key"),
        ("alertmanager: {}", "alertmanager: needs url"),
        ("alertmanager: {url: 'ftp://am'}", "alertmanager.url: 'ftp://am' must be an http"),
        ("alertmanager: {url: 'http://u:p4ss@am:9093'}",
         r"^alertmanager.url: holds credentials \(USER:PASSWORD@\): give them in their own keys "
         r"\(basic_auth, bearer_token\), not in the address$"),
        ("alertmanager: {url: 'http://am:9093/?x=1'}",
         r"^alertmanager.url: 'http://am:9093/\?x=1': an address without a query"),
        ("alertmanager: {url: 'http://am:9093', bearer_token: ''}",
         "alertmanager.bearer_token: is empty"),
        ("alertmanager: {url: 'http://am:9093', bearer_token: t, basic_auth: "
         "{username: u, password: p}}", "alertmanager: use bearer_token or basic_auth"),
        ("acks: {duration: 1h}", "acks: acks need alertmanager"),
        ("alertmanager: {url: 'http://am'}\nacks: {duration: 2d}",
         r"acks.duration: is longer than acks.max_duration"),
        ("alertmanager: {url: 'http://am'}\nacks: {max_duration: 0s}",
         "acks.max_duration: must be longer than 0"),
        ("alertmanager: {url: 'http://am'}\nacks: {duration: soon}",
         "acks.duration: 'soon' is not a duration"),
        ("server: {inbound_secret: ''}", "server.inbound_secret: is empty"),
        ("server: {public_url: 'https://sms.example'}", "server.public_url: needs server.inbound"),
        ("server: {inbound_secret: s, public_url: 'sms.example'}", "server.public_url: 'sms"),
        ("server: {inbound_secret: s, public_url: 'http://h:9717/path?q=1'}",
         r"server.public_url: 'http://h:9717/path\?q=1': an address without a query"),
    ],
)
def test_errors_name_the_key_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loads(text)


def test_closing_the_loop_keys() -> None:
    config = loads("""
accounts: {p: 'fastsms://t@?from=A'}
routes:
  r: {to: ['+447700900123'], via: p, escalate: {after: 10m, to: ['07700 900125']}}
defaults: {region: GB}
alertmanager: {url: 'http://127.0.0.1:9093/', basic_auth: {username: am, password: 'p:w'}}
acks: {duration: 30m, max_duration: 4h}
server: {inbound_secret: s3cret, public_url: 'https://sms.example:9717/'}
""")
    assert config.routes["r"].escalate == Escalation(600.0, ("+447700900125",))
    assert config.alertmanager is not None
    assert (config.alertmanager.url, config.alertmanager.basic_auth) == (
        "http://127.0.0.1:9093", ("am", "p:w"))
    assert "p:w" not in repr(config.alertmanager)
    assert config.acks == AckSettings(1800.0, 14400.0)
    assert (config.server.inbound_secret, config.server.public_url) == (
        "s3cret", "https://sms.example:9717")


def test_without_the_keys_nothing_is_silenced_or_escalated() -> None:
    config = loads("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], "
                   "via: p}}")
    assert (config.alertmanager, config.routes["r"].escalate, config.server.inbound_secret) == (
        None, None, None)
    assert config.acks == AckSettings(3600.0, 86400.0)


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_an_empty_config_file_is_an_error(text: str) -> None:
    with pytest.raises(ConfigError, match="sms.yml: the file is empty"):
        loads(text, "sms.yml")


def test_unknown_names_get_a_did_you_mean() -> None:
    text = "accounts: {primary: 'fastsms://t@?from=A'}\nroutes: {oncall: {via: [primray]}}"
    with pytest.raises(ConfigError, match=r"routes.oncall.via\[0\]: unknown account 'primray'; "
                                          "did you mean 'primary'"):
        loads(text)
    config = loads("accounts: {primary: 'fastsms://t@?from=A'}\nroutes: {oncall: {via: [primary]}}")
    with pytest.raises(ConfigError, match="no account or route named 'oncal'.*did you mean 'oncall'"):
        config.accounts_for("oncal")
    with pytest.raises(ConfigError, match="named 'zzz' in the config$"):
        config.accounts_for("zzz")  # nothing close: no guess


def test_without_server_outbox_the_outbox_is_in_the_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sms-notify:/var/lib/other")
    assert loads("accounts: {}").server.outbox == "/var/lib/sms-notify/outbox.sqlite"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    server = loads("accounts: {}").server
    assert (server.outbox, server.outbox_default) == (
        str(tmp_path / "sms-notify" / "outbox.sqlite"), True)
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert loads("accounts: {}").server.outbox == str(
        tmp_path / ".local" / "state" / "sms-notify" / "outbox.sqlite")
    server = loads("server: {outbox: /srv/o.sqlite}").server
    assert (server.outbox, server.outbox_default) == ("/srv/o.sqlite", False)


def test_route_templates_may_use_the_receivers_filters() -> None:
    text = ("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {via: p, template: "
            "\"{% for a in alerts %}{{ a | where }} {{ a | what }}{% endfor %}\"}}")
    assert loads(text).routes["r"].template


def test_national_numbers_need_a_valid_region() -> None:
    text = "accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['07700 900123'], via: p}}"
    assert loads(text + "\ndefaults: {region: gb}").routes["r"].to == ["+447700900123"]
    with pytest.raises(ConfigError, match=r"routes.r.to\[0\]"):
        loads(text)  # no region: a national number cannot be placed


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("accounts: {p: 'fastsms://t@?from=Caf\u00e9'}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text") as exc:
        load(str(path))
    assert str(path) in str(exc.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("routes: {r: {to: ['+447700900123'], via: p, template: '{{ x | nofilter }}'}}",
         "routes.r.template"),
        ("server: {listen: '127.0.0.1:99999'}", "server.listen"),
        ("routes: {r: {to: [notanumber], via: p}}", "routes.r.to[0]"),
        ("defaults: {region: ZZ}", "defaults.region"),
        ("limits: {per_recipient: 20/0s}", "limits.per_recipient"),
        ("routes: {r: {via: p}}\nserver: {outbox: x.sqlite}", "routes.r.to: no recipient"),
        ("server: {outbox: x.sqlite}", "routes: the receiver needs at least one route"),
        ("routes: {r: {to: ['+447700900123'], via: p}}\nserver: {listen: '0.0.0.0:9717'}",
         "server.listen: 0.0.0.0 is not a loopback address and the receiver has no "
         "authentication"),
        ("routes: {r: {to: ['+447700900123'], via: p}}\nserver: {listen: '[::]:9717'}",
         "server.listen: :: is not a loopback address"),
        ("routes: {r: {to: ['+447700900123'], via: p}}\nserver: {listen: 'myhost:9717'}",
         "server.listen: myhost is not a loopback address"),
    ],
)
def test_check_config_refuses_what_serve_would(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               body: str, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("accounts: {p: 'fastsms://t@?from=A'}\n" + body + "\n")
    assert main(["check-config", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ("sms24x://u:p@", "accounts.p: 24x needs a sender: add from=NAME"),
        ("fastsms://t@", "accounts.p: FastSMS needs a sender"),
        ("mymobileapi://u:p@?live=maybe", "accounts.p: live='maybe' must be one of yes, no"),
        ("sms24x://u:p@?from=Ops%20Team", "accounts.p: sender 'Ops Team' must be at most 11"),
    ],
)
def test_check_config_refuses_accounts_that_can_never_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], account: str, message: str
) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(f"accounts: {{p: '{account}'}}\n")
    assert main(["check-config", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_an_empty_secret_from_the_environment_names_the_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T", "")
    with pytest.raises(ConfigError, match=r"^server.bearer_token: environment variable T is set "
                                          "but empty$"):
        loads("server: {bearer_token: '${T}'}")
    monkeypatch.setenv("T", "x")
    assert loads("server: {bearer_token: '${T}'}").server.bearer_token == "x"


def bomb(key: str) -> str:
    """A "billion laughs" inside one key's value: 9 levels of 9 aliases, 9**9 values from a
    few hundred bytes."""
    levels = ["&a [" + ", ".join(["lol"] * 9) + "]"] + [
        f"&{x} [{', '.join([f'*{y}'] * 9)}]" for y, x in zip("abcdefg", "bcdefgh")]
    value = "[" + ", ".join([*levels, "[" + ", ".join(["*h"] * 9) + "]"]) + "]"
    *outer, last = key.split(".")
    return "".join(f"{k}: {{" for k in outer) + f"{last}: {value}" + "}" * len(outer) + "\n"


@pytest.mark.parametrize("key", ["dedup_window", "server.max_age", "limits.per_recipient"])
def test_a_yaml_alias_bomb_is_refused_naming_its_key(key: str) -> None:
    """Refused from the node graph, before a value is built: it took 58 s and 2.5 GB, then a
    MemoryError traceback."""
    text = bomb(key)
    assert len(text.encode()) < 500
    with pytest.raises(ConfigError, match=r"YAML aliases expand the config to \d+ values, "
                                          "refused") as caught:
        loads(text)
    assert str(caught.value).startswith(key.partition(".")[0] + ":")


def test_a_few_aliases_are_fine() -> None:
    text = ("accounts: {p: 'fastsms://t@?from=A'}\nnumbers: &n ['+447700900123', '+447700900124']\n"
            "routes: {a: {to: *n, via: [p]}, b: {to: *n, via: [p]}}\n")
    with pytest.raises(ConfigError, match="numbers: unknown key"):
        loads(text)  # aliases pass the bound; the unknown key is the error
    config = loads("accounts: {p: 'fastsms://t@?from=A'}\nroutes:\n  a: &r {to: ['+447700900123'], "
                   "via: [p]}\n  b: *r\n  c: {<<: *r, max_segments: 2}\n")
    assert config.routes["c"].to == ["+447700900123"] and config.routes["c"].max_segments == 2


def test_a_short_max_age_warns() -> None:
    assert "no time for a retry" in loads("server: {max_age: 10s}").warnings[0]


def test_a_long_dedup_window_warns() -> None:
    assert "repeat_interval" in loads("dedup_window: 5h").warnings[0]


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("1h30m", 5400), ("45s", 45), ("500ms", 0.5), (90, 90)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


def test_resolve_urls_accounts_and_routes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sms.yml"
    path.write_text("accounts: {p: 'fastsms://t@?from=A'}\nroutes: {r: {to: ['+447700900123'], via: [p]}}\n")
    accounts, to, _ = resolve(["fastsms://x@?from=A", "r"], str(path))
    assert [a.user for a in accounts] == ["x", "t"] and to == ["+447700900123"]
    monkeypatch.setenv("SMS_NOTIFY_CONFIG", str(path))
    assert load().accounts["p"].user == "t"
    with pytest.raises(ConfigError, match="no account or route named 'nope'"):
        resolve(["nope"], str(path))


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTSMS_TOKEN", "SECRET-TOKEN")
    monkeypatch.setenv("SMS_NOTIFY_TOKEN", "x")
    good = tmp_path / "good.yml"
    good.write_text(GOOD)
    assert main(["check-config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK: 2 accounts, 1 routes" in out and "fastsms://****@?from=Alerts" in out
    assert "SECRET-TOKEN" not in out
    bad = tmp_path / "bad.yml"
    bad.write_text("accounts: {p: 'fastsms://t@?form=x'}\n")
    assert main(["check-config", str(bad)]) == 2
    assert "accounts.p: unknown option 'form'" in capsys.readouterr().err
    assert main(["check-config", str(tmp_path / "missing.yml")]) == 2
    assert "cannot read config" in capsys.readouterr().err


@pytest.mark.parametrize(
    "body",
    [
        "routes: {r: {via: p}}",  # a route for nagios --to: no server block, no receiver checks
        "routes: {r: {to: ['+447700900123'], via: p}}\nserver: {listen: '[::1]:9717'}",
        "routes: {r: {to: ['+447700900123'], via: p}}\nserver: {listen: 'localhost:9717'}",
        "routes: {r: {to: ['+447700900123'], via: p}}\n"
        "server: {listen: '0.0.0.0:9717', bearer_token: t}",
        "routes: {r: {to: ['+447700900123'], via: p}}\n"
        "server: {listen: '0.0.0.0:9717', insecure_no_auth: true}",
    ],
)
def test_check_config_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
                              ) -> None:
    path = tmp_path / "good.yml"
    path.write_text("accounts: {p: 'fastsms://t@?from=A'}\n" + body + "\n")
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err


def test_an_escalation_to_a_number_already_paged_warns() -> None:
    config = loads("accounts: {p: 'fastsms://t@?from=A'}\nalertmanager: {url: 'http://am'}\n"
                   "routes: {r: {to: ['+447700900123', '+447700900124'], via: p, escalate: "
                   "{after: 10m, to: ['+447700900124', '+447700900125']}}}")
    assert [w for w in config.warnings if w.startswith("routes.r.escalate")] == [
        "routes.r.escalate.to: +447700900124 is paged through routes.r.to already and would "
        "get the page twice"]


@pytest.mark.parametrize(("accounts", "server", "warning"), [
    ("{p: 'intellisms://u:p@'}", "", "no account's gateway passes replies on"),
    ("{p: 'fastsms://t@?from=A'}", "", "which needs server.inbound_secret"),
    ("{p: 'fastsms://t@?from=A'}", "server: {inbound_secret: s}", None),
    ("{p: 'mymobileapi://u:p@'}", "", None)])
def test_acks_that_can_never_come_warn(accounts: str, server: str, warning: str | None) -> None:
    config = loads(f"accounts: {accounts}\nalertmanager: {{url: 'http://am:9093'}}\n{server}")
    found = [w for w in config.warnings if w.startswith("alertmanager:")]
    assert len(found) == (warning is not None) and all(warning in w for w in found)


# ---- YAML as an operator writes it: numbers, keys, bytes (the outside probe's 5, 10, 16, 18) ----
ONE_ACCOUNT = "accounts: {p: 'fastsms://t@?from=A'}\ndefaults: {region: GB}\n"


def test_unquoted_numbers_are_the_digits_written() -> None:
    """YAML 1.1 read `07712345670` as an octal number: the text went to +441059703736, and
    check-config said OK. A leading 0 or + keeps the number as written."""
    config = loads(ONE_ACCOUNT + "routes: {r: {to: [07712345670, +447700900124, 447700900125, "
                                 "07700700123], via: p, max_segments: 2}}")
    assert config.routes["r"].to == ["+447712345670", "+447700900124", "+447700900125",
                                     "+447700700123"]
    assert config.routes["r"].max_segments == 2  # plain decimals are still numbers


@pytest.mark.parametrize("written", ["010", "0x10", "1_0", "+10", "0:10"])
def test_other_yaml_11_numbers_are_not_guessed(written: str) -> None:
    """`max_segments: 010` was 8 and `0x10` 16: now they are refused for what they look like."""
    with pytest.raises(ConfigError, match="routes.r.max_segments: must be a whole number"):
        loads(ONE_ACCOUNT + f"routes: {{r: {{to: ['+447700900123'], via: p, "
                            f"max_segments: {written}}}}}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("accounts:\n  p: 'fastsms://t@?from=A'\n  p: 'fastsms://u@?from=B'\n",
         r"^accounts.p: written twice \(lines 2 and 3\); YAML would keep only the last$"),
        (ONE_ACCOUNT + "routes:\n  r: {to: ['+447700900123'], via: p}\n"
                       "  r: {to: ['+447700900999'], via: p}\n", r"^routes.r: written twice"),
        (ONE_ACCOUNT + "routes: {r: {to: ['+447700900123'], via: p, via: p}}\n",
         r"^routes.r.via: written twice \(line 3\)"),
        ("server:\n  basic_auth:\n    username: a\n    password: b\n    username: c\n",
         r"^server.basic_auth.username: written twice \(lines 3 and 5\)"),
        ("dedup_window: 10m\ndedup_window: 1h\n", r"^dedup_window: written twice"),
    ],
)
def test_a_key_written_twice_is_an_error_at_any_level(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        loads(text)


@pytest.mark.parametrize(("key", "shown"), [("null", "'null'"), ("~", "'~'"), ("1", "'1'"),
                                            ("true", "'true'"), ("[a, b]", "a sequence")])
def test_a_route_or_account_key_that_is_not_a_name_is_an_error(key: str, shown: str) -> None:
    """`null:` became a route named "None" that no receiver could reach."""
    route = "{to: ['+447700900123'], via: p}"
    with pytest.raises(ConfigError, match=rf"^routes: line 4: the key {re.escape(shown)} is not "
                                          r"a name \(quote it if it is one\)$"):
        loads(ONE_ACCOUNT + f"routes:\n  ? {key}\n  : {route}\n")
    with pytest.raises(ConfigError, match=r"^accounts: line 1: the key 'null' is not a name"):
        loads("accounts: {null: 'fastsms://t@?from=A'}")
    quoted = loads(ONE_ACCOUNT + f"routes:\n  '{key}': {route}\n") if key != "[a, b]" else None
    assert quoted is None or list(quoted.routes) == [key]


@pytest.mark.parametrize("byte", ["\x00", "\x07", "\x1b"])
def test_a_control_byte_in_the_file_names_its_line(tmp_path: Path, byte: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """It was a yaml.reader.ReaderError traceback and exit 1."""
    path = tmp_path / "sms.yml"
    path.write_text(ONE_ACCOUNT + f"routes: {{r: {{to: ['+447700900123'], via: p}}}}\n{byte}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"sms-notify check-config: {path}: line 4, column 1: not valid YAML (control "
                   f"character U+{ord(byte):04X}; is it a text file?)\n")


def run_check_config(target: str) -> subprocess.CompletedProcess[str]:
    """check-config in its own process, with at most 1 GiB of memory: reading /dev/zero
    whole must end in an error, not in a machine out of memory."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run([sys.executable, "-m", "sms_notify", "check-config", target],
                          capture_output=True, text=True, timeout=60, preexec_fn=cap,
                          check=False)


def test_a_device_a_pipe_a_folder_or_a_huge_file_is_refused_at_once(tmp_path: Path) -> None:
    """`check-config /dev/zero` never returned."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.yml"
    huge.write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n")
    for target, why in [("/dev/zero", "is not a regular file"), (str(fifo), "is not a regular file"),
                        (str(tmp_path), "is a folder"), (str(huge), "larger than 1024 KiB")]:
        done = run_check_config(target)
        assert (done.returncode, done.stdout) == (2, ""), done
        assert done.stderr.startswith(f"sms-notify check-config: {target}: {why}"), done.stderr


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("accounts: {p: 'fastsms://${TOK}@?from=A'}", {"TOK": ""},
         "accounts.p: environment variable TOK is set but empty"),
        ("accounts: {p: 'intellisms://u:${PW}@?from=A'}", {"PW": ""},
         "accounts.p: environment variable PW is set but empty"),
        ("accounts: {p: 'fastsms://${TOK:-x}@?from=A'}", {},
         "accounts.p: ${TOK:-...} is not supported: only ${NAME} is substituted (no defaults; "
         "$$ is a literal $)"),
        ("server: {outbox: '${DIR-/var}/o.sqlite'}", {}, "server.outbox: ${DIR-...} is not supported"),
        ("accounts: {p: 'fastsms://${TOK?from=A'}", {}, "accounts.p: ${TOK?...} is not supported"),
        ("accounts: {p: 'fastsms://$TOK@?from=A'}", {"TOK": "x"},
         "accounts.p: $TOK is not substituted: write ${TOK} for the variable, or $$TOK for a "
         "literal $"),
        ("accounts: {p: 'fastsms://${TOK}@?from=A'}", {"TOK": "tok\n"},
         "accounts.p: environment variable TOK holds a control character (a line break at its "
         "end?)"),
        ("server: {bearer_token: '${BT}'}", {"BT": "a\r\nX-Evil: 1"},
         "server.bearer_token: environment variable BT holds a control character"),
        ("server: {bearer_token: $BT}", {"BT": "x"}, "server.bearer_token: $BT is not substituted"),
        ('server: {bearer_token: "tok\\r\\n"}', {},
         "server.bearer_token: holds a control character (a line break?), which no HTTP header "
         "can carry"),
        ('server: {basic_auth: {username: u, password: "p\\x1bw"}}', {},
         "server.basic_auth.password: holds a control character"),
    ],
)
def test_environment_edge_cases_name_the_variable_or_the_form(
        monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str], message: str) -> None:
    """An empty TOK or ${TOK:-x} said "fastsms:// takes TOKEN@ before the targets"; $TOK was
    taken literally and a bearer_token with CR/LF accepted."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "X-Evil" not in str(caught.value)


def test_dollars_that_are_no_variable_stay_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "x$y")
    config = loads("accounts: {p: 'intellisms://u:$$pw${PW}@?from=A'}\nroutes: {r: {via: p, "
                   "template: 'costs $5 or ${{ value }} $HOME'}}")
    assert config.accounts["p"].password == "$pwx$y"
    assert config.routes["r"].template == "costs $5 or ${{ value }} $HOME"


def test_an_account_target_is_checked_with_the_config_region(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "s3cretPW")
    with pytest.raises(ConfigError, match=r"^accounts.x: target 1 is not a phone number") as caught:
        loads("accounts: {x: 'intellisms://me:pw@${PW}?from=A'}")
    assert "s3cret" not in str(caught.value)
    config = loads("accounts: {x: 'intellisms://me:pw@07700900123?from=A'}\ndefaults: {region: GB}")
    assert config.accounts["x"].targets == ("07700900123",)
    with pytest.raises(ConfigError, match=r"^accounts.x: target 1 is not a phone number"):
        loads("accounts: {x: 'intellisms://me:pw@0770?from=A'}\ndefaults: {region: GB}")
