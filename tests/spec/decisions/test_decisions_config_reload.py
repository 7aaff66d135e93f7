"""What a reload does with a valid new configuration (spec.decisions.config_reload)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.config_reload import ReloadRules, changed_fields, decide_reload
from spec.machines.config_reload import CONFIG_RELOAD, ConfigReloadState, ConfigReloadTrigger

RULES = ReloadRules({"port": False, "log_level": True, "policies": False, "policies.lease": True,
                     "policies.lease.fixed": False})
BASE: dict[str, Any] = {"port": 8080, "log_level": "INFO", "other": 1,
                        "policies": {"lease": {"ttl": 30.0, "fixed": 1}, "db": {"wait": 2.0}}}


def _with(**changes: Any) -> dict[str, Any]:
    policies = {name: dict(section) for name, section in BASE["policies"].items()}
    new: dict[str, Any] = {**BASE, "policies": policies}
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = new
        for part in parents:
            target = target[part]
        target[leaf] = value
    return new


def test_nothing_changed_is_unchanged() -> None:
    decision = decide_reload(BASE, _with(), RULES)
    assert decision.trigger is ConfigReloadTrigger.UNCHANGED and decision.changed == ()


def test_reloadable_changes_are_applied_and_named() -> None:
    decision = decide_reload(BASE, _with(log_level="DEBUG", policies__lease__ttl=5.0), RULES)
    assert decision.trigger is ConfigReloadTrigger.APPLIED
    assert decision.changed == ("log_level", "policies.lease.ttl")
    assert "'policies.lease.ttl'" in decision.message("orch.toml")


def test_one_restart_field_refuses_the_whole_edit_and_names_it() -> None:
    decision = decide_reload(BASE, _with(log_level="DEBUG", port=9000), RULES)
    assert decision.trigger is ConfigReloadTrigger.RESTART_REQUIRED
    assert decision.refused == ("port",)
    message = decision.message("orch.toml")
    assert message.startswith("orch.toml: field 'port'") and "restart" in message and "nothing" in message


def test_the_longest_prefix_decides_and_unknown_fields_need_a_restart() -> None:
    assert RULES.reloadable("policies.lease.ttl")
    assert not RULES.reloadable("policies.lease.fixed")
    assert not RULES.reloadable("policies.db.wait")
    assert not RULES.reloadable("other")  # no rule: restart
    assert not RULES.reloadable("log_levelx")  # a prefix is a whole dotted name, not a string prefix
    assert RULES.fields(reloadable=True) == ("log_level", "policies.lease")


def test_added_and_removed_keys_are_changes() -> None:
    assert changed_fields({"a": 1}, {"a": 1, "b": 2}) == ("b",)
    assert changed_fields({"a": {"x": 1}}, {"a": 3}) == ("a",)
    assert changed_fields({"a": [1, 2]}, {"a": [1, 3]}) == ("a",)  # a list is one leaf


leaves = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
keys = st.sampled_from("abc")
values = st.recursive(leaves, lambda inner: st.dictionaries(keys, inner, max_size=2), max_leaves=4)
trees = st.dictionaries(keys, values, max_size=3)


@given(old=trees, new=trees)
def test_a_decision_is_unchanged_exactly_when_the_trees_are_equal(old: dict[str, Any], new: dict[str, Any]) -> None:
    decision = decide_reload(old, new, ReloadRules({"a": True}))
    assert (decision.trigger is ConfigReloadTrigger.UNCHANGED) == (old == new)
    assert set(decision.refused) <= set(decision.changed)
    if decision.trigger is ConfigReloadTrigger.APPLIED:
        assert all(f == "a" or f.startswith("a.") for f in decision.changed)


@given(triggers=st.lists(st.sampled_from([t for t in ConfigReloadTrigger if t is not ConfigReloadTrigger.FILE_CHANGED]),
                         max_size=6))
def test_every_reload_returns_to_watching(triggers: list[ConfigReloadTrigger]) -> None:
    machine = CONFIG_RELOAD.bind()
    for trigger in triggers:
        machine.fire(ConfigReloadTrigger.FILE_CHANGED)
        machine.fire(trigger)
        assert machine.state == ConfigReloadState.WATCHING
