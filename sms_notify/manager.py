"""The plugin manager: built-in and third-party providers load the same way, lazily.

Plugins come from the ``sms_notify`` entry-point group. ``SMS_NOTIFY_LOAD_PLUGINS`` limits
which load: unset loads all, ``""`` loads none, ``"fastsms,acme"`` loads those entry points.
A plugin that fails to import or to register is dropped with one warning; it cannot break a
command (set ``SMS_NOTIFY_STRICT_PLUGINS=1`` to make that an error while developing one).

A command that names one gateway loads only that plugin when its entry point is named after its
scheme (as every built-in is), and everything otherwise: the Nagios command starts once per
notification, so it should not import four gateways it will not use.

The core reaches a gateway only through `gateway(scheme)`: a typed facade that calls the hooks of
the plugin that registered the scheme and of no other, so a plugin answers for its own schemes
without checking `account.scheme`, and cannot take another plugin's sends.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import pluggy

from . import hookspecs
from .errors import Category, ConfigError, ProviderError
from .model import (
    Account, Balance, DeliveryReport, DeliveryStatus, Feed, Provider, Push, Receipt, Reply,
    Submission,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint as ImportlibEntryPoint

_pm: pluggy.PluginManager | None = None
_pending: dict[str, EntryPoint | ImportlibEntryPoint] | None = None  # wanted entry points not loaded yet, by name
_registered: dict[str, Provider] = {}  # scheme -> provider, from the plugins loaded so far
_owners: dict[str, str] = {}  # scheme -> name of the plugin that registered it

log = logging.getLogger("sms_notify")
T = TypeVar("T")


def _warn(message: str) -> None:
    print(f"sms-notify: warning: {message}", file=sys.stderr)


def _strict() -> bool:
    return os.environ.get("SMS_NOTIFY_STRICT_PLUGINS") == "1"


def _wanted() -> set[str] | None:
    value = os.environ.get("SMS_NOTIFY_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _manager() -> pluggy.PluginManager:
    """The plugin manager with the hookspecs and whatever plugins are loaded so far."""
    global _pm, _pending
    if _pm is None:
        _pm = pluggy.PluginManager(hookspecs.PROJECT)
        _pm.add_hookspecs(hookspecs)
    if _pending is None:
        wanted = _wanted()
        _pending = {
            ep.name: ep for ep in entry_points(hookspecs.PROJECT)
            if wanted is None or ep.name in wanted
        }
    return _pm


class EntryPoint:
    """An entry point as importlib.metadata's: `name = module[:attr] [extras]`."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def load(self) -> object:
        module, _, attr = self.value.partition("[")[0].partition(":")
        target: object = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            target = getattr(target, part)
        return target


def entry_points(group: str) -> Sequence[EntryPoint | ImportlibEntryPoint]:
    """The entry points of `group`, as importlib.metadata.entry_points(group=) finds them, read
    straight from each installed distribution's entry_points.txt: the Nagios command starts per
    notification, and importing importlib.metadata (zipfile, csv, email) to scan every
    distribution's metadata was a tenth of its start. A distribution counts once, the first
    found on sys.path, as there. A zip on sys.path is left to importlib.metadata."""
    if any(os.path.isfile(entry) for entry in sys.path if entry):
        from importlib.metadata import entry_points as scan

        return list(scan(group=group))
    found: list[EntryPoint | ImportlibEntryPoint] = []
    seen: set[str] = set()
    header = f"[{group}]"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            base = name.removesuffix(".dist-info").removesuffix(".egg-info")
            key = re.sub(r"[-_.]+", "-", base.partition("-")[0]).lower()
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"),
                          encoding="utf-8") as text:
                    lines = text.read().splitlines()
            except OSError:
                continue
            section = ""
            for line in (line.strip() for line in lines):
                if line.startswith("["):
                    section = line
                elif section == header and "=" in line and not line.startswith(("#", ";")):
                    ep_name, _, value = line.partition("=")
                    found.append(EntryPoint(ep_name.strip(), value.strip()))
    return found


def _load(names: list[str]) -> None:
    """Load these pending entry points and collect the gateways they register."""
    pm = _manager()
    assert _pending is not None
    for name in names:
        ep = _pending.pop(name, None)
        if ep is None or pm.get_plugin(name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=name)
        except Exception as exc:
            if _strict():
                raise
            _warn(f"plugin {name!r} ({ep.value}) failed to load and is ignored: {exc!r}")
            continue
        _collect(name, plugin)


