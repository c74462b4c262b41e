"""Completion candidates and their ranking, shared by every face (REPL, TUI console, shell scripts).

Given the words typed so far, this decides what can come next (a command word, a flag, a flag's value, a
key id or alias) and ranks candidates exact > prefix > fuzzy. Live key ids and aliases come from a
per-session cache that is refreshed in a background thread, only from backends that are already open:
completing never unseals a store or prompts for a passphrase. No UI library is imported here.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from kmstui.commands.registry import GLOBAL_ARGS, Arg, Command

if TYPE_CHECKING:
    from kmstui.session import Session


@dataclass(frozen=True)
class Candidate:
    """One completion. `text` replaces the word being typed; `display` is what a menu shows (defaults to
    text); `meta` the description beside it; `keys` extra strings it may be matched by."""

    text: str
    meta: str = ""
    kind: str = "value"  # command, group, flag, value, key, alias, profile, file
    display: str = ""
    keys: tuple[str, ...] = ()


EXACT, PREFIX, FUZZY = 0, 1, 2


def match(typed: str, text: str) -> tuple[int, int, int] | None:
    """How well `text` matches `typed`: (EXACT|PREFIX|FUZZY, quality, start) or None; lower is better.

    Case-insensitive. Fuzzy means the typed characters appear in order; among fuzzy matches a substring
    beats word initials ("cd" -> cancel-deletion), which beat scattered letters (tighter and earlier first)."""
    if not typed:
        return (PREFIX, 0, 0)
    t, s = typed.lower(), text.lower()
    if s == t:
        return (EXACT, 0, 0)
    if s.startswith(t):
        return (PREFIX, 0, 0)
    where = s.find(t)
    if where != -1:
        return (FUZZY, 0, where)
    if _initials(t, s):
        return (FUZZY, 1000, 0)
    best: tuple[int, int, int] | None = None
    start = s.find(t[0])
    while start != -1:
        pos = start
        for ch in t[1:]:
            pos = s.find(ch, pos + 1)
            if pos == -1:
                break
        else:
            cand = (FUZZY, 2000 + pos - start, start)
            if best is None or cand < best:
                best = cand
        if pos == -1:
            break
        start = s.find(t[0], start + 1)
    return best


_BOUNDARY = "-_/ .:"


def _initials(typed: str, text: str) -> bool:
    """Each typed character starts a word of `text`, in order (greedy)."""
    starts = [i for i, ch in enumerate(text) if i == 0 or text[i - 1] in _BOUNDARY]
    j = 0
    for i in starts:
        if j < len(typed) and text[i] == typed[j]:
            j += 1
    return j == len(typed)


_KIND_ORDER = {"command": 0, "group": 0, "alias": 1, "key": 2, "flag": 3}


def rank(typed: str, candidates: Iterable[Candidate]) -> list[Candidate]:
    """Matching candidates, best first: exact, then prefix, then fuzzy (tighter and earlier first)."""
    scored = []
    seen: set[str] = set()
    for cand in candidates:
        if cand.text in seen:
            continue
        scores = [m for m in (match(typed, k) for k in (cand.text, *cand.keys)) if m is not None]
        if scores:
            seen.add(cand.text)
            best = min(scores)
            scored.append(((*best, _KIND_ORDER.get(cand.kind, 4), cand.text.lower()), cand))
    scored.sort(key=lambda pair: pair[0])
    return [cand for _score, cand in scored]


# -- live keys ------------------------------------------------------------------------------------------
class KeyCache:
    """Key metadata per profile for completion, refreshed in the background when older than `ttl`.

    `lock` serialises backend use: faces hold it while they run a command so a refresh thread and a
    command never use one backend connection at the same time."""

    def __init__(self, session: "Session", ttl: float = 30.0) -> None:
        self._session = weakref.ref(session)
        self.ttl = ttl
        self.lock = threading.RLock()
        self._entries: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._running: set[str] = set()
        self._warming: dict[str, threading.Thread] = {}
        self._state = threading.Lock()

    # How long the first completion of a profile waits for its keys (opening the backend without a prompt
    # and listing them); afterwards refreshes run in the background and never make a keystroke wait.
    first_wait = 5.0
    # Whether keys() may open a backend (without a prompt) for a profile not yet opened: the interactive shell
    # turns it on; one-shot completion (`kmstui __complete`, run per Tab by bash/zsh) leaves it off.
    auto_open = False

    def keys(self, profile: str) -> list[dict[str, Any]]:
        """Cached keys of `profile` (maybe stale); starts a background refresh if stale and possible. The first
        call for a profile opens its backend for completion when that needs no prompt (warm), and waits for it."""
        if profile not in self._entries and self.auto_open:
            warming = self.warm(profile)
            if warming is not None:
                warming.join(self.first_wait)
        stamp, keys = self._entries.get(profile, (0.0, []))
        if time.monotonic() - stamp > self.ttl:
            self.refresh_in_background(profile)
        return keys

    def warm(self, profile: str) -> threading.Thread | None:
        """Load `profile`'s keys in the background, opening its backend if that needs no prompt (the unseal
        agent, KMSTUI_PASSPHRASE, a keyring slot, a PIN in the environment, AWS credentials). A face calls this
        when it starts, so the first Tab already has live key ids and aliases."""
        with self._state:
            running = self._warming.get(profile)
            if running is not None and running.is_alive():
                return running
            if profile in self._entries:
                return None

        def work() -> None:
            try:
                if self.open_quietly(profile):
                    self.refresh(profile, open_backend=False)
            except Exception:  # noqa: BLE001 - completion stays without live keys; commands report errors
                pass

        thread = threading.Thread(target=work, name=f"kmstui-keywarm-{profile}", daemon=True)
        with self._state:
            self._warming[profile] = thread
        thread.start()
        return thread

    def open_quietly(self, profile: str) -> bool:
        """Open `profile`'s backend if it can be done without asking anything; never creates a key store."""
        session = self._session()
        if session is None:
            return False
        if profile in session.open_backends():
            return True
        if not _store_exists(session, profile):
            return False
        with self.lock:  # faces hold it while a command runs: the prompt callback is ours only meanwhile
            saved = session.prompt_secret
            session.prompt_secret = _no_prompt
            try:
                session.backend(profile)
                return True
            except Exception:  # noqa: BLE001 - sealed, PIN needed, no credentials: leave it closed
                return False
            finally:
                session.prompt_secret = saved

    def refresh(self, profile: str, *, open_backend: bool = True) -> int:
        """Reload now. With open_backend the backend is opened (and may prompt to unseal)."""
        session = self._session()
        if session is None:
            return 0
        with self.lock:
            backend = session.backend(profile) if open_backend else session.open_backends().get(profile)
            if backend is None:
                return 0
            rows = backend.list_key_metadata()
        keys = [{"KeyId": md.get("KeyId", ""), "Arn": md.get("Arn", ""), "Aliases": list(md.get("Aliases") or []),
                 "Description": md.get("Description", ""), "KeyState": md.get("KeyState", "")} for md in rows]
        self._entries[profile] = (time.monotonic(), keys)
        return len(keys)

    def refresh_in_background(self, profile: str) -> threading.Thread | None:
        session = self._session()
        if session is None or profile not in session.open_backends():
            return None
        with self._state:
            if profile in self._running:
                return None
            self._running.add(profile)

        def work() -> None:
            try:
                self.refresh(profile, open_backend=False)
            except Exception:  # noqa: BLE001 - a failed refresh keeps the old cache; commands report errors
                pass
            finally:
                with self._state:
                    self._running.discard(profile)

        thread = threading.Thread(target=work, name=f"kmstui-keycache-{profile}", daemon=True)
        thread.start()
        return thread

    def invalidate(self, profile: str | None = None) -> None:
        for name in [profile] if profile else list(self._entries):
            if name in self._entries:
                self._entries[name] = (0.0, self._entries[name][1])


