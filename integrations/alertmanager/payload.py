"""The Alertmanager webhook payload (version 4): parsing and validation.

Alertmanager re-sends a group every group_interval for as long as we answer non-2xx, so a
payload that can never succeed must get a clear 4xx naming the field (`alerts[2].labels: must be
an object`), and anything else must be accepted. Unknown fields are ignored, as the webhook
contract asks; optional fields that older Alertmanagers omit (truncatedAlerts, groupKey,
fingerprint) get a stable default.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("firing", "resolved")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_QUOTED = re.compile(r"\\(.)", re.DOTALL)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class PayloadError(ValueError):
    """A payload that can never succeed; `status` is the HTTP answer (400 bad JSON, 422 shape)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Notification:
    """One validated webhook call. `data` is the normalised payload: the template context."""

    data: dict[str, Any] = field(repr=False)
    group_key: str  # the payload's, or one made from groupLabels for senders that omit it

    @property
    def receiver(self) -> str:
        return str(self.data["receiver"])

    @property
    def status(self) -> str:
        return str(self.data["status"])

    @property
    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.data["alerts"]
        return alerts

    @property
    def truncated(self) -> int:
        return int(self.data["truncatedAlerts"])

    @property
    def fingerprints(self) -> list[str]:
        return sorted(a["fingerprint"] for a in self.data["alerts"])


def unescape_receiver(name: str) -> str:
    """Undo Alertmanager's regexp.QuoteMeta on `receiver` (`web\\.hook` -> `web.hook`)."""
    return _QUOTED.sub(r"\1", name) if "\\" in name else name


def _where(path: str, key: str) -> str:
    """A key path for messages: `.name` when plain, else quoted and cut short."""
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    shown = json.dumps(key[:64] + ("..." if len(key) > 64 else ""))
    return f"{path}[{shown}]"


def _kind(value: Any) -> str:
    """JSON's name for a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _string(data: Mapping[str, Any], key: str, path: str, default: str | None = "") -> str:
    value = data.get(key)
    if value is None:
        if default is None:
            raise PayloadError(f"{_where(path, key)}: missing")
        return default
    if not isinstance(value, str):
        raise PayloadError(f"{_where(path, key)}: must be a string, not {_kind(value)}")
    return value


def _kv(data: Mapping[str, Any], key: str, path: str, required: bool = False) -> dict[str, str]:
    """A string -> string object (labels, annotations)."""
    where = _where(path, key)
    value = data.get(key)
    if value is None:
        if required:
            raise PayloadError(f"{where}: missing")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: must be an object, not {_kind(value)}")
    for name, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{_where(where, name)}: must be a string, not {_kind(item)}")
    return value


def _status(data: Mapping[str, Any], path: str, default: str | None = None) -> str:
    value = data.get("status", default)
    where = _where(path, "status")
    if value is None:
        raise PayloadError(f"{where}: missing")
    if value not in STATUSES:
        shown = json.dumps(value)[:40] if isinstance(value, str) else _kind(value)
        raise PayloadError(f"{where}: must be \"firing\" or \"resolved\", not {shown}")
    return str(value)


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable stand-in for a missing fingerprint: a hash of the sorted labels."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _alert(item: Any, index: int, status: str) -> dict[str, Any]:
    path = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise PayloadError(f"{path}: must be an object, not {_kind(item)}")
    labels = _kv(item, "labels", path, required=True)
    alert = {
        "status": _status(item, path, default=status),
        "labels": labels,
        "annotations": _kv(item, "annotations", path),
        "startsAt": _string(item, "startsAt", path),
        "endsAt": _string(item, "endsAt", path),
        "generatorURL": _string(item, "generatorURL", path),
        "fingerprint": _string(item, "fingerprint", path) or fingerprint(labels),
    }
    return alert


def validate(data: Any, receiver_required: bool = True) -> Notification:
    """A Notification from decoded JSON, or PayloadError (422) naming the first bad field."""
    if not isinstance(data, dict):
        raise PayloadError(f"body: must be a JSON object, not {_kind(data)}")
    receiver = _string(data, "receiver", "", default=None if receiver_required else "")
    status = _status(data, "")
    alerts_raw = data.get("alerts")
    if alerts_raw is None:
        raise PayloadError("alerts: missing")
    if not isinstance(alerts_raw, list):
        raise PayloadError(f"alerts: must be an array, not {_kind(alerts_raw)}")
    if not alerts_raw:
        raise PayloadError("alerts: must not be empty")
    alerts = [_alert(item, i, status) for i, item in enumerate(alerts_raw)]
    truncated = data.get("truncatedAlerts", 0)
    if truncated is None:
        truncated = 0
    if isinstance(truncated, bool) or not isinstance(truncated, int) or not 0 <= truncated < 2**64:
        raise PayloadError("truncatedAlerts: must be a whole number of at least 0")
    group_labels = _kv(data, "groupLabels", "")
    normalised = {
        "receiver": receiver,
        "status": status,
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": _kv(data, "commonLabels", ""),
        "commonAnnotations": _kv(data, "commonAnnotations", ""),
        "externalURL": _string(data, "externalURL", ""),
        "version": _string(data, "version", ""),
        "groupKey": _string(data, "groupKey", ""),
        "truncatedAlerts": truncated,
    }
    group_key = str(normalised["groupKey"]) or "{}:" + json.dumps(group_labels, sort_keys=True)
    return Notification(normalised, group_key)


def parse(body: bytes, receiver_required: bool = True) -> Notification:
    """Decode and validate a request body; PayloadError 400 for what is not JSON at all."""
    try:
        # Strict UTF-8 (a BOM allowed): json.loads on bytes would let an encoded lone surrogate
        # (b"\xed\xa0\x80") through, which no text can carry on.
        data = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise PayloadError("body: not UTF-8 text", 400) from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body: not valid JSON ({exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno})", 400) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integer too long
        raise PayloadError(f"body: not usable JSON ({type(exc).__name__})", 400) from None
    if _SURROGATE_ESCAPE.search(body):
        data = _clean(data)
    return validate(data, receiver_required)


def _clean(value: Any) -> Any:
    """Lone surrogates (`"\\ud800"`) replaced by `?`: they cannot be stored or sent as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value
