"""The tutorial's conformance test: a user's implementation of the payment flow, checked in pytest.

`PaymentService` stands for the user's own code. It records what it does in the trace format
of `spec.trace`; the property test drives it through random customer and bank actions and
replays every trace on the catalogue. Set ``PAYMENTS_BUG=1`` to see a broken implementation
caught, with hypothesis's shrunk example in the failure.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from spec import TraceEvent, TraceMessage
from spec.examples.payments import ANSWER_WITHIN_S, PAYMENT, SPEC, PaymentState, PaymentTrigger
from spec.testing import assert_conforms, traces


class PaymentService:
    """A toy implementation: one order, paid once, approved or declined by the bank."""

    def __init__(self) -> None:
        self.state = PaymentState.NEW
        self.time = 0.0
        self.trace: list[TraceEvent] = []

    def _record(self, trigger: PaymentTrigger, dest: PaymentState) -> None:
        messages = PAYMENT.transition_for(self.state, trigger).messages
        self.trace.append(TraceEvent(time=self.time, component="order:1", machine=PAYMENT.name, trigger=trigger,
                                     source=self.state, dest=dest,
                                     messages=tuple(TraceMessage.from_message(m) for m in messages)))
        self.state = dest

    def pay(self) -> None:
        if self.state == PaymentState.NEW:
            self._record(PaymentTrigger.PAY, PaymentState.AUTHORISING)

    def bank_answers(self, approved: bool, after_s: float) -> None:
        if self.state != PaymentState.AUTHORISING:
            return
        self.time += after_s
        if approved:
            self._record(PaymentTrigger.APPROVE, PaymentState.PAID)
        else:  # the bug the tutorial shows being caught: a declined payment marked paid
            self._record(PaymentTrigger.DECLINE,
                         PaymentState.PAID if os.environ.get("PAYMENTS_BUG") else PaymentState.DECLINED)


#: What the customer and the bank do: pay, or answer (approved?) after some seconds.
ACTIONS = st.lists(st.tuples(st.sampled_from(["pay", "answer"]), st.booleans(), st.floats(0, ANSWER_WITHIN_S)))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(ACTIONS)
def test_every_run_of_the_service_conforms(actions: list[tuple[str, bool, float]]) -> None:
    service = PaymentService()
    for kind, approved, after_s in actions:
        if kind == "pay":
            service.pay()
        else:
            service.bank_answers(approved, after_s)
    waiting = ["order:1"] if service.state == PaymentState.AUTHORISING else []
    assert_conforms(service.trace, SPEC, allow_unfinished=waiting)


@settings(deadline=None)
@given(traces(PAYMENT, max_gap_s=ANSWER_WITHIN_S))
def test_every_path_the_spec_allows_replays(events: list[TraceEvent]) -> None:
    assert_conforms(events, SPEC, complete=False)
