"""``python -m runtime``: run an orchestrator, a worker (issue 3) or the demo (issue 4 §4).

    python -m runtime orchestrator --db orchestrator.db --port 8080 --token SECRET [--trace run.jsonl]
    python -m runtime worker --orchestrator http://127.0.0.1:8080 --capability python ...
    python -m runtime demo [--out DIR]

Orchestrator flags override environment variables (``ORCH_*``), which override the config
file (``--config FILE.toml|.yaml``), which overrides the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from pathlib import Path

from runtime.errors import RuntimeServiceError


def _orchestrator_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("orchestrator", help="run the orchestrator (HTTP API, WebSocket, durable queue)",
                       description="Run the orchestrator until SIGTERM/SIGINT; a second signal forces exit.")
    p.add_argument("--config", type=Path, help="TOML or YAML config file (also ORCH_CONFIG_FILE)")
    p.add_argument("--db", metavar="PATH|URL",
                   help="SQLite database file (default orchestrator.db), or postgresql://user@host:port/dbname "
                        "with the password in PGPASSWORD or a password file, not the URL (ORCH_DB)")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; ORCH_HOST)")
    p.add_argument("--port", type=int, help="TCP port, 0 = any free port (default 8080; ORCH_PORT)")
    p.add_argument("--token", action="append", dest="tokens", metavar="TOKEN",
                   help="admin bearer token; repeatable (ORCH_TOKENS='[\"a\"]'); visible in `ps`: prefer --token-file")
    p.add_argument("--client-token", action="append", dest="client_tokens", metavar="TOKEN",
                   help="client bearer token (submit, read, subscribe); repeatable (ORCH_CLIENT_TOKENS)")
    p.add_argument("--worker-token", action="append", dest="worker_tokens", metavar="TOKEN",
                   help="worker bearer token (register only); repeatable (ORCH_WORKER_TOKENS)")
    p.add_argument("--token-file", type=Path, metavar="PATH",
                   help="tokens, one per line: 'TOKEN' (admin) or 'admin|client|worker TOKEN' (ORCH_TOKEN_FILE)")
    p.add_argument("--trace", type=Path, metavar="PATH",
                   help="append every machine transition to this .jsonl trace (ORCH_TRACE)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="default INFO (ORCH_LOG_LEVEL)")
    p.add_argument("--log-format", choices=("json", "text"), help="default json (ORCH_LOG_FORMAT)")


def _run_orchestrator(args: argparse.Namespace) -> int:
    from runtime.config_reload import ConfigSource
    from runtime.orchestrator import Orchestrator

    source = ConfigSource.of(
        args.config, db=args.db, host=args.host, port=args.port,
        tokens=tuple(args.tokens) if args.tokens else None,
        client_tokens=tuple(args.client_tokens) if args.client_tokens else None,
        worker_tokens=tuple(args.worker_tokens) if args.worker_tokens else None,
        token_file=args.token_file, trace=args.trace, log_level=args.log_level,
        log_format=args.log_format,
    )
    orch = Orchestrator(source.load(), source=source)

    def _announce(o: Orchestrator) -> None:
        # Everything allocated by startup (modules, app, schemas) lives as long as the process:
        # freezing it keeps the collector's full passes, which stall every request, short.
        gc.freeze()
        print(f"orchestrator listening on {o.url}", flush=True)

    asyncio.run(orch.serve_until_signalled(on_ready=_announce))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.splitlines()[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="command", required=True)
    _orchestrator_parser(sub)
    sub.add_parser("worker", help="run a worker (see `python -m runtime worker --help`)", add_help=False)
    sub.add_parser("demo", help="orchestrator, two workers and the AI-coding workflow in one command "
                                "(see `python -m runtime demo --help`)", add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        from runtime.worker.cli import main as worker_main

        return worker_main(argv[1:])
    if argv and argv[0] == "demo":
        from runtime.demo import main as demo_main

        return demo_main(argv[1:])
    args = parser.parse_args(argv)
    try:
        return _run_orchestrator(args)
    except RuntimeServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
