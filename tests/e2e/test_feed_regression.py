"""A MyMobileAPI change feed that went back behind the stored position (probe 6).

The one-shot commands keep where they read MyMobileAPI's feed of status changes. A gateway
reset or restored starts its change ids again, below that position: read from it, the feed
showed nothing, a look-up concluded "no trace" of a text the gateway had taken, and the text
went out a second time through the same account. The feed is now read from the start again.
"""

from __future__ import annotations

import re

import pytest

from .conftest import Cli, Sandbox

pytestmark = pytest.mark.e2e

TO = "+447700900123"
SENT = re.compile(r"^\+\d+: sent, \d+ parts?, id (?P<id>\S+)", re.MULTILINE)


def test_a_feed_behind_its_stored_position_is_read_again_from_the_start(
        fresh_sandbox: Sandbox, cli: Cli) -> None:
    url = fresh_sandbox.url_for("mymobileapi", TO)
    for i in range(3):  # the stored position moves past these changes
        done = cli("send", url, "-m", f"before the reset {i}")
        assert done.returncode == 0, done.stdout + done.stderr
    message_id = SENT.search(done.stdout)["id"]  # type: ignore[index]
    assert cli("status", fresh_sandbox.url_for("mymobileapi"), message_id).returncode == 0
    fresh_sandbox.reset()  # the gateway's change ids start again

    # The send is answered after the client gave up: an unknown outcome, asked about.
    fresh_sandbox.fault(gateway="mymobileapi", kind="slow", delay=3, count=1)
    done = cli("send", fresh_sandbox.url_for("mymobileapi", TO, timeout="2"),
               fresh_sandbox.url_for("server2sms"), "-m", "after the reset", "--timeout", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [m["gateway"] for m in fresh_sandbox.inbox(to=TO)] == ["mymobileapi"], done.stdout
