"""A deterministic AI provider (seed participant "AI Provider") for demos and tests.

It writes exactly what an issue asks for: each fenced block opened with ```` ```change path=FILE ````
in the issue body is appended to that file, and the result is streamed back as a unified diff in
fixed-size chunks. An :class:`AIScript` makes it misbehave the ways real providers do: fail,
hang until a timeout, rate-limit with a Retry-After, return garbage, or return a patch that does
not apply. Its failures carry a seed 4.5 error class, so the resilience layer treats them as it
would a real provider's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from runtime.resilience import Clock, MonotonicClock
from runtime.workflow.errors import AIProviderError, WorkflowConfigError
from runtime.workflow.patches import split_into_chunks, unified_diff
from runtime.workflow.providers import Analysis, Issue
from spec.metrics import AI_PROVIDER_SERVICE
from spec.taxonomy import ErrorClass

_CHANGE_BLOCK = re.compile(r"^```change path=(?P<path>\S+)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class AIFailure(StrEnum):
    """How a scripted call misbehaves."""

    ERROR = "error"  # raises an error of AIScript.error_class (mid-stream during generation)
    TIMEOUT = "timeout"  # hangs for AIScript.timeout_s, then times out (a network error)
    RATE_LIMIT = "rate_limit"  # refuses with a rate-limit error carrying AIScript.retry_after_s
    GARBAGE = "garbage"  # generation returns prose instead of a diff
    UNAPPLIABLE = "unappliable"  # generation returns a diff against text the file does not contain


class AIOperation(StrEnum):
    ANALYZE = "analyze"
    GENERATE = "generate"


@dataclass(frozen=True)
class AIScript:
    """Which calls fail and how; ``times=None`` means every call of ``during`` fails."""

    failure: AIFailure | None = None
    during: AIOperation = AIOperation.GENERATE
    times: int | None = None
    error_class: ErrorClass = ErrorClass.NETWORK
    retry_after_s: float | None = 1.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.failure in (AIFailure.GARBAGE, AIFailure.UNAPPLIABLE) and self.during is not AIOperation.GENERATE:
            raise WorkflowConfigError(f"AIScript.during: {self.failure.value!r} is an output of code generation; "
                                      "use during='generate'")
        if self.times is not None and self.times < 0:
            raise WorkflowConfigError(f"AIScript.times: must be >= 0 or None (every call), got {self.times}")
        if self.timeout_s < 0:
            raise WorkflowConfigError(f"AIScript.timeout_s: must be >= 0, got {self.timeout_s}")


@dataclass(frozen=True)
class RequestedChange:
    """One ```` ```change path=FILE ```` block of an issue: text to append to FILE."""

    path: str
    code: str


def requested_changes(issue: Issue) -> list[RequestedChange]:
    return [RequestedChange(m["path"], m["code"]) for m in _CHANGE_BLOCK.finditer(issue.body)]


def _summary(issue: Issue) -> str:
    prose = _CHANGE_BLOCK.sub("", issue.body).strip()
    first = prose.split("\n\n", 1)[0].strip()
    return " ".join(first.split()) or issue.title


def _appended(old: str, code: str) -> str:
    if not old.strip():
        return code
    return old.rstrip("\n") + "\n\n\n" + code


class ScriptedAIProvider:
    """:class:`~runtime.workflow.providers.AIProvider` that turns an issue into a patch from a template."""

    def __init__(
        self,
        script: AIScript | None = None,
        *,
        chunk_size: int = 64,
        chunk_delay_s: float = 0.0,
        clock: Clock | None = None,
        name: str = AI_PROVIDER_SERVICE,
    ) -> None:
        if chunk_size < 1:
            raise WorkflowConfigError(f"chunk_size: must be at least 1 character, got {chunk_size}")
        if chunk_delay_s < 0:
            raise WorkflowConfigError(f"chunk_delay_s: must be >= 0, got {chunk_delay_s}")
        self.script = script or AIScript()
        self.chunk_size = chunk_size
        self.chunk_delay_s = chunk_delay_s
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.name = name
        #: Calls made so far, per operation (the breaker tests count them).
        self.calls: dict[AIOperation, int] = {op: 0 for op in AIOperation}

    def _failing(self, operation: AIOperation) -> AIFailure | None:
        """Count a call of `operation`; the failure it should show, if the script says so."""
        self.calls[operation] += 1
        script = self.script
        if script.failure is None or script.during is not operation:
            return None
        if script.times is not None and self.calls[operation] > script.times:
            return None
        return script.failure

    async def _raise_for(self, failure: AIFailure, operation: AIOperation) -> None:
        call = self.calls[operation]
        if failure is AIFailure.RATE_LIMIT:
            raise AIProviderError(f"scripted AI provider: rate limit exceeded on {operation.value} call {call}",
                                  error_class=ErrorClass.RATE_LIMIT, retry_after_s=self.script.retry_after_s)
        if failure is AIFailure.TIMEOUT:
            await self.clock.sleep(self.script.timeout_s)
            raise TimeoutError(f"scripted AI provider: {operation.value} call {call} timed out after "
                               f"{self.script.timeout_s:g} s")
        if failure is AIFailure.ERROR:
            raise AIProviderError(f"scripted AI provider: {operation.value} call {call} failed",
                                  error_class=self.script.error_class)

    async def analyze(self, issue: Issue) -> Analysis:
        failure = self._failing(AIOperation.ANALYZE)
        if failure is not None:
            await self._raise_for(failure, AIOperation.ANALYZE)
        changes = requested_changes(issue)
        if not changes:
            raise AIProviderError(
                f"issue {issue.id!r} asks for no change the scripted provider can write: add a block opened with "
                "'```change path=FILE' holding the code to append to FILE",
                error_class=ErrorClass.VALIDATION,
            )
        files = tuple(dict.fromkeys(c.path for c in changes))
        requirements = tuple(f"append {len(c.code.splitlines())} line(s) to {c.path}" for c in changes)
        return Analysis(issue, _summary(issue), files, requirements)

    def patch_for(self, analysis: Analysis, sources: Mapping[str, str]) -> str:
        """The template: every requested block appended to its file, as one unified diff."""
        current = {path: sources.get(path, "") for path in analysis.files}
        updated = dict(current)
        for change in requested_changes(analysis.issue):
            updated[change.path] = _appended(updated[change.path], change.code)
        return "".join(unified_diff(path, current[path], updated[path]) for path in analysis.files)

    async def generate_code(self, analysis: Analysis, sources: Mapping[str, str]) -> AsyncIterator[str]:
        failure = self._failing(AIOperation.GENERATE)
        if failure in (AIFailure.RATE_LIMIT, AIFailure.TIMEOUT):
            await self._raise_for(failure, AIOperation.GENERATE)
        if failure is AIFailure.GARBAGE:
            text = "I'm sorry, but I could not work out what to change.\nPerhaps try rephrasing the issue?\n"
        elif failure is AIFailure.UNAPPLIABLE:
            # A diff against a version of the files that never existed: its context lines are not there.
            imagined = {path: f"# this line is not in {path}\n" for path in sources}
            text = self.patch_for(analysis, imagined)
        else:
            text = self.patch_for(analysis, sources)
        chunks = split_into_chunks(text, self.chunk_size)
        for index, chunk in enumerate(chunks):
            if failure is AIFailure.ERROR and index >= len(chunks) // 2:
                await self._raise_for(failure, AIOperation.GENERATE)  # the stream breaks off half-way
            if self.chunk_delay_s > 0:
                await self.clock.sleep(self.chunk_delay_s)
            else:
                await asyncio.sleep(0)
            yield chunk
        if failure is AIFailure.ERROR:  # nothing to stream: fail at the end instead
            await self._raise_for(failure, AIOperation.GENERATE)
