"""The generated Grafana dashboard is valid JSON naming only declared series (issue 13)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from spec.metrics import METRICS
from spec.policies import DEFAULT_POLICIES
from spec.render.grafana import main, render_dashboard

SUFFIXES = ("_bucket", "_count", "_sum")


def exprs(doc: dict[str, object]) -> list[str]:
    panels = doc["panels"]
    assert isinstance(panels, list)
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_valid_json_with_a_panel_per_rule_and_per_series() -> None:
    doc = json.loads(render_dashboard())
    titles = [p["title"] for p in doc["panels"]]
    assert {r.name for r in DEFAULT_POLICIES.alerts.rules} <= set(titles)
    assert set(METRICS) <= set(titles)
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])
    for expr in exprs(doc):
        used = set(re.findall(r"\borchestration_\w+", expr))
        assert used, expr
        for name in used:
            base = next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)
            assert base in METRICS, f"{expr} names {name}, which spec.metrics does not declare"
    names = {r.name for r in DEFAULT_POLICIES.alerts.rules}
    rule_panels = {p["title"]: p for p in doc["panels"] if p["title"] in names}
    for rule in DEFAULT_POLICIES.alerts.rules:
        steps = rule_panels[rule.name]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1]["value"] == rule.threshold
    assert render_dashboard() == render_dashboard()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package 'prometheus')")
def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    """promtool parses each panel query (as a recording rule, Grafana's range variable made concrete)."""
    rules = [{"record": f"panel:query_{i}:check", "expr": e.replace("$__rate_interval", "1m")}
             for i, e in enumerate(exprs(json.loads(render_dashboard())))]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_writes_the_file_or_says_why_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dashboard.json"
    assert main([str(out)]) == 0 and json.loads(out.read_text())["uid"] == "orchestration-spec"
    assert main([str(tmp_path / "missing" / "x.json")]) == 1
    assert "cannot write" in capsys.readouterr().err
    assert main([]) == 0 and json.loads(capsys.readouterr().out)["title"] == "Orchestration"
