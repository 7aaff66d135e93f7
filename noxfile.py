"""Developer sessions. Each installs the project with the extras it needs into its own venv."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests", "docs"]
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
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy --strict."""
    session.install("-e", ".[all]")
    session.run("ruff", "check", "spec", "runtime", "sim", "tests", "noxfile.py")
    session.run("mypy", "--strict", "spec")
