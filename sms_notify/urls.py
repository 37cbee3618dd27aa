"""Provider URLs: one syntax for the command line, the config file and Apprise.

    fastsms://TOKEN@TARGET/TARGET?from=SENDER
    intellisms://USER:PASSWORD@TARGET/TARGET?from=SENDER

A `+` in a query value stays a `+` (numbers like ``to=+447700900123`` are common); spaces are
``%20``. Secrets are percent-decoded on the way in and masked whenever a URL is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote

from .errors import ConfigError, ProviderError
from .model import COMMON_OPTIONS, Account, Provider, check_sender

MASK = "****"


def parse(url: str, providers: Mapping[str, Provider], path: str = "") -> Account:
    """Parse a provider URL into an Account; errors name what is wrong, never the secret."""
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

    if provider.credentials == ("token",):
        if not user or password:
            raise ConfigError(f"{scheme}:// takes TOKEN@ before the targets", path)
    elif not (user and password):
        raise ConfigError(f"{scheme}:// takes USER:PASSWORD@ before the targets", path)

    targets = [unquote(t) for t in hostpath.split("/") if t]
    options: dict[str, str] = {}
    allowed = {**COMMON_OPTIONS, **provider.options}
    for pair in query.split("&") if query else ():
        key, _, value = pair.partition("=")
        key = unquote(key).lower()
        if key not in allowed:
            raise ConfigError(
                f"unknown option {key!r} for {scheme}:// (known: {', '.join(sorted(allowed))})", path
            )
        value = unquote(value)
        if key == "to":
            targets.extend(t.strip() for t in value.split(",") if t.strip())
        else:
            options[key] = value
    _check_options(options, path)
    if options.get("from"):
        try:
            check_sender(provider, options["from"])
        except ProviderError as exc:
            raise ConfigError(str(exc), path) from None
    return Account(scheme, user, password, tuple(targets), options)


MAX_TIMEOUT = 86400.0  # seconds: anything longer is a typo, and breaks timers


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


def _check_options(options: dict[str, str], path: str) -> None:
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
