"""The process-wide connection to a PKCS#11 token: loading the module, finding the token by label, logging in
once, and the one lock every PKCS#11 call goes through.

SoftHSM (like python-pkcs11, which calls C_Initialize(NULL)) turns its own mutexes off, and python-pkcs11
releases the GIL, so two threads inside the module at once crash the process: every call, session opening
and object lookup included, holds LOCK. Login is per process, not per session, and closing the logged-in
session logs every session out, so each (module, token) pair has one shared logged-in session, closed when
its last user closes.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kmstui.errors import ConfigError

LOCK = threading.RLock()
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN_ENV = "KMSTUI_PKCS11_PIN"
KEYRING_SERVICE = "kmstui-pkcs11"


@dataclass
class Connection:
    """One logged-in session on one token, shared by every backend of this process that uses the token."""

    module: str
    label: str
    serial: str
    session: Any
    users: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


_CONNECTIONS: dict[tuple[str, str], Connection] = {}


def _check_softhsm_conf(module: str) -> list[Path]:
    """SoftHSM answers a missing or unreadable config or token folder with a bare CKR_GENERAL_ERROR, or hides
    tokens it cannot read: say what to fix. Returns the token folders this user cannot read, for the
    "no token labelled ..." message (one of them may be the token asked for)."""
    if "softhsm" not in Path(module).name.lower():
        return []
    conf = Path(os.environ.get("SOFTHSM2_CONF") or "/etc/softhsm/softhsm2.conf")
    if not conf.is_file():
        raise ConfigError(f"SoftHSM2 config {conf} not found; set SOFTHSM2_CONF to your softhsm2.conf")
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read SoftHSM2 config {conf} ({exc.strerror}); fix its permissions or set "
                          "SOFTHSM2_CONF to a config this user can read") from None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "directories.tokendir":
            tokendir = Path(value.strip())
            if not tokendir.is_dir():
                raise ConfigError(f"SoftHSM2 token directory {tokendir} (directories.tokendir in {conf}) does not "
                                  "exist; create it or fix the config")
            return _unreadable_token_dirs(tokendir)
    return []


def _unreadable_token_dirs(tokendir: Path) -> list[Path]:
    try:
        folders = [entry for entry in os.scandir(tokendir) if entry.is_dir()]
    except OSError as exc:
        raise ConfigError(f"SoftHSM2 token directory {tokendir} is not readable by this user ({exc.strerror}); "
                          "fix its permissions or run as the user who owns the tokens") from None
    unreadable = []
    for folder in folders:
        try:
            with os.scandir(folder.path) as it:
                next(it, None)
        except OSError:
            unreadable.append(Path(folder.path))
    return unreadable


def _load_lib(module: str) -> tuple[Any, list[Path]]:
    import pkcs11

    if not Path(module).exists():
        raise ConfigError(f"PKCS#11 module {module} not found; install it (Debian: apt-get install softhsm2) "
                          "or set 'module' in the profile")
    unreadable = _check_softhsm_conf(module)
    try:
        return pkcs11.lib(module), unreadable
    except pkcs11.PKCS11Error as exc:
        raise ConfigError(f"cannot load PKCS#11 module {module} ({type(exc).__name__}: {exc}); check the module "
                          "path and its configuration") from None


def _find_token(lib: Any, module: str, label: str, unreadable: list[Path]) -> Any:
    import pkcs11

    def lookup() -> list[Any]:
        return [t for t in lib.get_tokens() if t.label == label]

    tokens = lookup()
    if not tokens and not any(c.module == module for c in _CONNECTIONS.values()):
        # Tokens initialised after the module was loaded stay invisible until C_Finalize/C_Initialize; that is
        # safe only while this process has no open session on the module.
        lib.reinitialize()
        tokens = lookup()
    if len(tokens) > 1:
        raise ConfigError(f"{len(tokens)} tokens are labelled '{label}' in {module}; relabel one of them")
    if not tokens:
        try:
            found = sorted({t.label for t in lib.get_tokens()} - {""})  # "" is the free, uninitialised slot
        except pkcs11.PKCS11Error:
            found = []
        known = f" (tokens found: {', '.join(found)})" if found else " (no initialised tokens found)"
        if unreadable:
            raise ConfigError(f"no token labelled '{label}' in {module}{known}, and this user cannot read "
                              f"{len(unreadable)} token folder(s) such as {unreadable[0]}; fix their permissions "
                              "or run as the user who owns the token")
        raise ConfigError(f"no token labelled '{label}' in {module}{known}; fix token_label or initialise the "
                          f"token (softhsm2-util --init-token --free --label {label})")
    return tokens[0]


def _pin_sources(label: str, use_keyring: bool, prompt: Callable[[str], str | None]):
    """Yield (source, pin) in order: environment, OS keyring, prompt. Nothing is asked before it is needed."""
    pin = os.environ.get(PIN_ENV)
    if pin:
        yield PIN_ENV, pin
        return
    if use_keyring:
        try:
            import keyring

            pin = keyring.get_password(KEYRING_SERVICE, label)
        except Exception:  # noqa: BLE001 - NoKeyringError or a broken backend means "no secret store"
            pin = None
        if pin:
            yield f"the OS keyring ({KEYRING_SERVICE}/{label})", pin
            return
    pin = prompt(f"PIN for token {label}: ")
    if pin:
        yield "the prompt", pin
        return
    raise ConfigError(f"token '{label}' needs a PIN: set {PIN_ENV}, store it in the OS keyring (service "
                      f"{KEYRING_SERVICE}, user {label}), or run interactively")


def _login(token: Any, label: str, use_keyring: bool, prompt: Callable[[str], str | None]) -> Any:
    import pkcs11

    for source, pin in _pin_sources(label, use_keyring, prompt):
        try:
            return token.open(user_pin=pin, rw=True)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            return token.open(rw=True)  # another user of this process logged in: sessions share the login
        except pkcs11.exceptions.PinIncorrect:
            raise ConfigError(f"wrong PIN for token '{label}' (from {source}); fix it before retrying (many "
                              "tokens lock the PIN after a few failures)") from None
        except pkcs11.exceptions.PinLocked:
            raise ConfigError(f"the user PIN of token '{label}' is locked; reset it with the SO PIN") from None
        except (pkcs11.exceptions.PinInvalid, pkcs11.exceptions.PinLenRange):
            raise ConfigError(f"the PIN for token '{label}' (from {source}) has the wrong length or characters") from None
    raise AssertionError("unreachable")


def probe(module: str, label: str) -> tuple[bool, str]:
    """(reachable, note) for `backend list`: module, config and token label checked, without a PIN or login."""
    if importlib.util.find_spec("pkcs11") is None:
        return False, "python-pkcs11 is not installed: pip install 'kmstui[pkcs11]'"
    with LOCK:
        try:
            lib, unreadable = _load_lib(module)
            _find_token(lib, module, label, unreadable)
        except ConfigError as exc:
            return False, str(exc)
    return True, ""


def connect(module: str, label: str, *, use_keyring: bool = True,
            prompt: Callable[[str], str | None] = lambda _p: None) -> Connection:
    """The shared logged-in connection to the token labelled `label`, opened on first use."""
    with LOCK:
        key = (module, label)
        conn = _CONNECTIONS.get(key)
        if conn is None:
            lib, unreadable = _load_lib(module)
            token = _find_token(lib, module, label, unreadable)
            session = _login(token, label, use_keyring, prompt)
            conn = Connection(module, label, token.serial.decode("ascii", "replace").strip(), session)
            _CONNECTIONS[key] = conn
        conn.users += 1
        return conn


def release(conn: Connection) -> None:
    """Drop one user; the last one closes the session (which logs the token out)."""
    with LOCK:
        conn.users -= 1
        if conn.users <= 0 and _CONNECTIONS.get((conn.module, conn.label)) is conn:
            del _CONNECTIONS[(conn.module, conn.label)]
            try:
                conn.session.close()
            except Exception:  # noqa: BLE001 - the token may already be gone; nothing left to release
                pass
