"""The core subcommands: send, balance, status, providers, check-config.

With `--json` each prints one JSON object on stdout instead of its lines, with the field
names docs/operating.md lists; those names are stable for scripts. A usage or config error
prints `{"error": "..."}` (and the message on stderr) and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ProviderError, UsageError
from .model import Receipt

if TYPE_CHECKING:
    from .config import Config
    from .model import Account, Balance

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")
log = logging.getLogger("sms_notify")


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
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (stable field names, for scripts)")
    parser.add_argument("--config", metavar="FILE", help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False))


def error_json(error: ProviderError | None) -> dict[str, Any] | None:
    """A gateway's error for --json: the category a script acts on, its own code and text."""
    if error is None:
        return None
    return {"category": str(error.category), "code": error.code, "text": error.text}


def send_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets", nargs="+", metavar="URL|ACCOUNT|ROUTE",
        help="provider URLs or config names, tried in order (failover)",
    )
    parser.add_argument("--to", action="append", default=[], metavar="NUMBER", help="a recipient")
    parser.add_argument("-m", "--message", help="the text (default: read stdin)")
    parser.add_argument("--region", type=region_argument,
                        help="region for national numbers, e.g. GB")
    parser.add_argument("--max-segments", type=int, default=None, metavar="N",
                        help="most SMS parts (default: the route's max_segments, else 1)")
    parser.add_argument("--timeout", type=timeout_argument, default=30.0, metavar="SECONDS",
                        help="give up after this long, retries and failover included (default 30)")
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


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """One recipient's outcome for --json, as receipt_line says it."""
    return {
        "recipient": receipt.recipient.address, "kind": receipt.recipient.kind,
        "ok": receipt.ok, "unconfirmed": receipt.unconfirmed,
        "parts": receipt.parts if receipt.ok else 0,
        "message_id": (receipt.message_id or None) if receipt.ok else None,
        "account": receipt.account or None, "error": error_json(receipt.error),
    }


def warn_segments(accounts: Sequence[Account], max_segments: int, flag: str) -> None:
    """Say when a text may take more parts than a gateway sends, instead of cutting silently."""
    from .manager import provider_for

    for account in accounts:
        provider = provider_for(account.scheme)
        if max_segments > provider.max_segments and not account.max_segments:
            log.warning("%s %d: %s sends at most %d parts; texts through %s are cut to fit",
                        flag, max_segments, provider.name, provider.max_segments,
                        account.label())


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
    if args.max_segments:
        warn_segments(accounts, args.max_segments, "--max-segments")
    receipts = deliver(
        accounts, text.strip("\n"), to,
        region=args.region or (config.region if config else None),
        max_segments=max_segments,
        policy=RetryPolicy(budget=args.timeout),
    )
    ok = bool(receipts) and all(r.ok for r in receipts)
    if args.json:
        print_json({"ok": ok, "receipts": [receipt_json(r) for r in receipts]})
    else:
        for receipt in receipts:
            print(receipt_line(receipt))
    return EXIT_OK if ok else EXIT_FAILED


def balance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="URL|ACCOUNT|ROUTE",
                        help="a provider URL, or an account or route name from --config "
                             "(a route: each of its accounts)")
    _common(parser)


def balance(args: argparse.Namespace) -> int:
    """The credit of each account named: a route's backup out of credit is worth knowing."""
    from .config import resolve
    from .delivery import balance as ask

    results: list[tuple[Account, Balance | None, ProviderError | None]] = []
    for account in resolve([args.target], args.config)[0]:
        try:
            results.append((account, ask(account), None))
        except ProviderError as exc:
            results.append((account, None, exc))
    ok = all(error is None for _, _, error in results)
    if args.json:
        print_json({"ok": ok, "accounts": [
            {"account": account.label(), "credits": result.credits if result else None,
             "unit": result.unit if result else None, "error": error_json(error)}
            for account, result, error in results]})
    else:
        for account, result, error in results:
            said = error.describe() if error else f"{result.credits:g} {result.unit}" \
                if result else ""
            print(f"{account.label()}: {said}")
    return EXIT_OK if ok else EXIT_FAILED


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", metavar="URL|ACCOUNT",
                        help="the provider URL or account name the text went through")
    parser.add_argument("message_id", metavar="MESSAGE_ID", help="the id `send` printed")
    _common(parser)


