"""`hsm ...`: create, unseal, seal, inspect, back up and restore the local sealed-key HSM file.

These commands work on the file itself rather than through `session.backend()`, so `hsm status` never
unseals and `hsm init` never happens by accident. Passphrases come from KMSTUI_PASSPHRASE (scripts) or
the face's secret prompt; they never appear in results, errors or the audit log. Init, unseal, seal,
change-passphrase, restore and verify each write one line to the HSM's audit log (hsmevents.py) when the
root key is at hand ("Audited" in the result says whether it was).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from kmstui.commands.args import refuse_special_file, replace_file
from kmstui.commands.registry import Arg, Result
from kmstui.errors import ConfigError, KMSError, SealedError, UsageError

NEW_PASSPHRASE_ENV = "KMSTUI_NEW_PASSPHRASE"


def _target(session) -> tuple[Any, Path]:
    from kmstui.backends.local.unseal import hsm_path

    profile = session.profile()
    if profile.backend != "local":
        raise UsageError(f"'hsm' commands work on the local HSM; profile '{profile.name}' uses the "
                         f"{profile.backend} backend (choose a local profile with --profile)")
    return profile, hsm_path(profile.settings, session.config.paths.data_dir)


def _open_store(path: Path, *, live: bool = True):
    from kmstui.backends.local.store import Store

    return Store.open(path, live=live)


def _held_keys(session, profile_name: str):
    """The root keys of this session's open connection to the profile, if it has one."""
    return getattr(getattr(session, "_backends", {}).get(profile_name), "_keys", None)


def _audit(session, path: Path, name: str, params: dict[str, Any] | None, keys=None, *,
           acknowledging: bool = False) -> bool:
    """One audit line for an `hsm` command; False when no root key is at hand (nothing is prompted) or the
    log has lost lines (no line is chained onto a gap; `audit acknowledge-gap` records it first)."""
    from kmstui.backends.local import hsmevents

    try:
        store = _open_store(path)
    except ConfigError:
        return False  # a file that may not be used (planted schema objects) is never written to
    try:
        keys = keys or hsmevents.keys_at_hand(store, session.config.paths.runtime_dir)
        if keys is None:
            return False
        hsmevents.record(store, keys, name, params, acknowledging=acknowledging)
        return True
    except (ConfigError, KMSError):  # a gap in the log, a schema or row that fails its check: record nothing
        return False
    finally:
        store.close()


def _forget_open_backend(session, profile_name: str) -> None:
    """Drop the session's own unsealed connection to this profile (the REPL or TUI holding the key)."""
    from kmstui.backends.local import keymaterial

    backends = getattr(session, "_backends", {})
    backend = backends.pop(profile_name, None)
    if backend is not None:
        with contextlib.suppress(Exception):
            backend.close()
    keymaterial.forget_cached()  # module-level caches of key objects would outlive the connection


def hsm_init(session, args) -> Result:
    from kmstui.backends.local.unseal import ask_new_passphrase, create_hsm, slots

    profile, path = _target(session)
    if path.is_dir():
        raise UsageError(f"{path} is a folder; point the profile's 'path' at a file name for the HSM")
    if path.exists():
        if args.exist_ok:
            return _existing(session, path, args)
        raise UsageError(f"an HSM file already exists at {path}; use it ('hsm init --exist-ok' accepts it when your "
                         "passphrase unseals it), or remove it first (back it up with 'hsm backup FILE')")
    passphrase = ask_new_passphrase(session.prompt_secret)
    if passphrase is None:
        raise ConfigError("no passphrase: run 'kmstui hsm init' on a terminal, or set KMSTUI_PASSPHRASE")
    store, keys = create_hsm(path, passphrase, account_id=args.account_id or profile.get("account_id"),
                             region=session.options.region or profile.get("region"), use_keyring=args.keyring)
    try:
        identity = store.meta_doc("identity")
        data = {"Path": str(path), "AccountId": identity["AccountId"], "Region": identity["Region"],
                "Slots": [s["type"] for s in slots(store)]}
    finally:
        store.close()
    data["Created"] = True
    data["Audited"] = _audit(session, path, "InitHsm", {"accountId": data["AccountId"], "region": data["Region"],
                                                         "slots": data["Slots"]}, keys)
    return Result(data=data, message=f"created HSM {path} (account {data['AccountId']}, region {data['Region']})")


