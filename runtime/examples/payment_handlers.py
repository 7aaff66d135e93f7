"""The tutorial's task handler: a worker takes payments, recording the payment machine's transitions.

``HANDLERS`` maps the ``payment`` task type to :func:`pay`; a worker started with this module
(``spec_platform.start_worker("w1", handlers=[...])``) runs it. Each transition the handler makes
is recorded with `runtime.testing.record`, which the test kit replays on the catalogue. Set
``PAYMENTS_BUG=1`` (the worker inherits it) to see a declined payment wrongly marked paid.
"""

from __future__ import annotations

import os
import time
from typing import Any

from runtime.testing import record
from runtime.worker import TaskContext
from spec import TraceEvent, TraceMessage
from spec.examples.payments import PAYMENT, PaymentState, PaymentTrigger

#: Where a declined payment ends: the machine says ``declined``; the bug says ``paid``.
DECLINED_ENDS_IN = PaymentState.PAID if os.environ.get("PAYMENTS_BUG") else PaymentState.DECLINED


def _record(task_id: str, trigger: PaymentTrigger, source: PaymentState, dest: PaymentState) -> None:
    messages = PAYMENT.transition_for(source, trigger).messages
    record(TraceEvent(time=time.time(), component=f"payment:{task_id}", machine=PAYMENT.name, trigger=trigger,
                      source=source, dest=dest, messages=tuple(TraceMessage.from_message(m) for m in messages)))


async def pay(ctx: TaskContext) -> dict[str, Any]:
    """Take one payment; the bank's answer is the payload's ``approve``."""
    _record(ctx.task_id, PaymentTrigger.PAY, PaymentState.NEW, PaymentState.AUTHORISING)
    if ctx.payload["approve"]:
        _record(ctx.task_id, PaymentTrigger.APPROVE, PaymentState.AUTHORISING, PaymentState.PAID)
        return {"payment": "paid"}
    _record(ctx.task_id, PaymentTrigger.DECLINE, PaymentState.AUTHORISING, DECLINED_ENDS_IN)
    return {"payment": "declined"}


HANDLERS = {"payment": pay}
