"""The test kit's pytest plugin (issue 17): a user's suite runs its handlers on a real platform, checked on the spec.

`pytester` writes a user's project (the tutorial's catalogue as ``payments``, its handler module
`runtime.examples.payment_handlers` and test `runtime.examples.test_payment_service`, renamed as
a user would have them) and runs pytest on it: the suite passes while the handler follows the
payment machine and fails, naming the wrong transition, when the handler marks a declined
payment as paid. The processes are real (``python -m runtime`` on 127.0.0.1).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.testing.handler_trace import HANDLER_TRACE_ENV, record
from runtime.testing.worker_main import add_module_handlers
from runtime.worker import Worker
from runtime.worker.errors import WorkerConfigError
from spec import TraceEvent
from tests.declared_entry_points import environment

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[3]
PAYMENTS = (REPO / "spec" / "examples" / "payments.py").read_text(encoding="utf-8")


def _as_users(module: str) -> str:
    """A tutorial module's source, importing the catalogue and handlers by the user's own module names."""
    source = (REPO / Path(*module.split("."))).with_suffix(".py").read_text(encoding="utf-8")
    return source.replace("runtime.examples.payment_handlers", "payment_handlers").replace(
        "spec.examples.payments", "payments")


@pytest.fixture
def users_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(payments=PAYMENTS, payment_handlers=_as_users("runtime.examples.payment_handlers"),
                        test_payment_service=_as_users("runtime.examples.test_payment_service"))
    # The processes import `runtime` and `spec` from this checkout, like the test process.
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    return pytester


def _run(project: pytest.Pytester) -> pytest.RunResult:
    return project.runpytest("-p", "runtime.testing.plugin", "-p", "no:cacheprovider", "-q")


def test_a_users_suite_passes_on_a_real_platform_while_the_handler_follows_the_spec(
    users_project: pytest.Pytester,
) -> None:
    result = _run(users_project)
    result.assert_outcomes(passed=1)


def test_a_handler_that_breaks_a_transition_fails_the_users_test_naming_it(
    users_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_BUG", "1")  # the handler marks a declined payment as paid
    result = _run(users_project)
    result.assert_outcomes(passed=1, errors=1)  # the test itself passes; its traces fail at teardown
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_payments_run_on_a_real_platform*"])
    assert "wrong destination state; expected destination 'declined', got 'paid'" in result.stdout.str()


def test_checking_in_the_test_body_fails_the_test_itself(
    users_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``spec_platform.finish()`` in the test: a divergence is the test's failure, and teardown checks nothing more."""
    test = users_project.path / "test_payment_service.py"
    test.write_text(test.read_text(encoding="utf-8").rstrip() + "\n    spec_platform.finish()\n", encoding="utf-8")
    monkeypatch.setenv("PAYMENTS_BUG", "1")
    result = _run(users_project)
    result.assert_outcomes(failed=1)
    assert "wrong destination state; expected destination 'declined', got 'paid'" in result.stdout.str()


def test_the_fixtures_are_opt_in_and_named_apart_from_this_projects(pytester: pytest.Pytester) -> None:
    """Loaded into a suite that does not use them, the plugin changes nothing (and starts no process)."""
    pytester.makepyfile(test_plain="def test_plain(tmp_path):\n    assert tmp_path.is_dir()\n")
    result = pytester.runpytest("-p", "runtime.testing.plugin", "-p", "no:cacheprovider", "-q", "--fixtures")
    assert "spec_platform" in result.stdout.str()
    assert "spec_platform_policies" in result.stdout.str()
    plain = pytester.runpytest("-p", "runtime.testing.plugin", "-p", "no:cacheprovider", "-q")
    plain.assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("orchestrator.*"))


def test_an_installed_package_loads_the_plugin_by_its_entry_point(pytester: pytest.Pytester) -> None:
    """No ``-p``: pytest finds the fixtures through the ``pytest11`` entry point pyproject.toml declares
    (also when the plugin is named with ``-p`` as well, as this file's other tests do)."""
    pytester.makepyfile(test_uses_it="def test_uses_it(spec_platform_policies):\n    assert spec_platform_policies\n")
    env = environment(pytester.path / "entry-points")
    for extra in ((), ("-p", "runtime.testing.plugin")):
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
                                cwd=pytester.path, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed" in result.stdout


def test_record_writes_only_under_the_kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event = TraceEvent(time=1.0, component="payment:1", machine="payment", trigger="pay", source="new",
                       dest="authorising")
    monkeypatch.delenv(HANDLER_TRACE_ENV, raising=False)
    assert record(event) is False
    trace = tmp_path / "handlers.jsonl"
    monkeypatch.setenv(HANDLER_TRACE_ENV, str(trace))
    assert record(event) is True and record(event) is True
    assert trace.read_text(encoding="utf-8").splitlines() == [event.to_json(), event.to_json()]


@pytest.mark.parametrize(
    ("source", "reason"),
    [("import nothing_here_at_all\n", "cannot import it"),
     ("HANDLERS = {}\n", "expected a non-empty HANDLERS mapping"),
     ("HANDLERS = {'payment': 42}\n", "must map a task type name to a handler function")],
    ids=["unimportable", "empty", "not-callable"],
)
def test_a_bad_handler_module_is_refused_naming_it(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, reason: str
) -> None:
    module = f"users_handlers_{request.node.callspec.id.replace('-', '_')}"  # a fresh module per case
    (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = Worker("http://127.0.0.1:9", token="t", capabilities=["python"], workspace_root=tmp_path / "ws")
    with pytest.raises(WorkerConfigError, match=rf"--handlers {module}: .*{reason}"):
        add_module_handlers(worker, module)


def test_loading_the_plugin_imports_nothing_of_spec_or_runtime_yet() -> None:
    """Regression: pytest imports the entry point's module before coverage starts; the plugin used to
    import the kit (and so `spec`) at once, and the suite's coverage of `spec` fell from 98% to 54%."""
    code = ("import sys, runtime.testing.plugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('spec', 'runtime') "
            "and m not in ('runtime', 'runtime.testing', 'runtime.testing.plugin')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
