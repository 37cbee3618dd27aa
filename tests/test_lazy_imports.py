"""zeep and lxml load only when a SOAP gateway is used: a command that sends through an HTTP
gateway (Nagios runs one per notification) must not pay for them. Checked in fresh interpreters,
since this test process has long imported both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

HEAVY = ("zeep", "lxml")

# Every plugin loaded, the CLI modules imported, and one real `send` through FastSMS to a local
# stub on 127.0.0.1 (no `responses`, which would import nothing heavy but proves less).
FASTSMS_SEND = textwrap.dedent("""
    import http.server, json, sys, threading

    import sms_notify.cli, sms_notify.commands, sms_notify.delivery
    from sms_notify import manager

    class Stub(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "8")
            self.end_headers()
            self.wfile.write(b"73786923")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    loaded = sorted(manager.providers())
    url = f"fastsms://T@447700900123?from=Alerts&endpoint=http://127.0.0.1:{server.server_port}"
    code = sms_notify.cli.main(["send", url, "-m", "DISK FULL"])
    server.shutdown()
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"zeep", "lxml"})
    print(json.dumps({"code": code, "loaded": loaded, "heavy": heavy}))
""")

# The same with the SOAP plugin's client built: now both must be there (the check can fail).
SOAP_CLIENT = textwrap.dedent("""
    import json, sys
    from sms_notify import manager
    from sms_notify.plugins import sms24x

    manager.providers()
    before = sorted({m.split(".")[0] for m in sys.modules} & {"zeep", "lxml"})
    sms24x._document()
    after = sorted({m.split(".")[0] for m in sys.modules} & {"zeep", "lxml"})
    print(json.dumps({"before": before, "after": after}))
""")


def run(code: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SMS_NOTIFY_LOAD_PLUGINS", "SMS_NOTIFY_CONFIG")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_sending_through_an_http_gateway_loads_neither_zeep_nor_lxml() -> None:
    result = run(FASTSMS_SEND)
    assert result["code"] == 0
    assert {"fastsms", "intellisms", "server2sms", "sms24x", "mymobileapi"} <= set(
        result["loaded"])  # type: ignore[arg-type]
    assert result["heavy"] == []


def test_a_soap_gateway_loads_them_on_first_use() -> None:
    assert run(SOAP_CLIENT) == {"before": [], "after": sorted(HEAVY)}


# `send` through one gateway, nothing else asked: only that gateway's plugin is imported.
ONE_PLUGIN = textwrap.dedent("""
    import json, sys
    import sms_notify.cli

    # Exit 1 (nothing answers on port 9) is fine: what matters is what got imported.
    code = sms_notify.cli.main(["send", "fastsms://T@447700900123?from=A&endpoint=http://127.0.0.1:9"
                                "&timeout=1", "--timeout", "1", "-m", "x"])
    plugins = sorted(m.rpartition(".")[2] for m in sys.modules
                     if m.startswith("sms_notify.plugins."))
    print(json.dumps({"code": code, "plugins": plugins}))
""")


def test_a_command_for_one_gateway_imports_only_its_plugin() -> None:
    assert run(ONE_PLUGIN) == {"code": 1, "plugins": ["fastsms"]}


# `nagios` with a route whose template only the receiver renders: no Jinja2 for it.
ROUTE_WITH_TEMPLATE = textwrap.dedent("""
    import json, sys, tempfile
    import sms_notify.cli

    config = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    config.write("accounts: {a: 'fastsms://T@?from=A&endpoint=http://127.0.0.1:9'}\\n"
                 "routes: {oncall: {to: ['+447700900123'], via: [a],"
                 " template: '{{ status }} {{ commonLabels.alertname }}'}}\\n")
    config.close()
    code = sms_notify.cli.main(["nagios", "oncall", "--config", config.name, "-l", "web01",
                                "-t", "PROBLEM", "-s", "DOWN", "--dry-run"])
    print(json.dumps({"code": code, "jinja2": "jinja2" in sys.modules}))
""")


def test_nagios_does_not_compile_the_receivers_route_templates() -> None:
    assert run(ROUTE_WITH_TEMPLATE) == {"code": 0, "jinja2": False}