def _no_prompt(_prompt: str) -> None:
    """A prompt callback that answers nothing: opening for completion must never ask."""
    return None


def _store_exists(session: "Session", profile: str) -> bool:
    """False for a local profile whose HSM file does not exist (completion must not create one)."""
    try:
        settings = session.profile(profile)
    except Exception:  # noqa: BLE001 - an unknown profile has no keys to complete
        return False
    if settings.backend != "local":
        return True
    from kmstui.backends.local.unseal import hsm_path

    return hsm_path(settings.settings, session.config.paths.data_dir).exists()


_CACHES: "weakref.WeakKeyDictionary[Session, KeyCache]" = weakref.WeakKeyDictionary()


def key_cache(session: "Session") -> KeyCache:
    """The session's key cache (one per session, shared by its faces and the `refresh` command)."""
    cache = _CACHES.get(session)
    if cache is None:
        cache = _CACHES[session] = KeyCache(session)
    return cache


def _key_meta(*parts: str) -> str:
    return "  ".join(p for p in parts if p)


def key_candidates(session: "Session", typed: str, *, aliases_only: bool = False) -> list[Candidate]:
    """Key ids, aliases and ARNs with alias, state and description beside them. `profile:` prefixes
    complete keys of another profile."""
    head, sep, rest = typed.partition(":")
    profile, prefix = session.profile_name, ""
    if sep and head != "arn" and head in session.config.profile_names():
        profile, prefix = head, head + ":"
    out: list[Candidate] = []
    for key in key_cache(session).keys(profile):
        desc, state, key_id = key["Description"], key["KeyState"], key["KeyId"]
        for alias in key["Aliases"]:
            out.append(Candidate(prefix + alias, _key_meta(key_id[:8], state, desc), "alias",
                                 keys=(prefix + alias.removeprefix("alias/"),)))
        if aliases_only:
            continue
        out.append(Candidate(prefix + key_id, _key_meta(", ".join(key["Aliases"]), state, desc), "key"))
        if typed.startswith("arn:") and key["Arn"]:
            out.append(Candidate(key["Arn"], _key_meta(", ".join(key["Aliases"]), state, desc), "key"))
    return out


