"""Directives that print spec data as Markdown tables: machines, policies, taxonomy, services.

Each table reads the spec object at call time (``policies.DEFAULT_POLICIES``, not a copy taken
at import), so a changed policy shows up on the next build and tests can substitute values.
"""

from __future__ import annotations

from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel

from spec import machines as spec_machines
from spec import participants as spec_participants
from spec import policies, services, taxonomy
from spec.machine import SAME, MachineSpec, StateRole
from spec_docs.formatting import code, number, percent, scalar, seconds, table, unit_for, with_unit
from spec_docs.registry import directive


def policy_instance(name: str) -> BaseModel:
    """The configured policy called `name` (a field of ``Policies``), or an error listing them."""
    fields = type(policies.DEFAULT_POLICIES).model_fields
    if name not in fields:
        raise KeyError(f"unknown policy {name!r}; policies: {', '.join(fields)}")
    found = getattr(policies.DEFAULT_POLICIES, name)
    assert isinstance(found, BaseModel)
    return found


def _constraint(metadata: list[Any], unit: str) -> str:
    words = []
    for item in metadata:
        if isinstance(item, Gt):
            words.append(f"> {with_unit(item.gt, unit)}")
        elif isinstance(item, Ge):
            words.append(f"≥ {with_unit(item.ge, unit)}")
        elif isinstance(item, Lt):
            words.append(f"< {with_unit(item.lt, unit)}")
        elif isinstance(item, Le):
            words.append(f"≤ {with_unit(item.le, unit)}")
        elif isinstance(item, MinLen):
            words.append(f"at least {item.min_length} long")
        elif isinstance(item, MaxLen):
            words.append(f"at most {item.max_length} long")
    return ", ".join(words) or "—"


def _policy_rows(model: BaseModel, prefix: str) -> list[list[str]]:
    rows: list[list[str]] = []
    for field, info in type(model).model_fields.items():
        value = getattr(model, field)
        path = f"{prefix}{field}"
        if isinstance(value, BaseModel):
            rows.extend(_policy_rows(value, f"{path}."))
            continue
        if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            shown = f"{len(value)} entries (table below)"
        else:
            shown = with_unit(value, unit_for(field))
        rows.append([code(path), shown, _constraint(info.metadata, unit_for(field)), info.description or "—"])
    return rows


@directive
def policy_table(name: str) -> str:
    """A policy's fields with their configured values, allowed range and meaning (``Policies.<name>``)."""
    model = policy_instance(name)
    return table(["Field", "Value", "Allowed", "Meaning"], _policy_rows(model, f"{name}."))


def _threshold(rule: policies.AlertRule) -> str:
    if rule.metric.endswith("_seconds"):
        return f"> {seconds(rule.threshold)}"
    if rule.metric.endswith("rate") or rule.metric.endswith("utilisation"):
        return f"> {percent(rule.threshold)}"
    return f"> {number(rule.threshold)}"


@directive
def alert_rules() -> str:
    """The alert rules of ``AlertPolicy``: metric, threshold, how long it must hold, escalation level."""
    rows = [
        [code(r.name), code(r.metric), _threshold(r), seconds(r.for_s) if r.for_s else "immediately",
         str(r.escalation_level), r.summary]
        for r in policies.DEFAULT_POLICIES.alerts.rules
    ]
    return table(["Rule", "Metric", "Fires when", "Sustained for", "Escalation level", "Alert text"], rows)


@directive
def escalation_levels() -> str:
    """The escalation levels of ``AlertPolicy`` and what each one does."""
    levels = sorted(policies.DEFAULT_POLICIES.alerts.escalation_levels, key=lambda e: e.level)
    return table(["Level", "Action"], [[str(e.level), e.action] for e in levels])


def _max_retries(row: taxonomy.ErrorCategory) -> str:
    if row.policy is None:
        return "—"
    retries = getattr(policy_instance(row.policy), "max_retries", None)
    if not isinstance(retries, int):
        raise ValueError(f"taxonomy class {row.error_class.value!r}: policy {row.policy!r} has no max_retries")
    return f"{number(retries)} ({code(row.policy)} policy)"