def _existing(session, path: Path, args) -> Result:
    """`hsm init --exist-ok` on an existing store: succeed only when the passphrase (KMSTUI_PASSPHRASE, the
    keyring slot or the prompt; never the agent, which would prove nothing) unseals it and the identity asked
    for, if any, is the store's. Nothing is changed."""
    from kmstui.backends.local.unseal import slots, unseal

    store = _open_store(path)
    try:
        unseal(store, session.config.paths.runtime_dir, session.prompt_secret, use_agent=False)
        raw_identity = store.conn.execute("SELECT value FROM meta WHERE name='identity'").fetchone()
        identity = json.loads(raw_identity[0]) if raw_identity else {}
        data = {"Path": str(path), "AccountId": identity.get("AccountId"), "Region": identity.get("Region"),
                "Slots": [s["type"] for s in slots(store)], "Created": False}
    finally:
        store.close()
    for flag, asked, have in (("--account-id", args.account_id, data["AccountId"]),
                              ("--region", session.options.region, data["Region"])):
        if asked is not None and asked != have:
            raise UsageError(f"the HSM at {path} exists with {flag[2:].replace('-', ' ')} {have}, not {asked}; "
                             "nothing was changed")
    return Result(data=data, message=f"HSM {path} already exists and the passphrase unseals it; nothing changed")


def hsm_status(session, args) -> Result:
    from kmstui.backends.local import agent
    from kmstui.backends.local.core import audit_path
    from kmstui.backends.local.unseal import file_id, slots

    profile, path = _target(session)
    data: dict[str, Any] = {"Path": str(path), "Exists": path.exists()}
    if not path.exists():
        return Result(data=data, message=f"no HSM file at {path}; create one with 'kmstui hsm init'")
    store = _open_store(path)
    try:
        fid = file_id(store)
        raw_identity = store.conn.execute("SELECT value FROM meta WHERE name='identity'").fetchone()
        identity = json.loads(raw_identity[0]) if raw_identity else {}
        count = store.conn.execute("SELECT count(*) FROM keys").fetchone()[0]
        slot_list = slots(store)
    finally:
        store.close()
    agent_status = agent.status(session.config.paths.runtime_dir) or {}
    expires = (agent_status.get("entries") or {}).get(fid)
    in_process = profile.name in getattr(session, "_backends", {})
    data.update({
        "AccountId": identity.get("AccountId"), "Region": identity.get("Region"), "Keys": count,
        "Sealed": expires is None and not in_process,
        "Agent": {"Running": bool(agent_status), "HoldsKey": expires is not None,
                  **({"ExpiresInSeconds": int(expires)} if expires is not None else {}),
                  "WarmStart": _warm_running(session.config.paths.runtime_dir)},
        "HeldByThisSession": in_process,
        "Slots": [{"Type": s["type"], **({"Kdf": s["kdf"], "LogN": s["log2n"], "R": s["r"], "P": s["p"]}
                                         if s["type"] == "passphrase" else {})} for s in slot_list],
        "AuditLog": str(audit_path(path)), "Mode": f"{path.stat().st_mode & 0o777:04o}",
    })
    return Result(data=data)


def _warm_running(runtime) -> bool:
    """Whether a warm launcher answers in the agent's folder (docs/local-hsm.md "Warm start")."""
    from kmstui import warm

    return warm.answers(warm.socket_path(runtime))


def hsm_unseal(session, args) -> Result:
    from kmstui.backends.local import agent
    from kmstui.backends.local.unseal import file_id, unseal

    ttl = agent.parse_ttl(args.ttl)
    _profile, path = _target(session)
    store = _open_store(path)
    try:
        keys, how = unseal(store, session.config.paths.runtime_dir, session.prompt_secret)
        reply = agent.put_key(session.config.paths.runtime_dir, file_id(store), keys.root, ttl)
    finally:
        store.close()
    from kmstui import warm

    warm.ensure_running(session.config.paths.runtime_dir)  # one-shot commands start warm (kmstui/warm.py)
    data = {"Path": str(path), "Sealed": False, "AgentPid": reply.get("pid"), "ExpiresInSeconds": ttl,
            "UnsealedWith": how}
    data["Audited"] = _audit(session, path, "UnsealHsm", {"ttlSeconds": ttl, "unsealedWith": how}, keys)
    return Result(data=data, message=f"unsealed {path} for {ttl}s (agent pid {reply.get('pid')})")


