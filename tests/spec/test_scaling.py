"""`scale_policies` multiplies every duration, and nothing else, keeping validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.policies import DEFAULT_POLICIES, HeartbeatPolicy, Policies
from spec.scaling import ScalingError, duration_fields, scale_policies


def _non_durations(policies: Policies) -> dict[str, object]:
    """Every leaf that is not a duration, by path."""
    out: dict[str, object] = {}

    def walk(value: object, path: str) -> None:
        fields = getattr(type(value), "model_fields", None)
        if fields is not None:
            for name in fields:
                child = getattr(value, name)
                if not (name.endswith("_s") and isinstance(child, float)):
                    walk(child, f"{path}.{name}")
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}.{i}")
        else:
            out[path] = value

    walk(policies, "")
    return out


@settings(max_examples=40, deadline=None)
@given(factor=st.floats(min_value=1e-4, max_value=1.0, allow_nan=False))
def test_every_duration_is_multiplied_and_nothing_else_changes(factor: float) -> None:
    scaled = scale_policies(DEFAULT_POLICIES, factor)
    before, after = duration_fields(DEFAULT_POLICIES), duration_fields(scaled)
    assert before.keys() == after.keys()
    for path, value in before.items():
        assert math.isclose(after[path], value * factor, rel_tol=1e-12, abs_tol=0.0), path
    assert _non_durations(scaled) == _non_durations(DEFAULT_POLICIES)
    # Derived timings follow: the backoff schedule and the heartbeat detection window scale too.
    assert scaled.backoff.schedule() == pytest.approx([d * factor for d in DEFAULT_POLICIES.backoff.schedule()])
    low, high = DEFAULT_POLICIES.heartbeat.detection_window_s()
    assert scaled.heartbeat.detection_window_s() == pytest.approx((low * factor, high * factor))


def test_the_walk_finds_the_nested_and_tuple_durations() -> None:
    paths = duration_fields(DEFAULT_POLICIES)
    assert "startup.database_backoff.base_delay_s" in paths  # a policy inside a policy
    assert "alerts.rules.0.for_s" in paths  # a policy inside a tuple
    assert "backoff.max_retries" not in paths and "circuit_breaker.failure_threshold" not in paths


def test_scaled_policies_are_validated() -> None:
    # long_poll_s is capped at 60 s: scaling a 40 s long poll up by 2 must fail, naming the field.
    long_poll = DEFAULT_POLICIES.poll.model_copy(update={"long_poll_s": 40.0})
    policies = DEFAULT_POLICIES.model_copy(update={"poll": long_poll})
    with pytest.raises(ScalingError, match="long_poll_s"):
        scale_policies(policies, 2.0)
    custom = DEFAULT_POLICIES.model_copy(update={"heartbeat": HeartbeatPolicy(interval_s=1.0, timeout_s=2.0)})
    assert scale_policies(custom, 0.5).heartbeat == HeartbeatPolicy(interval_s=0.5, timeout_s=1.0)


@pytest.mark.parametrize("factor", [0, -1.0, float("nan"), float("inf"), True])
def test_bad_factors_are_refused(factor: float) -> None:
    with pytest.raises(ScalingError, match="scale factor"):
        scale_policies(DEFAULT_POLICIES, factor)
