"""Real ``mkdocs build --strict`` runs of the site (mkdocs.yml + the orchestration-spec plugin, spec_docs/plugin.py).

Each build runs in a subprocess on a copy of the project (`project` fixture), so a test can
edit `spec/` or a page without touching the checkout. Mermaid's JavaScript is a stand-in file
named by ``MERMAID_JS``: the plugin's job is to copy it, not to run it. The plugin is found by
the entry point pyproject.toml declares (`tests.declared_entry_points`).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spec.sequences import STORIES
from spec.story_parts import story_parts
from tests.declared_entry_points import environment

for _module in ("mkdocs", "material", "mermaid2"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: pip install -e '.[docs]' to build the docs")

STAND_IN = b"/* stand-in for mermaid.min.js: the build copies it, nobody runs it */\n"
BUILD_TIMEOUT_S = 300


def _environment(project: Path, mermaid: bool = True) -> dict[str, str]:
    env = {k: v for k, v in environment(project / "entry-points").items() if k not in ("MERMAID_JS", "MERMAID_JS_URL")}
    if mermaid:
        stand_in = project / "mermaid-stand-in.js"
        stand_in.write_bytes(STAND_IN)
        env["MERMAID_JS"] = str(stand_in)
    env["NO_MKDOCS_2_WARNING"] = "1"
    return env


def build(project: Path, *, mermaid: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"),
         "-d", str(project / "site")],
        cwd=project, env=_environment(project, mermaid), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )


def page(project: Path, path: str) -> str:
    return (project / "site" / path / "index.html").read_text(encoding="utf-8")


def test_strict_build_generates_every_page_from_spec(project: Path) -> None:
    from spec.machines import MACHINES
    from spec.policies import DEFAULT_POLICIES

    result = build(project)
    assert result.returncode == 0, result.stdout + result.stderr
    site = project / "site"
    assert (site / "js" / "mermaid.min.js").read_bytes() == STAND_IN
    for path in ["", "seed/startup", "seed/registration", "seed/execution", "seed/shutdown-recovery", "seed/errors",
                 "workflows/startup", "workflows/task-execution", "workflows/error-recovery", "heartbeats",
                 "policies", "metrics", "departures", "testing", "contributing", "getting-started", "glossary",
                 "optimisation"]:
        assert (site / path / "index.html").is_file(), path
    startup = page(project, "seed/startup")
    assert '<script src="../../js/mermaid.min.js">' in startup  # local copy, linked relative to the page
    # the story in its parts (happy path, then each case off it), the state diagram, and the story merged with its run
    assert startup.count('<pre class="mermaid">') == len(story_parts(STORIES["orchestrator_startup"])) + 2
    assert "stateDiagram-v2" in startup and "sequenceDiagram" in startup
    every_page = "".join(p.read_text(encoding="utf-8") for p in site.rglob("index.html"))
    for name, machine in MACHINES.items():
        assert f"<code>{name}</code>" in every_page, f"machine {name} is documented nowhere"
        for transition in machine.transitions:
            assert f"<code>{transition.trigger}</code>" in every_page
    heartbeats = page(project, "heartbeats")
    assert f"every <strong>{DEFAULT_POLICIES.heartbeat.interval_s:g} s</strong>" in heartbeats
    # The optimisation page is computed by the build: its text and its plots.
    optimisation = page(project, "optimisation")
    assert "Recommendation:" in optimisation and "Workers for a target queue wait" in optimisation
    for plot in ("workers", "heartbeat", "breaker", "retry"):
        assert f'src="{plot}.png"' in optimisation, plot
        assert (site / "optimisation" / f"{plot}.png").stat().st_size > 0, plot
    # Developers' references to the project's issues stay out of what readers see.
    visible = re.sub(r"<[^>]+>", " ", every_page)
    cited = re.findall(r"\bissue \d+\s*(?:§|,|\)|\"|;)", visible, re.IGNORECASE)
    assert not cited, cited[:5]


def test_a_changed_policy_in_spec_changes_the_site_with_no_other_edit(project: Path) -> None:
    policies = project / "spec" / "policies.py"
    policies.write_text(
        policies.read_text(encoding="utf-8")
        + "\n\nDEFAULT_POLICIES = Policies(heartbeat=HeartbeatPolicy(interval_s=12.0, timeout_s=36.0))\n",
        encoding="utf-8",
    )
    result = build(project)
    assert result.returncode == 0, result.stdout + result.stderr
    heartbeats = page(project, "heartbeats")
    assert "every <strong>12 s</strong>" in heartbeats
    assert "silent for\n<strong>36 s</strong>" in heartbeats
    assert "<code>heartbeat.interval_s</code></td>\n<td>12 s</td>" in heartbeats


@pytest.mark.parametrize(
    ("directive", "reason"),
    [('{{ frobnicate("x") }}', "unknown directive 'frobnicate'"),
     ('{{ diagram("no_such_diagram") }}', "unknown diagram 'no_such_diagram'")],
)
def test_a_bad_directive_fails_the_build_naming_page_and_directive(
    project: Path, directive: str, reason: str
) -> None:
    index = project / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + f"\n{directive}\n", encoding="utf-8")
    result = build(project)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"docs/index.md:{index.read_text(encoding='utf-8').count(chr(10))}: {directive}: {reason}" in output


def test_a_missing_mermaid_library_fails_the_build_with_the_install_command(project: Path) -> None:
    result = build(project, mermaid=False)
    assert result.returncode != 0
    assert "npm install --no-save mermaid@11" in result.stdout + result.stderr


def test_a_rebuild_in_the_same_process_reads_the_changed_spec(project: Path) -> None:
    """What `mkdocs serve` does: build, the user edits spec/, build again in the same process."""
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from mkdocs.commands.build import build
        from mkdocs.config import load_config

        project = Path({str(project)!r})

        def heartbeat_page():
            build(load_config(config_file=str(project / "mkdocs.yml"), site_dir=str(project / "site"), strict=True))
            return (project / "site" / "heartbeats" / "index.html").read_text(encoding="utf-8")

        first = heartbeat_page()
        policies = project / "spec" / "policies.py"
        policies.write_text(policies.read_text() + "\\nDEFAULT_POLICIES = Policies("
                            "heartbeat=HeartbeatPolicy(interval_s=20.0, timeout_s=60.0))\\n")
        second = heartbeat_page()
        print("FIRST-20S", "every <strong>20 s</strong>" in first)
        print("SECOND-20S", "every <strong>20 s</strong>" in second)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=_environment(project), capture_output=True, text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FIRST-20S False" in result.stdout
    assert "SECOND-20S True" in result.stdout


def test_a_rebuild_in_the_same_process_reimports_the_simulator(project: Path) -> None:
    """`mkdocs serve` after a spec edit: `sim` is re-imported too, so its plots read the new spec."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from mkdocs.commands.build import build
        from mkdocs.config import load_config

        project = Path({str(project)!r})
        config = lambda: load_config(config_file=str(project / "mkdocs.yml"), site_dir=str(project / "site"),
                                     strict=True)
        build(config())
        first = sys.modules["sim.plots"]
        policies = project / "spec" / "policies.py"
        policies.write_text(policies.read_text() + "\\nDEFAULT_POLICIES = Policies("
                            "heartbeat=HeartbeatPolicy(interval_s=20.0, timeout_s=60.0))\\n")
        build(config())
        second = sys.modules["sim.plots"]
        print("SIM-REIMPORTED", first is not second)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=project, env=_environment(project), capture_output=True, text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SIM-REIMPORTED True" in result.stdout