def hsm_seal(session, args) -> Result:
    from kmstui.backends.local import agent
    from kmstui.backends.local.unseal import file_id

    from kmstui.backends.local import hsmevents

    profile, path = _target(session)
    runtime = session.config.paths.runtime_dir
    keys = None  # taken before sealing, to record the seal itself
    if path.exists():
        with contextlib.suppress(ConfigError):
            probe = _open_store(path)
            try:
                keys = hsmevents.keys_at_hand(probe, runtime, _held_keys(session, profile.name))
            finally:
                probe.close()
    _forget_open_backend(session, profile.name)
    if args.all:
        stopped = agent.stop(runtime)
        audited = keys is not None and _audit(session, path, "SealHsm", {"all": True}, keys)
        return Result(data={"Path": str(path), "Sealed": True, "AgentStopped": stopped, "Audited": audited},
                      message="stopped the unseal agent (every HSM file it held is sealed again)" if stopped
                      else "no unseal agent was running")
    had = False
    if path.exists():
        try:
            store = _open_store(path)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; 'kmstui hsm seal --all' stops the agent whatever it holds") from None
        try:
            had = agent.forget(runtime, file_id(store))
        finally:
            store.close()
    audited = keys is not None and _audit(session, path, "SealHsm", {"agentHeldKey": had}, keys)
    others = len((agent.status(runtime) or {}).get("entries") or {})
    note = "" if had else " (the agent was not holding it)"
    if others:
        note += f"; the agent still holds {others} other HSM file(s) ('hsm seal --all' ends it)"
    return Result(data={"Path": str(path), "Sealed": True, "AgentHeldKey": had, "AgentOtherFiles": others,
                        "Audited": audited}, message=f"sealed {path}{note}")


def hsm_change_passphrase(session, args) -> Result:
    from kmstui.backends.local import hsmevents, seal
    from kmstui.backends.local.unseal import PASSPHRASE_ENV, check_new_passphrase, file_id, slots, with_passphrase

    _profile, path = _target(session)
    store = _open_store(path)
    try:
        current = os.environ.get(PASSPHRASE_ENV) or session.prompt_secret("Current HSM passphrase: ")
        if current is None:
            raise SealedError(f"changing the passphrase needs the current one: run on a terminal or set {PASSPHRASE_ENV}")
        keys = with_passphrase(store, current)
        if keys is None:
            raise SealedError(f"wrong passphrase for {path}; nothing was changed")
        new = os.environ.get(NEW_PASSPHRASE_ENV)
        if new is None:
            new = session.prompt_secret("New HSM passphrase: ")
            if new is None:
                raise ConfigError(f"no new passphrase: run on a terminal or set {NEW_PASSPHRASE_ENV}")
            check_new_passphrase(new)
            if session.prompt_secret("Repeat new HSM passphrase: ") != new:
                raise UsageError("the two new passphrases differ; nothing was changed")
        check_new_passphrase(new)
        fid = file_id(store)
        updated = [seal.passphrase_slot(keys.root, new, fid) if s["type"] == "passphrase" else s for s in slots(store)]
        try:  # the new slot and its audit line commit together, or neither does
            hsmevents.record(store, keys, "ChangeHsmPassphrase", None,
                             change=lambda: store.set_meta_raw("slots", json.dumps(updated).encode()))
        except (ConfigError, KMSError) as exc:
            raise ConfigError(f"the passphrase was not changed: its audit line could not be written ({exc})") from None
    finally:
        store.close()
    return Result(data={"Path": str(path), "Changed": True, "Audited": True},
                  message="passphrase changed (no key was re-encrypted)")