def _path_candidates(typed: str, dirs_only: bool = False) -> list[Candidate]:
    expanded = os.path.expanduser(typed)
    folder, _, _name = expanded.rpartition(os.sep)
    try:
        entries = list(os.scandir(folder or "."))
    except OSError:
        return []
    shown = typed[: len(typed) - len(_name)] if _name else typed if typed.endswith(os.sep) else ""
    out = []
    for entry in entries:
        is_dir = entry.is_dir()
        if dirs_only and not is_dir:
            continue
        out.append(Candidate(shown + entry.name + (os.sep if is_dir else ""), "dir" if is_dir else "", "file",
                             keys=(entry.name,)))
    return out


# -- what comes next ------------------------------------------------------------------------------------
def _visible(command: Command) -> bool:
    return not command.name.startswith("_")


def _command_candidates(session: "Session", path: Sequence[str]) -> list[Candidate]:
    registry = session.registry
    out = []
    for word in registry.children(path):
        full = (*path, word)
        cmd = registry.get(full)
        if cmd is not None and not _visible(cmd):
            continue
        if cmd is not None:
            out.append(Candidate(word, cmd.summary, "command"))
        else:
            out.append(Candidate(word, registry.group_help.get(full, "commands: " + ", ".join(registry.children(full))),
                                 "group"))
    return out


def _all_args(command: Command) -> list[Arg]:
    own = {s for a in command.args for s in a.spellings}
    return list(command.args) + [a for a in GLOBAL_ARGS if not own.intersection(a.spellings)]


def value_candidates(session: "Session", arg: Arg, typed: str, context: Sequence[str] = ()) -> list[Candidate]:
    """Candidates for one argument's value: its choices, a plugin completer, or a built-in one."""
    if arg.secret:
        return []
    if arg.choices:
        return [Candidate(str(c), kind="value") for c in arg.choices]
    name = arg.complete
    if not name:
        return []
    if name in session.completers:
        try:
            found = session.completers[name](session, typed)
        except Exception:  # noqa: BLE001 - a plugin completer failing must not break typing
            return []
        return [c if isinstance(c, Candidate) else Candidate(str(c)) for c in found]
    if name == "key":
        return key_candidates(session, typed)
    if name == "alias":
        return key_candidates(session, typed, aliases_only=True)
    if name == "profile":
        return [Candidate(p, session.config.profile(p).backend if _profile_ok(session, p) else "", "profile")
                for p in session.config.profile_names()]
    if name == "backend":
        kinds = [Candidate(k, v.summary, "value") for k, v in sorted(session.backend_kinds.items())]
        return kinds + [Candidate(p, "profile", "profile") for p in session.config.profile_names()]
    if name in ("file", "dir"):
        return _path_candidates(typed, dirs_only=name == "dir")
    if name == "command":
        return _command_candidates(session, [w for w in context if not w.startswith("-")])
    return []


