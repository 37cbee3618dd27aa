"""Nagios 4 and Icinga 2: the `nagios` notification command and the `check-balance` check plugin.

Both run as a new process for every notification or check, so this module imports nothing but
argparse and os at the top: the core (config, plugins, delivery) is imported inside the
functions, and Jinja2 only when the user gives ``--template``.

Input (docs/design.md, Decision 5): flags first, with the Icinga 2 stock-script letters for both
daemons; for what no flag gave, Nagios' ``NAGIOS_*`` environment macros, then Icinga 2's
``env`` variables. Icinga variables are read only when ``NOTIFICATIONTYPE`` is set (Icinga's
``env`` block always sets it), because ``HOSTNAME`` is also set by shells and containers.
A flag given with an empty value (Icinga passes ``-b ''``) counts as given.

Output: one line (one receipt per recipient, as `send` prints them), exit 0 when every
recipient's text was accepted by a gateway, 1 when any failed, 2 for usage and config errors.
"""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import NoReturn

    from sms_notify.model import Balance

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
DEFAULT_TIMEOUT = 25.0  # below Nagios' default notification_timeout of 30 s
CHECK_TIMEOUT = 10.0  # the plugin guidelines' usual -t default

# Notification type -> (first word(s) of the text, what follows the state: the check's output
# or the author's comment). Icinga says FLAPPINGEND where Nagios says FLAPPINGSTOP.
TYPES: dict[str, tuple[str, str]] = {
    "PROBLEM": ("PROBLEM", "output"),
    "RECOVERY": ("RECOVERY", "output"),
    "ACKNOWLEDGEMENT": ("ACK", "comment"),
    "CUSTOM": ("CUSTOM", "comment"),
    "FLAPPINGSTART": ("FLAPPING", "output"),
    "FLAPPINGSTOP": ("FLAPPING OVER", "output"),
    "FLAPPINGEND": ("FLAPPING OVER", "output"),
    "FLAPPINGDISABLED": ("FLAPPING DISABLED", ""),
    "DOWNTIMESTART": ("DOWNTIME", "comment"),
    "DOWNTIMEEND": ("DOWNTIME OVER", "comment"),
    "DOWNTIMECANCELLED": ("DOWNTIME CANCELLED", "comment"),
}

FIELDS = ("type", "host", "service", "state", "output", "date", "author", "comment")
def timeout_argument(value: str) -> float:
    """--timeout: the core's rule (finite, above 0, at most a day), imported when used."""
    from sms_notify.commands import timeout_argument as core_rule

    return core_rule(value)


class Alert:
    """One notification as the daemon described it; empty strings where it said nothing."""

    __slots__ = FIELDS

    def __init__(self, **values: str) -> None:
        for name in FIELDS:
            setattr(self, name, values.get(name, ""))

    type: str
    host: str
    service: str
    state: str
    output: str
    date: str
    author: str
    comment: str

    @property
    def subject(self) -> str:
        """`host/service`, or the host alone for a host notification."""
        return f"{self.host}/{self.service}" if self.service else self.host

    @property
    def time(self) -> str:
        """HH:MM out of the daemon's date (`Sun Nov 22 11:27:42 UTC 2026` or
        `2026-11-22 11:32:49 +0000`): the minute is what matters on a phone."""
        import re

        match = re.search(r"(?<!\d)(\d{1,2}):(\d{2})(?::\d{2})?(?!\d)", self.date)
        return f"{int(match.group(1)):02d}:{match.group(2)}" if match else self.date

    def variables(self) -> dict[str, str]:
        """What a --template sees."""
        return {
            **{name: getattr(self, name) for name in FIELDS},
            "subject": self.subject,
            "time": self.time,
            "kind": "service" if self.service else "host",
        }


# --------------------------------------------------------------------------- the notify command