def _sqlite_copy(src_path: Path, dest: Path, *, read_only: bool = False) -> int:
    """A consistent copy of a SQLite file (the backup API), written beside `dest` then renamed. With
    read_only the source is opened read-only (a backup being restored is never changed, its -wal kept)."""
    import sqlite3  # here, not at the top: every kmstui start imports this module, few back up
    import tempfile

    from kmstui.backends.local.store import harden

    fd, tmp = tempfile.mkstemp(prefix=".kmstui-", dir=str(dest.parent))
    os.close(fd)
    os.chmod(tmp, 0o600)
    try:
        src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=15) if read_only \
            else sqlite3.connect(str(src_path), timeout=15)
        dst = sqlite3.connect(tmp)
        try:
            harden(src)
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
        replace_file(tmp, dest, "hsm backup", dash=False)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest.stat().st_size


def _staged_backup(source: Path, live: Path, find_keys) -> tuple[Path, str]:
    """Copy a backup beside the live file and check the copy: a kmstui HSM, SQLite's integrity check, and
    no SQLite object kmstui did not create (schema.py; a trigger planted in a backup at rest needs no
    passphrase); when its root key is at hand (`find_keys(store)`, never a prompt), also that its schema is
    the one sealed in it (a dropped table). What is checked is exactly what is restored: the backup cannot
    change in between, and a -wal or journal beside it is folded into the copy before the check. Returns
    (copy, its file id)."""
    import sqlite3

    from kmstui.backends.local import schema
    from kmstui.backends.local.unseal import file_id

    live.parent.mkdir(parents=True, exist_ok=True)
    staged = live.with_name(f".{live.name}.restoring-{os.getpid()}")
    try:
        try:
            _sqlite_copy(source, staged, read_only=True)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{source} is not a kmstui HSM file ({exc}); nothing was restored") from None
        try:
            store = _open_store(staged, live=False)
        except ConfigError as exc:
            raise ConfigError(f"refusing to restore {source}: {str(exc).replace(str(staged), 'the backup')}; "
                              "nothing was restored") from None
        try:
            verdict = store.conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise ConfigError(f"refusing to restore {source}: SQLite finds it damaged ({verdict}); nothing "
                                  "was restored")
            keys = find_keys(store)
            if keys is not None:
                store.set_keys(keys.mac)
                try:
                    sealed = store.meta_doc(schema.META_NAME)
                except KMSError as exc:
                    raise ConfigError(f"refusing to restore {source}: {exc}; nothing was restored") from None
                wrong = schema.sealed_differences(sealed, schema.fingerprint(store.conn)) if sealed is not None else []
                if wrong:
                    raise ConfigError(f"refusing to restore {source}: its schema is not the one kmstui sealed in it "
                                      f"({'; '.join(wrong[:3])}); nothing was restored")
            return staged, file_id(store)
        finally:
            store.close()
    except BaseException:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(str(staged) + suffix)
        raise


def _companions(path: Path) -> set[str]:
    """The live HSM file and everything that lives beside it (journals, audit log), as real paths."""
    from kmstui.backends.local.core import audit_path

    names = [str(path) + suffix for suffix in ("", "-wal", "-shm", "-journal")] + [str(audit_path(path))]
    return {os.path.realpath(name) for name in names}


def _not_live(path: Path, other: Path, what: str) -> None:
    if os.path.realpath(other) in _companions(path) or (other.exists() and path.exists() and other.samefile(path)):
        raise UsageError(f"{other} is the live HSM file (or one of its companions); {what}")


def hsm_backup(session, args) -> Result:
    _profile, path = _target(session)
    _open_store(path).close()  # a clear error when there is no HSM file
    dest = Path(args.file).expanduser()
    if dest.is_dir():
        raise UsageError(f"{dest} is a folder; give the backup a file name, e.g. {dest / 'hsm-backup.kmstui'}")
    _not_live(path, dest, "choose another name for the backup")
    refuse_special_file(dest, "hsm backup", dash=False)
    if dest.exists() and not args.force:
        raise UsageError(f"{dest} exists; choose another name or add --force")
    if not dest.parent.is_dir():
        raise UsageError(f"folder {dest.parent} does not exist")
    try:
        size = _sqlite_copy(path, dest)
    except OSError as exc:
        raise UsageError(f"cannot write the backup {dest} ({exc.strerror}); nothing was written") from None
    return Result(data={"Path": str(path), "Backup": str(dest), "Bytes": size},
                  message=f"backed up {path} to {dest} (still sealed; the audit log is not included)")


