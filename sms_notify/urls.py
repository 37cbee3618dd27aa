"""Provider URLs: one syntax for the command line, the config file and Apprise.

    fastsms://TOKEN@TARGET/TARGET?from=SENDER
    intellisms://USER:PASSWORD@TARGET/TARGET?from=SENDER

A `+` in a query value stays a `+` (numbers like ``to=+447700900123`` are common); spaces are
``%20``. Secrets are percent-decoded on the way in and masked whenever a URL is shown. A URL that
can never send (a sender the gateway refuses or lacks, an option value it cannot take) is refused
here with the reason, not at every send. As in Apprise's own SMS plugins, `source=` is another
name for `from=`, and a token gateway takes its token as `?token=` too.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from urllib.parse import quote, unquote

from .errors import ConfigError, ProviderError
from .model import OPTION_ALIASES, VALIDITY_OPTION, Account, Provider, check_sender

MASK = "****"


def parse(url: str, providers: Mapping[str, Provider], path: str = "", *,
          region: str | None = None) -> Account:
    """Parse a provider URL into an Account; errors name what is wrong, never the secret.
    `region`: where national targets are, when the URL has no region= (defaults.region)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme:
        raise ConfigError("not a provider URL (expected scheme://...)", path)
    provider = providers.get(scheme)
    if provider is None:
        known = ", ".join(sorted(providers)) or "none"
        raise ConfigError(f"unknown gateway {scheme!r} (known: {known})", path)
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise ConfigError("a '#' in a URL must be percent-encoded as %23", path)
    rest, _, query = rest.partition("?")
    userinfo, at, hostpath = rest.rpartition("@")
    if not at:
        hostpath = rest
    user, _, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)

    targets = [unquote(t) for t in hostpath.split("/") if t]
    options: dict[str, str] = {}
    allowed = provider.url_options
    token_option = provider.credentials == ("token",)
    for pair in query.split("&") if query else ():
        key, _, value = pair.partition("=")
        key = unquote(key).lower()
        key = OPTION_ALIASES.get(key, key)
        value = unquote(value)
        if key == "token" and token_option:
            if user and user != value:
                raise ConfigError(f"{scheme}:// has two tokens (TOKEN@ and ?token=)", path)
            user = value
            continue
        if key not in allowed:
            raise ConfigError(
                f"unknown option {key!r} for {scheme}:// (known: {', '.join(sorted(allowed))})", path
            )
        if key == "to":
            targets.extend(t.strip() for t in value.split(",") if t.strip())
        else:
            options[key] = value

    if token_option:
        if not user or password:
            raise ConfigError(f"{scheme}:// takes TOKEN@ before the targets (or ?token=)", path)
    elif not (user and password):
        raise ConfigError(f"{scheme}:// takes USER:PASSWORD@ before the targets", path)
    _check_options(options, provider, path)
    try:
        check_sender(provider, options.get("from"))
    except ProviderError as exc:
        raise ConfigError(exc.text, path) from None
    _check_targets(targets, options.get("region") or region, path)
    return Account(scheme, user, password, tuple(targets), options)


def _check_targets(targets: list[str], region: str | None, path: str) -> None:
    """A target that can never be a phone number is refused when the URL is read, not at every
    send. It is never shown: a password misplaced after the @ would be printed back. Without
    any region a national number passes (the command's --region may place it)."""
    from .numbers import normalize

    for i, target in enumerate(targets, 1):
        try:
            normalize(target, region, warn=False)
        except ProviderError:
            compact = "".join(c for c in target if c not in " -().")
            if region is None and compact.isdigit() and compact.startswith("0") \
                    and not compact.startswith("00"):
                continue
            raise ConfigError(f"target {i}{'' if path else ' of the URL'} is not a phone number "
                              "(+447700900123, or national with region=)", path) from None


