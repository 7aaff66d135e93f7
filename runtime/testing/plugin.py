"""The test kit's pytest plugin (entry point ``pytest11``): a real platform per test, checked against the spec.

Installed with the package, so a user's suite has it with no configuration. Nothing happens
unless a test asks for it: the plugin only adds fixtures and a marker, no option changes how
other tests run (``-p no:runtime.testing.plugin`` turns it off altogether).

* ``spec_platform`` — a `runtime.testing.platform.PlatformUnderTest`: an orchestrator process
  on a free 127.0.0.1 port with a temporary SQLite database, tokens in 0600 files; the test
  starts workers running its own handler modules (``spec_platform.start_worker("w1",
  handlers=["myapp.handlers"])``), submits tasks and waits for them. At teardown everything is
  stopped gracefully and the traces are checked with `spec.testing.assert_conforms`: the
  platform's against the platform's catalogue, the handlers' against the test's catalogue.
* ``@pytest.mark.spec_catalogue("MODULE:ATTR", allow_unfinished=())`` — the catalogue the
  handlers' recorded transitions (`runtime.testing.handler_trace.record`) must conform to.
* ``spec_platform_policies`` — the policies the processes run with and the traces are checked
  on (`TEST_POLICIES`); override the fixture to run on others.

The test's own directory and the rootdir are put on the processes' ``PYTHONPATH``, so a handler
module next to the test is importable in the worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from runtime.testing.platform import PlatformUnderTest
    from spec.policies import Policies

#: pytest imports this module through the ``pytest11`` entry point before coverage measurement
#: starts (in every suite, this project's too), so it imports the kit (and with it `spec` and
#: `runtime`) only when a test uses one of its fixtures; imported earlier, their module-level code
#: would never count as covered.
_KIT = "runtime.testing.platform"
_CATALOGUES = "spec.specification"

MARKER = "spec_catalogue"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(reference, allow_unfinished=()): the catalogue (MODULE:ATTR) the spec_platform fixture checks "
        "the handlers' recorded transitions against",
    )


@pytest.fixture
def spec_platform_policies() -> Policies:
    """The policies of the platform under test (and of its conformance check)."""
    policies: Policies = importlib.import_module(_KIT).TEST_POLICIES
    return policies


@pytest.fixture
def spec_platform(
    request: pytest.FixtureRequest, tmp_path: Path, spec_platform_policies: Policies
) -> Iterator[PlatformUnderTest]:
    """A real orchestrator process for this test; workers on demand; traces checked at teardown."""
    marker = request.node.get_closest_marker(MARKER)
    catalogue = (importlib.import_module(_CATALOGUES).load_spec(marker.args[0])
                 if marker is not None and marker.args else None)
    allow_unfinished = tuple(marker.kwargs.get("allow_unfinished", ())) if marker is not None else ()
    pythonpath = dict.fromkeys((Path(request.path).parent, Path(request.config.rootpath)))
    kit = importlib.import_module(_KIT)
    platform: PlatformUnderTest = kit.PlatformUnderTest(
        tmp_path / "spec-platform", policies=spec_platform_policies, catalogue=catalogue,
        allow_unfinished=allow_unfinished, pythonpath=pythonpath)
    try:
        yield platform
    finally:
        platform.stop()
    # A test that failed is not checked again: its own failure is the news, not the traces it left.
    if not platform.checked and not request.node.stash.get(_CALL_FAILED, False):
        platform.finish()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note on the item whether the test itself failed, for the fixture's teardown."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report
