"""Inline directives: single values, derived figures and checked names inside prose.

Prose that mentions a number, a trigger or a state goes through these, so a renamed trigger
or a changed timeout either updates the sentence or fails the build; it never leaves a page
describing a spec that no longer exists.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from spec import machines as spec_machines
from spec import participants as spec_participants
from spec import policies
from spec_docs.formatting import code, number, seconds, table, unit_for, with_unit
from spec_docs.registry import DIRECTIVES, directive


def _step(current: Any, part: str, walked: str) -> Any:
    if isinstance(current, tuple):
        if part.isdigit():
            index = int(part)
            if index >= len(current):
                raise KeyError(f"{walked} has {len(current)} items; index {index} is out of range")
            return current[index]
        for item in current:
            if getattr(item, "name", None) == part or str(getattr(item, "level", "")) == part:
                return item
        raise KeyError(f"{walked} has no entry named {part!r}")
    if isinstance(current, list) and part.isdigit():
        return _step(tuple(current), part, walked)
    if isinstance(current, BaseModel):
        names = list(type(current).model_fields) + [
            n for n, _ in inspect.getmembers(type(current)) if not n.startswith("_") and n not in dir(BaseModel)
        ]
        if part not in names:
            raise KeyError(f"{walked or 'policies'} has no field {part!r}; fields: {', '.join(sorted(set(names)))}")
        found = getattr(current, part)
        if not callable(found):
            return found
        required = [
            p for p in inspect.signature(found).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if required:
            raise ValueError(f"{walked}.{part}() needs arguments ({', '.join(p.name for p in required)}); use a figure")
        return found()
    raise KeyError(f"{walked} is a value ({current!r}); it has no {part!r}")


def resolve(path: str) -> tuple[Any, str]:
    """Walk `path` from ``DEFAULT_POLICIES``: fields, no-argument methods, indexes, rule names."""
    current: Any = policies.DEFAULT_POLICIES
    walked = ""
    last_name = ""
    for part in path.split("."):
        if not part:
            raise ValueError(f"empty segment in path {path!r}")
        current = _step(current, part, walked)
        walked = f"{walked}.{part}" if walked else part
        if not part.isdigit():
            last_name = part
    return current, last_name


@directive
def value(path: str, unit: str | None = None) -> str:
    """One policy value, formatted with its unit: ``value("heartbeat.interval_s")`` → ``10 s``.

    The path walks ``DEFAULT_POLICIES``: fields, methods without arguments (``backoff.schedule``),
    list indexes (``heartbeat.detection_window_s.1``) and rules by name
    (``alerts.rules.HighErrorRate.for_s``). The unit comes from the field name (``_s``, ``_bytes``,
    ``bits_per_s``) unless given: ``s``, ``percent``, ``bytes``, ``bit/s`` or ``plain``.
    """
    found, name = resolve(path)
    if isinstance(found, BaseModel):
        raise ValueError(f"{path} is a whole policy; use policy_table or name one of its fields")
    return with_unit(found, unit or unit_for(name))


def _heartbeat_losses_tolerated() -> str:
    hb = policies.DEFAULT_POLICIES.heartbeat
    return number(int(hb.timeout_s // hb.interval_s) - 1)


def _heartbeat_timeout_intervals() -> str:
    hb = policies.DEFAULT_POLICIES.heartbeat
    return number(hb.timeout_s / hb.interval_s)


def _heartbeat_load(workers: int = 1000) -> str:
    return f"{number(workers / policies.DEFAULT_POLICIES.heartbeat.interval_s)} requests/s"


def _startup_phase_sum() -> str:
    st = policies.DEFAULT_POLICIES.startup
    return seconds(st.config_timeout_s + st.database_timeout_s + st.services_timeout_s + st.health_check_timeout_s)


def _backoff_total_wait() -> str:
    return seconds(sum(policies.DEFAULT_POLICIES.backoff.schedule()))


def _backoff_attempts() -> str:
    return number(policies.DEFAULT_POLICIES.backoff.max_retries + 1)


def _poll_idle_waits() -> str:
    poll = policies.DEFAULT_POLICIES.poll
    waits: list[float] = []
    empty = 1
    while not waits or (waits[-1] < poll.max_interval_s and empty <= 50):
        waits.append(poll.idle_wait_s(empty))
        empty += 1
    return with_unit(waits, "s")


def _detection_window() -> str:
    low, high = policies.DEFAULT_POLICIES.heartbeat.detection_window_s()
    return f"[{number(low)}, {number(high)}] s"


def _recovery_bound_s() -> float:
    st = policies.DEFAULT_POLICIES.startup
    return st.database_timeout_s + st.services_timeout_s


def _recovery_bound() -> str:
    return seconds(_recovery_bound_s())


def _requeue_bound() -> str:
    hb = policies.DEFAULT_POLICIES.heartbeat
    return seconds(_recovery_bound_s() + hb.timeout_s + hb.sweep_interval_s)


def _requeue_bound_sum() -> str:
    hb = policies.DEFAULT_POLICIES.heartbeat
    return " + ".join(number(v) for v in (_recovery_bound_s(), hb.timeout_s, hb.sweep_interval_s))


def _breaker_trial_in(elapsed_s: float = 13.0) -> str:
    """The wait a ``CircuitOpenError`` message quotes `elapsed_s` after the breaker opened."""
    return f"{policies.DEFAULT_POLICIES.circuit_breaker.open_duration_s - elapsed_s:.1f} s"


def _lease_heartbeat_ratio() -> str:
    pol = policies.DEFAULT_POLICIES
    return number(pol.lease.lease_ttl_s / pol.heartbeat.timeout_s)


def _database_recovery_waits() -> str:
    database = policies.DEFAULT_POLICIES.database
    waits: list[float] = []
    failures = 1
    while not waits or (waits[-1] < database.trial_max_s and failures <= 50):
        waits.append(database.recovery_delay_s(failures))
        failures += 1
    return with_unit(waits, "s")


FIGURES: dict[str, Callable[..., str]] = {
    "heartbeat_losses_tolerated": _heartbeat_losses_tolerated,
    "heartbeat_timeout_intervals": _heartbeat_timeout_intervals,
    "heartbeat_load": _heartbeat_load,
    "startup_phase_sum": _startup_phase_sum,
    "backoff_total_wait": _backoff_total_wait,
    "backoff_attempts": _backoff_attempts,
    "poll_idle_waits": _poll_idle_waits,
    "lease_heartbeat_ratio": _lease_heartbeat_ratio,
    "detection_window": _detection_window,
    "recovery_bound": _recovery_bound,
    "requeue_bound": _requeue_bound,
    "requeue_bound_sum": _requeue_bound_sum,
    "breaker_trial_in": _breaker_trial_in,
    "database_recovery_waits": _database_recovery_waits,
}


@directive
def figure(name: str, **params: Any) -> str:
    """A figure derived from several policy values, e.g. ``figure("heartbeat_load", workers=1000)``.

    Figures: ``heartbeat_losses_tolerated``, ``heartbeat_timeout_intervals``, ``heartbeat_load``
    (``workers``), ``startup_phase_sum``, ``backoff_total_wait``, ``backoff_attempts``,
    ``poll_idle_waits``, ``lease_heartbeat_ratio``, ``detection_window`` (``[30, 40] s``),
    ``recovery_bound`` and ``requeue_bound`` (after an orchestrator restart), ``requeue_bound_sum``
    (its terms), ``breaker_trial_in`` (``elapsed_s``: the wait a ``CircuitOpenError`` quotes),
    ``database_recovery_waits`` (trial writes after 1, 2, 3… failed writes).
    """
    compute = FIGURES.get(name)
    if compute is None:
        raise KeyError(f"unknown figure {name!r}; figures: {', '.join(sorted(FIGURES))}")
    return compute(**params)


@directive
def trigger(machine: str, name: str) -> str:
    """A trigger name in prose, checked against the machine: ``trigger("worker_lifecycle", "poll")``."""
    spec = spec_machines.machine(machine)
    if name not in spec.triggers:
        raise KeyError(f"machine {machine!r} has no trigger {name!r}; triggers: {', '.join(spec.triggers)}")
    return code(name)


@directive
def state(machine: str, name: str) -> str:
    """A state name in prose, checked against the machine: ``state("orchestrator_startup", "degraded")``."""
    spec = spec_machines.machine(machine)
    if name not in spec.state_names:
        raise KeyError(f"machine {machine!r} has no state {name!r}; states: {', '.join(spec.state_names)}")
    return code(name)


@directive
def participant(participant_id: str) -> str:
    """A participant's display name in prose, checked against the declared participants."""
    return spec_participants.participant(participant_id).name


_ROLE = re.compile(r":(?:class|func|meth|data|attr|mod):`~?(?:[\w.]+\.)?([\w]+)`")


@directive
def docstring(module: str) -> str:
    """The docstring of a ``spec`` module (e.g. the departures it lists), as Markdown."""
    if module != "spec" and not module.startswith("spec."):
        raise ValueError(f"only spec modules are documented this way, got {module!r}")
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"no module {module!r} ({exc})") from None
    doc = inspect.getdoc(found)
    if not doc:
        raise ValueError(f"module {module!r} has no docstring")
    return _ROLE.sub(lambda m: f"`{m.group(1)}`", doc)


@directive
def directives() -> str:
    """This table: every directive a page may use, with its signature."""
    rows = [[code("{{ " + d.signature + " }}"), d.summary] for d in sorted(DIRECTIVES.values(), key=lambda d: d.name)]
    return table(["Directive", "Expands to"], rows)
