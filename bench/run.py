"""Every benchmark, one after the other: the tables the README's "Performance" section carries.

    python bench/run.py            # needs wrk (apt-get install wrk), apprise 2.x, postgresql

Each script also runs alone: cold_start.py, nagios_cold_start.py, receiver.py,
receiver_parts.py, storm.py, ha.py, fanout.py, cost.py (--help for their options).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["cold_start.py", "nagios_cold_start.py", "receiver.py", "receiver_parts.py", "storm.py",
           "ha.py", "fanout.py", "cost.py"]


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"\n## {script}\n", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], cwd=HERE).returncode:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
