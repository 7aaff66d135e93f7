"""The scripted AI provider, the command quality gates and the seed's progress figures."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.worker.limits import TaskLimits
from runtime.workflow import (
    DELIVERED_ISSUE,
    SEED_PROGRESS,
    STEP_TITLES,
    AIFailure,
    AIOperation,
    AIProvider,
    AIProviderError,
    AIScript,
    Checkout,
    CommandQualityGates,
    DemoRepository,
    GitPlatform,
    Issue,
    QualityGates,
    ScriptedAIProvider,
    WorkflowConfigError,
    overall_percentage,
    parse_patch,
)
from runtime.workflow.pipeline import gate_failure
from spec.policies import DEFAULT_POLICIES
from spec.taxonomy import ErrorClass

LIMITS = TaskLimits.from_policy(DEFAULT_POLICIES.resources)
SOURCES = {"calc.py": "def add(a, b):\n    return a + b\n", "tests/test_calc.py": "import calc\n"}


def test_shipped_providers_satisfy_the_protocols(demo: DemoRepository) -> None:
    assert isinstance(demo.platform(), GitPlatform)
    assert isinstance(ScriptedAIProvider(), AIProvider)
    assert isinstance(demo.quality_gates(), QualityGates)


async def _collect(ai: ScriptedAIProvider, issue: Issue) -> list[str]:
    analysis = await ai.analyze(issue)
    return [chunk async for chunk in ai.generate_code(analysis, SOURCES)]


@given(st.integers(min_value=1, max_value=300))
def test_the_streamed_chunks_are_the_template_patch_in_order(chunk_size: int) -> None:
    body = "Please.\n\n```change path=calc.py\ndef multiply(a, b):\n    return a * b\n```\n"
    issue = Issue("7", "Add multiply", body)
    ai = ScriptedAIProvider(chunk_size=chunk_size)
    chunks = asyncio.run(_collect(ai, issue))
    assert all(len(c) <= chunk_size for c in chunks)
    text = "".join(chunks)
    assert parse_patch(text).files == ("calc.py",)
    assert "+def multiply(a, b):" in text and " def add(a, b):" in text


def test_analysis_names_the_files_and_summarises_the_issue(demo: DemoRepository) -> None:
    issue = asyncio.run(demo.platform().get_issue(DELIVERED_ISSUE))
    analysis = asyncio.run(ScriptedAIProvider().analyze(issue))
    assert analysis.files == ("calc.py", "tests/test_calc.py")
    assert analysis.summary.startswith("The calculator can add but not multiply.")
    assert len(analysis.requirements) == 2


def test_an_issue_asking_for_nothing_is_a_validation_error() -> None:
    with pytest.raises(AIProviderError, match="asks for no change") as caught:
        asyncio.run(ScriptedAIProvider().analyze(Issue("1", "Vague", "Make it better.\n")))
    assert caught.value.error_class is ErrorClass.VALIDATION


def test_a_rate_limit_carries_its_retry_after_and_passes_after_the_scripted_times() -> None:
    ai = ScriptedAIProvider(AIScript(AIFailure.RATE_LIMIT, during=AIOperation.ANALYZE, times=1, retry_after_s=12.0))
    issue = Issue("1", "t", "```change path=a.py\nx = 1\n```\n")
    with pytest.raises(AIProviderError) as caught:
        asyncio.run(ai.analyze(issue))
    assert caught.value.error_class is ErrorClass.RATE_LIMIT and caught.value.retry_after_s == 12.0
    assert asyncio.run(ai.analyze(issue)).files == ("a.py",)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"failure": AIFailure.GARBAGE, "during": AIOperation.ANALYZE}, "AIScript.during"),
    ({"times": -1}, "AIScript.times"),
    ({"timeout_s": -1.0}, "AIScript.timeout_s"),
])
def test_a_bad_script_names_its_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(WorkflowConfigError, match=field):
        AIScript(**kwargs)  # type: ignore[arg-type]


def test_gates_stream_every_line_of_stdout_and_stderr(tmp_path: Path) -> None:
    script = "import sys\nfor i in range(3):\n    print(f'out {i}', flush=True)\nprint('err', file=sys.stderr)\n"
    gates = CommandQualityGates([sys.executable, "-c", script], "exit 3")
    lines: list[str] = []

    async def on_line(line: str) -> None:
        lines.append(line)

    checkout = Checkout(tmp_path, LIMITS)
    build = asyncio.run(gates.run_build(checkout, on_line))
    assert build.ok and build.gate == "build"
    assert sorted(lines) == ["err", "out 0", "out 1", "out 2"]
    tests = asyncio.run(gates.run_tests(checkout, on_line))
    assert not tests.ok and tests.result.returncode == 3
    assert gate_failure(tests).error_class is ErrorClass.VALIDATION


def test_a_gate_over_the_memory_limit_is_a_system_error(tmp_path: Path) -> None:
    limits = TaskLimits(max_duration_s=60, memory_bytes=256 * 1024**2, cpu_seconds=60, file_size_bytes=1024**3)
    gates = CommandQualityGates([sys.executable, "-c", "x = bytearray(1024**3)"], "true")

    async def on_line(line: str) -> None:
        pass

    build = asyncio.run(gates.run_build(Checkout(tmp_path, limits), on_line))
    assert not build.ok and build.result.hit_memory_limit
    failure = gate_failure(build)
    assert failure.error_class is ErrorClass.SYSTEM and "memory limit" in str(failure)


@pytest.mark.parametrize(("build", "field"), [("  ", "build"), ([], "build"), (["ok", ""], "build")])
def test_empty_gate_commands_are_refused(build: object, field: str) -> None:
    with pytest.raises(WorkflowConfigError, match=field):
        CommandQualityGates(build, "true")  # type: ignore[arg-type]


def test_seed_progress_is_read_from_the_spec_and_ends_at_100() -> None:
    assert STEP_TITLES == {1: "Issue Analysis", 2: "Code Generation", 3: "Build and Test", 4: "Git Operations"}
    figures = [(p.step, p.progress) for p in SEED_PROGRESS.values() if p.progress is not None]
    overall = [overall_percentage(step, progress) for step, progress in figures]
    assert overall == sorted(overall) and overall[-1] == 100.0
    assert SEED_PROGRESS["code_chunk"].step == 2 and SEED_PROGRESS["code_chunk"].progress is None


@given(st.integers(min_value=1, max_value=4), st.floats(min_value=0, max_value=100),
       st.integers(min_value=1, max_value=4), st.floats(min_value=0, max_value=100))
def test_overall_percentage_never_goes_back_when_the_pipeline_moves_forward(s1: int, p1: float, s2: int,
                                                                             p2: float) -> None:
    if (s1, p1) <= (s2, p2):
        assert overall_percentage(s1, p1) <= overall_percentage(s2, p2)
    assert 0 <= overall_percentage(s1, p1) <= 100
