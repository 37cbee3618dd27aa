"""Real Nagios 4 and Icinga 2, each standalone (as root) in a temporary folder, calling the real
`sms-notify nagios` and `sms-notify check-balance` with the definitions docs/nagios.md shows.

Recipes: /work/shared/e2e/RECIPES.md (sections 2 and 3). What matters from there:
- Nagios: `nagios_user=root`, `interval_length=1`, `cached_host_check_horizon=0` (else host
  re-checks take 8-16 s), commands through the FIFO `var/rw/nagios.cmd`.
- Icinga 2: `icinga2 daemon -c CONF -DRunAsUser=root -D<paths>` in the foreground; no retained
  state; commands through the ExternalCommandListener's FIFO.
- A FIFO without a reader blocks a writer forever: `external_command` opens it non-blocking and
  fails at once instead.
- Both only log a failed notification; the tests read the sandbox inbox, and show the daemon's
  log when a text does not arrive.

The doc snippets below use /opt/sms-notify/bin/sms-notify (a venv's command) and
/etc/sms-notify/sms-notify.yml; the tests put this venv's command and a temporary config in their
place, and nothing else changes.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.e2e.conftest import Sandbox, child_env, stop

T = TypeVar("T")

DOC_COMMAND = "/opt/sms-notify/bin/sms-notify"
DOC_CONFIG = "/etc/sms-notify/sms-notify.yml"
PAGER = "+447700900123"  # the contact's / user's pager in the doc snippets

# ---- docs/nagios.md, "Nagios 4" (verbatim) ----
NAGIOS_DEFINITIONS = """\
define command {
    command_name    notify-host-by-sms
    command_line    /opt/sms-notify/bin/sms-notify nagios oncall --config /etc/sms-notify/sms-notify.yml --to "$CONTACTPAGER$" -t "$NOTIFICATIONTYPE$" -l "$HOSTNAME$" -s "$HOSTSTATE$" -o "$HOSTOUTPUT$" -d "$LONGDATETIME$" -b "$NOTIFICATIONAUTHOR$" -c "$NOTIFICATIONCOMMENT$"
}

define command {
    command_name    notify-service-by-sms
    command_line    /opt/sms-notify/bin/sms-notify nagios oncall --config /etc/sms-notify/sms-notify.yml --to "$CONTACTPAGER$" -t "$NOTIFICATIONTYPE$" -l "$HOSTNAME$" -e "$SERVICEDESC$" -s "$SERVICESTATE$" -o "$SERVICEOUTPUT$" -d "$LONGDATETIME$" -b "$NOTIFICATIONAUTHOR$" -c "$NOTIFICATIONCOMMENT$"
}

define command {
    command_name    check_sms_credit
    command_line    /opt/sms-notify/bin/sms-notify check-balance $ARG1$ --config /etc/sms-notify/sms-notify.yml -w $ARG2$ -c $ARG3$
}

define contact {
    contact_name                    oncall
    alias                           On-call engineer
    pager                           +447700900123
    host_notifications_enabled      1
    service_notifications_enabled   1
    host_notification_period        24x7
    service_notification_period     24x7
    host_notification_options       d,u,r,f,s
    service_notification_options    w,u,c,r,f,s
    host_notification_commands      notify-host-by-sms
    service_notification_commands   notify-service-by-sms
}
"""

# ---- docs/nagios.md, "Icinga 2" (verbatim) ----
ICINGA_DEFINITIONS = """\
object User "oncall" {
  display_name = "On-call engineer"
  pager = "+447700900123"
  states = [ Up, Down, OK, Warning, Critical, Unknown ]
  types = [ Problem, Recovery, Acknowledgement, Custom, FlappingStart, FlappingEnd,
            DowntimeStart, DowntimeEnd, DowntimeRemoved ]
}

object NotificationCommand "sms-host-notification" {
  command = [ "/opt/sms-notify/bin/sms-notify", "nagios", "oncall", "--config", "/etc/sms-notify/sms-notify.yml" ]
  arguments = {
    "--to" = "$user.pager$"
    "-t" = "$notification.type$"
    "-l" = "$host.name$"
    "-s" = "$host.state$"
    "-o" = "$host.output$"
    "-d" = "$icinga.long_date_time$"
    "-b" = "$notification.author$"
    "-c" = "$notification.comment$"
  }
}

object NotificationCommand "sms-service-notification" {
  command = [ "/opt/sms-notify/bin/sms-notify", "nagios", "oncall", "--config", "/etc/sms-notify/sms-notify.yml" ]
  arguments = {
    "--to" = "$user.pager$"
    "-t" = "$notification.type$"
    "-l" = "$host.name$"
    "-e" = "$service.name$"
    "-s" = "$service.state$"
    "-o" = "$service.output$"
    "-d" = "$icinga.long_date_time$"
    "-b" = "$notification.author$"
    "-c" = "$notification.comment$"
  }
}

