"""`sms-notify help [TOPIC]`: the guides and deployment files, from the installed package.

A wheel has no docs/ folder to open, so the guides (docs/*.md) and the deployment files
(deploy/) travel inside the package and this prints them. The examples name the command as
a venv at /opt/sms-notify installs it; printed here, that path becomes this installation's
own, so `sms-notify help systemd > /etc/systemd/system/sms-notify.service` is right as it is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from importlib.resources import files
from pathlib import Path

from .errors import UsageError

DOC_COMMAND = "/opt/sms-notify/bin/sms-notify"  # the path the docs and deploy files use
# Deployment files by topic: (file in deploy/, what it is).
FILES = {
    "systemd": ("sms-notify.service", "the systemd unit for `sms-notify serve`"),
    "example-config": ("sms-notify.yml", "an example config that check-config passes"),
    "env": ("env.example", "the unit's EnvironmentFile: the secrets the example config reads"),
    "alert-rules": ("sms-notify-rules.yml", "Prometheus alerting rules for the receiver"),
}


def guide_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", nargs="?", metavar="TOPIC",
                        help="a guide or deployment file; without it, the list")


def guides() -> dict[str, str]:
    """Guide topic -> its title (the first heading of docs/TOPIC.md)."""
    found: dict[str, str] = {}
    for path in sorted(files("sms_notify.docs").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".md"):
            first = path.read_text(encoding="utf-8").partition("\n")[0]
            found[path.name[:-3]] = first.lstrip("# ").strip()
    return found


def installed_command() -> str | None:
    """This installation's `sms-notify`: beside the running Python in a venv, else on PATH."""
    beside = Path(sys.executable).parent / "sms-notify"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("sms-notify")


def text(topic: str) -> str:
    """The guide or file for `topic`, with the command's path made this installation's."""
    if topic in FILES:
        body = (files("sms_notify.deploy") / FILES[topic][0]).read_text(encoding="utf-8")
    elif topic in guides():
        body = (files("sms_notify.docs") / f"{topic}.md").read_text(encoding="utf-8")
    else:
        from .config import did_you_mean

        raise UsageError(f"no help topic {topic!r}{did_you_mean(topic, [*guides(), *FILES])}; "
                         "'sms-notify help' lists them")
    command = installed_command()
    return body.replace(DOC_COMMAND, command) if command else body


def guide(args: argparse.Namespace) -> int:
    if args.topic:
        sys.stdout.write(text(args.topic))
        return 0
    print("Guides (sms-notify help TOPIC):")
    for name, title in guides().items():
        print(f"  {name:<15} {title}")
    print("\nDeployment files (sms-notify help TOPIC > FILE):")
    for name, (file_name, what) in FILES.items():
        print(f"  {name:<15} {what} ({file_name})")
    return 0
