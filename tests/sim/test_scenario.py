from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from sim import FAULT_KINDS, ScenarioError, catalogue, catalogue_files, load_scenario, scenario_to_yaml
from sim.fuzz import FAULT_STRATEGIES, FAULTS, REPLICAS, SCHEDULES, schedule_scenario
from sim.scenario import scenario_from_mapping
from spec.injected_faults import InjectedFault

BASE = "name: x\ndescription: d\nduration_s: 100\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_catalogue_covers_every_fault_kind_and_a_bad_day() -> None:
    scenarios = catalogue()
    kinds = {f.kind for s in scenarios for f in s.faults}
    assert set(FAULT_KINDS) <= kinds
    bad_day = next(s for s in scenarios if s.name == "bad_day")
    assert len({f.kind for f in bad_day.faults}) >= 5
    assert [p.stem for p in catalogue_files()] == sorted(s.name for s in scenarios)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("faults:\n  - {kind: meteor_strike, at: 1}\n", "faults[0]", "meteor_strike"),
        ("faults:\n  - {kind: network_partition, at: 1, duration: 5, between: [worker, toaster]}\n",
         "faults[0].between", "unknown participant 'toaster'"),
        ("faults:\n  - {kind: network_partition, at: 1, duration: 5, between: [worker, database]}\n",
         "faults[0].between", "no link between"),
        ("faults:\n  - {kind: worker_crash, at: -3}\n", "faults[0].at", "greater than or equal to 0"),
        ("faults:\n  - {kind: database_outage, at: 3}\n", "faults[0].duration", "Field required"),
        ("faults:\n  - {kind: service_errors, at: 3, duration: 2, service: database}\n", "faults[0].service",
         "not an external service"),
        ("faults:\n  - {kind: worker_crash, at: 3, worker: 9}\n", "<document>", "worker 9 does not exist"),
        ("policies:\n  backoff: {base_delay_s: -1}\n", "policies.backoff.base_delay_s", "greater than 0"),
        ("policies:\n  heartbeat: {interval_s: 20}\n", "policies.heartbeat", "timeout_s must be at least 2 x"),
        ("expect:\n  exercises: [vibes]\n", "expect.exercises", "unknown check 'vibes'"),
        ("expect:\n  transitions: [breaker.trip]\n", "expect.transitions", "unknown machine 'breaker'"),
        ("expect:\n  transitions: [circuit_breaker.explode]\n", "expect.transitions", "has no trigger 'explode'"),
    ],
)
def test_bad_scenarios_are_rejected_with_file_field_and_reason(tmp_path: Path, body: str, field: str,
                                                                 reason: str) -> None:
    path = _write(tmp_path, BASE + body)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: field '{field}'")
    assert reason in message


def test_missing_top_level_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"field 'duration_s': Field required"):
        load_scenario(_write(tmp_path, "name: x\ndescription: d\n"))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(_write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario(_write(tmp_path, "- 1\n- 2\n"))


def test_policy_overrides_merge_into_the_spec_defaults() -> None:
    scenario = scenario_from_mapping(
        {"name": "x", "description": "d", "duration_s": 10, "policies": {"backoff": {"max_retries": 5}}},
        source="<test>")
    assert scenario.policies.backoff.max_retries == 5
    assert scenario.policies.backoff.base_delay_s == 1.0  # untouched fields keep the spec's defaults


@settings(max_examples=60, deadline=None)
@given(SCHEDULES, st.integers(min_value=0, max_value=10_000))
def test_any_generated_schedule_round_trips_through_yaml(tmp_path_factory: pytest.TempPathFactory,
                                                         faults: list[dict[str, object]], seed: int) -> None:
    scenario = schedule_scenario(faults, seed)
    path = tmp_path_factory.mktemp("rt") / "s.yaml"
    path.write_text(scenario_to_yaml(scenario), encoding="utf-8")
    assert load_scenario(path) == scenario


def test_fault_kinds_are_declared_once_in_spec_and_the_fuzzer_draws_every_one() -> None:
    assert FAULT_KINDS == tuple(InjectedFault) == tuple(FAULT_STRATEGIES)
    for kind, strategy in FAULT_STRATEGIES.items():  # each drawn fault is valid under the scenario schema
        drawn = find(strategy, lambda fault: True, settings=settings(database=None))
        scenario = scenario_from_mapping({"name": "x", "description": "d", "duration_s": 600, "faults": [drawn],
                                          "topology": {"replicas": REPLICAS}}, source="<t>")
        assert scenario.faults[0].kind is kind
    with pytest.raises(NoSuchExample):
        find(FAULTS, lambda fault: fault["kind"] not in FAULT_KINDS, settings=settings(database=None, max_examples=200))


def test_an_unknown_fault_kind_is_refused_with_the_kinds_written_as_in_a_scenario_file(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "faults:\n  - {kind: meteor, at: 1}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "faults[0]" in message and "'meteor'" in message and "'worker_crash'" in message
    assert "InjectedFault" not in message
