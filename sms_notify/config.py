"""The YAML config file: accounts, routes, defaults, limits and the receiver's server block.

``${VAR}`` is replaced from the environment (``$$`` is a literal ``$``); inside account URLs the
value is percent-encoded, so secrets with ``@ / : # +`` survive. Every error names its key path.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable

from .errors import ConfigError, ProviderError
from .model import Account
from .urls import check_region, duration, parse, quote_secret

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from .silences import AlertmanagerApi

ENV_VAR = "SMS_NOTIFY_CONFIG"
# $$; ${NAME}; ${NAME followed by anything but } (a shell form: ${T:-x}, ${T-x}, ${T:?}); $NAME
_ENV_REF = re.compile(r"\$(?:\$|\{([A-Za-z_]\w*)\}|\{([A-Za-z_]\w*)([:?+=#%-]{0,2})"
                      r"|([A-Za-z_]\w*))", re.ASCII)
TOP_KEYS = {"accounts", "routes", "defaults", "limits", "dedup_window", "server", "alertmanager",
            "acks"}
ROUTE_KEYS = {"to", "via", "max_segments", "send_resolved", "template", "escalate"}
# Filters the Alertmanager receiver adds to route templates (integrations/alertmanager/templates.py
# passes its functions to template_environment): named here so that check-config knows them.
TEMPLATE_FILTERS = ("where", "what")
SERVER_KEYS = {"listen", "bearer_token", "basic_auth", "insecure_no_auth", "outbox", "max_body",
               "synchronous", "max_age", "workers", "inbound_secret", "public_url"}
MAX_WORKERS = 64  # sender threads; beyond this a typo starts thousands of threads
MIN_MAX_AGE = 60.0  # seconds: a shorter max_age leaves no time for a retry (a warning)
# YAML aliases may repeat a node; values the aliases add beyond those written, at most. A
# 464-byte "billion laughs" expands to 387 million and would take minutes and gigabytes.
MAX_ALIAS_NODES = 10_000
MAX_CONFIG_BYTES = 1024 * 1024  # a config is a few KiB; beyond this it is not one


@dataclass(frozen=True)
class Escalation:
    """A route's `escalate:`: a group still firing `after` seconds on, neither acknowledged nor
    resolved, is texted to `to` too (docs/design.md, Decision 15)."""

    after: float
    to: tuple[str, ...]


@dataclass(frozen=True)
class AckSettings:
    """The `acks:` block: how long a reply ACK silences its group without a duration, and at
    most (docs/design.md, Decision 15)."""

    duration: float = 3600.0
    max_duration: float = 86400.0


@dataclass
class Route:
    name: str
    to: list[str]
    via: list[str]
    max_segments: int = 1
    send_resolved: bool = True
    template: str | None = None
    escalate: Escalation | None = None


@dataclass
class Server:
    listen: str = "127.0.0.1:9717"
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    insecure_no_auth: bool = False  # an open receiver on a non-loopback address, on purpose
    outbox: str = field(default_factory=lambda: default_outbox())
    outbox_default: bool = True  # server.outbox not set: serve says where the outbox is
    max_body: int = 10 * 1024 * 1024
    synchronous: str = "NORMAL"
    max_age: float = 6 * 3600.0  # how long a job keeps being retried before it is dead
    workers: int = 4
    # Closing the loop (docs/design.md, Decision 15): what pushed reports and replies must carry
    # as `auth`, and the address at which gateways reach this receiver.
    inbound_secret: str | None = None
    public_url: str = ""


@dataclass
class Config:
    accounts: dict[str, Account] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    region: str | None = None
    per_recipient: tuple[int, float] | None = None  # (texts, window seconds)
    dedup_window: float = 600.0
    server: Server = field(default_factory=Server)
    alertmanager: AlertmanagerApi | None = None  # where a reply ACK creates its silence
    acks: AckSettings = field(default_factory=lambda: AckSettings())
    warnings: list[str] = field(default_factory=list)
    path: str = ""
    serves: bool = False  # it has a server: block, so check-config checks it as serve does

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


def _outbox(value: str) -> str:
    """server.outbox: a SQLite file, or a PostgreSQL URL shared by several receivers
    (docs/design.md, Decision 14). Nothing of the value is echoed: it may hold a password."""
    scheme, sep, rest = value.partition("://")
    if sep and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum():
        if scheme.lower() not in ("postgresql", "postgres"):
            raise ConfigError(f"a URL must be postgresql:// or postgres:// (got {scheme[:20]}://);"
                              " else give a file path", "server.outbox")
        if not rest.strip("/"):
            raise ConfigError("postgresql://USER:PASSWORD@HOST:PORT/DB: no host or database",
                              "server.outbox")
        return f"{scheme.lower()}://{rest}"
    return value


def parse_duration(value: Any, path: str) -> float:
    """Seconds in `10m`, `1h30m`, `45s`, `500ms` or a bare number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    try:
        if not isinstance(value, (str, int, float)):
            raise ValueError(value)
        return duration(str(value))
    except ValueError:
        raise ConfigError(f"{_shown(value)} is not a duration (like 30s, 10m, 1h30m)",
                          path) from None


