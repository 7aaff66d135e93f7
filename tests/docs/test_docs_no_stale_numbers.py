"""No hand-typed policy numbers: change several defaults in a scratch copy, build, look for the old ones.

A page that types "drain 60 s" instead of ``{{ value("shutdown.drain_deadline_s") }}`` keeps
saying 60 s after the policy changes. This test changes one field of each of several policies,
builds the site from the copy, and fails if a built page still shows an old value: anywhere
as one of the phrases pages used to type, and in any table row or paragraph that names the
field.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.docs.test_docs_build import build

#: (policy section, field, old default, new value): the new values keep every validator happy.
CHANGES = [
    ("heartbeat", "interval_s", 10.0, 11.0),
    ("heartbeat", "timeout_s", 30.0, 37.0),
    ("backoff", "base_delay_s", 1.0, 1.5),
    ("rate_limit", "default_delay_s", 60.0, 45.0),
    ("shutdown", "drain_deadline_s", 60.0, 55.0),
    ("shutdown", "cancel_grace_s", 10.0, 7.0),
    ("startup", "database_timeout_s", 30.0, 25.0),
    ("startup", "services_timeout_s", 60.0, 50.0),
    ("circuit_breaker", "open_duration_s", 300.0, 240.0),
]
CLASSES = {"heartbeat": "HeartbeatPolicy", "backoff": "BackoffPolicy", "rate_limit": "RateLimitPolicy",
           "shutdown": "ShutdownPolicy", "startup": "StartupPolicy", "circuit_breaker": "CircuitBreakerPolicy"}
#: Phrases the pages once typed by hand, each made of old defaults only.
OLD_PHRASES = ["[30, 40] s", "drain 60 s", "cancel grace 10 s", "= 90 s", "= 130 s", "90 + 30 + 10", "287.0 s",
               "else 60 s", "1, 2, 4 s", "database ≤ 30 s", "services ≤ 60 s",
               # ... and docstrings once repeated (the API reference renders them).
               "1 s, 2 s, 4 s, cap 30 s", "within 60 s open it for 300 s", "10 s / 30 s", "[1.0, 2.0, 4.0]"]
#: Pages that describe policies in prose (the seed pages quote the seed's own numbers on purpose),
#: the API reference (docstrings) and the optimisation page (it compares with the current policy).
PAGES = ["simulation", "runtime", "worker", "resilience", "heartbeats", "policies", "monitoring", "",
         "reference/spec", "reference/sim", "optimisation", "glossary", "getting-started"]
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(?:p|li|tr|h[1-6]|div|pre)>")


def override_source() -> str:
    sections: dict[str, list[str]] = {}
    for section, field, _old, new in CHANGES:
        sections.setdefault(section, []).append(f"{field}={new!r}")
    args = ", ".join(f"{s}={CLASSES[s]}({', '.join(fields)})" for s, fields in sections.items())
    return f"\n\nDEFAULT_POLICIES = Policies({args})\n"


def page_blocks(site: Path, page: str) -> list[str]:
    """The page's visible text, one paragraph, list item or table row per entry."""
    source = (site / page / "index.html").read_text(encoding="utf-8")
    article = source.split('<article class="md-content__inner md-typeset">', 1)[-1].split("</article>", 1)[0]
    return [" ".join(html.unescape(_TAG.sub(" ", block)).split()) for block in _BLOCK_END.split(article)]


def seconds(value: float) -> str:
    return f"{value:g} s"


def test_the_override_changes_every_field_it_names() -> None:
    namespace: dict[str, object] = {}
    exec("from spec.policies import *\n" + override_source(), namespace)  # noqa: S102 - our own literal source
    changed = namespace["DEFAULT_POLICIES"]
    for section, field, old, new in CHANGES:
        assert getattr(getattr(changed, section), field) == new != old


def test_no_page_keeps_an_old_policy_value_after_the_defaults_change(project: Path) -> None:
    policies = project / "spec" / "policies.py"
    policies.write_text(policies.read_text(encoding="utf-8") + override_source(), encoding="utf-8")
    result = build(project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    site = project / "site"
    stale: list[str] = []
    for page in PAGES:
        blocks = page_blocks(site, page)
        text = "\n".join(blocks)
        stale += [f"{page or 'home'}: {phrase!r}" for phrase in OLD_PHRASES if phrase in text]
        for section, field, old, _new in CHANGES:
            # The field itself (``drain_deadline_s``, ``shutdown.drain_deadline_s``), not a longer
            # name ending the same way (``health_check_timeout_s``, ``database_backoff.base_delay_s``).
            names = re.compile(rf"(?<![\w.]){field}\b|\b{section}\.{field}\b")
            old_value = re.compile(rf"(?<![\d.]){re.escape(seconds(old))}")
            stale += [f"{page or 'home'}: {field} still {seconds(old)}: {block[:160]!r}"
                      for block in blocks if names.search(block) and old_value.search(block)]
    assert not stale, "\n".join(stale)
    # ... and the new values did arrive where the old ones were.
    simulation = "\n".join(page_blocks(site, "simulation"))
    assert "[37, 48] s" in simulation and "drain 55 s" in simulation and "cancel grace 7 s" in simulation
    assert "1.5 s, 3 s, 6 s" in simulation and "= 75 s" in simulation
    assert "227.0 s" in "\n".join(page_blocks(site, "resilience"))
