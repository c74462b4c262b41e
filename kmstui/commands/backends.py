"""`backend list`, `use PROFILE` and `refresh`: which key stores are configured, which one is active, and
the completion cache of their keys.

`backend list` looks without touching: it never opens, creates or unseals a store just to list it. A profile
already opened in this session reports what the backend itself says (info()); the others get a cheap probe
(file exists, token library present, endpoint port answers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.config import Profile
from kmstui.errors import ConfigError

LIST_TABLE = TableHint("Backends", [("Profile", "Profile"), ("Kind", "Kind"), ("Active", "Active"),
                                    ("Reachable", "Reachable"), ("Sealed", "Sealed"), ("Location", "Location"),
                                    ("Note", "Note")])


def local_hsm_path(session, profile: Profile) -> Path:
    """Where the local backend keeps this profile's HSM file (the backend's own rule)."""
    from kmstui.backends.local.unseal import hsm_path

    return hsm_path(profile.settings, session.config.paths.data_dir)


def _port_open(url: str, timeout: float = 0.3) -> bool:
    import socket  # here, not at the top: every kmstui start imports this module, few probe a port
    from urllib.parse import urlparse

    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _probe(session, profile: Profile) -> dict[str, Any]:
    if profile.backend == "local":
        path = local_hsm_path(session, profile)
        exists = path.exists()
        return {"Location": str(path), "Reachable": exists,
                "Note": "" if exists else "no HSM file yet; 'kmstui hsm init' creates it"}
    if profile.backend == "pkcs11":
        from kmstui.backends.pkcs11.token import DEFAULT_MODULE  # stdlib only; python-pkcs11 is not loaded

        module = profile.get("module") or profile.get("library") or DEFAULT_MODULE
        ok = bool(module) and Path(str(module)).exists()
        label = profile.get("token_label") or profile.get("token") or ""
        note = "" if ok else "PKCS#11 module not found; set 'module' in the profile"
        if ok and label:  # the token by label, read without a PIN or login
            from kmstui.backends.pkcs11.token import probe

            ok, note = probe(str(module), str(label))
        return {"Location": f"{module} {label}".strip(), "Reachable": ok, "Note": note}
    if profile.backend == "aws":
        import importlib.util

        if importlib.util.find_spec("botocore") is None:
            return {"Location": "", "Reachable": False, "Note": "boto3 is not installed: pip install 'kmstui[aws]'"}
        endpoint = profile.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL")
        from kmstui.backends.aws import resolve_region

        region = resolve_region(None, profile.get("region")) or ""
        if endpoint:
            ok = _port_open(str(endpoint))
            return {"Location": f"{endpoint} {region}".strip(), "Reachable": ok,
                    "Note": "" if ok else "endpoint does not answer"}
        return {"Location": region or "AWS", "Reachable": None, "Note": "not checked (would call AWS)"}
    return {"Location": "", "Reachable": None, "Note": "no probe for this kind; open it to check"}


def _backend_list(session, args) -> Result:
    rows = []
    opened = session.open_backends()
    for name in session.config.profile_names():
        row: dict[str, Any] = {"Profile": name, "Kind": None, "Active": name == session.profile_name,
                               "Reachable": None, "Sealed": None, "Location": "", "Note": ""}
        try:
            profile = session.config.profile(name)
        except ConfigError as exc:
            row["Note"] = str(exc)
            rows.append(row)
            continue
        row["Kind"] = profile.backend
        if profile.backend not in session.backend_kinds:
            row["Note"] = f"no plugin provides backend '{profile.backend}'"
        elif name in opened:
            try:
                info = opened[name].info()
                row.update(Reachable=True, Sealed=info.sealed, Location=info.location, Note="open")
            except Exception as exc:  # noqa: BLE001 - a listing shows a failing backend, it does not stop
                row.update(Reachable=False, Note=f"{type(exc).__name__}: {exc}")
        else:
            row.update(_probe(session, profile))
        rows.append(row)
    return Result(data={"Backends": rows, "Kinds": sorted(session.backend_kinds)}, table=LIST_TABLE)


def _use(session, args) -> Result:
    name = args.profile
    profile = session.config.profile(name)  # ConfigError (253) naming the known profiles
    if profile.backend not in session.backend_kinds:
        raise ConfigError(f"profile '{name}' uses backend '{profile.backend}', which no plugin provides "
                          f"(available: {', '.join(sorted(session.backend_kinds))})")
    session.use_profile(name)
    return Result(message=f"using profile '{name}' ({profile.backend}) for the rest of this session")


def _refresh(session, args) -> Result:
    from kmstui.completion import key_cache

    name = session.profile_name
    count = key_cache(session).refresh(name)
    return Result(data={"Profile": name, "KeyCount": count}, message=f"{count} keys cached for completion ({name})")


def register(registry) -> None:
    registry.describe_group("backend", "configured key stores (profiles) and their kinds")
    registry.command("backend list", "List profiles, their backend kinds and whether they are reachable",
                     needs_backend=False,
                     description="Lists every profile with its backend kind. Stores are not opened or unsealed to "
                                 "list them: profiles already open in this session report their state, others "
                                 "get a cheap check (file present, module present, endpoint answering).")(_backend_list)
    registry.command("use", "Switch the active profile for the rest of this session (REPL, TUI)",
                     [Arg("profile", "profile name (see 'backend list')", complete="profile")],
                     needs_backend=False, examples=["use local", "use prod"])(_use)
    registry.command("refresh", "Reload the key ids and aliases used for completion",
                     needs_backend=True)(_refresh)
