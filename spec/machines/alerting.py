"""One alert rule's lifecycle (seed 4.5 "Error Monitoring and Alerting").

Each ``AlertRule`` of ``AlertPolicy`` runs this machine: a breach starts ``pending``; a breach
sustained for the rule's ``for_s`` fires it; recovery resolves it. This is what "error rate >
5% *for 5 minutes*" means operationally (the same semantics as a Prometheus ``for:`` clause).
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, step
from spec.participants import CIRCUIT_BREAKER, LOGGER, MONITOR


class AlertRuleState(StrEnum):
    """The alert_rule machine's states, named once for its table and every consumer."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class AlertRuleTrigger(StrEnum):
    """The alert_rule machine's triggers, named once for its table and every consumer."""

    RECORD = "record"
    BREACH = "breach"
    SUSTAINED = "sustained"
    CLEAR = "clear"


S, T = AlertRuleState, AlertRuleTrigger

MON, LOG, CB = MONITOR, LOGGER, CIRCUIT_BREAKER

ALERT_RULE = MachineSpec(
    name="alert_rule",
    title="Alert rule",
    seed_section="4.5",
    description="Metrics are recorded and checked against a rule; a sustained breach fires an alert and "
    "escalates; recovery resolves it.",
    initial=S.INACTIVE,
    states=(
        StateSpec(S.INACTIVE, "The metric is within its threshold.", StateRole.RESTING),
        StateSpec(S.PENDING, "Threshold breached; waiting for the rule's duration.", StateRole.RESTING),
        StateSpec(S.FIRING, "Breach sustained: alert raised and escalated.", StateRole.RESTING),
    ),
    transitions=(
        transition(T.RECORD, (S.INACTIVE, S.PENDING, S.FIRING), SAME, "A call outcome updates the metrics.",
                   call(CB, MON, "recordFailure(error)"), step(MON, "updateErrorMetrics()"),
                   step(MON, "checkErrorThresholds()")),
        transition(T.BREACH, S.INACTIVE, S.PENDING, "The metric crossed the threshold.",
                   step(MON, "startPending({rule})")),
        transition(T.SUSTAINED, S.PENDING, S.FIRING, "Breached for the rule's whole duration.",
                   call(MON, LOG, 'alert("{summary}")'), step(MON, "triggerAlert({rule})"),
                   step(MON, "escalate(level {level})")),
        transition(T.CLEAR, (S.PENDING, S.FIRING), S.INACTIVE, "The metric is back within its threshold.",
                   step(MON, "resolveAlert({rule})")),
    ),
)
