"""The scaled clock of the conformance tests (issue 6 §2) and the tolerance their checks allow.

Every duration of `spec.policies` is multiplied by ``SCALE`` (`spec.scaling.scale_policies`), so
one policy second lasts ``SCALE`` real seconds. Seeds say "seconds become milliseconds"
(0.001); on a loaded 2-core machine an event loop hiccup of 50-100 ms is common, which would
swamp millisecond timings, so the runtime runs at 1 s -> 50 ms and the resilience layer (no
HTTP, no SQLite in the loop) at 1 s -> 10 ms. At 1 s -> 20 ms the worker's HTTP timeout (the
heartbeat timeout, 0.6 s) was exceeded now and then on a loaded machine, which triggers the
defect pinned in ``test_known_divergences.py`` rather than testing the property.

Startup timeouts are the one exception: they are caps on how long opening SQLite, running the
migrations and binding a socket may take, not schedules the spec prescribes, and scaled to
0.2-2.4 s they would test the machine's load rather than the runtime. They keep their values.
"""

from __future__ import annotations

from spec.policies import DEFAULT_POLICIES, Policies
from spec.scaling import scale_policies

#: Real seconds per policy second for the in-process runtime (orchestrator, SQLite, workers).
SCALE = 0.05
#: Real seconds per policy second for the resilience layer exercised on its own.
RESILIENCE_SCALE = 0.01

#: Scheduling jitter the timing checks absorb, in real seconds. Lower bounds that the runtime
#: guarantees by construction (a retry never fires before its delay) are checked with no slack.
#: The orchestrator stamps a trace line when it writes it, after the commit, while the store
#: decides with the time read before waiting for SQLite's write lock; on a loaded machine that wait
#: alone reached 0.4 s, which makes a heartbeat look later (or a detection earlier) than it was.
TOLERANCE_S = 0.5
RESILIENCE_TOLERANCE_S = 0.15


def runtime_policies(scale: float = SCALE) -> Policies:
    """The spec's policies on the runtime's scaled clock (startup caps unscaled, see above)."""
    scaled = scale_policies(DEFAULT_POLICIES, scale)
    return Policies.model_validate({**dict(scaled), "startup": DEFAULT_POLICIES.startup})


def resilience_policies() -> Policies:
    return scale_policies(DEFAULT_POLICIES, RESILIENCE_SCALE)
