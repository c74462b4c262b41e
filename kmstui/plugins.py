"""Plugin loading. Fail-soft: a plugin that cannot be imported or registered is reported on stderr and
skipped, so one broken third-party package never stops kmstui."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import metadata

import pluggy

from kmstui import hookspecs

ENTRY_POINT_GROUP = "kmstui"

# The core's own hook implementations (commands, backends). Plugins in plugins/ load via entry points.
CORE_MODULES = (
    "kmstui.commands.core",
    "kmstui.backends.builtin",
)


@dataclass
class PluginInfo:
    name: str
    version: str
    module: str
    source: str  # "core" or the distribution that provides it


def make_manager(load_entry_points: bool = True) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """A plugin manager with the core modules and every installed plugin registered.

    ``KMSTUI_PLUGINS`` limits which entry-point plugins load: a comma-separated list of names, or
    "none" (the core always loads)."""
    import importlib

    pm = pluggy.PluginManager("kmstui")
    pm.add_hookspecs(hookspecs)
    loaded: list[PluginInfo] = []
    from kmstui import __version__

    for modname in CORE_MODULES:
        pm.register(importlib.import_module(modname), name=modname)
        loaded.append(PluginInfo(modname.rsplit(".", 1)[-1], __version__, modname, "core"))
    if not load_entry_points:
        return pm, loaded
    wanted = os.environ.get("KMSTUI_PLUGINS")
    allow = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allow is not None and ep.name not in allow:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - any failure in third-party code must be survivable
            print(f"kmstui: plugin '{ep.name}' failed to load ({type(exc).__name__}: {exc}); skipped",
                  file=sys.stderr)
            continue
        dist = ep.dist
        loaded.append(PluginInfo(ep.name, dist.version if dist else "?", ep.value,
                                 dist.metadata["Name"] if dist else "?"))
    return pm, loaded
