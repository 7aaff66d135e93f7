"""``python -m spec``: list and render the generated diagrams, run the graph checks, check a trace.

Exit codes: 0 success; 1 the checks found problems, a trace diverges from the spec (or a story
no longer replays); 2 bad input (an unknown diagram or kind, an unreadable trace, bad
arguments), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from spec.errors import SpecError, SpecLoadError, UnknownDiagramError
from spec.trace import TraceError

if TYPE_CHECKING:
    from spec.specification import Spec

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from spec.catalog import KINDS

    parser = argparse.ArgumentParser(
        prog="python -m spec",
        description="The executable specification: list and render its Mermaid diagrams, run its graph checks.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    catalogue = argparse.ArgumentParser(add_help=False)
    catalogue.add_argument("--spec", metavar="MODULE:ATTR",
                           help="the catalogue (a spec.Spec) to use, e.g. mypkg.spec:SPEC, or the name of an installed "
                           "one; default: the reference platform")
    commands.add_parser("list", parents=[catalogue],
                        help="list the diagrams: name, kinds (default first), seed section, title")
    render = commands.add_parser("render", parents=[catalogue], help="print one diagram (or a trace) as Mermaid source")
    render.add_argument("name", nargs="?", help="diagram name, as printed by 'list'")
    render.add_argument("--kind", choices=KINDS, help="default: the first kind that 'list' shows for the diagram")
    render.add_argument("--trace", metavar="FILE", help="draw a recorded JSON-lines trace instead of a diagram")
    commands.add_parser("check", parents=[catalogue], help="run the graph checks; exit 1 and report when any fails")
    conform = commands.add_parser("conform", parents=[catalogue],
                                  help="replay a recorded trace on the machines; exit 1 on divergence")
    conform.add_argument("trace", metavar="FILE", help="a JSON-lines trace (spec.trace format)")
    conform.add_argument("--tolerance", type=float, default=0.0, metavar="SECONDS",
                         help="scheduling jitter allowed on timing bounds (default 0; a real runtime needs some)")
    conform.add_argument("--no-timing", action="store_true", help="check behaviour only, not policy timings")
    conform.add_argument("--no-messages", action="store_true", help="do not compare each event's messages")
    return parser


def list_command(spec: Spec) -> int:
    from spec.catalog import list_diagrams

    for line in list_diagrams(spec.diagrams()):
        print(line)
    return EXIT_OK


def render_command(spec: Spec, name: str | None, kind: str | None, trace: str | None) -> int:
    if trace is not None:
        if name is not None or kind is not None:
            return _bad_input("render --trace FILE takes no diagram name and no --kind")
        from spec.render.trace import render_trace
        from spec.trace import read_trace

        sys.stdout.write(render_trace(read_trace(trace), spec.participant))
        return EXIT_OK
    if name is None:
        return _bad_input("render needs a diagram name (see 'python -m spec list') or --trace FILE")
    sys.stdout.write(spec.render(name, kind))
    return EXIT_OK


def check_command(spec: Spec) -> int:
    report = spec.check()
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


def conform_command(spec: Spec, trace: str, tolerance_s: float, check_timing: bool, check_messages: bool) -> int:
    if tolerance_s < 0:
        return _bad_input(f"--tolerance must be >= 0 seconds, got {tolerance_s:g}")
    from spec.trace import read_trace

    report = spec.check_trace(read_trace(trace), tolerance_s=tolerance_s, check_timing=check_timing,
                              check_messages=check_messages)
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


def _catalogue(reference: str | None) -> Spec:
    if reference is None:
        from spec.platform import PLATFORM

        return PLATFORM
    from spec.specification import load_spec

    return load_spec(reference)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help already
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        spec = _catalogue(args.spec)
        if args.command == "list":
            return list_command(spec)
        if args.command == "render":
            return render_command(spec, args.name, args.kind, args.trace)
        if args.command == "conform":
            return conform_command(spec, args.trace, args.tolerance, not args.no_timing, not args.no_messages)
        return check_command(spec)
    except (UnknownDiagramError, TraceError, SpecLoadError) as exc:
        return _bad_input(str(exc))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
