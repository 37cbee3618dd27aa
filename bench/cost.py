"""Cost: the SMS parts each realistic alert takes with the default template.

    python bench/cost.py [--max-segments 1]

Payloads: the real Alertmanager and OpenShift captures in tests/fixtures/alertmanager/, and a few
of our own (long annotations, Unicode punctuation and text, a big group, truncated alerts).
Goal: one part each at the default max_segments, with the alert name, the status and the
summary kept.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

from common import table

from sms_notify.integrations.alertmanager.templates import Renderer
from sms_notify.text import count_parts, gsm_friendly

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "alertmanager"


def own_payloads(base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variations on a real payload that stress the template."""
    out: dict[str, dict[str, Any]] = {}
    long = copy.deepcopy(base)
    long["alerts"][0]["annotations"]["summary"] = (
        "Filesystem /var/lib/postgresql on db1 has only 2.1% space left and will be full in "
        "about 40 minutes at the current write rate; autovacuum is running behind")
    long["alerts"][0]["annotations"]["description"] = "x" * 2000
    out["own: long summary + 2 kB description"] = long
    curly = copy.deepcopy(base)
    curly["alerts"][0]["annotations"]["summary"] = "Disk “data” on db1 – 97% full… don’t wait"
    out["own: Unicode punctuation"] = curly
    greek = copy.deepcopy(base)
    greek["alerts"][0]["annotations"]["summary"] = "Δίσκος γεμάτος στο db1 (97%)"
    out["own: Greek summary (UCS-2)"] = greek
    big = copy.deepcopy(base)
    alert = big["alerts"][0]
    big["alerts"] = []
    for i in range(40):
        a = copy.deepcopy(alert)
        a["labels"]["instance"] = f"db{i}:9100"
        a["fingerprint"] = f"{i:016x}"
        big["alerts"].append(a)
    big["commonLabels"].pop("instance", None)
    big["truncatedAlerts"] = 60
    out["own: 40 alerts + 60 truncated"] = big
    return out


def summary_of(payload: dict[str, Any]) -> str:
    annotations = (payload.get("alerts") or [{}])[0].get("annotations") or {}
    return str(annotations.get("summary") or annotations.get("description") or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-segments", type=int, default=1)
    args = parser.parse_args()
    payloads = {p.name: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}
    payloads.update(own_payloads(payloads["am-0.25-firing.json"]))
    renderer = Renderer(max_segments=args.max_segments)
    rows = []
    for name, payload in payloads.items():
        text = renderer.render(payload)
        parts = count_parts(text)
        name_kept = (payload.get("commonLabels") or {}).get("alertname", "") in text
        status_kept = str(payload.get("status", "")).upper() in text
        summary = " ".join(gsm_friendly(summary_of(payload)).split())
        summary_kept = ("(none)" if not summary else "full" if summary in text
                        else "cut" if summary[:20] in text else "NO")
        rows.append([name, len(text), parts.encoding, parts.parts,
                     "yes" if name_kept else "NO", "yes" if status_kept else "NO", summary_kept,
                     text.replace("\n", " / ")[:70]])
    print(f"cost: default template at max_segments={args.max_segments}\n")
    print(table(["payload", "chars", "encoding", "parts", "name", "status", "summary", "text"],
                rows))


if __name__ == "__main__":
    main()