@directive
def error_taxonomy() -> str:
    """The error classes of the taxonomy: symptoms, retryability, strategy, retries, resolution, escalation."""
    summary = table(
        ["Class", "Retried", "Strategy", "Max retries"],
        [[f"{row.title} ({code(row.error_class.value)})", scalar(row.retryable), code(row.strategy.value),
          _max_retries(row)] for row in taxonomy.TAXONOMY],
    )
    details = [
        f"**{row.title}** ({code(row.error_class.value)})\n\n"
        f"- *Symptoms:* {'; '.join(row.symptoms)}.\n"
        f"- *Resolution:* {row.resolution}\n"
        f"- *Escalation:* {row.escalation}"
        for row in taxonomy.TAXONOMY
    ]
    return "\n\n".join([summary, *details])


@directive
def service_order() -> str:
    """The orchestrator's services in start order, what each needs and why (a topological order)."""
    order = services.startup_order()
    rows = []
    for position, service in enumerate(order, start=1):
        needs, why = services.SERVICE_DEPENDENCIES[service]
        rows.append([str(position), code(service), ", ".join(code(n) for n in needs) or "—", why])
    return table(["#", "Service", "Needs", "Why"], rows)


@directive
def service_chain(direction: str = "startup") -> str:
    """The service order as one line, ``startup`` (dependency order) or ``shutdown`` (reverse)."""
    if direction == "startup":
        order = services.startup_order()
    elif direction == "shutdown":
        order = services.shutdown_order()
    else:
        raise ValueError(f"direction must be 'startup' or 'shutdown', got {direction!r}")
    return " → ".join(code(s) for s in order)


@directive
def participant_table() -> str:
    """Every declared participant: stable id, display name, what it is."""
    rows = [[code(p.id), p.name, p.description] for p in spec_participants.PARTICIPANTS]
    return table(["Id", "Name", "What it is"], rows)


@directive
def machine_catalogue() -> str:
    """Every machine: name, title, seed section, number of states and transitions."""
    rows = [
        [code(m.name), m.title, m.seed_section, str(len(m.states)), str(len(m.transitions))]
        for m in spec_machines.MACHINES.values()
    ]
    return table(["Machine", "Title", "Seed section", "States", "Transitions"], rows)


def state_table(spec: MachineSpec) -> str:
    rows = []
    for s in spec.states:
        name = code(s.name) + (" (initial)" if s.name == spec.initial else "")
        text = s.description + (f" Initialises {code(s.service)}." if s.service else "")
        rows.append([name, s.role.value, text])
    return table(["State", "Role", "Meaning"], rows)


def transition_table(spec: MachineSpec) -> str:
    rows = [
        [code(t.trigger), ", ".join(code(s) for s in t.source),
         "(unchanged)" if t.dest == SAME else code(t.dest), t.description]
        for t in spec.transitions
    ]
    return table(["Trigger", "From", "To", "Description"], rows)


@directive
def states(machine: str) -> str:
    """A machine's states table: state, role (transient, resting, terminal, trap), meaning."""
    return state_table(spec_machines.machine(machine))


@directive
def transitions(machine: str) -> str:
    """A machine's transitions table: trigger, from, to, description."""
    return transition_table(spec_machines.machine(machine))


@directive
def monitoring_points() -> str:
    """Every machine's triggers: each firing is one trace event, the platform's monitoring points."""
    rows = []
    for m in spec_machines.MACHINES.values():
        terminal = [s.name for s in m.states if s.role is StateRole.TERMINAL]
        rows.append([code(m.name), m.seed_section, ", ".join(code(t) for t in m.triggers),
                     ", ".join(code(s) for s in terminal) or "— (runs for ever)"])
    return table(["Machine", "Seed section", "Triggers (one trace event each)", "Final states"], rows)
