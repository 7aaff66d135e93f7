"""Where a renderer's command line writes: stdout, or the file named by its one argument."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def write_output(text: str, argv: Sequence[str] | None) -> int:
    """Write `text` to ``argv[0]`` (stdout without one); exit code 1 with the reason if it cannot."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stdout.write(text)
        return 0
    try:
        with open(args[0], "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        sys.stderr.write(f"cannot write {args[0]}: {exc.strerror}\n")
        return 1
    return 0
