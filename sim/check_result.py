"""A check's verdict with measured and expected values, and helpers the checks share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sim.recorder import Entry

EPS = 1e-6
PASS, FAIL, NA = "pass", "fail", "n/a"


@dataclass
class CheckResult:
    name: str
    status: str
    measured: str
    expected: str
    violations: list[str] = field(default_factory=list)
    #: A scenario's own expectation (``expect:``), not a property of the spec: failing it means
    #: the scenario did not produce what it was written for, not that the system broke a rule.
    expectation: bool = False

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def result(name: str, seen: int, measured: str, expected: str, violations: list[str]) -> CheckResult:
    status = FAIL if violations else (PASS if seen else NA)
    return CheckResult(name, status, measured, expected, violations[:20])


def by_component(entries: Iterable[Entry], machine: str) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if e.machine == machine:
            out[e.component].append(e)
    return out


def data_of(e: Entry, key: str) -> object:
    return (e.data or {}).get(key)