def _collect(name: str, plugin: object) -> None:
    """Ask one plugin for its gateways; a plugin whose registration fails is dropped."""
    pm = _manager()
    caller = pm.subset_hook_caller(
        "sms_notify_register_providers",
        remove_plugins=[p for p in pm.get_plugins() if p is not plugin],
    )
    mine: list[Provider] = []

    def add(provider: Provider) -> None:
        if not isinstance(provider, Provider):
            raise TypeError(f"register() takes a sms_notify.model.Provider, not {provider!r}")
        mine.append(provider)

    try:
        caller(register=add)
    except Exception as exc:
        if _strict():
            raise
        _warn(f"plugin {name!r} failed to register and is ignored: {exc!r}")
        pm.unregister(plugin)
        return
    for provider in mine:
        if provider.scheme in _registered:
            _warn(f"plugin {name!r} registers {provider.scheme}:// again; keeping the first")
        else:
            _registered[provider.scheme] = provider
            _owners[provider.scheme] = name


def get_pm() -> pluggy.PluginManager:
    """The plugin manager, with every wanted entry point loaded."""
    pm = _manager()
    if _pending:
        _load(list(_pending))
    return pm


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object from code (tests, embedders) the way entry points are, after
    them: the order of registration (and so which of two claims to a scheme wins) must not
    depend on which plugins some earlier command happened to load."""
    pm = get_pm()
    pm.register(plugin, name=name)
    _collect(name or pm.get_name(plugin) or repr(plugin), plugin)


def unregister(name: str) -> None:
    _manager().unregister(name=name)
    for scheme in [s for s, owner in _owners.items() if owner == name]:
        del _registered[scheme]
        del _owners[scheme]


def providers() -> dict[str, Provider]:
    """Every registered gateway, by URL scheme (loads every wanted plugin)."""
    get_pm()
    return dict(_registered)


def provider_for(scheme: str) -> Provider:
    """One gateway, loading as little as possible: the plugin named after the scheme first."""
    _manager()
    if scheme not in _registered and _pending:
        _load([scheme] if scheme in _pending else [])
        if scheme not in _registered:
            get_pm()
    try:
        return _registered[scheme]
    except KeyError:
        raise ConfigError(f"no plugin provides {scheme}://") from None


def gateway(scheme: str) -> Gateway:
    """The gateway of a scheme, its plugin loaded: what the core sends and asks through."""
    provider = provider_for(scheme)
    return Gateway(provider, _manager(), _manager().get_plugin(_owners[scheme]))


class PluginFailed(ProviderError):
    """A plugin raised something other than a ProviderError."""


class Gateway:
    """One scheme's gateway: the hooks of the plugin that registered it, typed.

    Each call goes through pluggy's subset_hook_caller without every other plugin's
    implementation of the hook: the hooks are firstresult, and called through ``pm.hook`` the
    first plugin to answer would take the call whatever the scheme. Other plugins' wrappers
    stay, so a tracing or auditing plugin still sees every call.

    What comes back is checked, so a plugin's mistake is one clear error and never a crash
    further on: a ProviderError gets the gateway's name and loses the account's secrets, any
    other exception becomes a ProviderError (request), and so does an answer of the wrong type.
    """

    def __init__(self, provider: Provider, pm: pluggy.PluginManager, plugin: object) -> None:
        self.provider = provider
        self._pm = pm
        self._plugin = plugin

    def send(self, account: Account, submission: Submission) -> list[Receipt]:
        """One request's worth of text (sms_notify_send): one Receipt per recipient, in order;
        the receipts' errors named and redacted like the call's. A plugin that crashes or
        answers the wrong thing may have sent the text: its error has an unknown outcome."""
        try:
            result = self._call("sms_notify_send", account, submission=submission)
        except PluginFailed as exc:
            exc.unknown_outcome = True
            raise
        if not isinstance(result, (list, tuple)) or len(result) != len(submission.recipients) \
                or not all(isinstance(r, Receipt) for r in result):
            error = self._wrong(account, "send", result, f"{len(submission.recipients)} Receipts")
            error.unknown_outcome = True
            raise error
        receipts = [r for r in result if isinstance(r, Receipt)]
        for receipt in receipts:
            if receipt.error is not None:
                receipt.error.provider = receipt.error.provider or self.provider.name
                receipt.error.redact(account.secrets(self.provider))
        return receipts

    def balance(self, account: Account) -> Balance:
        return self._checked(account, "balance", Balance)

    def status(self, account: Account, message_id: str, feed: Feed) -> DeliveryStatus:
        return self._checked(account, "status", DeliveryStatus, message_id=message_id, feed=feed)

    def check_login(self, account: Account) -> bool:
        return self._checked(account, "check_login", bool)

    def lookup(self, account: Account, references: Sequence[str], feed: Feed) -> dict[str, bool]:
        """Which of our references the gateway has a trace of."""
        result = self._call("sms_notify_lookup", account, references=list(references), feed=feed)
        if not isinstance(result, dict) or not all(
                isinstance(k, str) and isinstance(v, bool) for k, v in result.items()):
            raise self._wrong(account, "lookup", result, "a dict of reference -> bool")
        return {str(k): bool(v) for k, v in result.items()}

    def receipts(self, account: Account, texts: Sequence[Receipt], feed: Feed
                 ) -> list[DeliveryReport]:
        """The final delivery reports the gateway has for these texts."""
        return self._listed(account, "receipts", DeliveryReport, texts=list(texts), feed=feed)

    def receipt_push(self, account: Account, push: Push) -> list[DeliveryReport]:
        """The delivery reports a request the gateway pushed carries."""
        return self._listed(account, "receipt_push", DeliveryReport, push=push)

    def replies(self, account: Account, feed: Feed) -> list[Reply]:
        """The replies that came in since the feed's position."""
        return self._listed(account, "replies", Reply, feed=feed)

    def reply_push(self, account: Account, push: Push) -> list[Reply]:
        """The replies a request the gateway forwarded carries."""
        return self._listed(account, "reply_push", Reply, push=push)

    def _listed(self, account: Account, operation: str, kind: type[T], **kwargs: object
                ) -> list[T]:
        """A hook's answer that must be a sequence of `kind`."""
        result = self._call(f"sms_notify_{operation}", account, **kwargs)
        if not isinstance(result, (list, tuple)) or not all(isinstance(r, kind) for r in result):
            raise self._wrong(account, operation, result, f"a list of {kind.__name__}")
        return list(result)

    def _checked(self, account: Account, operation: str, kind: type[T], **kwargs: object) -> T:
        result = self._call(f"sms_notify_{operation}", account, **kwargs)
        if not isinstance(result, kind):
            raise self._wrong(account, operation, result, f"a {kind.__name__}")
        return result

    def _call(self, hook_name: str, account: Account, **kwargs: object) -> object:
        """The owning plugin's answer to one hook; None (it has no such hook) is an error."""
        caller = self._pm.subset_hook_caller(hook_name, remove_plugins=[
            impl.plugin for impl in getattr(self._pm.hook, hook_name).get_hookimpls()
            if impl.plugin is not self._plugin and not (impl.wrapper or impl.hookwrapper)
        ])
        operation = hook_name.removeprefix("sms_notify_")
        secrets = account.secrets(self.provider)
        try:
            result: object = caller(account=account, **kwargs)
        except ProviderError as exc:
            exc.provider = exc.provider or self.provider.name
            raise exc.redact(secrets) from None
        except Exception as exc:  # a plugin bug must not look like a crash of the command
            error = PluginFailed(
                Category.REQUEST, f"{self.provider.name} plugin failed: {exc!r}",
                provider=self.provider.name,
            ).redact(secrets)
            log.error("%s", error.describe())
            log.debug("the plugin's traceback", exc_info=True)
            raise error from exc
        if result is None:
            raise ProviderError(
                Category.REQUEST, f"the {self.provider.name} plugin offers no {operation}",
                provider=self.provider.name,
            )
        return result

    def _wrong(self, account: Account, operation: str, result: object, wanted: str
               ) -> ProviderError:
        return ProviderError(
            Category.REQUEST,
            f"the {self.provider.name} plugin answered {operation} with {result!r:.80}, "
            f"not {wanted}",
            provider=self.provider.name,
        ).redact(account.secrets(self.provider))


class Providers(Mapping[str, Provider]):
    """The gateways as a mapping that loads a plugin only when its scheme is asked for: what
    URL parsing needs (listing them, for an error message, loads them all)."""

    def __getitem__(self, scheme: str) -> Provider:
        try:
            return provider_for(scheme)
        except ConfigError:
            raise KeyError(scheme) from None

    def __iter__(self) -> Iterator[str]:
        return iter(providers())

    def __len__(self) -> int:
        return len(providers())


def _reset() -> None:
    """Forget loaded plugins (tests that change SMS_NOTIFY_LOAD_PLUGINS)."""
    global _pm, _pending
    _pm = None
    _pending = None
    _registered.clear()
    _owners.clear()
