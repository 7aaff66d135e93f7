from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.protocol import CAPABILITY_PATTERN, MAX_CAPABILITIES, RegisterRequest
from runtime.worker.capabilities import detect_capabilities, validate_capabilities
from runtime.worker.errors import WorkerConfigError


def test_detected_capabilities_are_valid_and_describe_this_host() -> None:
    caps = detect_capabilities()
    assert caps == sorted(set(caps))
    assert all(CAPABILITY_PATTERN.match(c) for c in caps)
    major, minor = sys.version_info[:2]
    assert {"python", f"python{major}", f"python{major}.{minor}"} <= set(caps)
    assert any(c.startswith("os.") for c in caps) and any(c.startswith("cpus.") for c in caps)
    RegisterRequest(capabilities=caps)  # the orchestrator's validation accepts them


def test_an_invalid_name_is_named_in_the_error() -> None:
    with pytest.raises(WorkerConfigError, match="'GPU!'"):
        validate_capabilities(["python", "GPU!"])


def test_empty_and_too_many_capabilities_are_refused() -> None:
    with pytest.raises(WorkerConfigError, match="at least one"):
        validate_capabilities([])
    with pytest.raises(WorkerConfigError, match=f"at most {MAX_CAPABILITIES}"):
        validate_capabilities([f"c{i}" for i in range(MAX_CAPABILITIES + 1)])


@given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
def test_validation_agrees_with_the_wire_model(names: list[str]) -> None:
    try:
        ours = validate_capabilities(names)
    except WorkerConfigError:
        with pytest.raises(ValueError):
            RegisterRequest(capabilities=names)
    else:
        assert RegisterRequest(capabilities=names).capabilities == ours
