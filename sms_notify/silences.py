"""Silences in Alertmanager through its API v2: what a reply ACK creates (docs/design.md,
Decision 15).

`POST /api/v2/silences` with the group's labels as equality matchers answers
`{"silenceID": ...}`; in an HA pair the silence gossips to the peers. A refused connection, a
timeout or a 5xx is tried again twice, a second and then two apart. Errors name Alertmanager by
its address without credentials, and never carry the token or password.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

CREATED_BY = "sms-notify"
PAUSES = (1.0, 2.0)  # between tries after a transient failure


class SilenceError(Exception):
    """Alertmanager did not create the silence; the message says why."""


def rfc3339(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass(frozen=True)
class AlertmanagerApi:
    """One Alertmanager (the `alertmanager:` block of the config)."""

    url: str
    bearer_token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    timeout: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @property
    def where(self) -> str:
        """The address as messages show it: scheme, host and path, no credentials."""
        return shown(self.url)

    def silence(self, matchers: Mapping[str, str], starts: float, ends: float,
                comment: str) -> str:
        """Create a silence of these labels from `starts` to `ends`; its id."""
        import requests

        body = {
            "matchers": [{"name": name, "value": value, "isRegex": False, "isEqual": True}
                         for name, value in sorted(matchers.items())],
            "startsAt": rfc3339(starts), "endsAt": rfc3339(ends),
            "createdBy": CREATED_BY, "comment": comment,
        }
        headers = {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}
        address = f"{self.url.rstrip('/')}/api/v2/silences"
        problem = ""
        for pause in (*PAUSES, None):
            try:
                answer = requests.post(address, json=body, headers=headers, auth=self.basic_auth,
                                       timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                problem = f"no answer ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    try:
                        return str(answer.json()["silenceID"])
                    except (ValueError, KeyError, TypeError):
                        raise SilenceError(f"Alertmanager at {self.where} answered 200 without a "
                                           f"silenceID: {answer.text[:200]!r}") from None
                problem = f"HTTP {answer.status_code}: {answer.text.strip()[:200]!r}"
                if answer.is_redirect:  # followed, a POST would become a GET
                    led = shown(urljoin(address, answer.headers.get("Location", "")))
                    problem = (f"HTTP {answer.status_code} to {led} (set alertmanager.url to "
                               "where it leads)")
                if answer.status_code < 500:
                    break
            if pause is not None:
                self.sleep(pause)
        raise SilenceError(f"Alertmanager at {self.where} did not create the silence: {problem}")


def shown(url: str) -> str:
    """An address as messages show it: scheme, host and path, no credentials or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (
        f":{parts.port}" if parts.port else "") + parts.path.rstrip("/")
