"""Apprise URL schemas for the sms-notify gateways: one per registered gateway, built-in
(fastsms://, intellisms://, server2sms://, sms24x://, mymobileapi://) or from another plugin.

Apprise 2.x finds third-party schemas only when they are added to its NotificationManager, so:

- from Python: ``from sms_notify.integrations.apprise import register; register()``;
- for the ``apprise`` command, apprise-api and any tool that scans Apprise plugin paths:
  ``sms-notify apprise-plugin [DIR]`` writes a small plugin file that calls register().

Importing this package imports nothing from Apprise (the `apprise-plugin` command must work
without it); register() does.
"""

from __future__ import annotations

import warnings

MIN_APPRISE = 2


class SchemaConflictWarning(UserWarning):
    """A schema could not be added: Apprise already maps it to another class, or Apprise cannot
    take the gateway's scheme as a schema name."""


def register(force: bool = False) -> list[str]:
    """Add a schema for every sms-notify gateway to Apprise's NotificationManager; calling it
    again changes nothing.

    A schema Apprise already maps to another class is left alone with a SchemaConflictWarning,
    unless `force`; so is a gateway whose scheme Apprise cannot take as a schema name. Returns
    the schemes that now map to sms-notify's classes.

    :raises RuntimeError: when the installed Apprise is older than 2.x.
    """
    import apprise

    major = apprise.__version__.split(".", 1)[0]
    if not major.isdigit() or int(major) < MIN_APPRISE:
        raise RuntimeError(
            f"sms-notify needs apprise {MIN_APPRISE}.x from PyPI; this Python has apprise "
            f"{apprise.__version__} (Debian's apprise package is 1.x)"
        )
    from sms_notify.manager import providers

    from .notify import schema_classes

    _log_as_apprise_does()
    classes = schema_classes()
    for scheme in sorted(set(providers()) - set(classes)):
        warnings.warn(
            f"sms-notify: {scheme}:// not added to Apprise: a schema name is at most 32 "
            "lower-case letters and digits",
            SchemaConflictWarning,
            stacklevel=2,
        )
    manager = apprise.NotificationManager()
    registered: list[str] = []
    for scheme, plugin in classes.items():
        if scheme in manager and manager[scheme] is plugin:
            registered.append(scheme)
            continue
        if manager.add(plugin, force=force):
            registered.append(scheme)
            continue
        other = manager[scheme] if scheme in manager else None  # noqa: SIM401 - no get()
        warnings.warn(
            f"sms-notify: {scheme}:// is already provided to Apprise by "
            f"{getattr(other, '__name__', other)!s}; left as it is "
            "(register(force=True) replaces it)",
            SchemaConflictWarning,
            stacklevel=2,
        )
    return registered


def _log_as_apprise_does() -> None:
    """Inside the `apprise` command, sms-notify's own warnings (a number in an unknown range,
    a failover) follow its -v: they go to the handlers and level the command gave its logger.
    A program that uses Apprise as a library keeps its own logging setup."""
    import logging

    ours, theirs = logging.getLogger("sms_notify"), logging.getLogger("apprise")
    handlers = [h for h in theirs.handlers if not isinstance(h, logging.NullHandler)]
    if not handlers or ours.handlers:
        return
    for handler in handlers:
        ours.addHandler(handler)
    ours.setLevel(theirs.level)
    ours.propagate = False
