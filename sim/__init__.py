"""SimPy chaos simulator: fault-injection scenarios that verify the spec's timings (issue 5).

The model's components are driven by `spec.machines` and `spec.policies`; every transition is
recorded as a `spec.trace.TraceEvent`, and the checks in `sim.checks` compare the trace with
what the policies prescribe.
"""

from __future__ import annotations

from sim.catalogue import catalogue, catalogue_files, resolve
from sim.checks import CHECKS, CheckResult, recovery_bounds, run_checks
from sim.errors import ScenarioError, SimError, UnknownScenarioError
from sim.model import Model, RunResult, run_scenario
from sim.outcome import Outcome, evaluate
from sim.recorder import Entry, TraceRecorder, trace_digest
from sim.scenario import FAULT_KINDS, Scenario, load_scenario, scenario_from_mapping, scenario_to_yaml

__all__ = [
    "CHECKS",
    "FAULT_KINDS",
    "CheckResult",
    "Entry",
    "Model",
    "Outcome",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SimError",
    "TraceRecorder",
    "UnknownScenarioError",
    "catalogue",
    "catalogue_files",
    "evaluate",
    "load_scenario",
    "recovery_bounds",
    "resolve",
    "run_checks",
    "run_scenario",
    "scenario_from_mapping",
    "scenario_to_yaml",
    "trace_digest",
]
