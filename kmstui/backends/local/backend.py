"""LocalBackend: the KMS-shaped API over one sealed HSM file, and `open_local_backend` for the session."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from kmstui.backends.local.boundaries import BoundariesMixin
from kmstui.backends.local.crypto import CryptoMixin
from kmstui.backends.local.grants import GrantsMixin
from kmstui.backends.local.identities import IdentitiesMixin
from kmstui.backends.local.importing import ImportMixin
from kmstui.backends.local.keys import KeysMixin
from kmstui.backends.local.organization import OrganizationMixin
from kmstui.backends.local.rotation import RotationMixin
from kmstui.backends.local.seal import RootKeys
from kmstui.backends.local.store import Store
from kmstui.backends.local.unseal import hsm_path, unseal
from kmstui.audit import AuditGapError
from kmstui.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from kmstui.session import BackendContext


class LocalBackend(CryptoMixin, KeysMixin, RotationMixin, GrantsMixin, ImportMixin, IdentitiesMixin,
                   BoundariesMixin, OrganizationMixin):
    """The embedded default backend. Opening applies any time-based events that fell due while closed."""

    def __init__(self, store: Store, keys: RootKeys, *, profile: str = "local",
                 clock: Callable[[], float] | None = None, unsealed_by: str = "") -> None:
        super().__init__(store, keys, profile=profile, clock=clock)
        self.unsealed_by = unsealed_by
        _install_enforcement(self)
        try:
            self.apply_due_events()
        except AuditGapError:
            pass  # every call will say so; `audit verify` and `audit acknowledge-gap` must still open the file

    @property
    def root_key(self) -> bytes:
        """For `hsm unseal` to hand to the agent; never logged or shown."""
        return self._keys.root


def _install_enforcement(backend: LocalBackend) -> None:
    """Policy and grant enforcement lives in the core's authorization engine: if `kmstui.authz.local`
    exists, its `install(backend)` sets `backend.authorizer` (see docs/local-hsm.md)."""
    import importlib

    try:
        module = importlib.import_module(ENFORCEMENT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == ENFORCEMENT_MODULE:
            return
        raise
    module.install(backend)


ENFORCEMENT_MODULE = "kmstui.authz.local"


def open_local_backend(ctx: "BackendContext") -> LocalBackend:
    settings = ctx.profile.settings
    path = hsm_path(settings, ctx.paths.data_dir)
    clock = ctx.options.get("clock")
    if not path.exists():  # never created on the side: a mistyped KMSTUI_HOME or path must not look like an empty HSM
        raise ConfigError(missing_hsm(ctx.profile.name, path))
    store = Store.open(path)
    try:
        keys, how = unseal(store, ctx.paths.runtime_dir, ctx.prompt_secret)
        backend = LocalBackend(store, keys, profile=ctx.profile.name, clock=clock, unsealed_by=how)
    except BaseException:
        store.close()
        raise
    _check_region(backend, ctx.options.get("region"))
    return backend


def missing_hsm(profile: str, path: Path) -> str:
    """What to say when a profile's HSM file does not exist: which file, and how to create it."""
    init = "kmstui hsm init" + ("" if profile == "local" else f" --profile {profile}")
    return (f"no HSM file at {path} (profile '{profile}'): create it with '{init}'; if you expected one there, "
            "check KMSTUI_HOME and the profile's path setting")


def _check_region(backend: LocalBackend, region: str | None) -> None:
    """`--region` names the region the caller expects; a local HSM has one region, fixed when it was made."""
    if region and region != backend.region:
        path = backend.path
        backend.close()
        raise UsageError(f"--region {region}: the local HSM {path} is in {backend.region} (set by 'hsm init "
                         "--region'); --region chooses a region for the aws backend")


def open_path(path: Path, keys: RootKeys, **kw) -> LocalBackend:
    """Open a file whose root keys are already known (tests, benchmarks, `hsm` commands)."""
    return LocalBackend(Store.open(path), keys, **kw)
