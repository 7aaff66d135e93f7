"""The optimisation page's Markdown and plots, from one small recommendation run."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.recommend import Recommendations, Workload, recommend
from sim.recommend_report import PLOTS, markdown, write_plots
from spec.policies import DEFAULT_POLICIES


@pytest.fixture(scope="module")
def small() -> Recommendations:
    return recommend(Workload(simulated_tasks=1000, fleet_workers=4, fleet_hours=0.25))


def test_markdown_states_each_recommendation_and_links_its_plot(small: Recommendations) -> None:
    text = markdown(small, image_dir="img")
    assert f"**Recommendation: {small.workers.workers} workers.**" in text
    assert f"`heartbeat.interval_s` = {small.heartbeat.interval_s:g} s" in text
    assert f"`circuit_breaker.failure_threshold` = {small.breaker.failure_threshold}" in text
    assert f"`backoff.max_retries` = {small.retry.max_retries}** (currently {DEFAULT_POLICIES.backoff.max_retries})" \
        in text
    for name in PLOTS:
        assert f"](img/{name}.png)" in text


def test_write_plots_writes_one_png_per_recommendation(small: Recommendations, tmp_path: Path) -> None:
    paths = write_plots(small, tmp_path)
    assert [p.name for p in paths] == [f"{name}.png" for name in PLOTS]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
