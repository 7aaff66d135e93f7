"""One alert rule's lifecycle (seed 4.5 "Error Monitoring and Alerting").

Each ``AlertRule`` of ``AlertPolicy`` runs this machine: a breach starts ``pending``; a breach
sustained for the rule's ``for_s`` fires it; recovery resolves it. This is what "error rate >
5% *for 5 minutes*" means operationally (the same semantics as a Prometheus ``for:`` clause).
"""

from __future__ import annotations

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, step
from spec.participants import CIRCUIT_BREAKER, LOGGER, MONITOR

MON, LOG, CB = MONITOR, LOGGER, CIRCUIT_BREAKER

ALERT_RULE = MachineSpec(
    name="alert_rule",
    title="Alert rule",
    seed_section="4.5",
    description="Metrics are recorded and checked against a rule; a sustained breach fires an alert and "
    "escalates; recovery resolves it.",
    initial="inactive",
    states=(
        StateSpec("inactive", "The metric is within its threshold.", StateRole.RESTING),
        StateSpec("pending", "Threshold breached; waiting for the rule's duration.", StateRole.RESTING),
        StateSpec("firing", "Breach sustained: alert raised and escalated.", StateRole.RESTING),
    ),
    transitions=(
        transition("record", ("inactive", "pending", "firing"), SAME, "A call outcome updates the metrics.",
                   call(CB, MON, "recordFailure(error)"), step(MON, "updateErrorMetrics()"),
                   step(MON, "checkErrorThresholds()")),
        transition("breach", "inactive", "pending", "The metric crossed the threshold.",
                   step(MON, "startPending({rule})")),
        transition("sustained", "pending", "firing", "Breached for the rule's whole duration.",
                   call(MON, LOG, 'alert("{summary}")'), step(MON, "triggerAlert({rule})"),
                   step(MON, "escalate(level {level})")),
        transition("clear", ("pending", "firing"), "inactive", "The metric is back within its threshold.",
                   step(MON, "resolveAlert({rule})")),
    ),
)