def status(args: argparse.Namespace) -> int:
    from .config import resolve
    from .delivery import status as ask

    account = resolve([args.account], args.config)[0][0]
    try:
        result = ask(account, args.message_id)
    except ProviderError as exc:
        if args.json:
            print_json({"ok": False, "message_id": args.message_id, "state": None,
                        "final": None, "detail": None, "error": error_json(exc)})
        else:
            print(f"{args.message_id}: {exc.describe()}")
        return EXIT_FAILED
    if args.json:
        print_json({"ok": True, "message_id": result.message_id, "state": result.state,
                    "final": result.final, "detail": result.detail or None, "error": None})
        return EXIT_OK
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
    parser.add_argument("file", nargs="?", metavar="FILE",
                        help="config file (default $SMS_NOTIFY_CONFIG)")
    parser.add_argument(
        "--online", action="store_true",
        help="also check each account's credentials with its gateway, where it offers a check",
    )
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (stable field names, for scripts)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")


def config_advice(config: Config) -> list[str]:
    """What is valid but worth a look: numbers in no range the phone-number tables know (a
    typo? they are still sent), and routes allowing more parts than a gateway sends."""
    from .manager import provider_for
    from .numbers import known_range, normalize

    advice: list[str] = []
    numbers = [(f"routes.{name}.to[{i}]", number)
               for name, route in config.routes.items() for i, number in enumerate(route.to)]
    for name, account in config.accounts.items():
        region = config.region or account.options.get("region")
        for target in account.targets:
            try:
                numbers.append((f"accounts.{name}", normalize(target, region, warn=False)))
            except ProviderError:
                continue  # serve and send refuse it with the reason
    for where, number in numbers:
        if not known_range(number):
            advice.append(f"{where}: {number} is in no number range phonenumbers knows (a typo? "
                          "texts to it are still sent, and the gateway decides)")
    for name, route in config.routes.items():
        for account_name in route.via:
            provider = provider_for(config.accounts[account_name].scheme)
            if route.max_segments > provider.max_segments:
                advice.append(
                    f"routes.{name}.max_segments: {route.max_segments}, but {provider.name} "
                    f"(accounts.{account_name}) sends at most {provider.max_segments} parts; "
                    "its texts are cut to fit")
    return advice


def check_config(args: argparse.Namespace) -> int:
    """Exit 0 when the config is valid (and with --online every checkable account's
    credentials were accepted), 1 when an online check failed, 2 when the config is wrong."""
    from .config import load
    from .outbox import masked_location
    from .urls import mask

    config = load(args.file)
    if config.serves:  # what serve would refuse at start
        from .integrations.alertmanager.server import check_receiver
        from .listen import parse_listen

        check_receiver(config, parse_listen(config.server.listen)[0])
    warnings = [*config.warnings, *config_advice(config)]
    online: dict[str, ProviderError | None] = {}  # name -> the refusal (None: accepted)
    unchecked: list[str] = []  # gateways without an online check
    if args.online:
        from .delivery import check_login
        from .manager import provider_for

        for name, account in config.accounts.items():
            if "login" not in provider_for(account.scheme).capabilities:
                unchecked.append(name)
                continue
            try:
                check_login(account)
                online[name] = None
            except ProviderError as exc:
                online[name] = exc
    failed = [name for name, error in online.items() if error is not None]
    if args.json:
        print_json({
            "ok": not failed, "path": config.path, "warnings": warnings,
            "accounts": {name: mask(a) for name, a in config.accounts.items()},
            "routes": {name: {"to": r.to, "via": r.via, "max_segments": r.max_segments}
                       for name, r in config.routes.items()},
            "outbox": masked_location(config.server.outbox),
            "online": {name: {"ok": None if name in unchecked else online[name] is None,
                              "error": error_json(online.get(name))}
                       for name in config.accounts if args.online},
        })
        return EXIT_FAILED if failed else EXIT_OK
    for warning in warnings:
        print(f"warning: {warning}")
    for name in unchecked:
        print(f"accounts.{name}: no online check for {config.accounts[name].scheme}://")
    for name, error in online.items():
        print(f"accounts.{name}: {error.describe() if error else 'credentials accepted'}")
    verdict = (f"FAILED: {', '.join(failed)} refused the online check" if failed
               else f"OK: {len(config.accounts)} accounts, {len(config.routes)} routes")
    outbox = masked_location(config.server.outbox) + (" (server.outbox not set: the default)"
                                     if config.server.outbox_default else "")
    print(f"{config.path}: {verdict}"
          + "".join(f"\n  {name}: {mask(a)}" for name, a in config.accounts.items())
          + f"\n  outbox: {outbox}")
    return EXIT_FAILED if failed else EXIT_OK