def _substitute(value: str, path: str, encode: bool, strict: bool = False) -> str:
    """`${NAME}` replaced from the environment, `$$` by `$`. A shell form (`${T:-x}`) is an
    error naming it, not text taken literally. `strict`, where a credential may sit (account
    URLs, the receiver's secrets): a variable set but empty, or holding a control character
    (a line break read from a file), is an error naming it, and so is `$NAME` without braces."""

    def repl(match: re.Match[str]) -> str:
        whole, name, shell, operator, bare = match.group(0, 1, 2, 3, 4)
        if whole == "$$":
            return "$"
        if shell:
            raise ConfigError(f"${{{shell}{operator}...}} is not supported: only ${{NAME}} is "
                              "substituted (no defaults; $$ is a literal $)", path)
        if bare:
            if strict:
                raise ConfigError(f"${bare} is not substituted: write ${{{bare}}} for the "
                                  f"variable, or $${bare} for a literal $", path)
            return whole
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set", path)
        text = os.environ[name]
        if strict and not text:
            raise ConfigError(f"environment variable {name} is set but empty", path)
        if strict and _has_control(text):
            raise ConfigError(f"environment variable {name} holds a control character (a line "
                              "break at its end?)", path)
        return quote_secret(text) if encode else text

    return _ENV_REF.sub(repl, value)


