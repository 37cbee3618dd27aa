"""The plugin manager: built-in and third-party providers load the same way, lazily.

Plugins come from the ``sms_notify`` entry-point group. ``SMS_NOTIFY_LOAD_PLUGINS`` limits
which load: unset loads all, ``""`` loads none, ``"fastsms,acme"`` loads those entry points.
A plugin that fails to import or to register is dropped with one warning; it cannot break a
command (set ``SMS_NOTIFY_STRICT_PLUGINS=1`` to make that an error while developing one).

A command that names one gateway loads only that plugin when its entry point is named after its
scheme (as every built-in is), and everything otherwise: the Nagios command starts once per
notification, so it should not import four gateways it will not use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import ConfigError
from .model import Provider

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

_pm: pluggy.PluginManager | None = None
_pending: dict[str, EntryPoint] | None = None  # wanted entry points not loaded yet, by name
_registered: dict[str, Provider] = {}  # scheme -> provider, from the plugins loaded so far
_owners: dict[str, str] = {}  # scheme -> name of the plugin that registered it


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
        from importlib.metadata import entry_points

        wanted = _wanted()
        _pending = {
            ep.name: ep for ep in entry_points(group=hookspecs.PROJECT)
            if wanted is None or ep.name in wanted
        }
    return _pm


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


def _collect(name: str, plugin: Any) -> None:
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


def hook() -> Any:
    """The hooks of the plugins loaded so far: enough for an account whose provider was looked
    up with provider_for (which loads its plugin)."""
    return _manager().hook


def register(plugin: Any, name: str | None = None) -> None:
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
