"""``python -m sim``: list, run, fuzz, erlang, plots, recommend and bench.

Exit codes: 0 all runs passed, 1 a check failed (or a fuzz search found a failure),
2 bad input (unknown scenario, invalid scenario file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from sim.catalogue import CHECK_SEEDS, catalogue_files, resolve
from sim.errors import SimError
from sim.outcome import Outcome, evaluate
from sim.report import print_report, write_json, write_mermaid
from sim.scenario import Scenario, load_scenario


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description="SimPy chaos simulator for the spec.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one catalogue scenario per line, name first")
    run = sub.add_parser("run", help="run scenarios (default: the whole catalogue) and check the spec's properties")
    run.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="catalogue name or scenario file path")
    run.add_argument("--seed", type=int, default=None, help="override every scenario's seed")
    run.add_argument("--every-seed", action="store_true",
                     help="also run every scenario under each of sim.catalogue.CHECK_SEEDS")
    run.add_argument("--json", type=Path, default=None, help="write JSON results here")
    run.add_argument("--mermaid", type=Path, default=None, help="write trace diagrams to this directory")
    run.add_argument("--traces", type=Path, default=None, help="write each run's trace (.jsonl) to this directory")
    run.add_argument("--no-determinism", action="store_true", help="skip the determinism self-check (re-run)")
    run.add_argument("-v", "--verbose", action="store_true", help="print every check of every run")
    fuzz = sub.add_parser("fuzz", help="search random fault schedules for a violation and shrink it")
    fuzz.add_argument("--examples", type=int, default=200)
    fuzz.add_argument("--seed", type=int, default=0)
    fuzz.add_argument("--out", type=Path, default=Path("fuzz_failure.yaml"))
    fuzz.add_argument("--base", metavar="SCENARIO", default=None,
                      help="start from this scenario (catalogue name or file): its topology, workload, policies "
                      "and faults, plus the drawn schedule; its expect: is not applied")
    erlang = sub.add_parser("erlang", help="compare simulated M/M/c queue waits with the Erlang C formula")
    erlang.add_argument("--tasks", type=int, default=200_000)
    erlang.add_argument("--workers", type=int, default=4)
    erlang.add_argument("--seed", type=int, default=1)
    plots = sub.add_parser("plots", help="timeline plots (breaker, queue depth, liveness, latency) as PNG")
    plots.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    plots.add_argument("--out", type=Path, default=Path("docs/simulation"))
    recommend = sub.add_parser("recommend", help="policy and sizing recommendations for the stated workload (Markdown)")
    recommend.add_argument("--plots", type=Path, default=None, help="also write the four plots to this directory")
    sub.add_parser("bench", help="print performance figures")
    return parser


def _scenarios(names: Sequence[str]) -> list[Scenario]:
    if names:
        return [resolve(n) for n in names]
    return [load_scenario(p) for p in catalogue_files()]


def _run(args: argparse.Namespace, console: Console) -> int:
    scenarios = _scenarios(args.scenarios)
    outcomes: list[Outcome] = []
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("simulating", total=len(scenarios))
        seeds = [args.seed, *CHECK_SEEDS] if args.every_seed else [args.seed]
        progress.update(bar, total=len(scenarios) * len(seeds))
        for seed in seeds:
            for scenario in scenarios:
                progress.update(bar, description=f"simulating {scenario.name}")
                outcomes.append(evaluate(scenario, seed, determinism=not args.no_determinism))
                progress.advance(bar)
    print_report(console, outcomes, verbose=args.verbose)
    if args.json is not None:
        write_json(args.json, outcomes)
    if args.mermaid is not None:
        write_mermaid(args.mermaid, outcomes)
    if args.traces is not None:
        from spec.trace import write_trace

        args.traces.mkdir(parents=True, exist_ok=True)
        for o in outcomes:
            write_trace(args.traces / f"{o.name}.jsonl", o.run.recorder.events())
    violated = [o.name for o in outcomes if o.violated_spec]
    unmet = [o.name for o in outcomes if not o.passed and not o.violated_spec]
    if violated:
        console.print(f"[red]{len(violated)} of {len(outcomes)} runs violated the spec: {', '.join(violated)}[/]")
    if unmet:
        console.print(f"[red]{len(unmet)} of {len(outcomes)} runs did not meet their scenario's expectations "
                      f"(expect:): {', '.join(unmet)}[/]")
    if violated or unmet:
        return 1
    console.print(f"[green]all {len(outcomes)} runs passed[/]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Logs and CI have no terminal; 80 columns would truncate the results table to ellipses.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    try:
        if args.command == "list":
            for path in catalogue_files():
                scenario = load_scenario(path)
                print(f"{scenario.name}\t{' '.join(scenario.description.split())}")
            return 0
        if args.command == "run":
            return _run(args, console)
        if args.command == "fuzz":
            from sim.fuzz import fuzz_command

            base = None if args.base is None else resolve(args.base)
            return fuzz_command(console, examples=args.examples, seed=args.seed, out=args.out, base=base)
        if args.command == "erlang":
            from sim.erlang import erlang_command

            return erlang_command(console, tasks=args.tasks, workers=args.workers, seed=args.seed)
        if args.command == "plots":
            from sim.plots import write_plots

            for path in write_plots(_scenarios(args.scenarios), args.out):
                print(path)
            return 0
        if args.command == "recommend":
            from sim.recommend import recommend
            from sim.recommend_report import markdown
            from sim.recommend_report import write_plots as write_recommendation_plots

            recommendations = recommend()
            print(markdown(recommendations, image_dir=str(args.plots or "optimisation")))
            if args.plots is not None:
                for path in write_recommendation_plots(recommendations, args.plots):
                    print(path, file=sys.stderr)
            return 0
        if args.command == "bench":
            from sim.bench import bench_command

            return bench_command(console)
    except SimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2  # pragma: no cover - argparse rejects unknown commands
