"""The scenario catalogue: every ``sim/scenarios/*.yaml``, addressed by name or by file path."""

from __future__ import annotations

from pathlib import Path

from sim.errors import UnknownScenarioError
from sim.scenario import Scenario, load_scenario

CATALOGUE_DIR = Path(__file__).parent / "scenarios"
#: Seeds the whole catalogue must also pass under (``python -m sim run --every-seed``, ``nox -s
#: simulate``, the test suite): a scenario is built so that what it expects surely happens.
CHECK_SEEDS = (1, 2, 3, 4, 5)


def catalogue_files() -> list[Path]:
    return sorted(CATALOGUE_DIR.glob("*.yaml"))


def catalogue() -> list[Scenario]:
    return [load_scenario(p) for p in catalogue_files()]


def resolve(name_or_path: str) -> Scenario:
    """A catalogue scenario by name, or a scenario file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise UnknownScenarioError(name_or_path, [p.stem for p in catalogue_files()])
        return load_scenario(path)
    candidate = CATALOGUE_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return load_scenario(candidate)
    raise UnknownScenarioError(name_or_path, [p.stem for p in catalogue_files()])
