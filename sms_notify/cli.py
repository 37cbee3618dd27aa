"""The `sms-notify` command: a table of subcommands, each imported only when it runs.

The Nagios command starts once per notification, so nothing here imports more than argparse
until the subcommand is known; the subcommand's module brings what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, function, one-line help). The module defines `<function>(args) -> int` and
# `<function>_arguments(parser)`, and may name an argparse.ArgumentParser subclass as
# `<function>_parser` (a check plugin's usage errors exit 3, not 2).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "send": ("sms_notify.commands", "send", "send one text through one or more accounts"),
    "balance": ("sms_notify.commands", "balance", "print an account's credit balance"),
    "status": ("sms_notify.commands", "status", "delivery status of a message id"),
    "providers": ("sms_notify.commands", "providers", "list gateways, URL forms, capabilities"),
    "check-config": ("sms_notify.commands", "check_config", "validate a config file"),
    "outbox": ("sms_notify.outbox_command", "outbox", "list, show, retry and purge the receiver's jobs"),
    "serve": ("sms_notify.integrations.alertmanager.server", "serve", "run the Alertmanager receiver"),
    "nagios": ("sms_notify.integrations.nagios", "notify", "Nagios / Icinga 2 notification command"),
    "check-balance": ("sms_notify.integrations.nagios", "check_balance", "Nagios check plugin for credit"),
    "apprise-plugin": ("sms_notify.integrations.apprise.install", "apprise_plugin", "give Apprise the five schemas"),
    "sandbox": ("sms_notify.sandbox", "sandbox", "local simulator of all five gateway APIs"),
    "demo": ("sms_notify.integrations.alertmanager.demo", "demo", "the whole path on the embedded default"),
    "help": ("sms_notify.guide", "guide", "print a guide: alertmanager, nagios, config, ..."),
}

EXIT_USAGE = 2


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<15} {help_}" for name, (_, _, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="sms-notify",
        description="SMS alerting for monitoring systems.",
        epilog=f"commands:\n{lines}\n\nRun 'sms-notify COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="sms-notify [-V] COMMAND [ARGS...]",
    )
    parser.add_argument("-V", "--version", action="store_true", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USAGE
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"sms-notify {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"sms-notify: unknown command {name!r}; {hint}see 'sms-notify --help'",
              file=sys.stderr)
        return EXIT_USAGE
    module_name, function, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser_class = getattr(module, f"{function}_parser", argparse.ArgumentParser)
    parser = parser_class(prog=f"sms-notify {name}", description=help_)
    getattr(module, f"{function}_arguments")(parser)
    args = parser.parse_args(argv[1:])
    from .logs import setup

    setup(getattr(args, "verbose", 0), getattr(args, "log_format", "text"),
          access_log=getattr(args, "access_log", False))
    from .errors import ConfigError, UsageError

    try:
        return int(getattr(module, function)(args))
    except (ConfigError, UsageError) as exc:
        print(f"sms-notify {name}: {exc}", file=sys.stderr)
        if getattr(args, "json", False):  # a script reading --json gets the reason too
            import json

            print(json.dumps({"error": str(exc)}))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `sms-notify outbox list | head`: the reader has had enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
