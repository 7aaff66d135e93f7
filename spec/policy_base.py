"""What every policy model shares: frozen, unknown fields refused, and the capped exponential
that backoff, idle polling and trial writes all grow by."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict


def capped_exponential(base: float, factor: float, steps: int, cap: float) -> float:
    """``min(base * factor ** steps, cap)``, for any number of steps.

    Idle polls and failed polls are counted for as long as they last, and ``factor ** steps``
    overflows a float after about a thousand steps: past the cap the exponent stops growing.
    """
    if factor > 1 and base > 0:
        steps = min(steps, max(0, math.ceil(math.log(cap / base, factor))))
    return float(min(base * factor ** steps, cap))


class Policy(BaseModel):
    """Base of every policy model: frozen, and a typo in a field name fails instead of being ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
