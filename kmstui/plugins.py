"""Plugin loading. Fail-soft: a plugin that cannot be imported or registered is reported on stderr and
skipped, so one broken third-party package never stops kmstui.

Plugins are found through the ``kmstui`` entry-point group. Every command starts by looking them up, so the
lookup reads only the ``entry_points.txt`` files of the installed distributions (see `entry_points`) rather
than importing importlib.metadata (and the email package behind it), which would cost more than the rest
of a one-shot command's start-up.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import NamedTuple

import pluggy

from kmstui import hookspecs

ENTRY_POINT_GROUP = "kmstui"

# The core's own hook implementations (commands, backends). Plugins in plugins/ load via entry points.
CORE_MODULES = (
    "kmstui.commands.core",
    "kmstui.backends.builtin",
)


class PluginInfo:
    """A loaded plugin, as `plugins` lists it."""

    __slots__ = ("name", "version", "module", "source")

    def __init__(self, name: str, version: str, module: str, source: str) -> None:
        self.name = name
        self.version = version
        self.module = module
        self.source = source  # "core" or the distribution that provides it


class EntryPoint(NamedTuple):
    """One entry point of a distribution: ``name = module[:attr] [extras]``."""

    name: str
    value: str
    dist_name: str
    dist_version: str

    def load(self):
        """The module, or the object `attr` names in it (as importlib.metadata.EntryPoint.load)."""
        module, _, attr = self.value.partition("[")[0].partition(":")
        obj = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def entry_points(group: str = ENTRY_POINT_GROUP) -> list[EntryPoint]:
    """The entry points of `group`, found as ``importlib.metadata.entry_points(group=...)`` finds them:
    ``*.dist-info`` and ``*.egg-info`` folders in each sys.path folder, the first distribution of a name
    winning. Only ``entry_points.txt`` files are read, and the name and version headers of distributions
    that have the group. A sys.path entry that is not a plain folder (a zip, an .egg) is left to
    importlib.metadata, which then does the whole lookup."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        path = entry or "."
        if path.lower().endswith(".egg") or os.path.isfile(path):
            return _entry_points_from_importlib(group)
        try:
            children = sorted(os.listdir(path))
        except OSError:
            continue
        for child in children:
            stem, dot, suffix = child.lower().rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            dist = _normalize(stem.partition("-")[0])
            if dist in seen:
                continue
            seen.add(dist)
            folder = os.path.join(path, child)
            eps = _read_group(os.path.join(folder, "entry_points.txt"), group)
            if eps:
                name, version = _name_and_version(folder, suffix, child)
                found += [EntryPoint(ep_name, value, name, version) for ep_name, value in eps]
    return found


def _normalize(name: str) -> str:
    """PEP 503 name normalization, spelled with underscores (as importlib.metadata compares names): each run
    of `-`, `_` and `.` becomes one `_` (the pattern is compiled only for a name that has such a run)."""
    name = name.replace("-", "_").replace(".", "_")
    return (re.sub(r"_{2,}", "_", name) if "__" in name else name).lower()


def _read_group(path: str, group: str) -> list[tuple[str, str]]:
    """(name, value) pairs of `[group]` in an entry_points.txt (INI-like; `#` and `;` start comments). Read
    as bytes and parsed only when the group's name occurs in it: every command reads the entry points of
    every installed distribution (dozens), and few of them mention kmstui."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if group.encode() not in data:
        return []
    pairs: list[tuple[str, str]] = []
    section = None
    for line in data.decode("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, _, value = line.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs


def _name_and_version(folder: str, suffix: str, child: str) -> tuple[str, str]:
    """The Name and Version headers of a distribution's METADATA (PKG-INFO for .egg-info); the folder
    name's parts when the file or a header is missing."""
    stem_name, _, rest = child.rpartition(".")[0].partition("-")
    headers = {"name": stem_name, "version": rest.partition("-")[0] or "?"}
    try:
        with open(os.path.join(folder, "METADATA" if suffix == "dist-info" else "PKG-INFO"), encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key.lower() in headers:
                    headers[key.lower()] = value.strip()
    except (OSError, UnicodeDecodeError):
        pass
    return headers["name"], headers["version"]


def _entry_points_from_importlib(group: str) -> list[EntryPoint]:
    from importlib import metadata

    return [EntryPoint(ep.name, ep.value, ep.dist.metadata["Name"] if ep.dist else "?",
                       ep.dist.version if ep.dist else "?")
            for ep in metadata.entry_points(group=group)]


def make_manager(load_entry_points: bool = True) -> tuple[pluggy.PluginManager, list[PluginInfo]]:
    """A plugin manager with the core modules and every installed plugin registered.

    ``KMSTUI_PLUGINS`` limits which entry-point plugins load: a comma-separated list of names, or
    "none" (the core always loads)."""
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
    for ep in entry_points(ENTRY_POINT_GROUP):
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
        loaded.append(PluginInfo(ep.name, ep.dist_version, ep.value, ep.dist_name))
    return pm, loaded
