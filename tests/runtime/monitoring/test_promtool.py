"""``promtool check rules`` on the generated rules file and ``promtool check metrics`` on a live
scrape of a real orchestrator (issue 13: checked against the real thing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from spec.render.prometheus_rules import render_prometheus_rules
from tests.runtime.monitoring.monitoring_helpers import run_one_task, running

PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; "
                       ".ci/run installs it)"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_generated_rules_pass_check_rules(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.rules.yml"
    rules.write_text(render_prometheus_rules())
    done = promtool("check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "WARNING" not in (done.stdout + done.stderr).upper()


async def test_a_live_scrape_passes_check_metrics(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, client):
        await run_one_task(client, "w1")
        await run_one_task(client, "w2", fail=True)
        orch.breakers.get("git-platform").force_open()
        await client.get("/api/v1/alerts")
        text = (await client.get("/metrics")).text
    done = promtool("check", "metrics", stdin=text)
    # check metrics prints lint problems (naming, units, help) and exits non-zero on any.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
