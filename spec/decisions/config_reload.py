"""What a configuration reload does with a changed, valid configuration (the `config_reload` machine).

Sans-I/O: the caller reads and validates the file (an invalid one is the machine's ``invalid``
trigger and never reaches this module) and hands over the running and the new configuration as
nested mappings. :func:`decide_reload` lists the dotted fields whose values differ and asks
:class:`ReloadRules` whether each may change while running: the longest rule prefix that covers a
field decides, and a field no rule covers needs a restart. The answer is all or nothing — one
field that needs a restart refuses the whole file — so a running process never holds half of
an edit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from spec.machines.config_reload import ConfigReloadTrigger


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> tuple[str, ...]:
    """Dotted names of the leaves that differ between `old` and `new` (sorted).

    Nested mappings are compared field by field; anything else (numbers, strings, lists such as
    a policy's alert rules) is one leaf, compared whole.
    """
    return tuple(sorted(_diff(old, new, prefix)))


def _diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for key in old.keys() | new.keys():
        path = f"{prefix}{key}"
        before, after = old.get(key), new.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            yield from _diff(before, after, path + ".")
        elif key not in old or key not in new or before != after:
            yield path


@dataclass(frozen=True)
class ReloadRules:
    """Which dotted fields may change while running: ``{prefix: reloadable}``, the longest prefix wins."""

    rules: Mapping[str, bool]

    def rule_for(self, field: str) -> str | None:
        """The rule prefix that decides `field`, or ``None`` (no rule: a restart is needed)."""
        best: str | None = None
        for prefix in self.rules:
            if (field == prefix or field.startswith(prefix + ".")) and (best is None or len(prefix) > len(best)):
                best = prefix
        return best

    def reloadable(self, field: str) -> bool:
        rule = self.rule_for(field)
        return rule is not None and self.rules[rule]

    def fields(self, *, reloadable: bool) -> tuple[str, ...]:
        """The rule prefixes with the given verdict (for the docs and ``GET /api/v1/config``)."""
        return tuple(sorted(p for p, ok in self.rules.items() if ok is reloadable))


@dataclass(frozen=True)
class ReloadDecision:
    """The trigger to fire on the `config_reload` machine and the fields behind it."""

    trigger: ConfigReloadTrigger
    #: Every field whose value changed.
    changed: tuple[str, ...]
    #: The changed fields that need a restart (non-empty exactly for ``restart_required``).
    refused: tuple[str, ...]

    def message(self, source: str) -> str:
        """What happened, in words an operator can act on (`source` names the file)."""
        if self.trigger is ConfigReloadTrigger.RESTART_REQUIRED:
            names = ", ".join(repr(f) for f in self.refused)
            return (f"{source}: field {names} cannot change while running (it needs a restart); "
                    "nothing in this edit was applied, the running configuration stays")
        if self.trigger is ConfigReloadTrigger.UNCHANGED:
            return f"{source}: no effective change"
        return f"{source}: applied {', '.join(repr(f) for f in self.changed)}"


def decide_reload(old: Mapping[str, Any], new: Mapping[str, Any], rules: ReloadRules) -> ReloadDecision:
    """Apply all of `new`, none of it because a field needs a restart, or nothing because nothing changed."""
    changed = changed_fields(old, new)
    if not changed:
        return ReloadDecision(ConfigReloadTrigger.UNCHANGED, (), ())
    refused = tuple(f for f in changed if not rules.reloadable(f))
    if refused:
        return ReloadDecision(ConfigReloadTrigger.RESTART_REQUIRED, changed, refused)
    return ReloadDecision(ConfigReloadTrigger.APPLIED, changed, ())
