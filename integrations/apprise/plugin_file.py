"""Apprise plugin file from `sms-notify apprise-plugin`: a schema for every sms-notify gateway
(fastsms://, intellisms://, server2sms://, sms24x://, mymobileapi:// and any other plugin's) for
the `apprise` command, apprise-api and any tool that loads Apprise plugin paths.

It only imports the installed sms-notify package, so upgrading sms-notify (or installing another
sms-notify plugin) upgrades the schemas.
Apprise loads this file under a synthetic module name: absolute imports only. When the Python
running Apprise cannot import sms-notify, it says so on stderr and Apprise carries on without
the schemas.
"""

import sys


def _explain(problem: str) -> None:
    python = sys.executable or "the Python running apprise"
    sys.stderr.write(
        "sms-notify: the Apprise schemas of the sms-notify gateways (fastsms://, intellisms://, "
        "server2sms://, sms24x://, mymobileapi:// and those of other sms-notify plugins) are NOT "
        "available.\n"
        "  " + str(__file__) + " was loaded by " + python + ", which " + problem + ".\n"
        "  Fix: pip install sms-notify into the same environment as apprise: " + python + "\n"
        "    " + python + " -m pip install 'sms-notify[apprise]'\n"
        "  (an Apprise installed with pipx: pipx inject apprise sms-notify)\n"
    )


try:
    from sms_notify.integrations.apprise import register
except Exception as exc:  # noqa: BLE001 - ImportError, or a sms-notify this Python cannot run
    _explain("cannot import sms_notify (" + type(exc).__name__ + ": " + str(exc) + ")")
else:
    try:
        register()
    except Exception as exc:  # noqa: BLE001 - Apprise must carry on without the schemas
        _explain("could not register them (" + type(exc).__name__ + ": " + str(exc) + ")")
