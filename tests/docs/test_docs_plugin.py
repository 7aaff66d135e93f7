"""The packaged mkdocs plugin on a user's own site (issue 17): ``plugins: - orchestration-spec: {spec: ...}``.

The site lives in a temporary directory outside this tree, with the tutorial's catalogue copied
in as the user's own module ``payments`` and the tutorial's ``mkdocs.yml``. It finds the plugin
by the entry point pyproject.toml declares (`tests.declared_entry_points`) and is built by
``mkdocs build --strict`` in a subprocess. Mermaid's JavaScript is a stand-in: the plugin
copies it, nobody runs it here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spec_docs.catalogues import use_catalogue
from spec_docs.expand import expand
from spec_docs.registry import DirectiveError
from tests.declared_entry_points import environment

for _module in ("mkdocs", "material", "mermaid2"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: pip install -e '.[docs]' to build the docs")

REPO = Path(__file__).resolve().parents[2]
PAYMENTS = (REPO / "spec" / "examples" / "payments.py").read_text(encoding="utf-8")
BUILD_TIMEOUT_S = 300

#: The tutorial's mkdocs.yml (docs/own-workflow.md, section 3), used as the user's own.
TUTORIAL = (REPO / "docs" / "own-workflow.md").read_text(encoding="utf-8")
MKDOCS_YML = TUTORIAL.split("```yaml\n", 1)[1].split("```", 1)[0]

INDEX_MD = """\
# Payments

{{ catalogue_check() }}

{{ catalogue_diagram("payment", kind="state") }}

{{ catalogue_diagram("payment") }}
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site-project"
    (root / "docs").mkdir(parents=True)
    (root / "payments.py").write_text(PAYMENTS, encoding="utf-8")
    (root / "mkdocs.yml").write_text(MKDOCS_YML, encoding="utf-8")
    (root / "docs" / "index.md").write_text(INDEX_MD, encoding="utf-8")
    (root / "mermaid-stand-in.js").write_text("/* stand-in for mermaid.min.js */\n", encoding="utf-8")
    return root


def _run(site: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = environment(site.parent / "entry-points")
    env["MERMAID_JS"] = str(site / "mermaid-stand-in.js")
    env["NO_MKDOCS_2_WARNING"] = "1"
    env.pop("MERMAID_JS_URL", None)
    return subprocess.run([sys.executable, *command], cwd=site, env=env, capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S)


def test_a_users_site_draws_its_own_catalogue_through_the_plugin(site: Path) -> None:
    result = _run(site, "-m", "mkdocs", "build", "--strict", "-d", str(site / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    page = (site / "out" / "index.html").read_text(encoding="utf-8")
    assert page.count('<pre class="mermaid">') == 2
    state_diagram, sequence = (block.split("</pre>")[0] for block in page.split('<pre class="mermaid">')[1:])
    assert state_diagram.startswith("<code>stateDiagram-v2")
    for state in ("new", "authorising", "paid", "declined"):
        assert state in state_diagram
    assert "authorising --&gt; declined : decline" in state_diagram
    assert sequence.startswith("<code>sequenceDiagram")
    assert "Customer" in sequence and "Bank" in sequence
    # The checks table: every check of the user's catalogue, passed (and no platform service-order check).
    assert "<th>check</th>" in page and "<td>passed</td>" in page
    assert "service" not in page.split("<th>check</th>")[1].split("</table>")[0]
    assert (site / "out" / "js" / "mermaid.min.js").is_file()


def test_a_rebuild_in_the_same_process_reads_the_changed_catalogue_and_serve_watches_it(site: Path) -> None:
    """What ``mkdocs serve`` does: watch the catalogue's files, rebuild in one process after an edit."""
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from mkdocs.commands.build import build
        from mkdocs.config import load_config

        site = Path({str(site)!r})

        class Server:
            watched = []
            def watch(self, path):
                self.watched.append(path)

        def page():
            config = load_config(config_file=str(site / "mkdocs.yml"), site_dir=str(site / "out"), strict=True)
            build(config)
            return config, (site / "out" / "index.html").read_text(encoding="utf-8")

        config, first = page()
        server = Server()
        config.plugins.on_serve(server, config=config, builder=None)
        print("WATCHED", str(site / "payments.py") in server.watched)
        module = site / "payments.py"
        module.write_text(module.read_text().replace('DECLINED = "declined"', 'DECLINED = "turned_down"'))
        _, second = page()
        print("FIRST-RENAMED", "turned_down" in first)
        print("SECOND-RENAMED", "turned_down" in second)
        """
    )
    result = _run(site, "-c", script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WATCHED True" in result.stdout
    assert "FIRST-RENAMED False" in result.stdout
    assert "SECOND-RENAMED True" in result.stdout


def test_a_bad_catalogue_option_fails_the_build_with_the_reason(site: Path) -> None:
    yml = site / "mkdocs.yml"
    yml.write_text(yml.read_text(encoding="utf-8").replace("payments:SPEC", "payments:NO_SUCH"), encoding="utf-8")
    result = _run(site, "-m", "mkdocs", "build", "--strict", "-d", str(site / "out"))
    assert result.returncode != 0
    assert "docs/index.md:3: {{ catalogue_check() }}:" in result.stdout + result.stderr
    assert "NO_SUCH" in result.stdout + result.stderr


def test_a_catalogue_directive_without_a_catalogue_says_how_to_name_one() -> None:
    use_catalogue(None)
    with pytest.raises(DirectiveError, match=r"pass spec=\"MODULE:ATTR\" or set the plugin's option"):
        expand('{{ catalogue_diagram("payment") }}', "docs/page.md")
    use_catalogue("spec.examples.payments:SPEC")
    try:
        assert "stateDiagram-v2" in expand('{{ catalogue_diagram("payment", kind="state") }}', "docs/page.md")
    finally:
        use_catalogue(None)
