"""``python -m runtime worker``: a worker process with the built-in task types (issue 3 §6).

Exit codes: 0 after a graceful shutdown, 1 when the orchestrator cannot be reached or refuses
the token, 2 for bad configuration, 3 when the capabilities are rejected, 4 after a forced stop
(second signal).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runtime.errors import RuntimeServiceError
from runtime.escalation_config import WORKER_ESCALATION_ENV, load_worker_routes
from runtime.token_files import read_single_token
from runtime.worker.agent import Worker, default_workspace_root
from runtime.worker.builtin_tasks import ShellTask, noop_task, parse_shell_commands, sleep_task
from runtime.worker.capabilities import detect_capabilities
from runtime.worker.errors import (
    CapabilitiesRejectedError,
    EmergencyShutdownError,
    OrchestratorError,
    WorkerConfigError,
)
from spec.policies import DEFAULT_POLICIES, Policies

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG, EXIT_REJECTED, EXIT_FORCED, EXIT_EMERGENCY = 0, 1, 2, 3, 4, 5
TOKEN_ENV = "RUNTIME_TOKEN"
TOKEN_FILE_ENV = "RUNTIME_TOKEN_FILE"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime worker",
        description="Register with an orchestrator, poll for tasks and run them (noop, sleep, shell).",
    )
    parser.add_argument("--orchestrator", required=True, metavar="URL", type=_urls,
                        help="e.g. http://127.0.0.1:8080; several replicas comma-separated, tried in order when one "
                             "stops answering")
    parser.add_argument("--token", default=None,
                        help=f"bearer token (default: ${TOKEN_ENV}); visible in `ps` — prefer --token-file")
    parser.add_argument("--token-file", type=Path, default=None, metavar="PATH",
                        help=f"file holding the bearer token (default: ${TOKEN_FILE_ENV}); re-read after a 401")
    parser.add_argument("--capability", action="append", default=[], metavar="NAME",
                        help="add a capability (repeatable); detected ones are added unless --no-detect")
    parser.add_argument("--no-detect", action="store_true", help="advertise only the --capability names")
    parser.add_argument("--worker-id", help="stable id (default: generated from host name and a random suffix)")
    parser.add_argument("--workspace-root", type=Path, default=None,
                        help=f"where task workspaces live (default: {default_workspace_root()})")
    parser.add_argument("--trace", type=Path, metavar="PATH", help="append machine transitions to this .jsonl file")
    parser.add_argument("--tasks-per-poll", type=int, default=1, metavar="N",
                        help="run up to N tasks at once; a poll leases up to the free slots")
    parser.add_argument("--shell-command", action="append", default=[], metavar="NAME=COMMAND",
                        help="a command the 'shell' task may run by name (repeatable)")
    parser.add_argument("--allow-any-command", action="store_true",
                        help="let 'shell' tasks run any argv list from their payload (trusted clients only)")
    parser.add_argument("--policies", type=Path, metavar="FILE", help="policies file (JSON, TOML or YAML)")
    parser.add_argument("--policy", action="append", default=[], metavar="KEY=VALUE",
                        help="override one policy, e.g. heartbeat.interval_s=0.2 (repeatable)")
    parser.add_argument("--demo-platform", type=Path, metavar="FILE",
                        help="also run the 'ai_coding' workflow against the demo git platform FILE describes "
                             "(written by `python -m runtime demo`)")
    parser.add_argument("--escalation-config", type=Path, metavar="FILE",
                        help="escalation routes per level (TOML, YAML or JSON; webhooks, command, via_orchestrator); "
                             f"default ${WORKER_ESCALATION_ENV}, else every escalation goes through the orchestrator")
    parser.add_argument("--demo-ai-failure", metavar="MODE",
                        help="with --demo-platform: the scripted AI provider fails every analysis, 'error' "
                             "(network errors) or 'rate-limited' (429 with Retry-After)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _read_policy_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkerConfigError(f"--policies {path}: cannot read it ({exc.strerror})") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise WorkerConfigError(f"--policies {path}: not valid {path.suffix.lstrip('.') or 'JSON'} ({exc})") from None
    if not isinstance(data, dict):
        raise WorkerConfigError(f"--policies {path}: expected a mapping of policy sections")
    return data


def load_policies(path: Path | None = None, overrides: list[str] | None = None) -> Policies:
    """DEFAULT_POLICIES, then the file, then ``section.field=value`` overrides; errors name the field."""
    data: dict[str, Any] = DEFAULT_POLICIES.model_dump()
    layers = [_read_policy_file(path)] if path is not None else []
    for override in overrides or []:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise WorkerConfigError(
                f"--policy {override!r}: expected SECTION.FIELD=VALUE, e.g. poll.min_interval_s=0.05"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        layer: dict[str, Any] = {}
        node = layer
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        layers.append(layer)
    for layer in layers:
        _merge(data, layer)
    try:
        return Policies.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise WorkerConfigError(f"policy {field}: {first['msg']}") from None


def _merge(into: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def token_source(flag: str | None, path: Path | None) -> Callable[[], str | None] | None:
    """The credential, re-read after a 401: --token, else --token-file, $RUNTIME_TOKEN_FILE, $RUNTIME_TOKEN."""
    if flag is not None:
        return None
    file = path or (Path(os.environ[TOKEN_FILE_ENV]) if os.environ.get(TOKEN_FILE_ENV) else None)
    if file is not None:
        read_single_token(file)  # fail now, naming the file, rather than at the first request
        return lambda: read_single_token(file)
    return lambda: os.environ.get(TOKEN_ENV)


def escalation_file(flag: Path | None) -> Path | None:
    """--escalation-config, else $RUNTIME_ESCALATION_CONFIG (a file: webhook URLs never go on a command line)."""
    if flag is not None:
        return flag
    named = os.environ.get(WORKER_ESCALATION_ENV)
    return Path(named) if named else None


def _urls(value: str) -> list[str]:
    """``--orchestrator``: one URL, or several comma-separated (replicas of one orchestrator)."""
    urls = [url.strip() for url in value.split(",") if url.strip()]
    bad = [url for url in urls if not url.startswith(("http://", "https://"))]
    if not urls or bad:
        raise argparse.ArgumentTypeError(f"expected http(s)://host:port URLs, comma-separated; got {value!r}")
    if len(set(urls)) != len(urls):
        raise argparse.ArgumentTypeError(f"the same URL is given twice: {value!r}")
    return urls


def build_worker(args: argparse.Namespace) -> Worker:
    """A `Worker` with the built-in task types, configured from parsed arguments."""
    capabilities = list(args.capability) if args.no_detect else [*detect_capabilities(), *args.capability]
    worker = Worker(
        args.orchestrator,
        token=args.token,
        token_source=token_source(args.token, args.token_file),
        capabilities=capabilities,
        worker_id=args.worker_id,
        policies=load_policies(args.policies, args.policy),
        workspace_root=args.workspace_root,
        trace_path=args.trace,
        tasks_per_poll=args.tasks_per_poll,
        escalation=load_worker_routes(escalation_file(args.escalation_config)),
    )
    worker.add_handler("noop", noop_task)
    worker.add_handler("sleep", sleep_task)
    commands = parse_shell_commands(args.shell_command)
    if commands or args.allow_any_command:
        worker.add_handler("shell", ShellTask(commands, allow_any_command=args.allow_any_command))
    if args.demo_platform is not None:
        from runtime.demo.platform import register_demo_workflow  # the workflow stack only when asked for

        register_demo_workflow(worker, args.demo_platform, args.trace, ai_failure=args.demo_ai_failure)
    elif args.demo_ai_failure is not None:
        raise WorkerConfigError("--demo-ai-failure needs --demo-platform (it changes the demo's AI provider)")
    return worker


def run(args: argparse.Namespace, prepare: Callable[[Worker], None] | None = None) -> int:
    """Build the worker from parsed `args`, let `prepare` add to it, run it; the process's exit code.

    `prepare` is how a variant of this command adds to the worker before it starts (the test kit's
    ``python -m runtime.testing.worker_main`` adds a user's handlers); a `WorkerConfigError` it
    raises is a configuration error like any other.
    """
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level != "DEBUG":  # one line per request/transition drowns the worker's own messages
        for noisy in ("httpx", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.tasks_per_poll < 1:
        print("error: --tasks-per-poll must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    try:
        worker = build_worker(args)
        if prepare is not None:
            prepare(worker)
    except (WorkerConfigError, RuntimeServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        worker.run_forever()
    except CapabilitiesRejectedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except EmergencyShutdownError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_EMERGENCY
    return EXIT_FORCED if worker.forced else EXIT_OK


def main(argv: list[str]) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
