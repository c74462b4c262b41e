"""The Session: one per process, shared by every face.

It holds the configuration and active profile, the plugin manager and command registry, the open backend
connections (opened lazily, one per profile), and the output settings. Faces give it two callbacks,
`prompt_secret` and `confirm`, so the core can ask the user without importing any UI library.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, BinaryIO, Callable, Iterator

from kmstui import clientside
from kmstui.backends.base import MUTATING_OPERATIONS, OPERATIONS, Backend
from kmstui.commands.registry import GLOBAL_DESTS, Command, CommandRegistry, Result
from kmstui.commands.values import resolve_args
from kmstui.config import Config, Paths, Profile
from kmstui.errors import ConfigError, UsageError
from kmstui.plugins import make_manager
from kmstui.validation import check_request


class Options:
    """Global settings for a command; a flag on the command line overrides them for that command only."""

    __slots__ = ("output", "query", "profile", "backend", "as_", "region", "read_only", "yes", "debug", "no_color")

    def __init__(self, output: str | None = None, query: str | None = None, profile: str | None = None,
                 backend: str | None = None, as_: str | None = None, region: str | None = None,
                 read_only: bool = False, yes: bool = False, debug: bool = False, no_color: bool = False) -> None:
        self.output = output
        self.query = query
        self.profile = profile
        self.backend = backend
        self.as_ = as_
        self.region = region
        self.read_only = read_only
        self.yes = yes
        self.debug = debug
        self.no_color = no_color

    def replace(self, **changes: Any) -> Options:
        """A copy with `changes`; an unknown name is a TypeError."""
        return Options(**{**{name: getattr(self, name) for name in Options.__slots__}, **changes})

    def overridden(self, args: argparse.Namespace) -> "Options":
        changes = {}
        for name in GLOBAL_DESTS:
            if hasattr(args, name):
                value = getattr(args, name)
                attr = "as_" if name == "as" else name
                if isinstance(value, bool):
                    value = value or getattr(self, attr)
                changes[attr] = value
        return self.replace(**changes)


class BackendContext:
    """What a backend factory gets: its profile, the folders, and how to ask the user for a secret."""

    __slots__ = ("profile", "paths", "prompt_secret", "interactive", "debug", "options")

    def __init__(self, profile: Profile, paths: Paths, prompt_secret: Callable[[str], str | None], interactive: bool,
                 debug: bool = False, options: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.paths = paths
        self.prompt_secret = prompt_secret
        self.interactive = interactive
        self.debug = debug
        self.options = {} if options is None else options  # e.g. "region" from --region


class BackendKind:
    """A backend kind a plugin registered: `factory(BackendContext)` opens one."""

    __slots__ = ("kind", "factory", "summary", "plugin")

    def __init__(self, kind: str, factory: Callable[[BackendContext], Backend], summary: str, plugin: str) -> None:
        self.kind = kind
        self.factory = factory
        self.summary = summary
        self.plugin = plugin


_KMS_NAMES = {name: "".join(part.title() for part in name.split("_")) for name in OPERATIONS}


class _CommandView:
    """A backend as commands see it: every request checked first as the aws CLI checks it before sending
    (kmstui.clientside: a value below the API's minimum is a usage error, exit 252, whichever backend
    would have answered), then against the constraints the KMS service itself enforces (kmstui.validation:
    lengths, patterns, UTF-8 text; ValidationException) before the backend runs it, so a value KMS would
    refuse changes nothing; under --read-only no operation that changes state can run, whichever command
    asks. Everything else passes through to the backend."""

    def __init__(self, inner: Backend, *, read_only: bool, client_checks: bool) -> None:
        self._inner = inner
        self._read_only = read_only
        self._client_checks = client_checks

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if self._read_only and name in MUTATING_OPERATIONS:  # KMS-shaped or not: checked before anything else
            def refused(*_args: Any, **_kwargs: Any) -> Any:
                raise UsageError(f"read-only mode: {name} would change the backend; run without --read-only")

            return refused
        operation = _KMS_NAMES.get(name)
        if operation is None:
            return attr
        client_checks = self._client_checks

        def checked(**kwargs: Any) -> Any:
            if client_checks:
                clientside.check(operation, kwargs)
            check_request(name, kwargs)  # the service's own constraints: nothing changes if KMS would refuse
            return attr(**kwargs)

        return checked


class Session:
    def __init__(self, config: Config | None = None, options: Options | None = None, *,
                 interactive: bool = False, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None,
                 load_plugins: bool = True) -> None:
        self.config = config or Config.load()
        self.options = options or Options()
        self.interactive = interactive
        self.stdin = stdin if stdin is not None else sys.stdin.buffer
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        # Faces replace these: ask for a secret (None: cannot ask) / confirm by typing `expected`.
        self.prompt_secret: Callable[[str], str | None] = lambda _prompt: None
        self.confirm: Callable[[str, str], bool] | None = None
        # Open `initial` text in the user's editor (file name ending in `suffix`); None: cancelled or no editor.
        self.edit_text: Callable[[str, str], str | None] | None = None
        self._use_profile: str | None = None
        self.pm, self.plugins = make_manager(load_entry_points=load_plugins)
        self.registry = CommandRegistry()
        self.backend_kinds: dict[str, BackendKind] = {}
        self.completers: dict[str, Callable[..., list]] = {}
        self.plugin_errors: list[str] = []
        self._backends: dict[str, Backend] = {}
        self._no_backend_command: str | None = None
        # Check requests as the aws CLI does before sending (kmstui.clientside); a face that acts as the
        # service itself (kmstui serve) turns this off and lets the backend answer as KMS would.
        self.client_checks = True
        # The output format the face will render the running command's result in ("table", "json", ...), set
        # by the runner and the TUI around each command; None when the caller takes the Result as data. A
        # change mirroring an aws CLI call that prints nothing reads its new state back only for a table.
        self.output_format: str | None = None
        self._collect()

    # -- plugins -------------------------------------------------------------------------------------
    def _collect(self) -> None:
        """Call each plugin's registration hooks one by one, so one failing plugin cannot block others."""

        def reg_backend(plugin: str):
            def register(kind: str, factory: Callable[[BackendContext], Backend], summary: str = "") -> None:
                self.backend_kinds[kind] = BackendKind(kind, factory, summary, plugin)
            return register

        def reg_completer(name: str, fn: Callable[..., list]) -> None:
            self.completers[name] = fn

        for hook, arg_for in (
            (self.pm.hook.register_backends, reg_backend),
            (self.pm.hook.register_commands, lambda _p: self.registry),
            (self.pm.hook.register_completers, lambda _p: reg_completer),
        ):
            argname = hook.spec.argnames[0]
            for impl in hook.get_hookimpls():
                core = impl.plugin_name.startswith("kmstui.")
                self.registry.registering_plugin = None if core else impl.plugin_name
                try:
                    impl.function(**{argname: arg_for(impl.plugin_name)})
                except Exception as exc:  # noqa: BLE001 - plugins are untrusted code
                    msg = f"kmstui: plugin '{impl.plugin_name}' failed in {hook.name} ({type(exc).__name__}: {exc}); skipped"
                    self.plugin_errors.append(msg)
                    print(msg, file=sys.stderr)
        self.registry.registering_plugin = None

    # -- backends ------------------------------------------------------------------------------------
    @property
    def profile_name(self) -> str:
        return self.options.profile or self.options.backend or self.config.default_profile

    def profile(self, name: str | None = None) -> Profile:
        return self.config.profile(name or self.profile_name)

    def caller_arn(self, profile: Profile) -> str | None:
        """Who the backend acts as: --as, then KMSTUI_AS, then the profile's `principal`; None means the
        backend's default (the local HSM's account root). A given but empty or blank value is a usage
        error, never the default: falling back to the root would fail open."""
        for where, value in (("--as", self.options.as_), ("KMSTUI_AS", os.environ.get("KMSTUI_AS")),
                             (f"profile '{profile.name}' principal", profile.get("principal"))):
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                error = ConfigError if where.startswith("profile") else UsageError
                raise error(f"{where} is empty: give a principal ARN (arn:aws:iam::ACCOUNT:role/NAME), or "
                            "leave it unset to act as the account root")
            return value
        return None

    def backend(self, profile_name: str | None = None) -> Backend:
        """The backend for a profile (the active one by default), opened on first use."""
        if self._no_backend_command:
            raise RuntimeError(f"command '{self._no_backend_command}' declared needs_backend=False but opened a backend")
        name = profile_name or self.profile_name
        caller = self.caller_arn(self.profile(name))  # a bad --as fails before any store is opened or created
        region = self.options.region
        slot = f"{name}@{region}" if region else name  # `--region` gets its own connection
        backend = self._backends.get(slot)
        if backend is None:
            profile = self.profile(name)
            kind = self.backend_kinds.get(profile.backend)
            if kind is None:
                raise ConfigError(f"profile '{name}' uses backend '{profile.backend}', which no plugin provides "
                                  f"(available: {', '.join(sorted(self.backend_kinds))})")
            ctx = BackendContext(profile, self.config.paths, self.prompt_secret, self.interactive, self.options.debug,
                                 {"region": region} if region else {})
            backend = kind.factory(ctx)
            self._backends[slot] = backend
        if caller is not None or backend.caller_arn is not None:
            backend.set_caller(caller)
        return _CommandView(backend, read_only=self.options.read_only,  # type: ignore[return-value]
                            client_checks=self.client_checks)

    def use_profile(self, name: str) -> None:
        """Make `name` the active profile for the rest of the session (`use` in the REPL and the TUI)."""
        self.config.profile(name)  # ConfigError naming the known profiles
        self._use_profile = name
        self.options = self.options.replace(profile=name, backend=None)

    def open_backends(self) -> dict[str, Backend]:
        return dict(self._backends)

    def split_key_ref(self, ref: str) -> tuple[str | None, str]:
        """`profile:alias/app` -> ("profile", "alias/app"); ARNs and plain ids have no profile part."""
        head, sep, rest = ref.partition(":")
        if sep and head != "arn" and rest and (head in self.config.profile_names() or head in self.backend_kinds):
            return head, rest
        return None, ref

    def key_ref(self, ref: str) -> tuple[Backend, str]:
        """The backend a key reference points at, and the reference without its profile prefix."""
        profile, key = self.split_key_ref(ref)
        head, sep, _rest = ref.partition(":")
        if profile is None and sep and head != "arn":  # no key id or alias has a colon: a mistyped profile
            raise UsageError(f"'{head}:' in '{ref}' is not a profile (known: {', '.join(self.config.profile_names())}); "
                             "a key reference is a key id, key ARN, alias/NAME, alias ARN or PROFILE:one of those")
        return self.backend(profile), key

    def close(self) -> None:
        for backend in self._backends.values():
            with contextlib.suppress(Exception):
                backend.close()
        self._backends.clear()

    # -- commands ------------------------------------------------------------------------------------
    def parse(self, words: list[str]) -> tuple[Command, argparse.Namespace]:
        return self.registry.parse(words)

    @contextlib.contextmanager
    def _scoped(self, options: Options, command: Command) -> Iterator[None]:
        saved = self.options
        self.options = options
        self._no_backend_command = None if command.needs_backend else command.name
        try:
            yield
        finally:
            if self._use_profile is not None:  # `use PROFILE` ran: the switch outlives the command
                saved, self._use_profile = saved.replace(profile=self._use_profile, backend=None), None
            self.options = saved
            self._no_backend_command = None

    def execute(self, words: list[str]) -> Result:
        """Parse and run one command; raises KmstuiError subclasses for the face to report."""
        command, args = self.parse(words)
        return self.run_command(command, args)

    def run_command(self, command: Command, args: argparse.Namespace) -> Result:
        options = self.options.overridden(args)
        if command.mutates and options.read_only:
            raise UsageError(f"read-only mode: '{command.name}' changes backend state; run without --read-only")
        resolve_args(self, command, args)  # file://, fileb://, inline blobs, UTF-8 text: before anything runs
        with self._scoped(options, command):
            if command.confirm and not options.yes:
                self._confirm(command, args)
            result = command.handler(self, args)
        if not isinstance(result, Result):
            result = Result(data=result)
        return result

    def _confirm(self, command: Command, args: argparse.Namespace) -> None:
        expected = getattr(args, command.confirm or "", None)
        expected = expected[0] if isinstance(expected, list) else expected
        if not expected:
            return
        if self.confirm is None:
            raise UsageError(f"'{command.name}' needs confirmation and there is no terminal to ask on; "
                             "re-run with --yes")
        if not self.confirm(f"{command.name} {expected}: type '{expected}' to confirm", str(expected)):
            raise UsageError(f"'{command.name}' not confirmed; nothing was changed")

    def option_fields(self) -> list[str]:
        return list(Options.__slots__)
