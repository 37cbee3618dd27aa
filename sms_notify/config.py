"""The YAML config file: accounts, routes, defaults, limits and the receiver's server block.

``${VAR}`` is replaced from the environment (``$$`` is a literal ``$``); inside account URLs the
value is percent-encoded, so secrets with ``@ / : # +`` survive. Every error names its key path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

from .errors import ConfigError, ProviderError
from .model import Account
from .urls import check_region, duration, parse, quote_secret

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

ENV_VAR = "SMS_NOTIFY_CONFIG"
_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TOP_KEYS = {"accounts", "routes", "defaults", "limits", "dedup_window", "server"}
ROUTE_KEYS = {"to", "via", "max_segments", "send_resolved", "template"}
# Filters the Alertmanager receiver adds to route templates (integrations/alertmanager/templates.py
# passes its functions to template_environment): named here so that check-config knows them.
TEMPLATE_FILTERS = ("where", "what")
SERVER_KEYS = {"listen", "bearer_token", "basic_auth", "outbox", "max_body", "synchronous",
               "max_age", "workers"}


@dataclass
class Route:
    name: str
    to: list[str]
    via: list[str]
    max_segments: int = 1
    send_resolved: bool = True
    template: str | None = None


@dataclass
class Server:
    listen: str = "127.0.0.1:9717"
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    outbox: str = field(default_factory=lambda: default_outbox())
    outbox_default: bool = True  # server.outbox not set: serve says where the outbox is
    max_body: int = 10 * 1024 * 1024
    synchronous: str = "NORMAL"
    max_age: float = 6 * 3600.0  # how long a job keeps being retried before it is dead
    workers: int = 4


@dataclass
class Config:
    accounts: dict[str, Account] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    region: str | None = None
    per_recipient: tuple[int, float] | None = None  # (texts, window seconds)
    dedup_window: float = 600.0
    server: Server = field(default_factory=Server)
    warnings: list[str] = field(default_factory=list)
    path: str = ""

    def accounts_for(self, name: str) -> list[Account]:
        """Accounts named by an account or route name, in failover order."""
        if name in self.accounts:
            return [self.accounts[name]]
        if name in self.routes:
            return [self.accounts[v] for v in self.routes[name].via]
        raise ConfigError(f"no account or route named {name!r} in {self.path or 'the config'}"
                          + did_you_mean(name, [*self.accounts, *self.routes]))


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """`; did you mean 'primary'?` for a name close to a known one, else nothing."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def default_outbox() -> str:
    """The outbox when server.outbox is not set: systemd's StateDirectory ($STATE_DIRECTORY),
    else $XDG_STATE_HOME/sms-notify (~/.local/state/sms-notify), never the current folder."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        home = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".local", "state")
        state = os.path.join(home, "sms-notify")
    return os.path.join(state, "outbox.sqlite")


def parse_duration(value: Any, path: str) -> float:
    """Seconds in `10m`, `1h30m`, `45s`, `500ms` or a bare number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    try:
        return duration(str(value))
    except ValueError:
        raise ConfigError(f"{value!r} is not a duration (like 30s, 10m, 1h30m)", path) from None


def _substitute(value: str, path: str, encode: bool) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set", path)
        return quote_secret(os.environ[name]) if encode else os.environ[name]

    return _ENV_REF.sub(repl, value)


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"must be a mapping, not {type(value).__name__}", path)
    return value


def _string(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"must be a string, not {type(value).__name__}", path)
    return _substitute(str(value), path, encode=False)


def _strings(value: Any, path: str) -> list[str]:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"must be a list, not {type(value).__name__}", path)
    return [_string(v, f"{path}[{i}]") for i, v in enumerate(value)]


def _unknown(data: dict[str, Any], allowed: set[str], path: str) -> None:
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"unknown key (known: {', '.join(sorted(allowed))})", where)


