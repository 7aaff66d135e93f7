"""The yardstick for the harness's event rate: the fleet hour as a plain SimPy program.

``python -m sim bench`` compares the model with two baselines (issue 11, "Performance"): raw
SimPy processing the same number of bare timeouts, and this module — the same workers doing the
same things on the same timers (register, heartbeat timer chains, long polls that end on a
timer, idle waits, database operations, the liveness sweep), with none of the model's logic:
no spec machines, no trace, no fault checks, no fencing. What the harness costs beyond this is
the price of executing the spec; what this costs beyond raw SimPy is the price of the events
themselves.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import Any

import simpy

from sim.scenario import Scenario


def _end_wait(waited: simpy.Event, _timer: simpy.Event) -> None:
    waited.succeed()


def run_plain_fleet(scenario: Scenario) -> tuple[float, int]:
    """Run `scenario`'s idle fleet as plain SimPy: (simulated seconds, SimPy events scheduled)."""
    env = simpy.Environment()
    policies, topology = scenario.policies, scenario.topology
    latency, db_cost = topology.latency_s, 2 * topology.latency_s + topology.db_op_s
    interval, long_poll = policies.heartbeat.interval_s, policies.poll.long_poll_s
    last_seen: dict[int, float] = {}

    def call() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(latency)
        yield env.timeout(db_cost)

    def start_heartbeats(index: int) -> None:
        def arrive(_: simpy.Event) -> None:
            last_seen[index] = env.now

        def beat(_: simpy.Event) -> None:
            env.timeout(latency).callbacks.append(arrive)
            env.timeout(interval).callbacks.append(beat)

        env.timeout(interval).callbacks.append(beat)

    def worker(index: int) -> Generator[simpy.Event, Any, None]:
        yield from call()
        yield env.timeout(latency)
        start_heartbeats(index)
        empty = 0
        while True:
            yield from call()
            waited = env.event()
            env.timeout(long_poll).callbacks.append(partial(_end_wait, waited))
            yield waited
            yield env.timeout(latency)
            empty += 1
            yield env.timeout(policies.poll.idle_wait_s(empty))

    def sweep() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(policies.heartbeat.sweep_interval_s)
            oldest = min(last_seen.values(), default=env.now)
            if env.now - oldest > policies.heartbeat.timeout_s:
                last_seen.clear()

    for index in range(scenario.topology.workers):
        env.process(worker(index))
    env.process(sweep())
    env.run(until=scenario.duration_s)
    return env.now, next(env._eid)  # SimPy numbers every scheduled event; the next value is the count
