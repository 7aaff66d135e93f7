"""A strict build of the whole site, reference pages and spec-vs-actual sections included."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from spec_docs.api_reference import public_api


def _build_helpers() -> ModuleType:
    """test_docs_build.py's `build` and `page` (this directory is not a package)."""
    found = importlib.util.spec_from_file_location("docs_build_helpers", Path(__file__).with_name("test_docs_build.py"))
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module  # dataclasses look their module up
    found.loader.exec_module(module)
    return module


_helpers = _build_helpers()
build, page = _helpers.build, _helpers.page


def test_strict_build_renders_the_reference_pages_and_the_spec_vs_actual_sections(project: Path) -> None:
    result = build(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr
    for package in ("spec", "runtime", "sim"):
        html = page(project, f"reference/{package}")
        for module, names in public_api(package).items():
            for name in names:
                assert f'id="{module}.{name}"' in html, f"{module}.{name} is missing from reference/{package}"
    http = page(project, "reference/http-api")
    assert "/api/v1/workers/register" in http and 'id="schema-registerrequest"' in http
    sections_per_page = {"seed/startup": 1, "seed/registration": 1, "seed/execution": 1, "seed/shutdown-recovery": 4,
                         "seed/errors": 4}
    for path, sections in sections_per_page.items():
        html = page(project, path)
        assert html.count('class="spec-vs-actual__legend"') == sections, path
        assert "Differences:" in html
