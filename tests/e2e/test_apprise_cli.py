"""The real `apprise` command delivers to the sandbox through the five schemas, once
`sms-notify apprise-plugin` has written its plugin file: into a --plugin-path directory, into the
default ~/.config/apprise/plugins, and with an Apprise YAML config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import apprise
import pytest

from tests.e2e.conftest import Cli, Sandbox, child_env

pytestmark = pytest.mark.e2e

APPRISE = Path(sys.executable).with_name("apprise")
SCHEMES = ("fastsms", "intellisms", "server2sms", "sms24x", "mymobileapi")
NUMBER = "+447700900123"


def apprise_env(home: Path) -> dict[str, str]:
    """No plugin path but the ones a test names: an empty HOME, no APPRISE_* variables."""
    env = {k: v for k, v in child_env().items() if not k.startswith("APPRISE_")}
    env["HOME"] = str(home)
    return env


def run_apprise(
    *args: str, home: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert APPRISE.is_file(), f"the apprise command is missing: {APPRISE}"
    return subprocess.run(
        [str(APPRISE), "-vv", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=apprise_env(home),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def write_plugin(cli: Cli, *args: str, **env: str) -> Path:
    out = cli("apprise-plugin", *args, **env)
    assert out.returncode == 0, out.stderr
    written = Path(out.stdout.strip())
    assert written.is_file() and written.name == "sms_notify_apprise.py"
    return written


@pytest.mark.parametrize("scheme", SCHEMES)
def test_apprise_with_plugin_path_sends_through_each_schema(
    scheme: str, fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(cli, str(plugins))
    url = fresh_sandbox.url_for(scheme, NUMBER, from_="Alerts")
    text = f"DISK FULL on db1 via {scheme}"
    out = run_apprise("--plugin-path", str(plugins), "-b", text, url, home=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [(m["to"], m["text"]) for m in fresh_sandbox.inbox(gateway=scheme)] == [(NUMBER, text)]
    assert "sandbox:sandbox@" not in out.stdout + out.stderr


def test_the_number_range_warning_follows_apprise_verbosity(
    fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """+447700900123 is in the drama range phonenumbers does not know: without -v Apprise
    says nothing about it, as about its own warnings; with -v once, in Apprise's format."""
    plugins = tmp_path / "plugins"
    write_plugin(cli, str(plugins))
    url = fresh_sandbox.url_for("fastsms", NUMBER, from_="Alerts")
    for flags, times in (((), 0), (("-v",), 1)):
        out = subprocess.run(
            [str(APPRISE), *flags, "--plugin-path", str(plugins), "-b", "DISK FULL", url],
            capture_output=True, text=True, timeout=120, env=apprise_env(tmp_path),
            stdin=subprocess.DEVNULL, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        said = (out.stdout + out.stderr).count("not a known number range")
        assert said == times, (flags, out.stdout, out.stderr)
    assert len(fresh_sandbox.inbox(gateway="fastsms")) == 2


def test_apprise_finds_the_plugin_in_the_default_dir(
    fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    written = write_plugin(cli, HOME=str(tmp_path))
    assert written == tmp_path / ".config" / "apprise" / "plugins" / "sms_notify_apprise.py"
    url = fresh_sandbox.url_for("fastsms", NUMBER, "+447700900124", from_="Alerts")
    out = run_apprise("-b", "from the default dir", url, home=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(m["to"] for m in fresh_sandbox.inbox(gateway="fastsms")) == [
        NUMBER,
        "+447700900124",
    ]


def test_without_the_plugin_apprise_does_not_know_the_schema(
    fresh_sandbox: Sandbox, tmp_path: Path
) -> None:
    out = run_apprise("-b", "nobody home", fresh_sandbox.url_for("fastsms", NUMBER), home=tmp_path)
    assert out.returncode != 0
    assert fresh_sandbox.inbox() == []


def test_apprise_yaml_config_with_two_schemas(
    fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(cli, str(plugins))
    config = tmp_path / "apprise.yml"
    config.write_text(
        "version: 1\n"
        "urls:\n"
        f"  - fastsms://sandbox@?endpoint={fresh_sandbox.url}:\n"
        "      - from: Alerts\n"
        "        to: 447700900123\n"
        f"  - intellisms://sandbox:sandbox@?endpoint={fresh_sandbox.url}:\n"
        "      - to: [447700900124, '+447700900125']\n",
        encoding="utf-8",
    )
    out = run_apprise(
        "--plugin-path", str(plugins), "-c", str(config), "-b", "YAML alert", home=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    got = sorted((m["gateway"], m["to"], m["text"]) for m in fresh_sandbox.inbox())
    assert got == [
        ("fastsms", NUMBER, "YAML alert"),
        ("intellisms", "+447700900124", "YAML alert"),
        ("intellisms", "+447700900125", "YAML alert"),
    ]


def test_a_refused_recipient_shows_in_apprise_output(
    fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(cli, str(plugins))
    url = fresh_sandbox.url_for("fastsms", NUMBER, "+447700900000", from_="Alerts")
    out = run_apprise("--plugin-path", str(plugins), "-b", "half of it", url, home=tmp_path)
    assert out.returncode == 1
    assert "Failed to send FastSMS SMS to +447700900000: recipient: " in out.stdout
    assert [m["to"] for m in fresh_sandbox.inbox(gateway="fastsms")] == [NUMBER]


def test_bad_credentials_fail_with_the_gateways_text(
    fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(cli, str(plugins))
    url = fresh_sandbox.url_for("intellisms", NUMBER).replace(
        "sandbox:sandbox@", "sandbox:Wr0ngPa55@"
    )
    out = run_apprise("--plugin-path", str(plugins), "-b", "nope", url, home=tmp_path)
    assert out.returncode == 1
    assert f"Failed to send IntelliSoftware SMS to {NUMBER}: auth: " in out.stdout
    assert "Wr0ngPa55" not in out.stdout + out.stderr
    assert fresh_sandbox.inbox() == []


def test_apprise_whose_python_cannot_import_sms_notify_says_so(
    fresh_sandbox: Sandbox, cli: Cli, tmp_path: Path
) -> None:
    """A pipx or system Apprise: its Python has apprise but not sms-notify. `python -S` with only
    apprise's site-packages on sys.path (no .pth files, so no sms-notify) is that Python."""
    plugins = tmp_path / "plugins"
    write_plugin(cli, str(plugins))
    site = str(Path(apprise.__file__).resolve().parent.parent)
    url = fresh_sandbox.url_for("fastsms", NUMBER)
    code = (
        "import sys\n"
        f"sys.path.append({site!r})\n"
        "from apprise.cli import main\n"
        f"sys.argv = ['apprise', '-vv', '--plugin-path', {str(plugins)!r}, '-b', 'x', {url!r}]\n"
        "main()\n"
    )
    env = {k: v for k, v in apprise_env(tmp_path).items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert (
        "mymobileapi:// and those of other sms-notify plugins) are NOT available"
        in out.stderr
    )
    assert "cannot import sms_notify" in out.stderr
    assert (
        f"pip install sms-notify into the same environment as apprise: {sys.executable}"
        in out.stderr
    )
    assert "Traceback" not in out.stderr
    assert out.returncode == 1
    assert fresh_sandbox.inbox() == []


def test_apprise_plugin_refuses_a_dir_it_cannot_write(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = cli("apprise-plugin", str(blocker / "plugins"))
    assert out.returncode == 2
    assert "cannot write" in out.stderr and out.stdout == ""
    assert os.listdir(tmp_path) == ["a-file"]