def _has_control(text: str) -> bool:
    """Whether `text` holds a C0 or C1 control character or DEL (CR, LF, NUL, ESC...)."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


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
    data = _yaml(text, path)
    if data is None:
        raise ConfigError("the file is empty: it needs at least `accounts:` (see "
                          "'sms-notify help config')", path)
    data = _mapping(data, "(top level)")
    _unknown(data, TOP_KEYS, "")
    from .manager import Providers

    known = Providers()
    config = Config(path=path)

    defaults = _mapping(data.get("defaults"), "defaults")
    _unknown(defaults, {"region"}, "defaults")
    if "region" in defaults:
        config.region = _region(_string(defaults["region"], "defaults.region"), "defaults.region")

    for name, url in _mapping(data.get("accounts"), "accounts").items():
        where = f"accounts.{name}"
        if not isinstance(url, str):
            raise ConfigError("must be a provider URL string", where)
        account = parse(_substitute(url, where, encode=True, strict=True), known, where,
                        region=config.region)
        account.name = str(name)
        config.accounts[str(name)] = account

    for name, body in _mapping(data.get("routes"), "routes").items():
        where = f"routes.{name}"
        body = _mapping(body, where)
        _unknown(body, ROUTE_KEYS, where)
        if "via" not in body:
            raise ConfigError("missing 'via': the accounts to send through, in order", where)
        via = _strings(body["via"], f"{where}.via")
        if not via:
            raise ConfigError("empty: name at least one account to send through", f"{where}.via")
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
        if body.get("escalate") is not None:
            route.escalate = _escalation(body["escalate"], config.region, f"{where}.escalate")
            again = [n for n in route.escalate.to if n in route.to]
            if again:
                config.warnings.append(
                    f"{where}.escalate.to: {', '.join(again)} "
                    f"{'is' if len(again) == 1 else 'are'} paged through {where}.to already "
                    "and would get the page twice")
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
    config.serves = "server" in data
    if data.get("alertmanager") is not None:
        config.alertmanager = _alertmanager(_mapping(data["alertmanager"], "alertmanager"))
    if data.get("acks") is not None:
        if config.alertmanager is None:
            raise ConfigError("acks need alertmanager: {url: ...} to create their silences in",
                              "acks")
        config.acks = _acks(_mapping(data["acks"], "acks"))
    if config.alertmanager is not None:
        config.warnings.extend(_reply_warnings(config, known))
    if config.server.max_age < MIN_MAX_AGE:
        config.warnings.append(f"server.max_age: {config.server.max_age:g}s leaves no time "
                               "for a retry: a job dies at its first failure")
    return config


def _yaml(text: str, path: str) -> Any:
    """The document, like yaml.safe_load with the scalars of ConfigLoader, but refused when
    aliases expand it past MAX_ALIAS_NODES values (checked on the node graph, before anything
    is built), when a mapping repeats a key or has a key that is not a name (_check_keys), or
    when it nests deeper than the parser can follow."""
    import yaml

    loader = None
    try:
        loader = config_loader()(text)
        node = loader.get_single_node()
        if node is None:
            return None
        sizes = _expanded_sizes(node)
        if sizes[id(node)] - len(sizes) > MAX_ALIAS_NODES:
            raise ConfigError(f"YAML aliases expand the config to {sizes[id(node)]} values, "
                              f"refused (at most {MAX_ALIAS_NODES} repeated by aliases)",
                              _biggest_key(node, sizes) or path)
        _check_keys(node)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:  # a character YAML never allows (NUL, ESC, BEL...)
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1}, column {len(before) - before.rfind(chr(10))}"
        raise ConfigError(f"{where}: not valid YAML (control character U+{exc.character:04X}; "
                          "is it a text file?)", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML ({problem})", path) from None
    except RecursionError:
        raise ConfigError("not valid YAML (nested too deeply)", path) from None
    finally:
        if loader is not None:
            loader.dispose()


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


@functools.cache
def config_loader() -> type:
    """yaml.SafeLoader with numbers read as an operator means them. YAML 1.1 takes
    `07712345670` for an octal number and `+447700900123` for 447700900123, so an unquoted
    recipient became another phone's number: here a number written with a leading 0 or a +
    stays the text written (a string), and so does anything with `_` or `:` in it (1.1's
    `1_000` and sexagesimal `1:30`). Whole numbers are plain decimals (`-5`, `0`, `160`)."""
    import yaml

    class ConfigLoader(yaml.SafeLoader):
        pass

    ConfigLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    ConfigLoader.add_implicit_resolver(_INT, re.compile(r"^-?(?:0|[1-9][0-9]*)$"),
                                       list("-0123456789"))
    ConfigLoader.add_implicit_resolver(
        _FLOAT, re.compile(r"^-?(?:(?:0|[1-9][0-9]*)\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
                           r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
        list("-.0123456789"))
    return ConfigLoader


def _check_keys(root: Any) -> None:
    """Every mapping's keys are names (strings), each written once: YAML keeps the last of two
    `primary:` silently, and makes `null:` or `1:` a key no route or account can be named by."""
    import yaml

    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(reversed([(child, f"{path}[{i}]") for i, child in enumerate(node.value)]))
        if not isinstance(node, yaml.MappingNode):
            continue
        lines: dict[str, int] = {}
        children: list[tuple[Any, str]] = []
        for key, value in node.value:
            if key.tag == _MERGE:  # `<<: *defaults`: the merged keys may be overridden
                children.append((value, path))
                continue
            line = key.start_mark.line + 1
            if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                written = repr(key.value) if isinstance(key, yaml.ScalarNode) else f"a {key.id}"
                raise ConfigError(f"line {line}: the key {written} is not a name (quote it if "
                                  "it is one)", path or "(top level)")
            where = f"{path}.{key.value}" if path else str(key.value)
            if key.value in lines:
                first = lines[key.value]
                on = f"lines {first} and {line}" if first != line else f"line {line}"
                raise ConfigError(f"written twice ({on}); YAML would keep only the last", where)
            lines[key.value] = line
            children.append((value, where))
        stack.extend(reversed(children))  # the first key's value next: errors in file order


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _expanded_sizes(root: Any) -> dict[int, int]:
    """id(node) -> how many values the node stands for once every alias is copied out; one
    entry per distinct node. Iterative: an alias chain must not cost a deep recursion."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes


def _biggest_key(root: Any, sizes: dict[int, int]) -> str:
    """The top-level key whose value aliases blow up most, to name in the error."""
    import yaml

    if not isinstance(root, yaml.MappingNode) or not root.value:
        return ""
    key, _ = max(root.value, key=lambda pair: sizes[id(pair[1])])
    return str(key.value) if isinstance(key, yaml.ScalarNode) else ""