def hsm_restore(session, args) -> Result:
    import sqlite3

    from kmstui.backends.local import hsmevents
    from kmstui.backends.local.core import audit_path
    from kmstui.backends.local.store import Store, harden
    from kmstui.backends.local.unseal import file_id

    profile, path = _target(session)
    source = Path(args.file).expanduser()
    if source.is_dir():
        raise UsageError(f"{source} is a folder; give the backup file made by 'hsm backup FILE'")
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    _not_live(path, source, "restore from a backup made with 'hsm backup FILE'")
    held = _held_keys(session, profile.name)
    staged, src_id = _staged_backup(
        source, path, lambda store: hsmevents.keys_at_hand(store, session.config.paths.runtime_dir, held))
    try:
        _forget_open_backend(session, profile.name)
        live_id = None
        if path.exists():
            # Only the file id is read: a live file with planted objects can still be restored over.
            live = Store.open(path, check_schema=False)
            try:
                live_id = file_id(live)
            finally:
                live.close()
        moved = None
        log = Path(audit_path(path))
        if live_id is not None and live_id != src_id and log.exists():
            # Another HSM's log would fail every MAC check; keep it beside, and let the restored file start afresh.
            moved = log.with_name(f"{log.name}.replaced-{int(time.time())}")
            log.rename(moved)
        if path.exists():
            # Copy into the live file through SQLite, so other processes using it see a consistent switch; every
            # page is replaced, planted objects included.
            live = sqlite3.connect(str(path), timeout=15)
            src = sqlite3.connect(f"file:{staged}?mode=ro", uri=True)
            try:
                harden(live)
                harden(src)
                src.backup(live)
            finally:
                src.close()
                live.close()
        else:
            os.replace(staged, path)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(str(staged) + suffix)
    os.chmod(path, 0o600)
    data = {"Path": str(path), "RestoredFrom": str(source), "FileId": src_id}
    store = _open_store(path)
    try:
        keys = hsmevents.keys_at_hand(store, session.config.paths.runtime_dir, held)
    finally:
        store.close()
    # A backup comes without its audit log, so its sealed head may name lines this log does not hold (another
    # HSM's backup, or a restore onto a new machine): the restore is the explicit step that records that gap.
    data["Audited"] = keys is not None and _audit(session, path, "RestoreHsm", {"backupFile": str(source)}, keys,
                                                  acknowledging=True)
    message = f"restored {path} from {source}"
    if moved is not None:
        data["OldAuditLog"] = str(moved)
        message += f" (a different HSM: its old audit log was moved to {moved})"
    return Result(data=data, message=message)


def _accept(store, keys, report: dict[str, Any]) -> None:
    """`hsm verify --accept`: reseal the rows as they are, in one transaction with its AcceptHsmState line (a
    state change is never committed without its audit line). Missing log lines are part of the state being
    accepted: the same line records the gap (as `audit acknowledge-gap` would), so a file whose rows and log
    are both damaged can still be accepted, and the loss stays in the chain. If the line cannot be written,
    nothing is resealed and the report says why."""
    from kmstui.backends.local import hsmevents, verify

    accepted: dict[str, list] = {}
    try:
        hsmevents.record(store, keys, "AcceptHsmState", {"problems": report["Problems"]}, acknowledging=True,
                         change=lambda: accepted.update(verify.accept(store, keys)))
    except (ConfigError, KMSError) as exc:
        report["AcceptRefused"] = f"--accept changed nothing: its audit line could not be written ({exc})"
        return
    report["ProblemsBeforeAccept"] = report["Problems"]
    report["AcceptedRows"] = accepted


