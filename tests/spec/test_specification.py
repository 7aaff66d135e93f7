"""Specify your own system (issue 17): a package outside this tree brings its own catalogue.

The package below lives in a temporary directory, declares a four-state payment flow with its
own participants, a story and a timing rule, and is used only through the public API
(`spec.__all__`) and ``python -m spec ... --spec payments:SPEC`` in a real subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import spec
from spec import PLATFORM, Spec, SpecLoadError, load_spec
from spec.checks import run_checks

REPO = Path(__file__).resolve().parents[2]
PAYMENTS = textwrap.dedent('''
    """A payment flow: one user's catalogue, built only from spec's public API."""
    from enum import StrEnum

    import spec
    from spec import (MachineSpec, Participant, Spec, StateRole, StateSpec, Story, call, reply, step,
                      steps, transition)
    from spec.decisions.replay import Violation

    CUSTOMER = Participant("customer", "Customer")
    SHOP = Participant("shop", "Shop")
    BANK = Participant("bank", "Bank")


    class PaymentState(StrEnum):
        NEW = "new"
        AUTHORISING = "authorising"
        PAID = "paid"
        DECLINED = "declined"


    S = PaymentState
    PAYMENT = MachineSpec(
        name="payment", title="Payment", seed_section="-", description="Pay for an order.",
        initial=S.NEW,
        states=(StateSpec(S.NEW, "Order placed.", StateRole.RESTING),
                StateSpec(S.AUTHORISING, "Waiting for the bank."),
                StateSpec(S.PAID, "Money taken.", StateRole.TERMINAL),
                StateSpec(S.DECLINED, "Refused.", StateRole.TERMINAL)),
        transitions=(
            transition("pay", S.NEW, S.AUTHORISING, "The customer pays.",
                       call(CUSTOMER, SHOP, "pay(order)"), call(SHOP, BANK, "authorise(amount)")),
            transition("approve", S.AUTHORISING, S.PAID, "The bank says yes.",
                       reply(BANK, SHOP, "approved"), step(SHOP, "ship(order)"), reply(SHOP, CUSTOMER, "receipt")),
            transition("decline", S.AUTHORISING, S.DECLINED, "The bank says no.",
                       reply(BANK, SHOP, "declined"), reply(SHOP, CUSTOMER, "payment failed")),
        ),
    )
    STORY = Story("payment", "Paying for an order", "-", "The happy path.", ("payment",),
                  steps("payment", "pay", "approve"), participants=(CUSTOMER, SHOP, BANK))


    class AuthorisationDeadline:
        """The bank answers within 30 s of the authorisation request."""
        machines = frozenset({"payment"})

        def __init__(self, policies, tolerance_s):
            self.asked = {}
            self.tolerance_s = tolerance_s

        def observe(self, event):
            if event.trigger == "pay":
                self.asked[event.component] = event.time
            elif event.component in self.asked and event.time - self.asked[event.component] > 30 + self.tolerance_s:
                return Violation("an answer within 30 s", f"{event.time - self.asked[event.component]:g} s",
                                 "the bank answered too late")
            return None


    SPEC = Spec.of("payments", [PAYMENT], [STORY], timing_rules=[AuthorisationDeadline])
''')


@pytest.fixture
def package(tmp_path: Path) -> Path:
    (tmp_path / "payments.py").write_text(PAYMENTS, encoding="utf-8")
    return tmp_path


def _spec_cli(package: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spec", *args], capture_output=True, text=True, timeout=60,
                          cwd=package, env={**os.environ, "PYTHONPATH": os.pathsep.join((str(package), str(REPO)))})


def _trace(package: Path, *events: tuple[float, str, str, str]) -> Path:
    """A trace of component ``payment:1``: (time, trigger, source, dest) with the spec's messages."""
    sys.path.insert(0, str(package))
    try:
        from payments import PAYMENT  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(package))
    records = []
    for time, trigger, source, dest in events:
        row = PAYMENT.transition_for(source, trigger)
        records.append(spec.TraceEvent(time=time, component="payment:1", machine="payment", trigger=trigger,
                                       source=source, dest=dest,
                                       messages=tuple(spec.TraceMessage.from_message(m) for m in row.messages)))
    path = package / "payments.jsonl"
    spec.write_trace(path, records)
    return path


