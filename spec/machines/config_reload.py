"""Configuration hot reload (seed 4.1 phase 1: "setup configuration file watching for hot reload").

The seed names the watch and nothing else. The spec makes it precise: a changed file is read and
validated as a whole; an invalid one changes nothing and the error names the file and field; a
valid one whose only changes are to reloadable fields is applied at once, all of it; a change to
a field that needs a restart refuses the whole file, naming that field. Which fields are
reloadable is the runtime's table (``runtime.config_reload.RELOAD_RULES``); the decision is
`spec.decisions.config_reload.decide_reload`. Every reload returns to ``watching``, so a bad edit
never stops the watch and the next good edit is applied.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, step
from spec.participants import ADMIN, CONFIG_MANAGER, LOGGER

CFG, LOG, ADM = CONFIG_MANAGER, LOGGER, ADMIN


class ConfigReloadState(StrEnum):
    """The config_reload machine's states, named once for its table and every consumer."""

    WATCHING = "watching"
    VALIDATING = "validating"


class ConfigReloadTrigger(StrEnum):
    """The config_reload machine's triggers, named once for its table and every consumer."""

    FILE_CHANGED = "file_changed"
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    RESTART_REQUIRED = "restart_required"


S, T = ConfigReloadState, ConfigReloadTrigger

CONFIG_RELOAD = MachineSpec(
    name="config_reload",
    title="Configuration hot reload",
    seed_section="4.1",
    description="A watched configuration file changed: validate it, then apply its reloadable changes "
    "atomically, or keep the running configuration and say why.",
    initial=S.WATCHING,
    states=(
        StateSpec(S.WATCHING, "The running configuration is in effect; the file is watched.", StateRole.RESTING),
        StateSpec(S.VALIDATING, "The changed file is being read and validated with every layer."),
    ),
    transitions=(
        transition(T.FILE_CHANGED, S.WATCHING, S.VALIDATING, "The configuration or token file changed.",
                   call(ADM, CFG, "edit(config file)"), step(CFG, "loadConfig(file)"), step(CFG, "validate()")),
        transition(T.APPLIED, S.VALIDATING, S.WATCHING, "Valid, and only reloadable fields changed: all applied.",
                   step(CFG, "applyReloadable(fields)"), call(CFG, LOG, 'info("configuration reloaded")')),
        transition(T.UNCHANGED, S.VALIDATING, S.WATCHING, "Valid, and the effective configuration is the same.",
                   step(CFG, "keepRunningConfig()")),
        transition(T.INVALID, S.VALIDATING, S.WATCHING, "The file does not validate: nothing changes.",
                   step(CFG, "keepRunningConfig()"), call(CFG, LOG, 'error("invalid configuration: file, field")')),
        transition(T.RESTART_REQUIRED, S.VALIDATING, S.WATCHING,
                   "A field that needs a restart changed: the whole file is refused.",
                   step(CFG, "keepRunningConfig()"), call(CFG, LOG, 'error("field needs a restart")')),
    ),
)