def _profile_ok(session: "Session", name: str) -> bool:
    try:
        session.config.profile(name)
        return True
    except Exception:  # noqa: BLE001 - a broken profile still completes by name
        return False


def complete_words(session: "Session", words: Sequence[str], typed: str,
                   extra_commands: Sequence[Candidate] = ()) -> list[Candidate]:
    """Ranked candidates for the word being typed (`typed`) after the complete `words` of one command."""
    registry = session.registry
    command, used = registry.find(words)
    if command is None:
        if words and tuple(words) not in registry.groups():
            return []
        cands = _command_candidates(session, words)
        if not words:
            cands += list(extra_commands)
        return rank(typed, cands)
    rest = list(words[used:])
    args = _all_args(command)
    by_spelling = {s: a for a in args for s in a.spellings}
    if rest and rest[-1] in by_spelling and not by_spelling[rest[-1]].flag:
        return rank(typed, value_candidates(session, by_spelling[rest[-1]], typed))
    if typed.startswith("-") and "=" in typed:
        flag, _, value = typed.partition("=")
        arg = by_spelling.get(flag)
        if arg is None or arg.flag:
            return []
        found = rank(value, value_candidates(session, arg, value))
        return [Candidate(f"{flag}={c.text}", c.meta, c.kind, c.display or c.text) for c in found]
    positionals, used_flags, i = [], set(), 0
    while i < len(rest):
        word = rest[i]
        arg = by_spelling.get(word.split("=", 1)[0])
        if arg is not None:
            used_flags.add(arg.name)
            i += 1 if (arg.flag or "=" in word) else 2
            continue
        positionals.append(word)
        i += 1
    flags = [Candidate(s, (a.help + (" (required)" if a.required else "")).strip(), "flag")
             for a in args if a.is_flag and (a.repeat or a.name not in used_flags) for s in a.spellings]
    if typed.startswith("-"):
        return rank(typed, flags)
    pos_args = [a for a in command.args if not a.is_flag]
    slot = None
    for n, arg in enumerate(pos_args):
        if arg.nargs in ("*", "+") or n >= len(positionals):
            slot = arg
            break
    cands: list[Candidate] = []
    if slot is not None:
        cands = value_candidates(session, slot, typed, positionals)
    if not cands and not typed:
        required = [c for c in flags if c.meta.endswith("(required)")]
        cands = required or flags
    return rank(typed, cands)


def split_for_completion(text: str) -> tuple[list[str], str]:
    """The complete words of the last command in `text` (after any unquoted `;`) and the word being typed."""
    try:
        lex = shlex.shlex(text, posix=True, punctuation_chars=";")
        lex.whitespace_split = True
        tokens = list(lex)
    except ValueError:  # an open quote: the quoted part is the word being typed
        quote = max(text.rfind('"'), text.rfind("'"))
        words, _ = split_for_completion(text[:quote])
        return words, text[quote + 1:]
    if ";" in "".join(t for t in tokens if set(t) == {";"}):
        last = max(i for i, t in enumerate(tokens) if set(t) == {";"})
        tokens = tokens[last + 1:]
    if text and not text[-1].isspace() and tokens and not text.endswith(";"):
        return tokens[:-1], tokens[-1]
    return tokens, ""


def complete_line(session: "Session", text: str, extra_commands: Sequence[Candidate] = ()) -> tuple[str, list[Candidate]]:
    """Candidates for the text before the cursor, and the word they replace."""
    words, typed = split_for_completion(text)
    return typed, complete_words(session, words, typed, extra_commands)