apply Notification "sms" to Host {
  command = "sms-host-notification"
  users = [ "oncall" ]
  interval = 0  // one text per problem: SMS costs money
  assign where host.vars.sms
}

apply Notification "sms" to Service {
  command = "sms-service-notification"
  users = [ "oncall" ]
  interval = 0
  assign where host.vars.sms
}

object CheckCommand "sms-credit" {
  command = [ "/opt/sms-notify/bin/sms-notify", "check-balance", "$sms_credit_account$", "--config", "/etc/sms-notify/sms-notify.yml" ]
  arguments = {
    "-w" = "$sms_credit_warning$"
    "-c" = "$sms_credit_critical$"
  }
  vars.sms_credit_account = "oncall"
  vars.sms_credit_warning = 500
  vars.sms_credit_critical = 100
}
"""

# check_state.sh from RECIPES: the exit code comes from a state file, else the default.
CHECK_STATE = """\
#!/bin/sh
# check_state.sh STATEFILE DEFAULT_RC : exit code is read from STATEFILE (if present) else DEFAULT_RC
rc=$(cat "$1" 2>/dev/null || echo "$2")
case "$rc" in
  0) echo "OK - simulated check is fine | rta=0.1ms";;
  1) echo "WARNING - simulated warning";;
  2) echo "CRITICAL - simulated failure: host unreachable (test 'quote' & \\$dollar) | rta=999ms";;
  *) echo "UNKNOWN - simulated";;
esac
exit "$rc"
"""

# The credit check's thresholds in the tests: far above any sandbox balance, so it is CRITICAL
# and Nagios / Icinga send a PROBLEM text carrying check-balance's status line.
CREDIT_WARNING, CREDIT_CRITICAL = 2_000_000, 1_000_000


def sms_notify_command() -> str:
    """The venv's console script (what /opt/sms-notify/bin/sms-notify stands for)."""
    path = Path(sys.executable).with_name("sms-notify")
    assert path.is_file(), f"the sms-notify console script is missing: {path}"
    return str(path)


def require(binary: str) -> str:
    """A daemon's path; a missing one fails the test (CI installs them: .ci/run), never skips."""
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin")
    if not found:
        pytest.fail(f"{binary} is not installed (apt-get install nagios4-core icinga2; see .ci/run)")
    return found


def from_docs(snippet: str, config: Path) -> str:
    """A doc snippet with the test's command and config in place of the documented paths."""
    return snippet.replace(DOC_COMMAND, sms_notify_command()).replace(DOC_CONFIG, str(config))


