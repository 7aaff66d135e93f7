"""Page generation for the docs site: directives that turn `spec` into Markdown.

Used by the MkDocs hook `spec_pages`; importable on its own (tests put ``docs/hooks`` on
``sys.path``) to expand a page without running MkDocs.
"""

from __future__ import annotations

from spec_docs.expand import expand, parse
from spec_docs.registry import DIRECTIVES, Directive, DirectiveError

__all__ = ["DIRECTIVES", "Directive", "DirectiveError", "expand", "parse"]