def _shown(value: Any, limit: int = 60) -> str:
    """A value as an error quotes it: repr, cut short (a config value may be huge)."""
    text = repr(value) if not isinstance(value, (list, dict)) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rate(value: Any, path: str) -> tuple[int, float]:
    text = str(value) if isinstance(value, (str, int)) else ""
    count, sep, window = text.partition("/")
    if not sep or not count.strip().isdigit() or int(count) < 1:
        raise ConfigError(f"{_shown(value)} is not a rate like 20/1h", path)
    seconds = parse_duration(window.strip(), path)
    if seconds <= 0:  # a zero window would divide by zero or never limit anything
        raise ConfigError(f"{_shown(value)}: the window must be longer than 0", path)
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
    kind: type[ImmutableSandboxedEnvironment] | None = None,
) -> ImmutableSandboxedEnvironment:
    """The sandbox route templates run in, shared by the receiver and the config check so that
    a template check-config accepts compiles in serve too. Filters not given are stand-ins that
    only make their names known (enough to compile); `kind` is the receiver's subclass, which
    adds run-time limits only."""
    from jinja2 import ChainableUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = (kind or ImmutableSandboxedEnvironment)(autoescape=False, undefined=ChainableUndefined)
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
    server.bearer_token, server.basic_auth = _credentials(body, "server")
    if "insecure_no_auth" in body:
        if not isinstance(body["insecure_no_auth"], bool):
            raise ConfigError("must be true or false", "server.insecure_no_auth")
        server.insecure_no_auth = body["insecure_no_auth"]
        if server.insecure_no_auth and (server.bearer_token or server.basic_auth):
            raise ConfigError("insecure_no_auth: true and credentials contradict each other; "
                              "keep one", "server")
    if "outbox" in body:
        server.outbox = _outbox(_string(body["outbox"], "server.outbox"))
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
        if server.max_age <= 0:
            raise ConfigError("must be longer than 0: every job would die unsent",
                              "server.max_age")
    if "workers" in body:
        w = body["workers"]
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WORKERS:
            raise ConfigError(f"must be a whole number from 1 to {MAX_WORKERS}",
                              "server.workers")
        server.workers = w
    if "inbound_secret" in body:
        server.inbound_secret = _secret(body["inbound_secret"], "server.inbound_secret")
    if "public_url" in body:
        server.public_url = _http_url(body["public_url"], "server.public_url")
        if not server.inbound_secret:
            raise ConfigError("needs server.inbound_secret: gateways push their reports to "
                              "this address with it", "server.public_url")
    return server


def _reply_warnings(config: Config, known: Mapping[str, Any]) -> list[str]:
    """ACKs need an account whose gateway passes replies on, and a pushed one the secret."""
    caps = {name: known[a.scheme].capabilities for name, a in config.accounts.items()}
    if not any({"replies", "reply_push"} & c for c in caps.values()):
        return ["alertmanager: no account's gateway passes replies on (FastSMS forwards them, "
                "MyMobileAPI keeps them), so no ACK can come"]
    if not config.server.inbound_secret and not any("replies" in c for c in caps.values()):
        return ["alertmanager: replies are forwarded only to /inbound/ACCOUNT, which needs "
                "server.inbound_secret"]
    return []


def _escalation(value: Any, region: str | None, path: str) -> Escalation:
    body = _mapping(value, path)
    _unknown(body, {"after", "to"}, path)
    if "after" not in body or "to" not in body:
        raise ConfigError("needs after (a duration) and to (the numbers to text)", path)
    after = parse_duration(body["after"], f"{path}.after")
    if after <= 0:
        raise ConfigError("must be longer than 0", f"{path}.after")
    to = _strings(body["to"], f"{path}.to")
    if not to:
        raise ConfigError("empty: name at least one number to escalate to", f"{path}.to")
    return Escalation(after, tuple(dict.fromkeys(
        check_number(n, region, f"{path}.to[{i}]") for i, n in enumerate(to))))


def _http_url(value: Any, path: str) -> str:
    """An http(s) address with a host and nothing after its path."""
    from urllib.parse import urlsplit

    url = _string(value, path).strip().rstrip("/")
    parts = urlsplit(url)
    if "@" in parts.netloc:  # never echoed: what precedes the @ is a secret
        raise ConfigError("holds credentials (USER:PASSWORD@): give them in their own keys "
                          "(basic_auth, bearer_token), not in the address", path)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{_shown(url)} must be an http:// or https:// address with a host",
                          path)
    if parts.query or parts.fragment:
        raise ConfigError(f"{_shown(url)}: an address without a query (?...) or fragment (#...)",
                          path)
    return url


