"""Developer sessions. Each installs the project with the extras it needs into its own venv."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "docs", "simulate"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, property, end-to-end)."""
    session.install("-e", ".[all]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning fails the build."""
    session.install("-e", ".[docs]")
    local_mermaid = Path("node_modules/mermaid/dist/mermaid.min.js")
    if not (local_mermaid.exists() or os.environ.get("MERMAID_JS") or os.environ.get("MERMAID_JS_URL")):
        # Mermaid's JavaScript is served by the site itself, so the docs work offline.
        session.run("npm", "install", "--no-save", "--no-audit", "--no-fund", "mermaid@11", external=True)
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy --strict."""
    session.install("-e", ".[all]")
    session.run("ruff", "check", "spec", "spec_docs", "runtime", "sim", "tests", "tools", "noxfile.py")
    session.run("mypy", "--strict", "spec", "spec_docs", "runtime", "sim", "tools")


@nox.session(python=PYTHON)
def simulate(session: nox.Session) -> None:
    """The whole chaos-scenario catalogue under its own seeds and `sim.catalogue.CHECK_SEEDS`; exit 1 on a violation.

    A check holds for every seed or it is not a check: each scenario is built so that what it
    expects surely happens, so a seed that breaks one is a finding, not bad luck.
    """
    session.install("-e", ".[sim]")
    session.run("python", "-m", "sim", "run", "--every-seed", "--json", "build/sim/results.json",
                "--mermaid", "build/sim/traces", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Performance figures (printed, never asserted): simulator, then runtime.bench's table (SQLite, PostgreSQL,
    bulk submission) with Celery, Dramatiq and pgqueuer as yardsticks.

    Arguments go to runtime.bench, e.g. ``nox -s bench -- --part postgresql`` for the PostgreSQL part alone.
    """
    session.install("-e", ".[all,bench]")
    if not session.posargs:
        session.run("python", "-m", "sim", "bench")
    session.run("python", "-m", "runtime.bench", *session.posargs)


@nox.session(python=PYTHON)
def record(session: nox.Session) -> None:
    """Record a real reference-runtime run for the docs' spec-vs-actual sections (docs/recorded/)."""
    session.install("-e", ".[runtime]")
    session.run("python", "tools/record_reference_run.py", *session.posargs)
    session.run("python", "tools/record_resilience_run.py", *session.posargs)
    session.run("python", "tools/record_recovery_run.py", *session.posargs)