def test_a_users_catalogue_passes_check_list_and_render_from_the_command_line(package: Path) -> None:
    checked = _spec_cli(package, "check", "--spec", "payments:SPEC")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "failed" in checked.stdout and "0 failed" in checked.stdout
    assert "service start order" not in checked.stdout  # the platform's own check stays the platform's
    listed = _spec_cli(package, "list", "--spec", "payments:SPEC")
    assert listed.returncode == 0 and listed.stdout.split()[0] == "payment"
    assert "error_handling" not in listed.stdout
    state = _spec_cli(package, "render", "payment", "--kind", "state", "--spec", "payments:SPEC")
    assert state.returncode == 0 and "authorising --> paid" in state.stdout
    sequence = _spec_cli(package, "render", "payment", "--spec", "payments:SPEC")
    assert sequence.returncode == 0 and "participant" in sequence.stdout and "Customer" in sequence.stdout


def test_a_users_trace_conforms_renders_and_breaks_on_a_wrong_transition_or_a_late_answer(package: Path) -> None:
    good = _trace(package, (0.0, "pay", "new", "authorising"), (3.0, "approve", "authorising", "paid"))
    assert _spec_cli(package, "conform", str(good), "--spec", "payments:SPEC").returncode == 0
    drawn = _spec_cli(package, "render", "--trace", str(good), "--spec", "payments:SPEC")
    assert drawn.returncode == 0 and "Customer" in drawn.stdout, drawn.stderr
    late = _trace(package, (0.0, "pay", "new", "authorising"), (45.0, "approve", "authorising", "paid"))
    answer = _spec_cli(package, "conform", str(late), "--spec", "payments:SPEC")
    assert answer.returncode == 1 and "the bank answered too late" in answer.stdout
    wrong = _trace(package, (0.0, "pay", "new", "authorising"))
    text = wrong.read_text(encoding="utf-8").replace('"dest":"authorising"', '"dest":"paid"')
    wrong.write_text(text, encoding="utf-8")
    answer = _spec_cli(package, "conform", str(wrong), "--spec", "payments:SPEC")
    assert answer.returncode == 1 and "wrong destination state" in answer.stdout


@pytest.mark.parametrize(("reference", "reason"), [
    ("payments", "use MODULE:ATTR"),
    ("no_such_module:SPEC", "cannot import 'no_such_module'"),
    ("payments:MISSING", "no such attribute"),
    ("payments:PAYMENT", "a MachineSpec, not a spec.Spec"),
])
def test_a_bad_spec_reference_is_refused_with_the_reason(package: Path, reference: str, reason: str) -> None:
    answer = _spec_cli(package, "check", "--spec", reference)
    assert answer.returncode == 2 and reason in answer.stderr and "Traceback" not in answer.stderr
    sys.path.insert(0, str(package))
    try:
        with pytest.raises(SpecLoadError, match=reason.replace("(", r"\(")):
            load_spec(reference)
    finally:
        sys.path.remove(str(package))


def test_the_platform_is_one_catalogue_and_checks_as_before() -> None:
    assert isinstance(PLATFORM, Spec)
    report, before = PLATFORM.check(), run_checks()
    assert report.ok and before.ok
    assert sorted(r.name for r in report.results) == sorted(r.name for r in before.results)
    assert "error_handling" in PLATFORM.diagrams()


def test_participants_are_derived_from_the_messages_when_not_declared(package: Path) -> None:
    sys.path.insert(0, str(package))
    try:
        from payments import SPEC
    finally:
        sys.path.remove(str(package))
    assert [p.id for p in SPEC.participants] == ["customer", "shop", "bank"]
    with pytest.raises(spec.UnknownParticipantError):
        SPEC.participant("admin")


def test_the_names_a_user_declares_a_machine_and_a_story_with_are_public() -> None:
    for name in ("MachineSpec", "StateSpec", "StateRole", "transition", "call", "reply", "step", "push", "Story",
                 "steps", "alt", "branch", "loop", "Spec", "load_spec", "TimingRule", "check_trace"):
        assert name in spec.__all__, name
