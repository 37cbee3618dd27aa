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
    "serve": ("sms_notify.integrations.alertmanager.server", "serve", "run the Alertmanager receiver"),
    "nagios": ("sms_notify.integrations.nagios", "notify", "Nagios / Icinga 2 notification command"),
    "check-balance": ("sms_notify.integrations.nagios", "check_balance", "Nagios check plugin for credit"),
    "apprise-plugin": ("sms_notify.integrations.apprise.install", "apprise_plugin", "give Apprise the five schemas"),
    "sandbox": ("sms_notify.sandbox", "sandbox", "local simulator of all five gateway APIs"),
    "demo": ("sms_notify.integrations.alertmanager.demo", "demo", "the whole path on the embedded default"),
}

EXIT_USAGE = 2


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<15} {help_}" for name, (_, _, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="sms-notify",
        description="SMS alerting for monitoring systems.",
        epilog=f"commands:\n{lines}\n\nRun 'sms-notify COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="sms-notify [--version] COMMAND [ARGS...]",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USAGE
    if argv[0] == "--version":
        from . import __version__

        print(f"sms-notify {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"sms-notify: unknown command {name!r}; see 'sms-notify --help'", file=sys.stderr)
        return EXIT_USAGE
    module_name, function, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser_class = getattr(module, f"{function}_parser", argparse.ArgumentParser)
    parser = parser_class(prog=f"sms-notify {name}", description=help_)
    getattr(module, f"{function}_arguments")(parser)
    args = parser.parse_args(argv[1:])
    _setup_logging(getattr(args, "verbose", 0))
    from .errors import ConfigError, UsageError

    try:
        return int(getattr(module, function)(args))
    except (ConfigError, UsageError) as exc:
        print(f"sms-notify {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _setup_logging(verbose: int) -> None:
    import logging

    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="sms-notify: %(levelname)s: %(message)s")
    # urllib3 logs whole URLs at DEBUG, and a gateway may one day take credentials in a query.
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))


if __name__ == "__main__":
    raise SystemExit(main())
