"""Specify your own system (issue 17): a package outside this tree brings its own catalogue.

The package below lives in a temporary directory, declares a four-state payment flow with its
own participants, a story and a timing rule, and is used only through the public API
(`spec.__all__`) and ``python -m spec ... --spec payments:SPEC`` in a real subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import spec
from spec import PLATFORM, Spec, SpecLoadError, load_spec
from spec.checks import run_checks

REPO = Path(__file__).resolve().parents[2]
#: The tutorial's catalogue (docs/own-workflow.md), copied below into a package outside this tree.
PAYMENTS = (REPO / "spec" / "examples" / "payments.py").read_text(encoding="utf-8")


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
                 "steps", "alt", "branch", "loop", "Spec", "load_spec", "TimingRule", "Violation", "check_trace"):
        assert name in spec.__all__, name


def _users_suite(package: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The tutorial's pytest file, as a user's own suite next to their catalogue, run by pytest."""
    tutorial = (REPO / "spec" / "examples" / "test_payments.py").read_text(encoding="utf-8")
    (package / "test_payments.py").write_text(tutorial.replace("spec.examples.payments", "payments"),
                                              encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0",
               "test_payments.py"]
    return subprocess.run(command,
                          capture_output=True, text=True, timeout=300, cwd=package,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join((str(package), str(REPO))), **env})


def test_a_users_conformance_suite_passes_and_catches_a_broken_implementation_with_a_shrunk_example(
    package: Path,
) -> None:
    passing = _users_suite(package, {})
    assert passing.returncode == 0, passing.stdout[-3000:]
    broken = _users_suite(package, {"PAYMENTS_BUG": "1"})
    assert broken.returncode == 1, broken.stdout[-3000:]
    assert "wrong destination state; expected destination 'declined', got 'paid'" in broken.stdout
    assert "Falsifying example" in broken.stdout


def test_the_tutorial_properties_hold_in_process() -> None:
    from spec.examples import test_payments

    test_payments.test_every_run_of_the_service_conforms()
    test_payments.test_every_path_the_spec_allows_replays()


def test_assert_conforms_fails_on_a_component_left_halfway_unless_allowed() -> None:
    from spec.examples.payments import PAYMENT
    from spec.examples.payments import SPEC as PAYMENTS
    from spec.testing import ConformanceFailure, assert_conforms

    row = PAYMENT.transition_for("new", "pay")
    halfway = [spec.TraceEvent(time=0.0, component="order:9", machine="payment", trigger="pay", source="new",
                               dest="authorising",
                               messages=tuple(spec.TraceMessage.from_message(m) for m in row.messages))]
    with pytest.raises(ConformanceFailure, match="order:9 in 'authorising'"):
        assert_conforms(halfway, PAYMENTS)
    assert assert_conforms(halfway, PAYMENTS, allow_unfinished=["order:9"]).ok
