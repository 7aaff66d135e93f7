"""Seed 4.1 phase 1: the configuration file watched for hot reload, and what an edit leads to."""

from __future__ import annotations

from spec.machines.config_reload import ConfigReloadTrigger as T
from spec.participants import ADMIN, CONFIG_MANAGER, LOGGER
from spec.story import Step, Story, alt, branch, happy_branch

CR = "config_reload"

CONFIG_RELOAD_STORY = Story(
    name="config_reload",
    title="Configuration hot reload",
    seed_section="4.1",
    description="An operator edits the watched file: it is validated whole, then applied at once, or refused "
    "with the file and field named while the running configuration stays.",
    machines=(CR,),
    participants=(ADMIN, CONFIG_MANAGER, LOGGER),
    items=(
        Step(CR, T.FILE_CHANGED),
        alt(
            happy_branch("Valid, only reloadable fields changed", Step(CR, T.APPLIED)),
            branch("Valid, nothing effective changed", Step(CR, T.UNCHANGED)),
            branch("Invalid file", Step(CR, T.INVALID)),
            branch("A field that needs a restart changed", Step(CR, T.RESTART_REQUIRED)),
        ),
    ),
)
