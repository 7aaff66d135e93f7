"""A payment flow specified with `spec`'s public API alone: the "Specify your own workflow" tutorial.

Four states, three participants of its own, one story and one timing rule: everything
``python -m spec check|list|render|conform --spec spec.examples.payments:SPEC`` needs.
"""

from __future__ import annotations

from enum import StrEnum

from spec import (
    MachineSpec,
    Participant,
    Policies,
    Spec,
    StateRole,
    StateSpec,
    Story,
    TraceEvent,
    Violation,
    call,
    reply,
    step,
    steps,
    transition,
)

CUSTOMER = Participant("customer", "Customer", "Pays for an order.")
SHOP = Participant("shop", "Shop", "Takes the order and asks the bank.")
BANK = Participant("bank", "Bank", "Authorises the amount.")


class PaymentState(StrEnum):
    NEW = "new"
    AUTHORISING = "authorising"
    PAID = "paid"
    DECLINED = "declined"


class PaymentTrigger(StrEnum):
    PAY = "pay"
    APPROVE = "approve"
    DECLINE = "decline"


S, T = PaymentState, PaymentTrigger

PAYMENT = MachineSpec(
    name="payment",
    title="Payment",
    seed_section="-",
    description="A customer pays for an order; the bank approves or declines.",
    initial=S.NEW,
    states=(
        StateSpec(S.NEW, "Order placed, not paid yet.", StateRole.RESTING),
        StateSpec(S.AUTHORISING, "Waiting for the bank's answer."),
        StateSpec(S.PAID, "Money taken, order shipped.", StateRole.TERMINAL),
        StateSpec(S.DECLINED, "The bank refused.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.PAY, S.NEW, S.AUTHORISING, "The customer pays.",
                   call(CUSTOMER, SHOP, "pay(order)"), call(SHOP, BANK, "authorise(amount)")),
        transition(T.APPROVE, S.AUTHORISING, S.PAID, "The bank says yes.",
                   reply(BANK, SHOP, "approved"), step(SHOP, "ship(order)"), reply(SHOP, CUSTOMER, "receipt")),
        transition(T.DECLINE, S.AUTHORISING, S.DECLINED, "The bank says no.",
                   reply(BANK, SHOP, "declined"), reply(SHOP, CUSTOMER, "payment failed")),
    ),
)

STORY = Story("payment", "Paying for an order", "-", "The happy path: paid and shipped.", (PAYMENT.name,),
              steps(PAYMENT.name, T.PAY, T.APPROVE), participants=(CUSTOMER, SHOP, BANK))

#: How long the bank may take to answer (a real catalogue would keep this in a policy model).
ANSWER_WITHIN_S = 30.0


class AuthorisationDeadline:
    """Timing rule: the bank answers within `ANSWER_WITHIN_S` of the authorisation request."""

    machines = frozenset({PAYMENT.name})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self.tolerance_s = tolerance_s
        self.asked: dict[str, float] = {}

    def observe(self, event: TraceEvent) -> Violation | None:
        if event.trigger == T.PAY:
            self.asked[event.component] = event.time
        elif event.component in self.asked:
            waited = event.time - self.asked.pop(event.component)
            if waited > ANSWER_WITHIN_S + self.tolerance_s:
                return Violation(f"an answer within {ANSWER_WITHIN_S:g} s", f"{waited:g} s",
                                 "the bank answered too late")
        return None


SPEC = Spec.of("payments", [PAYMENT], [STORY], timing_rules=[AuthorisationDeadline])
