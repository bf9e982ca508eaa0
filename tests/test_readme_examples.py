"""The README's shell examples run, in order, as a new user would run them: against a freshly started demo
server (a new database with seed.sql, `python app1.py`, the demo settings of .env.example).

The convention (stated at the top of the README's Endpoints section): every ```sh block of README.md that uses
`$B` is an example. They run in order in one bash session (`set -eo pipefail`, so a failing command or a
Python one-liner that finds no token fails the test); `curl` is wrapped to report each answer's status, and
every answer must be 2xx unless the command is preceded by a `# expect NNN` comment line.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXPECT = re.compile(r"^\s*# expect (\d{3})\b")
STATUS = re.compile(r"^@@STATUS (\d{3}) (\S+) (\S+) (\S+)$")
PRELUDE = r"""set -eo pipefail
curl() {
  command curl --max-time 30 -w "%{stderr}@@STATUS %{http_code} ${EXPECT:-2xx} %{method} %{url_effective}\n" "$@"
}
"""


def examples(text):
    """The README's example blocks, in order."""
    return [block for block in BLOCK.findall(text) if "$B" in block]


def script(blocks):
    """One bash script of the blocks; `# expect NNN` sets EXPECT for the command on the next line."""
    lines = [PRELUDE]
    for number, block in enumerate(blocks, 1):
        lines.append(f'echo "@@BLOCK {number}" >&2')
        expect = None
        for line in block.splitlines():
            if line.startswith("B="):
                continue  # the server under test is $B from the environment
            found = EXPECT.match(line)
            if found:
                expect = found.group(1)
            elif expect and line.strip() and not line.lstrip().startswith("#"):
                if not line.lstrip().startswith("curl "):
                    raise AssertionError(f"block {number}: '# expect' must come right before a curl: {line}")
                line, expect = f"EXPECT={expect} {line.lstrip()}", None
            lines.append(line)
    return "\n".join(lines) + "\n"


def unexpected(stderr):
    """Each answer whose status is not the one expected, as 'block N: METHOD URL -> status (expected ...)'."""
    problems, block = [], 0
    for line in stderr.splitlines():
        if line.startswith("@@BLOCK "):
            block = int(line.split()[1])
        found = STATUS.match(line)
        if found:
            status, expected, method, url = found.groups()
            if not (status.startswith("2") if expected == "2xx" else status == expected):
                problems.append(f"block {block}: {method} {url} -> {status} (expected {expected})")
    return problems


def test_the_convention_is_found_in_the_readme():
    blocks = examples(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 30
    text = script(blocks)
    assert "EXPECT=409 curl" in text  # the examples that answer an error say so
    assert text.count("curl ") >= 60


def test_unexpected_statuses_are_reported():
    stderr = "@@BLOCK 1\n@@STATUS 200 2xx GET http://x/a\n@@STATUS 404 2xx GET http://x/b\n@@BLOCK 2\n"
    stderr += "@@STATUS 409 409 POST http://x/c\n@@STATUS 200 409 POST http://x/d\n"
    assert unexpected(stderr) == [
        "block 1: GET http://x/b -> 404 (expected 2xx)",
        "block 2: POST http://x/d -> 200 (expected 409)",
    ]


def test_readme_examples_run_in_order_on_a_fresh_demo_server(tmp_path):
    assert shutil.which("curl"), "curl is needed to run the README's examples: `make test-tools` installs it"
    from tools.demo_server import demo_server

    blocks = examples(README.read_text(encoding="utf-8"))
    (tmp_path / "examples.sh").write_text(script(blocks))
    # Streams end after 2 s here (the README's curl -N examples would otherwise run for an hour); the settings
    # an example says it needs ("with METRICS_TOKEN=change-me in .env") are set as it says.
    settings = {"SSE_MAX_SECONDS": 2, "BCRYPT_LOG_ROUNDS": 4, "METRICS_TOKEN": "change-me"}
    with demo_server(log_path=tmp_path / "server.log", **settings) as base:
        env = {**os.environ, "B": base}
        result = subprocess.run(
            ["bash", str(tmp_path / "examples.sh")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    answers = [line for line in result.stderr.splitlines() if line.startswith("@@STATUS ")]
    problems = unexpected(result.stderr)
    if result.returncode != 0:
        problems.append(f"the script stopped (exit {result.returncode}):\n{result.stderr[-3000:]}")
    assert not problems, "\n".join(problems)
    assert len(answers) >= 60, result.stderr[-2000:]
