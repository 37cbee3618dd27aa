"""The plugin manager: built-in and third-party providers load the same way, lazily.

Plugins come from the ``sms_notify`` entry-point group. ``SMS_NOTIFY_LOAD_PLUGINS`` limits
which load: unset loads all, ``""`` loads none, ``"fastsms,acme"`` loads those entry points.
A plugin that fails to import or to register is dropped with one warning; it cannot break a
command (set ``SMS_NOTIFY_STRICT_PLUGINS=1`` to make that an error while developing one).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pluggy

from . import hookspecs
from .errors import ConfigError
from .model import Provider

_pm: pluggy.PluginManager | None = None
_providers: dict[str, Provider] | None = None


def _warn(message: str) -> None:
    print(f"sms-notify: warning: {message}", file=sys.stderr)


def _wanted() -> set[str] | None:
    value = os.environ.get("SMS_NOTIFY_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def get_pm() -> pluggy.PluginManager:
    """The plugin manager, with every wanted entry point loaded (once)."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    from importlib.metadata import entry_points

    wanted = _wanted()
    strict = os.environ.get("SMS_NOTIFY_STRICT_PLUGINS") == "1"
    for ep in entry_points(group=hookspecs.PROJECT):
        if wanted is not None and ep.name not in wanted:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            if strict:
                raise
            _warn(f"plugin {ep.name!r} ({ep.value}) failed to load and is ignored: {exc!r}")
    _pm = pm
    return pm


def register(plugin: Any, name: str | None = None) -> None:
    """Register a plugin object from code (tests, embedders) the way entry points are."""
    global _providers
    get_pm().register(plugin, name=name)
    _providers = None


def unregister(name: str) -> None:
    global _providers
    get_pm().unregister(name=name)
    _providers = None


def providers() -> dict[str, Provider]:
    """Every registered gateway, by URL scheme; a plugin whose registration fails is dropped."""
    global _providers
    if _providers is not None:
        return _providers
    pm = get_pm()
    found: dict[str, Provider] = {}
    for name, plugin in list(pm.list_name_plugin()):
        caller = pm.subset_hook_caller(
            "sms_notify_register_providers",
            remove_plugins=[p for p in pm.get_plugins() if p is not plugin],
        )
        mine: list[Provider] = []

        def add(provider: Provider, _mine: list[Provider] = mine) -> None:
            if not isinstance(provider, Provider):
                raise TypeError(f"register() takes a sms_notify.model.Provider, not {provider!r}")
            _mine.append(provider)

        try:
            caller(register=add)
        except Exception as exc:
            if os.environ.get("SMS_NOTIFY_STRICT_PLUGINS") == "1":
                raise
            _warn(f"plugin {name!r} failed to register and is ignored: {exc!r}")
            pm.unregister(plugin)
            continue
        for provider in mine:
            if provider.scheme in found:
                _warn(f"plugin {name!r} registers {provider.scheme}:// again; keeping the first")
            else:
                found[provider.scheme] = provider
    _providers = found
    return found


def provider_for(scheme: str) -> Provider:
    try:
        return providers()[scheme]
    except KeyError:
        raise ConfigError(f"no plugin provides {scheme}://") from None


def _reset() -> None:
    """Forget loaded plugins (tests that change SMS_NOTIFY_LOAD_PLUGINS)."""
    global _pm, _providers
    _pm = None
    _providers = None
