"""Issue 14's done-when for hot reload, on a real ``python -m runtime orchestrator`` process.

The config file of a running orchestrator is edited: the new alert threshold is in effect within
5 s (``GET /api/v1/config`` shows it, and the alert it now breaches fires); then an invalid edit is
rejected with the field named, in the log and in the last reload's outcome, and the old value stays.
"""

from __future__ import annotations

import time
from typing import Any

from spec.conformance import check_trace
from spec.policies import DEFAULT_POLICIES, HeartbeatPolicy
from spec.trace import read_trace
from tests.runtime.e2e.harness import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S, Orchestrator, wait_for

RULE = "HighResourceUtilisation"
FIELD = "policies.alerts.rules.0.threshold"
#: The issue's bound for an edit to take effect.
RELOAD_BOUND_S = 5.0


def _rule(threshold: str) -> str:
    return (
        f"[[policies.alerts.rules]]\nname = \"{RULE}\"\nmetric = \"resource_utilisation\"\nthreshold = {threshold}\n"
        "for_s = 0.0\nsummary = \"Resource utilisation high\"\nescalation_level = 3\n"
    )


def _config(threshold: str) -> str:
    """The whole file as the harness writes it, with the rule at `threshold`."""
    return f"[policies.heartbeat]\ninterval_s = {HEARTBEAT_INTERVAL_S}\ntimeout_s = {HEARTBEAT_TIMEOUT_S}\n" + _rule(
        threshold)


def _config_view(orch: Orchestrator) -> dict[str, Any]:
    response = orch.http.get("/api/v1/config")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _threshold(view: dict[str, Any]) -> float:
    rules = view["config"]["policies"]["alerts"]["rules"]
    return float(next(r["threshold"] for r in rules if r["name"] == RULE))


def _firing(orch: Orchestrator) -> bool:
    # A heartbeat carries the worker's resource use, which the rule reads.
    orch.http.post("/api/v1/workers/heartbeat",
                   json={"workerId": "w-cfg", "health": {"cpuPercent": 50.0}}).raise_for_status()
    alerts = orch.http.get("/api/v1/alerts").json()["data"]["alerts"]
    return any(a["labels"].get("alertname") == RULE and a["state"] == "firing" for a in alerts)


def test_an_edited_config_file_takes_effect_and_an_invalid_edit_is_refused(tmp_path: Any) -> None:
    orch = Orchestrator(tmp_path, extra_config=_rule("0.9"))
    try:
        config = tmp_path / "orchestrator.toml"
        assert _threshold(_config_view(orch)) == 0.9
        orch.http.post("/api/v1/workers/register", json={"workerId": "w-cfg", "capabilities": ["python"]}
                       ).raise_for_status()
        assert not _firing(orch)  # 50 % is within the 90 % threshold

        edited = time.monotonic()
        config.write_text(_config("0.3"), encoding="utf-8")
        view = wait_for(lambda: (v := _config_view(orch))["lastReload"] and _threshold(v) == 0.3 and v,
                        "the new threshold in GET /api/v1/config", timeout=RELOAD_BOUND_S)
        assert view["lastReload"]["outcome"] == "applied", view["lastReload"]
        wait_for(lambda: _firing(orch), "the alert the new threshold fires",
                 timeout=max(0.1, RELOAD_BOUND_S - (time.monotonic() - edited)))

        config.write_text(_config('"high"'), encoding="utf-8")
        view = wait_for(lambda: (v := _config_view(orch))["lastReload"]["outcome"] == "invalid" and v,
                        "the invalid edit's outcome", timeout=RELOAD_BOUND_S)
        message = view["lastReload"]["message"]
        assert FIELD in message and str(config) in message, message
        assert _threshold(view) == 0.3  # the old value stays
        assert _firing(orch)
        wait_for(lambda: FIELD in orch.stderr() and "reload rejected" in orch.stderr(),
                 "the log line naming the field", timeout=RELOAD_BOUND_S)

        # A field that needs a restart: the whole edit is refused, naming it; the new threshold is not applied.
        config.write_text("alert_eval_interval_s = 1.0\n" + _config("0.8"), encoding="utf-8")
        view = wait_for(lambda: (v := _config_view(orch))["lastReload"]["outcome"] == "restart_required" and v,
                        "the refused edit's outcome", timeout=RELOAD_BOUND_S)
        assert view["lastReload"]["fields"] == ["alert_eval_interval_s"], view["lastReload"]
        assert "'alert_eval_interval_s'" in view["lastReload"]["message"]
        assert _threshold(view) == 0.3 and view["config"]["alert_eval_interval_s"] != 1.0
    finally:
        orch.stop()
    policies = DEFAULT_POLICIES.model_copy(update={"heartbeat": HeartbeatPolicy(
        interval_s=HEARTBEAT_INTERVAL_S, timeout_s=HEARTBEAT_TIMEOUT_S)})
    report = check_trace(read_trace(orch.trace), policies=policies)
    assert report.divergence is None, report
    reloads = [e.trigger for e in read_trace(orch.trace) if e.machine == "config_reload"]
    assert {"applied", "invalid", "restart_required"} <= set(reloads)
