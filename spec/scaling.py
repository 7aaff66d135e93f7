"""Scale every duration of a `Policies` at once, so a real runtime can run on a fast clock.

The conformance tests (issue 6 §2) run the reference runtime in-process "on a scaled clock so
that seconds become milliseconds": rather than patching each timer, they hand the runtime
policies whose durations are all multiplied by the same factor. Durations are recognised
generically — every ``float`` field whose name ends in ``_s``, in every nested policy model —
so a duration added to `spec.policies` later is scaled without touching this module. Counts,
factors, limits and thresholds (``max_retries``, ``factor``, ``failure_threshold``, byte sizes)
are not durations and stay as they are. The result is validated like any other `Policies`
(ratios such as ``timeout_s >= 2 x interval_s`` survive scaling; absolute caps may not).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from pydantic import BaseModel

from spec.errors import SpecError
from spec.policies import Policies

M = TypeVar("M", bound=BaseModel)

#: Field-name suffix that marks a duration in seconds throughout `spec.policies`.
DURATION_SUFFIX = "_s"


class ScalingError(SpecError):
    """A scale factor that cannot produce valid policies."""


def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, BaseModel):
        return _scale_model(value, factor)
    if isinstance(value, tuple):
        return tuple(_scaled(item, factor) for item in value)
    return value


def _scale_model(model: M, factor: float) -> M:
    values: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name.endswith(DURATION_SUFFIX) and isinstance(value, float):
            values[name] = value * factor
        else:
            values[name] = _scaled(value, factor)
    return type(model).model_validate(values)


def scale_policies(policies: Policies, factor: float) -> Policies:
    """`policies` with every duration (``*_s`` float field, at any depth) multiplied by `factor`.

    Raises :class:`ScalingError` for a factor that is not a finite positive number, or when the
    scaled values break a policy's validation (the message names the field).
    """
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor) or factor <= 0:
        raise ScalingError(f"scale factor must be a finite number > 0, got {factor!r}")
    try:
        return _scale_model(policies, float(factor))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ScalingError(f"policies scaled by {factor:g} are invalid: {exc}") from None


def duration_fields(policies: Policies) -> dict[str, float]:
    """Every duration of `policies` by dotted path (``heartbeat.interval_s``, ``alerts.rules.0.for_s``)."""
    found: dict[str, float] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, BaseModel):
            for name in type(value).model_fields:
                child = getattr(value, name)
                child_path = f"{path}.{name}" if path else name
                if name.endswith(DURATION_SUFFIX) and isinstance(child, float):
                    found[child_path] = child
                else:
                    walk(child, child_path)
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")

    walk(policies, "")
    return found
