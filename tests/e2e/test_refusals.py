"""A refusal for a reason we do not know moves the text to the route's next account, on every
gateway alike (docs/design.md, Decision 2): an error code the gateway's document does not list,
and an HTTP 4xx page that is not 401/403/407/408/429 (a proxy's 400, a wrong endpoint's 404).

The real `sms-notify send` with two URLs, the first gateway refusing once through the sandbox:
the text goes out once, through the backup, after one request to the first gateway.
"""

from __future__ import annotations

import pytest

from .conftest import Cli, Sandbox

pytestmark = pytest.mark.e2e

TO = "+447700900123"
# A code each gateway's document does not list, in the gateway's own form.
UNKNOWN = {"fastsms": "-999", "intellisms": "SOMETHING_NEW", "server2sms": "99",
           "sms24x": "99", "mymobileapi": "Something nobody documented"}
REFUSALS = [("error_code", {"code": ""}), *(("http_error", {"status": s}) for s in (400, 404, 410, 418))]


@pytest.mark.parametrize("scheme", sorted(UNKNOWN))
@pytest.mark.parametrize(("kind", "spec"), REFUSALS, ids=["unknown code", "400", "404", "410", "418"])
def test_a_refusal_for_an_unknown_reason_tries_the_next_account(
    fresh_sandbox: Sandbox, cli: Cli, scheme: str, kind: str, spec: dict[str, object]
) -> None:
    backup = "fastsms" if scheme == "server2sms" else "server2sms"
    fault = {**spec, "code": UNKNOWN[scheme]} if kind == "error_code" else spec
    fresh_sandbox.fault(gateway=scheme, kind=kind, count=1, **fault)
    done = cli("send", fresh_sandbox.url_for(scheme, TO), fresh_sandbox.url_for(backup),
               "-m", "via the backup", "--timeout", "10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [m["gateway"] for m in fresh_sandbox.inbox()] == [backup]
    assert len(fresh_sandbox.requests(scheme)) == 1, "the refusing account is not asked again"
