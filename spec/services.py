"""The orchestrator's services and the dependencies that fix their start order (seed 4.1).

The seed states the order (config → logger → database → taskQueue → workerPool → httpServer →
webSocketServer → healthChecker) without saying why. Here each service names what it needs;
the order is the topological order of that graph, and `spec.checks` verifies that it is unique,
acyclic, and that the startup machine initialises services in exactly that order.
Shutdown closes them in reverse (seed 4.4: WebSocket, HTTP, queue, database).
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from spec.errors import ServiceOrderError

#: service -> (services it needs, why)
SERVICE_DEPENDENCIES: Mapping[str, tuple[tuple[str, ...], str]] = {
    "config": ((), "Everything else is configured from it."),
    "logger": (("config",), "Log outputs and redactors come from config.logging."),
    "database": (("config", "logger"), "Needs its DSN and logs migration progress."),
    "taskQueue": (("database",), "Its tables and indexes live in the database."),
    "workerPool": (("taskQueue",), "The worker registry re-queues tasks of lost workers."),
    "httpServer": (("taskQueue", "workerPool"), "Its routes serve the queue and the registry."),
    "webSocketServer": (("httpServer",), "It attaches to the HTTP server's listener."),
    "healthChecker": (
        ("database", "taskQueue", "workerPool", "httpServer", "webSocketServer"),
        "It checks every other service, so it starts last.",
    ),
}

#: The order the seed gives, which the dependency graph must reproduce.
SEED_SERVICE_ORDER: tuple[str, ...] = (
    "config",
    "logger",
    "database",
    "taskQueue",
    "workerPool",
    "httpServer",
    "webSocketServer",
    "healthChecker",
)


def dependency_graph(dependencies: Mapping[str, tuple[tuple[str, ...], str]] = SERVICE_DEPENDENCIES) -> nx.DiGraph:
    """Edges point from a dependency to the service that needs it."""
    graph = nx.DiGraph()
    for service, (needs, _why) in dependencies.items():
        graph.add_node(service)
        for need in needs:
            if need not in dependencies:
                raise ServiceOrderError(f"service {service!r} depends on undeclared service {need!r}")
            graph.add_edge(need, service)
    return graph


def startup_order(dependencies: Mapping[str, tuple[tuple[str, ...], str]] = SERVICE_DEPENDENCIES) -> tuple[str, ...]:
    """The unique start order, or :class:`ServiceOrderError` naming a cycle or an ambiguity."""
    graph = dependency_graph(dependencies)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        raise ServiceOrderError(f"service dependencies form a cycle: {names}")
    order = tuple(nx.topological_sort(graph))
    for before, after in zip(order, order[1:], strict=False):
        if not graph.has_edge(before, after):
            raise ServiceOrderError(
                f"start order is ambiguous: nothing makes {after!r} wait for {before!r}; declare the dependency"
            )
    return order


def shutdown_order() -> tuple[str, ...]:
    return tuple(reversed(startup_order()))