MAX_TIMEOUT = 86400.0  # seconds: anything longer is a typo, and breaks timers
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds in `10m`, `1h30m`, `45s`, `500ms` or a bare number of seconds; ValueError else."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or _DURATION.sub("", text):
        raise ValueError(f"{text!r} is not a duration (like 30s, 10m, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))


def seconds(value: str) -> float:
    """A timeout: a finite number of seconds above 0 and at most a day."""
    number = float(value)  # ValueError for text
    if not 0 < number <= MAX_TIMEOUT:  # also false for nan
        raise ValueError(f"{value!r} is not between 0 and {MAX_TIMEOUT:g} seconds")
    return number


def check_region(value: str) -> str:
    """A region phonenumbers knows (GB, CH, ZA, ...), upper-cased."""
    import phonenumbers

    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a region code like GB, CH or ZA")
    return region


def _check_options(options: dict[str, str], provider: Provider, path: str) -> None:
    """Each option's value, where its form is known; some are normalised (region upper-case,
    validity in seconds)."""
    if "timeout" in options:
        try:
            seconds(options["timeout"])
        except ValueError:
            raise ConfigError(
                f"timeout={options['timeout']!r} must be seconds above 0 and at most a day", path
            ) from None
    if "max_segments" in options:
        value = options["max_segments"]
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"max_segments={value!r} must be a whole number of at least 1", path)
    if "region" in options:
        try:
            options["region"] = check_region(options["region"])
        except ValueError as exc:
            raise ConfigError(f"region={exc}", path) from None
    if "endpoint" in options:
        _check_endpoint(options["endpoint"], path)
    if VALIDITY_OPTION in options:
        options[VALIDITY_OPTION] = _validity(options[VALIDITY_OPTION], provider, path)
    for key, values in provider.option_values.items():
        if key in options and options[key].strip().lower() not in values:
            raise ConfigError(f"{key}={options[key]!r} must be one of {', '.join(values)}", path)


def _validity(value: str, provider: Provider, path: str) -> str:
    """validity= as whole seconds, within what the gateway takes."""
    try:
        seconds_ = duration(value)
    except ValueError as exc:
        raise ConfigError(f"validity={exc}", path) from None
    if not 0 < seconds_ <= provider.max_validity:
        raise ConfigError(
            f"validity={value!r} must be above 0 and at most {provider.max_validity:g}s "
            f"({provider.name}'s limit)", path,
        )
    return f"{seconds_:g}"


def _check_endpoint(endpoint: str, path: str) -> None:
    """http(s)://host[:port] and nothing that would show a secret: credentials belong in the
    account part of the URL, where they are masked."""
    from urllib.parse import urlsplit

    if not endpoint.startswith(("http://", "https://")):
        shown = repr(endpoint) if "@" not in endpoint else "(hidden: it holds an '@')"
        raise ConfigError(f"endpoint={shown} must start with http:// or https://", path)
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"endpoint is not a valid URL ({exc})", path) from None
    if parts.username is not None or parts.password is not None:
        raise ConfigError("endpoint= must not carry a user or password", path)
    if not parts.hostname:
        raise ConfigError(f"endpoint={endpoint!r} has no host", path)


def build(account: Account, providers: Mapping[str, Provider], masked: bool = False) -> str:
    """The URL for an account; with `masked`, every secret is replaced by ****."""
    provider = providers[account.scheme]
    if provider.credentials == ("token",):
        creds = MASK if masked else quote(account.user, safe="")
    else:
        secret = MASK if masked else quote(account.password, safe="")
        creds = f"{quote(account.user, safe='')}:{secret}"
    targets = "/".join(quote(t, safe="+") for t in account.targets)
    query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in account.options.items()
    )
    return f"{account.scheme}://{creds}@{targets}" + (f"?{query}" if query else "")


def mask(account: Account) -> str:
    """The account's URL with secrets masked, for logs, errors and output."""
    from .manager import Providers

    return build(account, Providers(), masked=True)


def quote_secret(value: str) -> str:
    """Percent-encode a value substituted into a URL, so `@ / : # + ?` in a secret survive."""
    return quote(value, safe="")
