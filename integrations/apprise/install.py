"""`sms-notify apprise-plugin [DIR]`: write the plugin file that gives Apprise a schema per gateway.

The `apprise` command scans ~/.apprise/plugins, ~/.config/apprise/plugins and
/var/lib/apprise/plugins (or what -P / APPRISE_PLUGIN_PATH name); apprise-api scans
APPRISE_PLUGIN_PATHS. A file there that imports sms-notify is all any of them needs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

FILE_NAME = "sms_notify_apprise.py"
EXIT_OK, EXIT_USAGE = 0, 2


def default_dir() -> Path:
    """The per-user directory the `apprise` command scans when no plugin path is given."""
    return Path.home() / ".config" / "apprise" / "plugins"


def plugin_source() -> str:
    """The plugin file's text: plugin_file.py of this package, as it is."""
    return (Path(__file__).with_name("plugin_file.py")).read_text(encoding="utf-8")


def apprise_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        help=f"an Apprise plugin directory (default {default_dir()}, created if missing)",
    )


def apprise_plugin(args: argparse.Namespace) -> int:
    """Write the plugin file into DIR and print its path; exit 2 when DIR cannot take it."""
    directory = Path(args.dir).expanduser() if args.dir else default_dir()
    target = directory / FILE_NAME
    if directory.exists() and not directory.is_dir():
        print(f"sms-notify apprise-plugin: {directory} is a file, not a folder; give the Apprise "
              "plugin folder to write the plugin file into (sms-notify apprise-plugin DIR)",
              file=sys.stderr)
        return EXIT_USAGE
    if (directory / "__init__.py").exists():
        print(
            f"sms-notify apprise-plugin: {directory} holds an __init__.py: Apprise would load only "
            "that file from it, never the plugin; choose another directory",
            file=sys.stderr,
        )
        return EXIT_USAGE
    partial = directory / f".{FILE_NAME}.{os.getpid()}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial.write_text(plugin_source(), encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        reason = exc.strerror or str(exc)
        print(
            f"sms-notify apprise-plugin: cannot write {target}: {reason}; give a directory you "
            "can write to (sms-notify apprise-plugin DIR), then point Apprise at it "
            "(apprise --plugin-path DIR, APPRISE_PLUGIN_PATH or APPRISE_PLUGIN_PATHS)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(target)
    return EXIT_OK
