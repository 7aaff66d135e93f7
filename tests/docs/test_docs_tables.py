"""Generated tables, values and figures (spec_docs/{tables,values,formatting}.py).

The point of the generator is that pages follow the spec: these tests change policy values
(monkeypatching ``spec.policies.DEFAULT_POLICIES``) and check that the generated text changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec import policies
from spec.injected_faults import InjectedFault
from spec.machine import SAME
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, BackoffPolicy, HeartbeatPolicy, Policies
from spec_docs.expand import expand
from spec_docs.formatting import bit_rate, number, percent, seconds, size_bytes, table, with_unit
from spec_docs.registry import DirectiveError

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def slower_heartbeat(monkeypatch: pytest.MonkeyPatch) -> Policies:
    changed = DEFAULT_POLICIES.model_copy(update={"heartbeat": HeartbeatPolicy(interval_s=15.0, timeout_s=45.0)})
    monkeypatch.setattr(policies, "DEFAULT_POLICIES", changed)
    return changed


def test_changing_a_policy_value_changes_the_generated_page(slower_heartbeat: Policies) -> None:
    page = (DOCS / "heartbeats.md").read_text(encoding="utf-8")
    text = expand(page, "docs/heartbeats.md")
    assert "every **15 s**" in text
    assert "silent for\n**45 s**" in text
    assert "between **45 s** and\n**60 s (1 min)**" in text  # detection window [timeout, timeout + interval]
    assert "| `heartbeat.interval_s` | 15 s |" in text
    assert "receives\n67 requests/s" in text or "receives\n66.667 requests/s" in text


def test_unchanged_policies_give_the_default_page() -> None:
    text = expand((DOCS / "heartbeats.md").read_text(encoding="utf-8"), "docs/heartbeats.md")
    interval = DEFAULT_POLICIES.heartbeat.interval_s
    assert f"every **{number(interval)} s**" in text
    assert f"{number(1000 / interval)} requests/s" in text


def test_flowchart_numbers_follow_the_backoff_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    before = expand('{{ diagram("error_handling") }}', "p")
    changed = DEFAULT_POLICIES.model_copy(update={"backoff": BackoffPolicy(max_retries=5)})
    monkeypatch.setattr(policies, "DEFAULT_POLICIES", changed)
    after = expand('{{ diagram("error_handling") }}', "p")
    assert before != after
    assert expand('{{ error_flowchart() }}', "p") == after


def test_policy_table_lists_every_field_with_its_configured_value() -> None:
    text = expand('{{ policy_table("startup") }}', "p")
    startup = DEFAULT_POLICIES.startup
    for field in type(startup).model_fields:
        if field != "database_backoff":
            assert f"`startup.{field}`" in text
    # nested policies are flattened, with the *configured* value, not the class default
    assert f"| `startup.database_backoff.max_retries` | {startup.database_backoff.max_retries} |" in text
    assert "> 0 s" in text  # constraints are shown in the field's unit


@pytest.mark.parametrize("name", list(MACHINES))
def test_transition_table_has_one_row_per_transition(name: str) -> None:
    machine = MACHINES[name]
    text = expand(f'{{{{ transitions("{name}") }}}}', "p")
    rows = text.splitlines()[2:]
    assert len(rows) == len(machine.transitions)
    for row, transition in zip(rows, machine.transitions, strict=True):
        assert row.startswith(f"| `{transition.trigger}` |")
        assert ("(unchanged)" in row) == (transition.dest == SAME)
    states = expand(f'{{{{ states("{name}") }}}}', "p").splitlines()[2:]
    assert [r.split("`")[1] for r in states] == list(machine.state_names)


def test_values_walk_methods_indexes_and_rules() -> None:
    assert expand('{{ value("backoff.schedule") }}', "p") == with_unit(DEFAULT_POLICIES.backoff.schedule(), "s")
    window = DEFAULT_POLICIES.heartbeat.detection_window_s()
    assert expand('{{ value("heartbeat.detection_window_s.1") }}', "p") == seconds(window[1])
    rule = DEFAULT_POLICIES.alerts.rule("HighErrorRate")
    assert expand('{{ value("alerts.rules.HighErrorRate.threshold", unit="percent") }}', "p") == percent(
        rule.threshold
    )
    assert expand('{{ value("resources.memory_bytes") }}', "p") == size_bytes(DEFAULT_POLICIES.resources.memory_bytes)


def test_a_method_that_needs_arguments_is_refused() -> None:
    with pytest.raises(DirectiveError, match="needs arguments"):
        expand('{{ value("backoff.delay_s") }}', "p")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, "10 s"), (300, "300 s (5 min)"), (1800, "1,800 s (30 min)"), (3600, "3,600 s (1 h)"), (0.5, "0.5 s")],
)
def test_seconds(value: float, expected: str) -> None:
    assert seconds(value) == expected


def test_units() -> None:
    assert size_bytes(4 * 1024**3) == "4 GiB"
    assert size_bytes(1500) == "1,500 bytes"
    assert bit_rate(1_000_000_000) == "1 Gbit/s"
    assert percent(0.05) == "5%"
    assert with_unit([1.0, 2.0], "s") == "1 s, 2 s"
    with pytest.raises(ValueError, match="unknown unit"):
        with_unit(1, "furlongs")


@given(st.integers(min_value=0, max_value=10**12))
def test_integers_print_exactly(value: int) -> None:
    assert number(value).replace(",", "") == str(value)
    assert number(float(value)).replace(",", "") == str(value)


def test_table_escapes_pipes_and_refuses_ragged_rows() -> None:
    assert table(["a"], [["x|y"]]).splitlines()[2] == "| x\\|y |"
    with pytest.raises(ValueError, match="expected 2"):
        table(["a", "b"], [["only one"]])


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_page_expands(page: Path) -> None:
    text = expand(page.read_text(encoding="utf-8"), f"docs/{page.relative_to(DOCS)}")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # fenced blocks may show directives
    assert "{{" not in re.sub(r"`[^`\n]*`", "", prose), "an unexpanded directive remains"


# Numbers with a unit typed straight into a page would drift from spec. The few below are not
# spec values: they describe other systems or hypothetical alternatives (docs/heartbeats.md).
_NOT_SPEC_VALUES = {
    "heartbeats.md": ["every 10 s by default", "(40 s for many", "(1 s interval, 3 s timeout)", "(60 s interval)"],
}
_NUMBER_WITH_UNIT = re.compile(r"\b\d[\d,.]*\s?(?:s|ms|sec|seconds?|min|minutes?|h|hours?|GiB|GB|MiB|%|Gbit/s)(?!\w)")


# Pages written by other parts of the project report measurements (benchmarks, simulation runs),
# which are numbers by nature; the rule below is for the pages generated from spec.
_MEASUREMENT_PAGES = {"simulation.md", "runtime.md", "worker.md", "resilience.md", "benchmarks.md", "demo.md",
                      "conformance.md"}


def _spec_pages() -> list[Path]:
    return [
        p for p in _pages()
        if p.relative_to(DOCS).as_posix() not in _MEASUREMENT_PAGES and p.relative_to(DOCS).parts[0] != "simulation"
    ]


@pytest.mark.parametrize("page", _spec_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_no_number_with_a_unit_is_typed_into_a_page(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for allowed in _NOT_SPEC_VALUES.get(page.name, []):
        assert allowed in text, f"stale allow-list entry {allowed!r}"
        text = text.replace(allowed, "")
    text = re.sub(r"\{\{.*?\}\}", "", text)  # directives
    text = re.sub(r'"[^"\n]*"', "", text)  # quotations of the seed
    text = re.sub(r"`[^`\n]*`", "", text)  # code
    found = _NUMBER_WITH_UNIT.findall(text)
    assert not found, f"{page.name}: numbers typed by hand (use value() or figure()): {found}"


def test_every_machine_and_story_is_drawn_on_some_page() -> None:
    """`mkdocs serve` shows every diagram: each machine's state diagram and each story's sequence."""
    from spec.sequences import STORIES

    site = "\n".join(expand(p.read_text(encoding="utf-8"), str(p)) for p in _pages())
    for name in MACHINES:
        assert f"· machine `{name}` ·" in site, f"no page draws machine {name}"
    for name in STORIES:
        assert f"· story `{name}` ·" in site, f"no page draws story {name}"
    assert site.count("```mermaid\nflowchart TD") >= 1, "the error flowchart is drawn nowhere"


def test_the_fault_table_lists_every_declared_kind_with_its_scenario_fields() -> None:
    from_page = expand("{{ fault_table() }}", page="simulation.md")
    kinds = [row.split("`")[1] for row in from_page.splitlines()[2:]]
    assert kinds == [str(kind) for kind in InjectedFault]
    assert "| `network_loss` | `duration`, `between`, `worker` (optional), `loss` |" in from_page
    assert "{{ fault_table() }}" in (DOCS / "simulation.md").read_text(encoding="utf-8")