def notify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Send one SMS for a Nagios or Icinga 2 notification. Flags first; NAGIOS_* macros and "
        "Icinga 2 env variables fill in what no flag gave."
    )
    parser.add_argument(
        "targets", nargs="+", metavar="ROUTE|ACCOUNT|URL",
        help="a route or account name from --config, or provider URLs; tried in order (failover)",
    )
    parser.add_argument(
        "--to", action="append", default=[], metavar="NUMBER",
        help="recipient (repeatable, commas allowed); default: the pager macro, then the route's to",
    )
    alert = parser.add_argument_group("the notification (Icinga 2 stock-script letters)")
    alert.add_argument("-t", "--type", help="$NOTIFICATIONTYPE$ / $notification.type$")
    alert.add_argument("-l", "--host", help="$HOSTNAME$ / $host.name$")
    alert.add_argument("-e", "--service", help="$SERVICEDESC$ / $service.name$ (service notifications)")
    alert.add_argument("-s", "--state", help="$HOSTSTATE$ or $SERVICESTATE$")
    alert.add_argument("-o", "--output", help="$HOSTOUTPUT$ or $SERVICEOUTPUT$")
    alert.add_argument("-d", "--date", help="$LONGDATETIME$ / $icinga.long_date_time$")
    alert.add_argument("-b", "--author", help="$NOTIFICATIONAUTHOR$ / $notification.author$")
    alert.add_argument("-c", "--comment", help="$NOTIFICATIONCOMMENT$ / $notification.comment$")
    parser.add_argument(
        "--timeout", type=timeout_argument, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"give up after this long, retries and failover included (default {DEFAULT_TIMEOUT:g}); "
        "keep it below the daemon's notification timeout",
    )
    parser.add_argument(
        "--template", metavar="JINJA2|@FILE",
        help="Jinja2 template for the text (or @FILE to read one); variables: type host service "
        "state output date time author comment subject kind text (the default text)",
    )
    parser.add_argument(
        "--max-segments", type=int, default=None, metavar="N",
        help="most SMS parts (default: the route's max_segments, else 1)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the text; send nothing")
    parser.add_argument("--config", metavar="FILE", help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def _clean(value: str) -> str:
    """One line, single spaces: Nagios leaves double spaces where it strips characters, Icinga
    keeps the space before the perfdata."""
    return " ".join(value.split())


def gather(args: argparse.Namespace, environ: Mapping[str, str]) -> Alert:
    """The notification from flags, else NAGIOS_* macros, else Icinga 2 variables."""
    icinga = bool(environ.get("NOTIFICATIONTYPE", "").strip())

    def pick(flag: str | None, nagios: Sequence[str], *icinga_names: str) -> str:
        if flag is not None:
            return _clean(flag)
        for name in (*nagios, *(icinga_names if icinga else ())):
            value = environ.get(name, "")
            if value.strip():
                return _clean(value)
        return ""

    service = pick(
        args.service, ("NAGIOS_SERVICEDESC",), "SERVICENAME", "SERVICEDESC", "SERVICEDISPLAYNAME"
    )
    kind = "SERVICE" if service else "HOST"
    return Alert(
        type=pick(args.type, ("NAGIOS_NOTIFICATIONTYPE",), "NOTIFICATIONTYPE").upper(),
        host=pick(args.host, ("NAGIOS_HOSTNAME",), "HOSTNAME", "HOSTDISPLAYNAME"),
        service=service,
        state=pick(args.state, (f"NAGIOS_{kind}STATE",), f"{kind}STATE"),
        output=pick(args.output, (f"NAGIOS_{kind}OUTPUT",), f"{kind}OUTPUT"),
        date=pick(args.date, ("NAGIOS_LONGDATETIME",), "LONGDATETIME"),
        author=pick(
            args.author, ("NAGIOS_NOTIFICATIONAUTHOR", "NAGIOS_NOTIFICATIONAUTHORNAME"),
            "NOTIFICATIONAUTHORNAME",
        ),
        comment=pick(args.comment, ("NAGIOS_NOTIFICATIONCOMMENT",), "NOTIFICATIONCOMMENT"),
    )


def _split(values: Iterable[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def recipients(
    flags: Sequence[str], environ: Mapping[str, str], route_to: Sequence[str]
) -> list[str]:
    """--to, else the pager macro (NAGIOS_CONTACTPAGER, Icinga's USERPAGER), else the route's
    `to`. An empty --to (a contact without a pager) falls through."""
    given = _split(flags)
    if given:
        return given
    names = ["NAGIOS_CONTACTPAGER"]
    if environ.get("NOTIFICATIONTYPE", "").strip():
        names.append("USERPAGER")
    for name in names:
        pager = _split([environ.get(name, "")])
        if pager:
            return pager
    return list(route_to)


# A host state and the plugin status that leads the output of a host check in that state.
_HOST_STATUS = {"UP": "OK", "DOWN": "CRITICAL", "UNREACHABLE": "CRITICAL"}


def _without_state(detail: str, state: str) -> str:
    """`CRITICAL - disk full` -> `disk full` when the state is CRITICAL (or `OK - ...` for a
    host that is UP): say the state once."""
    for word in {state, _HOST_STATUS.get(state.upper(), "")} - {""}:
        for sep in (" - ", ": "):
            prefix = word + sep
            if detail[: len(prefix)].upper() == prefix.upper():
                return detail[len(prefix):].strip()
    return detail


def default_text(alert: Alert, max_segments: int = 1) -> str:
    """The compact text, e.g. `PROBLEM web01/HTTP CRITICAL: connection refused 12:03`.

    The detail (output or comment) is cut first, so that type, host, service, state and time
    survive in `max_segments` parts."""
    label, follows = TYPES.get(alert.type, (alert.type, "output"))
    head = " ".join(w for w in (label, alert.subject, alert.state) if w)
    detail = ""
    if follows == "comment":
        if alert.author:
            head += f" by {alert.author}"
        detail = alert.comment or alert.output
    elif follows == "output":
        detail = alert.output
    detail = _without_state(detail, alert.state)
    tail = f" {alert.time}" if alert.time else ""
    return fit(head, detail, tail, max_segments)


def fit(head: str, detail: str, tail: str, max_segments: int) -> str:
    """`head: detail tail`, with the detail shortened (marked `...`) to fit the parts."""
    from sms_notify.text import count_parts, gsm_friendly

    def fits(text: str) -> bool:
        return count_parts(gsm_friendly(text)).parts <= max_segments

    whole = f"{head}: {detail}{tail}" if detail else f"{head}{tail}"
    if not detail or fits(whole):
        return whole
    low, high = 0, len(detail)  # the longest cut of the detail that fits
    while low < high:
        mid = (low + high + 1) // 2
        if fits(f"{head}: {detail[:mid].rstrip()}...{tail}"):
            low = mid
        else:
            high = mid - 1
    if low == 0:
        return f"{head}{tail}"  # the core shortens what is still too long
    return f"{head}: {detail[:low].rstrip()}...{tail}"


def render(template: str, alert: Alert, text: str, limit: float | None = None) -> str:
    """The user's Jinja2 template (or @FILE) over the alert's variables, in a sandbox (a
    template is not a licence to run code) and within `limit` seconds (OutOfTime after)."""
    import contextlib

    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    if template.startswith("@"):
        with open(template[1:], encoding="utf-8") as handle:
            template = handle.read()
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    # Imports above, outside the alarm: an import cut short would leave half a module.
    with _Alarm(limit) if limit else contextlib.nullcontext():
        return env.from_string(template).render(**alert.variables(), text=text).strip()


def render_share(timeout: float) -> float:
    """The part of --timeout a template may take: a tenth, at least 0.2 s and at most 2 s
    (a template renders in milliseconds; one that loops must not eat the sending time)."""
    return min(2.0, max(0.2, timeout / 10), timeout / 2)


def compose(
    alert: Alert, max_segments: int, template: str | None, limit: float | None = None
) -> tuple[str, str | None]:
    """The text to send and, when the template failed or took longer than `limit` seconds,
    why (the default text is sent then: a template must not silence an alert)."""
    from sms_notify.errors import OutOfTime

    text = default_text(alert, max_segments)
    if not template:
        return text, None
    try:
        rendered = render(template, alert, text, limit)
    except OutOfTime:
        return text, f"template took longer than {limit:g}s; sent the default text"
    except Exception as exc:  # jinja2 errors, a missing file: fall back, say so
        return text, f"template failed ({type(exc).__name__}: {exc}); sent the default text"
    if not rendered:
        return text, "template rendered an empty text; sent the default text"
    return rendered, None


class _Alarm:
    """A hard stop at `seconds` (SIGALRM), so that the command answers before the daemon
    kills it; a no-op where signals cannot be set (not the main thread, no SIGALRM). A timer
    that was already running (pytest-timeout's) is put back on the way out."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.previous: object = None
        self.outer = (0.0, 0.0)
        self.started = 0.0

    def __enter__(self) -> _Alarm:
        import signal
        import time

        from sms_notify.errors import OutOfTime

        def expired(signum: int, frame: object) -> None:
            raise OutOfTime

        try:
            self.previous = signal.signal(signal.SIGALRM, expired)
        except (AttributeError, ValueError):
            self.previous = None
            return self
        self.started = time.monotonic()
        self.outer = signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal
        import time

        if self.previous is None:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)  # type: ignore[arg-type]
        delay, interval = self.outer
        if delay > 0:
            left = max(0.001, delay - (time.monotonic() - self.started))
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def budget(timeout: float) -> float:
    """The retry budget: the timeout less room to start, print and exit (and for the last
    request's own timeout, which may run past the budget by up to half a second)."""
    return max(timeout * 0.5, timeout - min(2.0, max(0.5, timeout * 0.2)))


def notify(args: argparse.Namespace) -> int:
    """Compose one text for the notification, deliver it with retries and failover inside
    --timeout, print one line; exit 0 when a gateway accepted it for every recipient."""
    import logging

    from sms_notify.errors import UsageError

    if args.max_segments is not None and args.max_segments < 1:
        raise UsageError("--max-segments must be at least 1")
    logger = logging.getLogger("sms_notify")
    level = logger.level
    if not args.verbose:
        # One line of output: failover and number-range warnings only with -v.
        logger.setLevel(logging.ERROR)
    try:
        return _notify(args)
    finally:
        logger.setLevel(level)


def _notify(args: argparse.Namespace) -> int:
    import sys
    import time

    from sms_notify.errors import UsageError

    alert = gather(args, os.environ)
    if not alert.host:
        raise UsageError(
            "no host: give -l HOST (or enable_environment_macros=1 in Nagios, "
            "or HOSTNAME and NOTIFICATIONTYPE in the Icinga 2 command's env)"
        )
    from sms_notify.config import resolve, route_max_segments

    accounts, route_to, config = resolve(args.targets, args.config)
    max_segments = args.max_segments or route_max_segments(config, args.targets) or 1
    if args.max_segments:
        from sms_notify.commands import warn_segments

        warn_segments(accounts, args.max_segments, "--max-segments")
    started = time.monotonic()
    text, problem = compose(alert, max_segments, args.template, render_share(args.timeout))
    if problem:
        print(f"sms-notify nagios: {problem}", file=sys.stderr)
    if args.dry_run:
        print(text)
        return EXIT_USAGE if problem else EXIT_OK

    from sms_notify.commands import receipt_line
    from sms_notify.delivery import RetryPolicy, deliver, has_recipient
    from sms_notify.errors import OutOfTime

    to = recipients(args.to, os.environ, route_to)
    if not has_recipient(accounts, to):
        raise UsageError(
            "no recipient: give --to NUMBER (--to \"$CONTACTPAGER$\" or \"$user.pager$\"), "
            "or a route with `to`"
        )

    left = max(0.001, args.timeout - (time.monotonic() - started))  # what the template left
    try:
        with _Alarm(left):
            receipts = deliver(
                accounts, text, to,
                region=config.region if config else None,
                max_segments=max_segments,
                policy=RetryPolicy(budget=budget(left)),
            )
    except OutOfTime as stop:  # a request may have been out: its receipt says unconfirmed
        print("; ".join(receipt_line(r) for r in stop.receipts)
              or f"failed: no gateway accepted the text within {args.timeout:g}s")
        return EXIT_FAILED
    if not receipts:
        print("failed: no recipient")
        return EXIT_FAILED
    print("; ".join(receipt_line(r) for r in receipts))
    return EXIT_OK if all(r.ok for r in receipts) else EXIT_FAILED


# ----------------------------------------------------------------------- the check-balance plugin


class Range:
    """A Nagios plugin threshold range (`10`, `10:`, `~:10`, `10:20`, `@10:20`).

    Low credit is the problem (docs/design.md, Decision 6), so a plain `N` means `N:`, "alert below
    N", where the plugin guidelines read `0:N`. `@` alerts inside the range, bounds included."""

    def __init__(self, start: float, end: float, inside: bool, text: str) -> None:
        self.start, self.end, self.inside, self.text = start, end, inside, text

    @classmethod
    def parse(cls, text: str) -> Range:
        raw = text.strip()
        inside = raw.startswith("@")
        body = raw[1:] if inside else raw
        if ":" not in body:
            if inside:  # `@N`: the guidelines' 0..N, inside
                return cls(0.0, _number(body, text), True, raw)
            n = _number(body, text)
            return cls(n, float("inf"), False, f"{body}:")
        first, _, last = body.partition(":")
        start = float("-inf") if first == "~" else _number(first, text) if first else 0.0
        end = _number(last, text) if last else float("inf")
        if start > end:
            raise argparse.ArgumentTypeError(f"range {text!r}: start is above the end")
        return cls(start, end, inside, raw)

    def alert(self, value: float) -> bool:
        """True when `value` should raise this threshold's state."""
        outside = value < self.start or value > self.end
        return not outside if self.inside else outside

    def __repr__(self) -> str:
        return f"Range({self.text!r})"


def _number(text: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{whole!r} is not a number or Nagios range") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{whole!r} is not a number or Nagios range")
    return value


class PluginParser(argparse.ArgumentParser):
    """Usage errors exit 3 (UNKNOWN) with a status line, as the plugin guidelines ask."""

    def error(self, message: str) -> NoReturn:
        import sys

        self.print_usage(sys.stderr)
        print(f"SMS CREDIT UNKNOWN - {message}")
        raise SystemExit(UNKNOWN)


check_balance_parser = PluginParser  # cli.py builds the parser with it: usage errors exit 3


def check_balance_arguments(parser: argparse.ArgumentParser) -> None:
    from sms_notify import __version__

    parser.description = (
        "Nagios / Icinga 2 check plugin for the SMS credit: WARNING below -w, CRITICAL below -c "
        "(Nagios ranges accepted: 500:, ~:10, @10:20). A route checks each of its accounts."
    )
    parser.add_argument("target", metavar="ROUTE|ACCOUNT|URL",
                        help="a route (each of its accounts), an account name or a provider URL")
    parser.add_argument("-w", "--warning", type=Range.parse, metavar="RANGE", help="e.g. 500 or 500:")
    parser.add_argument("-c", "--critical", type=Range.parse, metavar="RANGE", help="e.g. 100 or 100:")
    parser.add_argument(
        "-t", "--timeout", type=timeout_argument, default=CHECK_TIMEOUT, metavar="SECONDS",
        help=f"UNKNOWN after this long (default {CHECK_TIMEOUT:g})",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-V", "--version", action="version", version=f"sms-notify {__version__}")


def _num(value: float) -> str:
    """Perfdata numbers: plain digits, no exponent."""
    return str(int(value)) if value == int(value) else f"{value:.6f}".rstrip("0")


def _severity(state: int) -> int:
    """CRITICAL > WARNING > UNKNOWN > OK when several accounts are checked."""
    return (0, 2, 3, 1)[state]


def classify(credits: float, warning: Range | None, critical: Range | None) -> int:
    if critical is not None and critical.alert(credits):
        return CRITICAL
    if warning is not None and warning.alert(credits):
        return WARNING
    return OK


def status_line(
    results: Sequence[tuple[str, Balance | None, str]],
    warning: Range | None,
    critical: Range | None,
) -> tuple[int, str]:
    """The plugin's state and output line for (account label, balance or None, error) rows."""
    states: list[int] = []
    words: list[str] = []
    perf: list[str] = []
    several = len(results) > 1
    thresholds = f";{warning.text if warning else ''};{critical.text if critical else ''};0"
    for label, balance, error in results:
        if balance is None:
            states.append(UNKNOWN)
            words.append(f"{label}: {error}")
            continue
        states.append(classify(balance.credits, warning, critical))
        words.append(f"{_num(balance.credits)} {balance.unit} on {label}")
        name = f"credits_{label}" if several else "credits"
        name = f"'{name}'" if any(c in name for c in " '=") else name
        perf.append(f"{name}={_num(balance.credits)}{thresholds}")
    state = max(states, key=_severity)
    line = f"SMS CREDIT {STATE_NAMES[state]} - {', '.join(words)}"
    return state, line + (f" | {' '.join(perf)}" if perf else "")


def check_balance(args: argparse.Namespace) -> int:
    """Ask each account for its credit; OK/WARNING/CRITICAL by the thresholds, UNKNOWN when
    a gateway cannot be asked or the arguments are wrong. Prints one status line."""
    from sms_notify.errors import ConfigError, OutOfTime, ProviderError, UsageError

    try:
        from sms_notify.config import resolve
        from sms_notify.delivery import balance

        accounts = resolve([args.target], args.config)[0]
        results: list[tuple[str, Balance | None, str]] = []
        share = budget(args.timeout) / max(1, len(accounts))  # every account gets its turn
        with _Alarm(args.timeout):
            for account in accounts:
                try:
                    results.append((account.label(), balance(account, budget=share), ""))
                except ProviderError as exc:
                    results.append((account.label(), None, exc.describe()))
    except (ConfigError, UsageError) as exc:
        print(f"SMS CREDIT UNKNOWN - {exc}")
        return UNKNOWN
    except OutOfTime:
        print(f"SMS CREDIT UNKNOWN - no answer within {args.timeout:g}s")
        return UNKNOWN
    state, line = status_line(results, args.warning, args.critical)
    print(line)
    return state