def _alertmanager(body: dict[str, Any]) -> AlertmanagerApi:
    from .silences import AlertmanagerApi

    _unknown(body, {"url", "bearer_token", "basic_auth"}, "alertmanager")
    if "url" not in body:
        raise ConfigError("needs url: Alertmanager's address, like http://127.0.0.1:9093",
                          "alertmanager")
    bearer, basic = _credentials(body, "alertmanager")
    return AlertmanagerApi(_http_url(body["url"], "alertmanager.url"), bearer, basic)


def _credentials(body: dict[str, Any], path: str) -> tuple[str | None, tuple[str, str] | None]:
    """bearer_token or basic_auth {username, password}, each set and not empty."""
    bearer = _secret(body["bearer_token"], f"{path}.bearer_token") \
        if "bearer_token" in body else None
    basic = None
    if "basic_auth" in body:
        auth = _mapping(body["basic_auth"], f"{path}.basic_auth")
        _unknown(auth, {"username", "password"}, f"{path}.basic_auth")
        if "username" not in auth or "password" not in auth:
            raise ConfigError("needs username and password", f"{path}.basic_auth")
        basic = (_secret(auth["username"], f"{path}.basic_auth.username"),
                 _secret(auth["password"], f"{path}.basic_auth.password"))
    if bearer and basic:
        raise ConfigError("use bearer_token or basic_auth, not both", path)
    return bearer, basic


def _acks(body: dict[str, Any]) -> AckSettings:
    _unknown(body, {"duration", "max_duration"}, "acks")
    settings = AckSettings()
    for key in ("duration", "max_duration"):
        if key in body and parse_duration(body[key], f"acks.{key}") <= 0:
            raise ConfigError("must be longer than 0", f"acks.{key}")
    longest = parse_duration(body.get("max_duration", settings.max_duration),
                             "acks.max_duration")
    default = parse_duration(body.get("duration", min(settings.duration, longest)),
                             "acks.duration")
    if default > longest:
        raise ConfigError(f"is longer than acks.max_duration ({longest:g}s)", "acks.duration")
    return AckSettings(default, longest)


def _secret(value: Any, path: str) -> str:
    """A credential: set but empty (`${T}` with T empty, or nothing after the key) would let
    anyone in, so it is an error rather than 'no authentication'; so is a control character,
    which no HTTP header can carry."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
        raise ConfigError(f"must be a string, not {type(value).__name__}", path)
    text = "" if value is None else _substitute(str(value), path, encode=False, strict=True)
    if not text:
        raise ConfigError("is empty: an empty secret would let anyone in; remove the key to "
                          "serve without authentication", path)
    if _has_control(text):
        raise ConfigError("holds a control character (a line break?), which no HTTP header "
                          "can carry", path)
    return text


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_exposure(server: Server, host: str, path: str) -> None:
    """No unauthenticated receiver beyond loopback unless insecure_no_auth says so (docs/design.md,
    Decision 16): anyone who can reach it could text the on-call phones."""
    if server.bearer_token or server.basic_auth or server.insecure_no_auth or is_loopback(host):
        return
    raise ConfigError(f"{host} is not a loopback address and the receiver has no "
                      "authentication: set server.bearer_token or server.basic_auth (or "
                      "server.insecure_no_auth: true to serve it open)", path)


def load(path: str | os.PathLike[str] | None = None, *, templates: bool = True) -> Config:
    """Load the config from `path`, else $SMS_NOTIFY_CONFIG (see loads for `templates`)."""
    path = path or os.environ.get(ENV_VAR)
    if not path:
        raise ConfigError(f"no config file given (use --config FILE or set {ENV_VAR})")
    data = _read(str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                          str(path)) from None
    return loads(text, str(path), templates=templates)


def _read(path: str) -> bytes:
    """The file's bytes: a regular file of at most MAX_CONFIG_BYTES. A device or a pipe is
    refused before it is read (/dev/zero never ends; opening a FIFO waits for a writer)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError("is a folder: give the config file itself", path)
        if not stat.S_ISREG(mode):
            raise ConfigError("is not a regular file (a device, a pipe or a socket): give the "
                              "config file itself", path)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, MAX_CONFIG_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file",
                          path)
    return data


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