def hsm_verify(session, args) -> Result:
    """Check the whole file (rows, sealed row sets, references, audit log); exit 1 naming each problem."""
    from kmstui.backends.local import verify
    from kmstui.backends.local.core import audit_path
    from kmstui.backends.local.unseal import unseal

    profile, path = _target(session)
    from kmstui.backends.local.store import Store

    store = Store.open(path, check_schema=False)  # a file with planted objects is opened only to list them
    try:
        keys = _held_keys(session, profile.name)
        if keys is None or keys.check != store.meta_raw("check"):
            keys, _how = unseal(store, session.config.paths.runtime_dir, session.prompt_secret)
        report = verify.verify_file(store, keys, audit_path(path))
        if args.accept and report["SchemaProblems"]:
            report["AcceptRefused"] = ("--accept seals rows, never SQLite objects kmstui did not create (or a "
                                       "changed schema): restore a backup")
        elif args.accept and not report["Valid"]:
            _accept(store, keys, report)
            again = verify.verify_file(store, keys, audit_path(path))
            report.update({k: again[k] for k in ("Valid", "Problems", "Rows", "AuditLog")})
    finally:
        store.close()
    report["Audited"] = _audit(session, path, "VerifyHsm", {"accept": bool(args.accept), "valid": report["Valid"]},
                               keys)
    report["Path"] = str(path)
    if report["Valid"]:
        done = " (after accepting the rows as they are)" if "AcceptedRows" in report else ""
        return Result(data=report, message=f"HSM file {path} intact{done}: rows, sealed row sets, references and "
                                           f"audit log ({report['AuditLog']['Lines']} events) verified")
    text = "\n".join(f"  - {p}" for p in report["Problems"])
    refused = f"\n{report['AcceptRefused']}" if "AcceptRefused" in report else ""
    return Result(data=report, exit_code=1,
                  message=f"HSM file {path} FAILED verification ({len(report['Problems'])} problem(s)):\n{text}{refused}")


def register(registry) -> None:
    registry.describe_group("hsm", "create, unseal, seal, back up and restore the local HSM file")
    registry.command("hsm init", "create the local HSM file (asks for a passphrase twice)", [
        Arg("--account-id", "12-digit account id for key ARNs (default: random)", metavar="ID"),
        Arg("--keyring", "also add an OS-keyring unseal slot", flag=True),
        Arg("--exist-ok", "succeed, changing nothing, when the HSM file already exists and the passphrase unseals "
            "it (without it an existing file is refused, exit 252, so scripts can tell)", flag=True),
    ], mutates=True, examples=["hsm init", "hsm init --exist-ok",
                               "hsm init --account-id 111122223333 --region eu-west-1"])(hsm_init)
    registry.command("hsm status", "show the HSM file, its identity and whether it is sealed (never unseals)",
                     [])(hsm_status)
    registry.command("hsm unseal", "unseal the HSM and keep the key in a per-user agent for a while", [
        Arg("--ttl", "how long the agent keeps the key (e.g. 90s, 15m, 2h; default 15m)", metavar="DURATION"),
    ], examples=["hsm unseal --ttl 1h"])(hsm_unseal)
    registry.command("hsm seal", "make the agent (and this session) forget the HSM's key", [
        Arg("--all", "stop the agent itself, forgetting every HSM file's key", flag=True),
    ])(hsm_seal)
    registry.command("hsm change-passphrase", "change the unseal passphrase (no key is re-encrypted)", [],
                     mutates=True)(hsm_change_passphrase)
    registry.command("hsm backup", "write a consistent, still sealed copy of the HSM file (safe while in use)", [
        Arg("file", "where to write the copy", complete="file"),
        Arg("--force", "overwrite an existing file", flag=True),
    ])(hsm_backup)
    registry.command("hsm restore", "replace the HSM file's contents with a backup", [
        Arg("file", "the backup to restore", complete="file"),
    ], mutates=True, confirm="file")(hsm_restore)
    registry.command("hsm verify", "check the whole HSM file and its audit log for tampering (exit 1 naming each "
                     "problem)", [
        Arg("--accept", "after reporting, seal the rows as they now are (when not restoring a backup)", flag=True),
    ], examples=["hsm verify", "hsm verify --accept"])(hsm_verify)
