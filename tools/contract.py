"""`make contract`: the OpenAPI document checked with the tools integrators use, on a freshly started demo server.

1. Redocly CLI (pinned in tools/node/package.json) lints /openapi.json with its recommended ruleset:
   0 errors and 0 warnings.
2. openapi-python-client (pinned in tools/client-requirements.txt, in .tools/client-venv) generates a client
   package from /openapi.json; tools/client_smoke.py imports it, logs in, places an order, reads it and
   fetches its QR code.
3. newman (pinned in tools/node/package.json) runs docs/postman_collection.json: 0 failed assertions.

schemathesis is the fourth tool: `make fuzz` (tools/fuzz.py), on a database of its own. The tools live in
.tools/ and tools/node/node_modules (both ignored by git), never in the runtime's .venv. `make contract`
installs them; this module only runs them. Exit status 0 only when all three pass.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tools.demo_server import demo_server

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "tools" / "node" / "node_modules" / ".bin"
CLIENT_VENV = ROOT / ".tools" / "client-venv"


def run(command, **kwargs):
    print("$ " + " ".join(str(part) for part in command), flush=True)
    return subprocess.run(
        [str(part) for part in command], check=False, text=True, capture_output=True, **kwargs
    )


def show(result, lines=40):
    output = (result.stdout or "") + (result.stderr or "")
    print("\n".join(output.strip().splitlines()[-lines:]), flush=True)
    return output


def redocly(document):
    result = run([NODE_BIN / "redocly", "lint", "--extends=recommended", "--format=summary", document])
    output = show(result, 15)
    errors = len(re.findall(r"^error ", output, re.MULTILINE))
    warnings = re.search(r"You have (\d+) warnings?", output)
    warnings = int(warnings.group(1)) if warnings else 0
    ok = result.returncode == 0 and errors == 0 and warnings == 0
    return ok, f"redocly lint --extends=recommended: {errors} errors, {warnings} warnings"


def python_client(document, base, workdir):
    generated = Path(workdir) / "client"
    result = run(
        [
            CLIENT_VENV / "bin" / "openapi-python-client", "generate", "--path", document, "--meta", "none",
            "--output-path", generated / "courier_client", "--config", ROOT / "tools" / "client-config.yaml",
        ]
    )  # fmt: skip
    output = show(result, 10)
    if result.returncode != 0 or "Warning" in output or "Error" in output:
        return False, "openapi-python-client generate: warnings or errors (see above)"
    modules = len(list((generated / "courier_client").rglob("*.py")))
    env = {**os.environ, "PYTHONPATH": str(generated)}
    smoke = run([CLIENT_VENV / "bin" / "python", ROOT / "tools" / "client_smoke.py", base], env=env)
    show(smoke, 10)
    ok = smoke.returncode == 0
    return (
        ok,
        f"openapi-python-client generate: {modules} modules, no warnings; client script {'passed' if ok else 'FAILED'}",
    )


def newman(base, workdir):
    report = Path(workdir) / "newman.json"
    result = run(
        [
            NODE_BIN / "newman", "run", ROOT / "docs" / "postman_collection.json", "--env-var", f"baseUrl={base}",
            "--reporters", "cli,json", "--reporter-json-export", report, "--timeout-request", "30000",
            "--color", "off", "--working-dir", ROOT / "docs",
        ]
    )  # fmt: skip
    show(result, 25)
    if not report.exists():
        return False, "newman: no report"
    stats = json.loads(report.read_text())["run"]["stats"]
    requests, assertions = stats["requests"], stats["assertions"]
    ok = result.returncode == 0 and assertions["failed"] == 0 and requests["failed"] == 0
    summary = (
        f"newman run docs/postman_collection.json: {requests['total']} requests, "
        f"{assertions['total']} assertions, {assertions['failed']} failed"
    )
    return ok, summary


def main():
    missing = [tool for tool in (NODE_BIN / "newman", NODE_BIN / "redocly", CLIENT_VENV / "bin" / "python")
               if not tool.exists()]  # fmt: skip
    if missing:
        print("contract: the tools are not installed (run `make contract`): " + ", ".join(map(str, missing)))
        return 1
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as workdir, demo_server(log_path=Path(workdir) / "server.log") as base:
        document = Path(workdir) / "openapi.json"
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as response:
            document.write_bytes(response.read())
        for name, check in (
            ("redocly", lambda: redocly(document)),
            ("client", lambda: python_client(document, base, workdir)),
            ("newman", lambda: newman(base, workdir)),
        ):
            print(f"\n===== {name} =====", flush=True)
            results.append(check())
    print(f"\ncontract checks ({time.monotonic() - started:.0f} s):")
    for ok, summary in results:
        print(f"  {'ok  ' if ok else 'FAIL'} {summary}")
    failed = sum(1 for ok, _ in results if not ok)
    print(f"contract: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