def loads(text: str, path: str = "", *, templates: bool = True) -> Config:
    """Parse and validate a config document; `templates=False` skips compiling the route
    templates, which only the receiver renders (send and nagios start once per alert)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML ({problem})", path) from None
    if data is None:
        raise ConfigError("the file is empty: it needs at least `accounts:` (see "
                          "'sms-notify help config')", path)
    data = _mapping(data, "(top level)")
    _unknown(data, TOP_KEYS, "")
    from .manager import Providers

    known = Providers()
    config = Config(path=path)

    for name, url in _mapping(data.get("accounts"), "accounts").items():
        where = f"accounts.{name}"
        if not isinstance(url, str):
            raise ConfigError("must be a provider URL string", where)
        account = parse(_substitute(url, where, encode=True), known, where)
        account.name = str(name)
        config.accounts[str(name)] = account

    defaults = _mapping(data.get("defaults"), "defaults")
    _unknown(defaults, {"region"}, "defaults")
    if "region" in defaults:
        config.region = _region(_string(defaults["region"], "defaults.region"), "defaults.region")

    for name, body in _mapping(data.get("routes"), "routes").items():
        where = f"routes.{name}"
        body = _mapping(body, where)
        _unknown(body, ROUTE_KEYS, where)
        if "via" not in body:
            raise ConfigError("missing 'via': the accounts to send through, in order", where)
        via = _strings(body["via"], f"{where}.via")
        for i, account_name in enumerate(via):
            if account_name not in config.accounts:
                raise ConfigError(f"unknown account {account_name!r}"
                                  + did_you_mean(account_name, list(config.accounts)),
                                  f"{where}.via[{i}]")
        route = Route(str(name), _strings(body.get("to", []), f"{where}.to"), via)
        route.to = [check_number(n, config.region, f"{where}.to[{i}]")
                    for i, n in enumerate(route.to)]
        if "max_segments" in body:
            ms = body["max_segments"]
            if isinstance(ms, bool) or not isinstance(ms, int) or ms < 1:
                raise ConfigError("must be a whole number of at least 1", f"{where}.max_segments")
            route.max_segments = ms
        if "send_resolved" in body:
            if not isinstance(body["send_resolved"], bool):
                raise ConfigError("must be true or false", f"{where}.send_resolved")
            route.send_resolved = body["send_resolved"]
        if body.get("template") is not None:
            route.template = _string(body["template"], f"{where}.template")
            if templates:
                _check_template(route.template, f"{where}.template")
        config.routes[str(name)] = route

    limits = _mapping(data.get("limits"), "limits")
    _unknown(limits, {"per_recipient"}, "limits")
    if "per_recipient" in limits:
        config.per_recipient = _rate(limits["per_recipient"], "limits.per_recipient")

    if "dedup_window" in data:
        config.dedup_window = parse_duration(data["dedup_window"], "dedup_window")
    if config.dedup_window > 3600:
        config.warnings.append(
            f"dedup_window: {data['dedup_window']} is long; keep it below Alertmanager's "
            "repeat_interval (default 4h) or repeats of a still-firing alert are dropped"
        )

    config.server = _server(_mapping(data.get("server"), "server"))
    return config


def _rate(value: Any, path: str) -> tuple[int, float]:
    text = str(value)
    count, sep, window = text.partition("/")
    if not sep or not count.strip().isdigit() or int(count) < 1:
        raise ConfigError(f"{value!r} is not a rate like 20/1h", path)
    seconds = parse_duration(window.strip(), path)
    if seconds <= 0:  # a zero window would divide by zero or never limit anything
        raise ConfigError(f"{value!r}: the window must be longer than 0", path)
    return int(count), seconds


def _region(value: str, path: str) -> str:
    """A region phonenumbers knows: an unknown one would refuse every national number later."""
    try:
        return check_region(value)
    except ValueError as exc:
        raise ConfigError(str(exc), path) from None


def check_number(number: str, region: str | None, path: str) -> str:
    """A recipient in E.164; one that cannot be a phone number is refused now, not when an
    alert is due."""
    from .numbers import normalize

    try:
        return normalize(number, region, warn=False)  # check-config says it in its own words
    except ProviderError as exc:
        raise ConfigError(exc.text, path) from None


def template_environment(
    filters: dict[str, Callable[..., Any]] | None = None,
) -> ImmutableSandboxedEnvironment:
    """The sandbox route templates run in, shared by the receiver and the config check so that
    a template check-config accepts compiles in serve too. Filters not given are stand-ins that
    only make their names known (enough to compile)."""
    from jinja2 import ChainableUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)
    for name in TEMPLATE_FILTERS:
        env.filters[name] = (filters or {}).get(name, _stand_in)
    return env


def _stand_in(value: Any, *args: Any) -> Any:
    return value


def _check_template(source: str, path: str) -> None:
    """Compile as the receiver does: unknown filters and tests fail here, not in serve."""
    from jinja2 import TemplateError

    try:
        template_environment().from_string(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"template line {line}: " if line else "template: "
        raise ConfigError(f"{where}{exc.message or exc}", path) from None


def _server(body: dict[str, Any]) -> Server:
    _unknown(body, SERVER_KEYS, "server")
    server = Server()
    if "listen" in body:
        import argparse

        from .listen import parse_listen

        server.listen = _string(body["listen"], "server.listen")
        try:
            parse_listen(server.listen)  # what serve does with it
            ok = bool(server.listen.rpartition(":")[0])
        except argparse.ArgumentTypeError:
            ok = False
        if not ok:
            raise ConfigError(f"{server.listen!r} must be HOST:PORT, port 0 to 65535",
                              "server.listen")
    if body.get("bearer_token") is not None:
        server.bearer_token = _string(body["bearer_token"], "server.bearer_token")
    if body.get("basic_auth") is not None:
        auth = _mapping(body["basic_auth"], "server.basic_auth")
        _unknown(auth, {"username", "password"}, "server.basic_auth")
        if "username" not in auth or "password" not in auth:
            raise ConfigError("needs username and password", "server.basic_auth")
        server.basic_auth = (
            _string(auth["username"], "server.basic_auth.username"),
            _string(auth["password"], "server.basic_auth.password"),
        )
    if server.bearer_token and server.basic_auth:
        raise ConfigError("use bearer_token or basic_auth, not both", "server")
    if "outbox" in body:
        server.outbox = _string(body["outbox"], "server.outbox")
        server.outbox_default = False
    if "max_body" in body:
        mb = body["max_body"]
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < 1024:
            raise ConfigError("must be a number of bytes, at least 1024", "server.max_body")
        server.max_body = mb
    if "synchronous" in body:
        sync = _string(body["synchronous"], "server.synchronous").upper()
        if sync not in ("NORMAL", "FULL"):
            raise ConfigError("must be NORMAL or FULL", "server.synchronous")
        server.synchronous = sync
    if "max_age" in body:
        server.max_age = parse_duration(body["max_age"], "server.max_age")
    if "workers" in body:
        w = body["workers"]
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ConfigError("must be a whole number of at least 1", "server.workers")
        server.workers = w
    return server


def load(path: str | os.PathLike[str] | None = None, *, templates: bool = True) -> Config:
    """Load the config from `path`, else $SMS_NOTIFY_CONFIG (see loads for `templates`)."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise ConfigError(f"no config file given (use --config FILE or set {ENV_VAR})")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                          str(path)) from None
    return loads(text, str(path), templates=templates)


def resolve(
    specs: list[str], config_path: str | None = None
) -> tuple[list[Account], list[str], Config | None]:
    """Accounts in failover order and route recipients, from provider URLs, account names or
    route names (names need a config: --config or $SMS_NOTIFY_CONFIG)."""
    from .manager import Providers

    accounts: list[Account] = []
    to: list[str] = []
    config: Config | None = None
    for spec in specs:
        if "://" in spec:
            accounts.append(parse(spec, Providers()))
            continue
        if config is None:
            config = load(config_path, templates=False)
        accounts.extend(config.accounts_for(spec))
        if spec in config.routes:
            to.extend(config.routes[spec].to)
    return accounts, to, config


def route_max_segments(config: Config | None, names: Sequence[str]) -> int | None:
    """The max_segments of the first route among `names` (send and nagios take route names)."""
    routes = config.routes if config is not None else {}
    return next((routes[n].max_segments for n in names if n in routes), None)
