"""The core subcommands: send, balance, status, providers, check-config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import ProviderError, UsageError
from .model import Receipt

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")


def _argument(check: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a checker that raises ValueError with a readable message."""

    def convert(value: str) -> T:
        try:
            return check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def timeout_argument(value: str) -> float:
    from .urls import seconds

    return _argument(seconds)(value)


def region_argument(value: str) -> str:
    from .urls import check_region

    return _argument(check_region)(value)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def send_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets", nargs="+", metavar="URL|ACCOUNT|ROUTE",
        help="provider URLs or config names, tried in order (failover)",
    )
    parser.add_argument("--to", action="append", default=[], metavar="NUMBER", help="a recipient")
    parser.add_argument("-m", "--message", help="the text (default: read stdin)")
    parser.add_argument("--region", type=region_argument,
                        help="region for national numbers, e.g. GB")
    parser.add_argument("--max-segments", type=int, default=None, help="most parts (default 1)")
    parser.add_argument("--timeout", type=timeout_argument, default=30.0,
                        help="seconds for all tries (default 30)")
    _common(parser)


def receipt_line(receipt: Receipt) -> str:
    """One line per recipient: number, parts, message id or the gateway's error."""
    who = receipt.recipient.address
    if receipt.recipient.kind != "number":
        who = f"{receipt.recipient.kind}:{who}"
    via = f" (via {receipt.account})" if receipt.account else ""
    if receipt.ok:
        parts = f"{receipt.parts} part" + ("s" if receipt.parts != 1 else "")
        return f"{who}: sent, {parts}, id {receipt.message_id or '-'}{via}"
    assert receipt.error is not None
    if receipt.unconfirmed:  # given up without knowing: it was not sent again
        return f"{who}: unconfirmed (the gateway may have sent it): {receipt.error.describe()}{via}"
    return f"{who}: failed: {receipt.error.describe()}{via}"


def send(args: argparse.Namespace) -> int:
    from .config import resolve, route_max_segments
    from .delivery import RetryPolicy, deliver, has_recipient

    accounts, route_to, config = resolve(args.targets, args.config)
    text = args.message if args.message is not None else sys.stdin.read()
    if not text.strip():
        raise UsageError("nothing to send: give -m TEXT or pipe the text on stdin")
    if args.max_segments is not None and args.max_segments < 1:
        raise UsageError("--max-segments must be at least 1")
    to = [*args.to, *route_to]
    if not has_recipient(accounts, to):
        raise UsageError("no recipient: add targets to the URL or give --to NUMBER")
    max_segments = args.max_segments or route_max_segments(config, args.targets) or 1
    receipts = deliver(
        accounts, text.strip("\n"), to,
        region=args.region or (config.region if config else None),
        max_segments=max_segments,
        policy=RetryPolicy(budget=args.timeout),
    )
    for receipt in receipts:
        print(receipt_line(receipt))
    return EXIT_OK if receipts and all(r.ok for r in receipts) else EXIT_FAILED


def _one_account(spec: str, config_path: str | None):  # type: ignore[no-untyped-def]
    from .config import resolve

    accounts, _, _ = resolve([spec], config_path)
    return accounts[0]


def balance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", metavar="URL|ACCOUNT")
    _common(parser)


def balance(args: argparse.Namespace) -> int:
    from .delivery import balance as ask

    account = _one_account(args.account, args.config)
    try:
        result = ask(account)
    except ProviderError as exc:
        print(f"{account.label()}: {exc.describe()}")
        return EXIT_FAILED
    print(f"{account.label()}: {result.credits:g} {result.unit}")
    return EXIT_OK


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", metavar="URL|ACCOUNT")
    parser.add_argument("message_id", metavar="MESSAGE_ID", help="the id `send` printed")
    _common(parser)


def status(args: argparse.Namespace) -> int:
    from .delivery import status as ask

    account = _one_account(args.account, args.config)
    try:
        result = ask(account, args.message_id)
    except ProviderError as exc:
        print(f"{args.message_id}: {exc.describe()}")
        return EXIT_FAILED
    detail = f" ({result.detail})" if result.detail else ""
    final = "final" if result.final else "not final"
    print(f"{result.message_id}: {result.state}, {final}{detail}")
    return EXIT_OK


def providers_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="options too")


def providers(args: argparse.Namespace) -> int:
    from .manager import providers as registered
    from .model import COMMON_OPTIONS

    for scheme, p in sorted(registered().items()):
        caps = ", ".join(sorted(p.capabilities)) or "send only"
        lists = f"; lists: {', '.join('?' + o + '=' for o in p.list_options)}" if p.list_options else ""
        print(f"{p.name:<16} {p.url_form}")
        print(
            f"{'':<16} {p.max_recipients} recipients/request, up to {p.max_segments} parts, "
            f"{'GSM-7 and Unicode' if p.unicode else 'GSM-7 only'}; {caps}{lists}"
        )
        if args.verbose:
            for key, help_ in p.url_options.items():
                if key not in COMMON_OPTIONS:  # the gateway's own (list=, live=, validity=)
                    print(f"{'':<18}?{key}=  {help_}")
    return EXIT_OK


def check_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument(
        "--online", action="store_true",
        help="also check each account's credentials with its gateway, where it offers a check",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)


def check_config(args: argparse.Namespace) -> int:
    from .config import load
    from .urls import mask

    config = load(args.file)
    for warning in config.warnings:
        print(f"warning: {warning}")
    failed = False
    if args.online:
        from .delivery import check_login
        from .manager import provider_for

        for name, account in config.accounts.items():
            if "login" not in provider_for(account.scheme).capabilities:
                print(f"accounts.{name}: no online check for {account.scheme}://")
                continue
            try:
                check_login(account)
                print(f"accounts.{name}: credentials accepted")
            except ProviderError as exc:
                failed = True
                print(f"accounts.{name}: {exc.describe()}")
    print(
        f"{config.path}: OK: {len(config.accounts)} accounts, {len(config.routes)} routes"
        + "".join(f"\n  {name}: {mask(a)}" for name, a in config.accounts.items())
    )
    return EXIT_USAGE if failed else EXIT_OK
