"""One evaluated run: the model's result, its checks and the determinism self-check (issue 5, §3-4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.checks import CheckResult, run_checks
from sim.model import RunResult, run_scenario
from sim.run_figures import RunFigures
from sim.scenario import Scenario


@dataclass
class Outcome:
    run: RunResult
    checks: list[CheckResult]
    replay_digest: str | None = None

    @property
    def name(self) -> str:
        return self.run.scenario.name

    @property
    def deterministic(self) -> bool | None:
        return None if self.replay_digest is None else self.replay_digest == self.run.digest

    @property
    def passed(self) -> bool:
        return not any(c.failed for c in self.checks) and self.deterministic is not False

    @property
    def violated_spec(self) -> bool:
        """A property of the spec failed (or the run was not deterministic): the system broke a rule."""
        return any(c.failed and not c.expectation for c in self.checks) or self.deterministic is False

    @property
    def figures(self) -> RunFigures:
        return RunFigures.of(self.run)

    def to_json(self) -> dict[str, Any]:
        run = self.run
        return {
            "scenario": self.name,
            "seed": run.seed,
            "passed": self.passed,
            "trace_sha256": run.digest,
            "deterministic": self.deterministic,
            "events": len(run.entries),
            "sim_time_s": run.sim_time_s,
            "wall_s": run.wall_s,
            "sim_to_wall": run.sim_to_wall,
            "settled": run.settled,
            "violated_spec": self.violated_spec,
            "figures": self.figures.to_json(),
            "checks": [
                {"name": c.name, "status": c.status, "measured": c.measured, "expected": c.expected,
                 "violations": c.violations, "expectation": c.expectation}
                for c in self.checks
            ],
        }


def evaluate(scenario: Scenario, seed: int | None = None, *, determinism: bool = True) -> Outcome:
    """Run, check, and (by default) run the same seed again and compare trace hashes."""
    run = run_scenario(scenario, seed)
    replay = run_scenario(scenario, run.seed).digest if determinism else None
    return Outcome(run, run_checks(run), replay)
