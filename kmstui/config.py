"""Configuration: where kmstui keeps things, and named profiles read from TOML.

Precedence for every setting: command-line flag > environment > profile > default. ``KMSTUI_HOME``
relocates all config and state under one folder (tests use it). Every command starts here, so the TOML
parser and tempfile are imported only when a config file exists or the runtime folder needs them, and on XDG
platforms the folders are found without platformdirs (kmstui/xdg_dirs.py says why).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

from kmstui.errors import ConfigError

DEFAULT_PROFILE = "local"
# Top-level settings kmstui reads; anything else in config.toml is reported, so a typo does not pass silently.
KNOWN_SETTINGS = ("default_profile", "output", "editing_mode", "theme", "profiles")


class Paths(NamedTuple):
    """Folders for config, data (the HSM file, audit log), state (history) and runtime (agent socket)."""

    config_dir: Path
    data_dir: Path
    state_dir: Path
    runtime_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def themes_dir(self) -> Path:
        return self.config_dir / "themes"

    @classmethod
    def discover(cls) -> "Paths":
        home = os.environ.get("KMSTUI_HOME")
        if home:
            base = Path(home).expanduser()
            return cls(base / "config", base / "data", base / "state", base / "run")
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, cron); fall back quietly to a
        # per-user folder in the temp dir, which the agent creates 0700.
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        if xdg:
            runtime = os.path.join(xdg, "kmstui")
        else:
            import tempfile

            runtime = os.path.join(tempfile.gettempdir(), f"kmstui-{os.getuid()}")
        from kmstui.xdg_dirs import user_dirs

        # On XDG platforms without platformdirs (and the tempfile chain it imports): see kmstui/xdg_dirs.py.
        found = user_dirs()
        if found is None:
            import platformdirs

            found = (platformdirs.user_config_dir("kmstui"), platformdirs.user_data_dir("kmstui"),
                     platformdirs.user_state_dir("kmstui"))
        config, data, state = found
        return cls(Path(config), Path(data), Path(state), Path(runtime))


class Profile:
    """A named backend connection: `backend` kind plus that backend's settings."""

    __slots__ = ("name", "backend", "settings")

    def __init__(self, name: str, backend: str, settings: dict[str, Any] | None = None) -> None:
        self.name = name
        self.backend = backend
        self.settings = {} if settings is None else settings

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


MAX_SETTINGS_BYTES = 1 << 20  # config.toml and each theme file (docs/inputs.md)


def read_settings_file(path: Path, what: str) -> str:
    """A kmstui settings file (config.toml, a theme) as text, read through the core's bounded reader;
    ConfigError naming `what` when it cannot be read, is larger than MAX_SETTINGS_BYTES or is not a regular
    file. UnicodeDecodeError passes through, for the caller's "is not valid TOML" wording.

    Opened without blocking and checked before reading: a named pipe in the file's place would otherwise hold
    every command at start-up, waiting for a writer that never comes."""
    import stat

    from kmstui.commands.values import read_stream
    from kmstui.errors import UsageError

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
        st = os.fstat(fd)
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == os.stat(os.devnull).st_rdev:  # a link to /dev/null: empty
            os.close(fd)
            return ""
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
            raise ConfigError(f"{what} is {kind}, not a regular file; replace it with a regular file or move it")
        with open(fd, "rb") as fh:
            return read_stream(fh, MAX_SETTINGS_BYTES, what).decode("utf-8")
    except UsageError as exc:
        raise ConfigError(f"{exc}; fix or move it") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read it ({exc.strerror or exc}); fix its permissions or move it") from None


class Config:
    """The parsed config file (or defaults when there is none)."""

    __slots__ = ("paths", "data")

    def __init__(self, paths: Paths, data: dict[str, Any] | None = None) -> None:
        self.paths = paths
        self.data = {} if data is None else data

    @classmethod
    def load(cls, paths: Paths | None = None) -> "Config":
        paths = paths or Paths.discover()
        data: dict[str, Any] = {}
        if paths.config_file.exists():
            import tomllib

            try:
                data = tomllib.loads(read_settings_file(paths.config_file, f"config file {paths.config_file}"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {paths.config_file} is not valid TOML ({exc}); fix or move it") from None
        for key in data:
            if key not in KNOWN_SETTINGS:
                print(f"kmstui: {paths.config_file}: unknown setting '{key}' ignored "
                      f"(known: {', '.join(KNOWN_SETTINGS)})", file=sys.stderr)
        return cls(paths, data)

    @property
    def default_profile(self) -> str:
        return os.environ.get("KMSTUI_PROFILE") or self.data.get("default_profile") or DEFAULT_PROFILE

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def profile_names(self) -> list[str]:
        names = set(self.section("profiles"))
        names.add(DEFAULT_PROFILE)
        return sorted(names)

    def profile(self, name: str | None = None) -> Profile:
        name = name or self.default_profile
        raw = self.section("profiles").get(name)
        if raw is None:
            if name == DEFAULT_PROFILE:
                return Profile(DEFAULT_PROFILE, "local", {})
            if name in ("local", "pkcs11", "aws"):
                return Profile(name, name, {})
            known = ", ".join(self.profile_names())
            raise ConfigError(f"no profile named '{name}' (known: {known}); add it with 'config init' or edit {self.paths.config_file}")
        if not isinstance(raw, dict) or "backend" not in raw:
            raise ConfigError(f"profile '{name}' in {self.paths.config_file} needs a 'backend' setting (local, pkcs11 or aws)")
        settings = {k: v for k, v in raw.items() if k != "backend"}
        return Profile(name, str(raw["backend"]), settings)

    def setting(self, key: str, env: str | None = None, default: Any = None) -> Any:
        """A top-level setting, with its environment override."""
        if env and os.environ.get(env):
            return os.environ[env]
        return self.data.get(key, default)
