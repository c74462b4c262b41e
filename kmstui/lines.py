"""From text to command words: `cmd; cmd` lines, script files, comments, and which lines carry secrets.

Every scripted face (`kmstui -c`, `kmstui run FILE`, piped stdin, the REPL, the TUI console) splits text
the same way, with shell quoting rules (shlex), `;` between commands and `#` comments, so a line behaves
the same wherever it is typed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

from kmstui.errors import UsageError

if TYPE_CHECKING:
    from kmstui.commands.registry import CommandRegistry


@dataclass(frozen=True)
class Line:
    """One command to run: its words and where it came from (1-based line number in its source).
    `error` is set instead of words when the line cannot be split (an unclosed quote)."""

    words: list[str]
    lineno: int
    error: str | None = None


def split_commands(text: str) -> list[list[str]]:
    """`key list; alias list  # note` -> [["key", "list"], ["alias", "list"]]. Quoted `;` and `#` stay."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=";")
    lex.whitespace_split = True
    lex.commenters = "#"
    commands: list[list[str]] = [[]]
    try:
        for token in lex:
            if token and set(token) == {";"}:
                commands.extend([] for _ in token)
            else:
                commands[-1].append(token)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UsageError(f"cannot split the line: {str(exc).lower()}") from None
    return [c for c in commands if c]


# Bounds on scripts (`kmstui run FILE`, commands piped on standard input): the whole script is read before
# it runs, so it is bounded; and one line (continuations joined) is bounded too, far above any real command.
MAX_SCRIPT_BYTES = 16 << 20
MAX_LINE_CHARS = 1 << 20


def script_lines(text: str) -> Iterator[Line]:
    """Commands of a script, each with its line number. A line ending in a backslash continues."""
    pending: list[str] = []
    start = 0
    size = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start, size = lineno, 0
        size += len(raw)
        if size > MAX_LINE_CHARS:
            yield Line([], start, f"line is longer than {MAX_LINE_CHARS >> 20} MiB, kmstui's bound for one command "
                                  "(docs/inputs.md)")
            pending = []
            continue
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        joined = " ".join(pending)
        pending = []
        yield from _lines_of(joined, start)
    if pending:
        yield from _lines_of(" ".join(pending), start)


def _lines_of(text: str, lineno: int) -> Iterator[Line]:
    try:
        commands = split_commands(text)
    except UsageError as exc:
        yield Line([], lineno, str(exc))
        return
    for words in commands:
        yield Line(words, lineno)


# Which lines are kept in history (the REPL's file and the TUI console's list). A line is left out when it
# may carry a secret, and the rule fails closed: when in doubt, the line is not kept. It is left out when
#  1. it cannot be split into words (an unclosed quote: nothing below could be checked);
#  2. it has a `#` comment: a comment is free text, and people write passwords in notes to themselves;
#  3. it gives a value to an argument its command declares secret (Arg(secret=True): --plaintext, --message,
#     --grant-token, ...), in any spelling (`--flag VALUE`, `--flag=VALUE`, an alias);
#  4. a flag's name says it carries a secret, whatever the command (so a mistyped command is caught too):
#     passphrase, password, pin, secret, token, plaintext, message, private key, credential, key material;
#  5. it assigns to such a name (`password=...`, `token: ...`);
#  6. a word looks like key material: a long run of base64 (40+ characters, mixed case and digits) or of
#     hex (32+ digits), as a data key, a raw key or a token printed earlier would.
# Values read from files or standard input (fileb://PATH, --in -) never put the secret on the line at all:
# that is the form help recommends.
_SECRET_NAMES = r"passphrase|password|passwd|pin|secret|token|plaintext|message|private-?key|credential|key-?material"
_SECRET_FLAG = re.compile(rf"^--?[\w-]*({_SECRET_NAMES})([\w-]*)(=.*)?$", re.IGNORECASE)
_SECRET_ASSIGN = re.compile(r"(passphrase|password|passwd|secret|pin|token|apikey|api_key|private_key)\s*[=:]",
                            re.IGNORECASE)
# A long run of base64 with both cases and digits looks like key material or a data key, not an id.
_BLOB = re.compile(r"^[A-Za-z0-9+/_-]{40,}={0,2}$")
_HEX = re.compile(r"(?<![0-9A-Za-z-])[0-9A-Fa-f]{32,}(?![0-9A-Za-z-])")


def _looks_like_blob(word: str) -> bool:
    if _HEX.search(word):
        return True
    return bool(_BLOB.match(word)) and any(c.islower() for c in word) and any(c.isupper() for c in word) \
        and any(c.isdigit() for c in word)


def secret_spellings(registry: "CommandRegistry", words: list[str]) -> set[str]:
    """Spellings of the flags declared `secret=True` on the command these words name (aws operation names,
    `encrypt` or `list-keys`, included)."""
    from kmstui.commands.registry import aws_words

    command, _used = registry.find(aws_words(words))
    if command is None:
        return set()
    return {s for arg in command.args if arg.secret for s in arg.spellings}


def _has_comment(line: str) -> bool:
    """True when shell-style splitting finds a `#` comment (a `#` inside quotes or a word is not one)."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=";")
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        words = [t for t in lex if not (t and set(t) == {";"})]
    except ValueError:
        return True
    return words != [w for c in split_commands(line) for w in c]


def has_secret(line: str, registry: "CommandRegistry | None" = None) -> bool:
    """True when a line may carry a secret and must not be kept (history, logs, echo): see the rule above."""
    if _SECRET_ASSIGN.search(line):
        return True
    try:
        commands: Iterable[list[str]] = split_commands(line)
    except UsageError:
        return True  # cannot be split, so cannot be checked
    if _has_comment(line):
        return True
    for words in commands:
        declared = secret_spellings(registry, words) if registry is not None else set()
        for word in words:
            flag = word.split("=", 1)[0]
            if flag in declared or _SECRET_FLAG.match(word) or _looks_like_blob(word):
                return True
    return False