def write_sms_config(path: Path, sandbox: Sandbox) -> Path:
    """The sms-notify config both daemons use: a route over two sandbox accounts."""
    path.write_text(
        "accounts:\n"
        f"  primary: fastsms://sandbox@?from=Alerts&endpoint={sandbox.url}\n"
        f"  backup: intellisms://sandbox:sandbox@?from=Alerts&endpoint={sandbox.url}\n"
        "routes:\n"
        "  oncall:\n"
        "    via: [primary, backup]\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Daemon:
    """A running Nagios or Icinga 2 in its folder."""

    name: str
    proc: subprocess.Popen[Any]
    root: Path
    log_path: Path
    command_file: Path

    def external_command(self, command: str) -> None:
        """Write `[now] COMMAND;args` to the command FIFO without ever blocking."""
        line = f"[{int(time.time())}] {command}\n".encode()
        deadline = time.monotonic() + 10
        while True:
            try:
                fd = os.open(self.command_file, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:  # ENXIO: no reader yet; ENOENT: not made yet
                if exc.errno not in (errno.ENXIO, errno.ENOENT) or time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} command file: {exc}\n{self.tail()}") from None
                time.sleep(0.05)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def set_state(self, name: str, rc: int) -> None:
        """What the next check of host `name` (or `name-svc` for its service) returns."""
        path = self.root / "var" / f"{name}.state"
        path.write_text(f"{rc}\n", encoding="utf-8")

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the daemon we started, by its PID (SIGTERM, then SIGKILL after 15 s)."""
        stop(self.proc, timeout=15)


def wait_for(check: Callable[[], T | None], timeout: float, what: str, daemon: Daemon) -> T:
    """Poll `check` until it returns something truthy; fail with the daemon's log if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if daemon.proc.poll() is not None:
            raise AssertionError(f"{daemon.name} exited ({daemon.proc.returncode}) waiting for {what}\n{daemon.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g}s\n{daemon.tail()}")
        time.sleep(0.1)


def _plugins(root: Path) -> Path:
    plugins = root / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    script = plugins / "check_state.sh"
    script.write_text(CHECK_STATE, encoding="utf-8")
    script.chmod(0o755)
    return plugins


# ------------------------------------------------------------------------------------- Nagios 4

NAGIOS_CFG = """\
log_file={root}/var/nagios.log
cfg_file={root}/objects.cfg
object_cache_file={root}/var/objects.cache
precached_object_file={root}/var/objects.precache
resource_file={root}/resource.cfg
status_file={root}/var/status.dat
status_update_interval=1
nagios_user=root
nagios_group=root
check_external_commands=1
command_file={root}/var/rw/nagios.cmd
query_socket={root}/var/rw/nagios.qh
lock_file={root}/var/nagios.lock
temp_file={root}/var/nagios.tmp
temp_path={root}/var/tmp
check_result_path={root}/var/checkresults
event_broker_options=0
use_syslog=0
log_rotation_method=n
log_notifications=1
log_host_retries=1
log_service_retries=1
log_initial_states=1
log_external_commands=1
retain_state_information=0
state_retention_file={root}/var/retention.dat
interval_length=1
max_host_check_spread=1
max_service_check_spread=1
check_result_reaper_frequency=1
check_for_updates=0
bare_update_check=0
enable_notifications=1
execute_host_checks=1
execute_service_checks=1
enable_flap_detection=0
enable_environment_macros=0
notification_timeout=30
host_check_timeout=20
service_check_timeout=20
date_format=iso8601
illegal_object_name_chars=`~!$%^&*|'"<>?,()=
illegal_macro_output_chars=`~$&|'"<>
cached_host_check_horizon=0
cached_service_check_horizon=0
debug_level=0
debug_file={root}/var/nagios.debug
"""

# Test scaffolding around the doc definitions: testhost is DOWN, svchost is UP with a CRITICAL
# "Disk Space" and an "SMS credit" check whose thresholds make it CRITICAL. The credit check
# asks the backup account only, so that a fault injected into the primary (fastsms) meets the
# texts alone.
NAGIOS_OBJECTS = """\
define timeperiod {{
    timeperiod_name 24x7
    alias           always
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}}
define command {{
    command_name check_host_state
    command_line $USER1$/check_state.sh {root}/var/$HOSTNAME$.state $ARG1$
}}
define command {{
    command_name check_svc_state
    command_line $USER1$/check_state.sh {root}/var/$HOSTNAME$-svc.state $ARG1$
}}
define host {{
    host_name               testhost
    alias                   Test host (always DOWN)
    address                 127.0.0.1
    check_command           check_host_state!2
    max_check_attempts      1
    check_interval          2
    retry_interval          1
    check_period            24x7
    active_checks_enabled   1
    notifications_enabled   1
    notification_interval   0
    first_notification_delay 0
    notification_period     24x7
    notification_options    d,u,r,f,s
    contacts                oncall
}}
define host {{
    host_name               svchost
    alias                   Host that is UP, carrying the services
    address                 127.0.0.1
    check_command           check_host_state!0
    max_check_attempts      1
    check_interval          5
    check_period            24x7
    notifications_enabled   0
    notification_period     24x7
    contacts                oncall
}}
define service {{
    host_name               svchost
    service_description     Disk Space
    check_command           check_svc_state!2
    max_check_attempts      1
    check_interval          2
    retry_interval          1
    check_period            24x7
    notifications_enabled   1
    notification_interval   0
    first_notification_delay 0
    notification_period     24x7
    notification_options    w,u,c,r,f,s
    contacts                oncall
}}
define service {{
    host_name               svchost
    service_description     SMS credit
    check_command           check_sms_credit!backup!{warning}!{critical}
    max_check_attempts      1
    check_interval          5
    retry_interval          5
    check_period            24x7
    notifications_enabled   1
    notification_interval   0
    first_notification_delay 0
    notification_period     24x7
    notification_options    w,u,c,r
    contacts                oncall
}}
"""


def start_nagios(root: Path, config: Path) -> Daemon:
    """Nagios 4 in the foreground (no -d, so the PID is Nagios'), everything under `root`."""
    binary = require("nagios4")
    for sub in ("var/checkresults", "var/tmp", "var/rw"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    plugins = _plugins(root)
    (root / "resource.cfg").write_text(f"$USER1$={plugins}\n", encoding="utf-8")
    (root / "nagios.cfg").write_text(NAGIOS_CFG.format(root=root), encoding="utf-8")
    (root / "objects.cfg").write_text(
        from_docs(NAGIOS_DEFINITIONS, config) + "\n"
        + NAGIOS_OBJECTS.format(root=root, warning=CREDIT_WARNING, critical=CREDIT_CRITICAL),
        encoding="utf-8",
    )
    verify = subprocess.run([binary, "-v", str(root / "nagios.cfg")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert verify.returncode == 0, f"nagios4 -v failed:\n{verify.stdout}{verify.stderr}"
    out = open(root / "var" / "stdout.log", "w", encoding="utf-8")  # noqa: SIM115 - child owns it
    proc = subprocess.Popen([binary, str(root / "nagios.cfg")], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=child_env(), cwd=root)
    out.close()
    return Daemon("nagios4", proc, root, root / "var" / "nagios.log", root / "var" / "rw" / "nagios.cmd")


# ------------------------------------------------------------------------------------- Icinga 2

ICINGA_CONF = """\
const PluginDir = "/usr/lib/nagios/plugins"
const TestDir = "{root}"
const NodeName = "localhost"
const ZoneName = "master"

object Endpoint NodeName {{ }}
object Zone ZoneName {{ endpoints = [ NodeName ] }}

include <itl>

object CheckerComponent "checker" {{ }}
object NotificationComponent "notification" {{ }}
object FileLogger "main-log" {{
  severity = "notice"
  path = LogDir + "/icinga2.log"
}}
object ExternalCommandListener "command" {{
  command_path = TestDir + "/var/run/icinga2.cmd"
}}

include_recursive "conf.d"
"""

ICINGA_OBJECTS = """\
object CheckCommand "state-file" {{
  command = [ "{plugins}/check_state.sh", "$state_file$", "$default_rc$" ]
  vars.state_file = TestDir + "/var/$host.name$.state"
}}

object Host "testhost" {{
  display_name = "Test host (always DOWN)"
  address = "127.0.0.1"
  check_command = "state-file"
  vars.default_rc = 2
  max_check_attempts = 1
  check_interval = 2s
  retry_interval = 1s
  vars.sms = true
}}

object Host "svchost" {{
  address = "127.0.0.1"
  check_command = "state-file"
  vars.default_rc = 0
  max_check_attempts = 1
  check_interval = 5s
  retry_interval = 1s
  vars.sms = true
}}

object Service "Disk Space" {{
  host_name = "svchost"
  check_command = "state-file"
  vars.state_file = TestDir + "/var/$host.name$-svc.state"
  vars.default_rc = 2
  max_check_attempts = 1
  check_interval = 2s
  retry_interval = 1s
}}

object Service "SMS credit" {{
  host_name = "svchost"
  check_command = "sms-credit"
  vars.sms_credit_account = "backup"
  vars.sms_credit_warning = {warning}
  vars.sms_credit_critical = {critical}
  max_check_attempts = 1
  check_interval = 5s
  retry_interval = 5s
}}
"""


def start_icinga(root: Path, config: Path) -> Daemon:
    """Icinga 2 in the foreground as root, every path under `root`, no retained state."""
    binary = require("icinga2")
    for sub in ("var/lib", "var/log", "var/cache", "var/spool", "var/run", "conf.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    plugins = _plugins(root)
    (root / "icinga2.conf").write_text(ICINGA_CONF.format(root=root), encoding="utf-8")
    (root / "conf.d" / "sms.conf").write_text(from_docs(ICINGA_DEFINITIONS, config), encoding="utf-8")
    (root / "conf.d" / "objects.conf").write_text(
        ICINGA_OBJECTS.format(plugins=plugins, warning=CREDIT_WARNING, critical=CREDIT_CRITICAL),
        encoding="utf-8",
    )
    var = root / "var"
    args = [
        binary, "daemon", "-c", str(root / "icinga2.conf"),
        f"-DConfigDir={root}", f"-DDataDir={var}/lib", f"-DLogDir={var}/log",
        f"-DCacheDir={var}/cache", f"-DSpoolDir={var}/spool", f"-DInitRunDir={var}/run",
        f"-DPidPath={var}/run/icinga2.pid", f"-DStatePath={var}/lib/icinga2.state",
        f"-DObjectsPath={var}/cache/icinga2.debug", f"-DVarsPath={var}/cache/icinga2.vars",
        "-DRunAsUser=root", "-DRunAsGroup=root",
    ]
    verify = subprocess.run([*args, "-C"], capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, f"icinga2 -C failed:\n{verify.stdout}{verify.stderr}"
    out = open(var / "stdout.log", "w", encoding="utf-8")  # noqa: SIM115 - child owns it
    proc = subprocess.Popen([*args, "-x", "notice"], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=child_env(), cwd=root)
    out.close()
    return Daemon("icinga2", proc, root, var / "log" / "icinga2.log", var / "run" / "icinga2.cmd")


def texts(sandbox: Sandbox, to: str = PAGER) -> list[dict[str, Any]]:
    """What the sandbox accepted for the pager, oldest first."""
    return sandbox.inbox(to=to)


def one_text(sandbox: Sandbox, *needles: str) -> Callable[[], list[dict[str, Any]]]:
    """A check for wait_for: the inbox messages whose text contains every needle."""

    def check() -> list[dict[str, Any]]:
        return [m for m in texts(sandbox) if all(n in m["text"] for n in needles)]

    return check
