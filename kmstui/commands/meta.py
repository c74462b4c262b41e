"""Commands about kmstui itself: `help`, `plugins`, `config show|locate|init`, `completion`, `version`.

None of them touches a key store (needs_backend=False), so they work before any HSM exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from kmstui import __version__
from kmstui.commands.args import OUT, write_output
from kmstui.commands.registry import GLOBAL_ARGS, Arg, Command, Result, TableHint
from kmstui.commands.values import HELP as VALUES_HELP
from kmstui.errors import UsageError

EXIT_CODES = ("0 ok, 1 a check ran and failed, 252 usage, 253 config/credentials/sealed, "
              "254 backend error (KMS exception names), 255 other, 130 interrupted")
MODES = (
    ("kmstui", "the TUI on a terminal (the REPL where the TUI is not available)"),
    ("kmstui shell", "the interactive shell: completion, history, vi/emacs keys"),
    ("kmstui COMMAND [ARGS]", "one command, e.g. kmstui key list --output json"),
    ('kmstui -c "CMD; CMD"', "several commands, stopping at the first that fails"),
    ("kmstui run FILE [--keep-going]", "a script: one command per line, # comments"),
    ("... | kmstui", "commands piped on standard input"),
)
_SECRET_WORDS = ("passphrase", "password", "passwd", "secret")  # anywhere in a setting name
_SECRET_LAST_WORDS = ("pin", "token", "passphrase", "password")  # as its last word


def _arg_usage(arg: Arg) -> str:
    if arg.is_flag:
        text = arg.name if arg.flag else f"{arg.name} {arg.metavar or arg.dest.upper()}"
        text += " ..." if arg.repeat else ""
        return text if arg.required else f"[{text}]"
    meta = arg.metavar or arg.dest.upper()
    return {"?": f"[{meta}]", "*": f"[{meta} ...]", "+": f"{meta} [{meta} ...]"}.get(arg.nargs or "", meta)


def _arg_help(arg: Arg) -> tuple[str, str]:
    name = ", ".join(arg.spellings) if arg.is_flag else (arg.metavar or arg.dest.upper())
    if arg.is_flag and not arg.flag:
        name += f" {arg.metavar or arg.dest.upper()}"
    extra = []
    if arg.choices:
        extra.append("one of: " + ", ".join(map(str, arg.choices)))
    if arg.default not in (None, False) and not arg.flag and "default" not in arg.help:
        extra.append(f"default: {arg.default}")
    if arg.repeat and "repeatable" not in arg.help:
        extra.append("repeatable")
    if arg.required and "required" not in arg.help:
        extra.append("required")
    return name, arg.help + (f" ({'; '.join(extra)})" if extra else "")


def _columns(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = min(max((len(a) for a, _ in rows), default=0), 34)
    out = []
    for a, b in rows:
        out.append(f"{indent}{a}\n{indent}{'':<{width}}  {b}" if len(a) > width else f"{indent}{a:<{width}}  {b}")
    return out


def command_help(registry, command: Command) -> str:
    lines = [f"usage: {command.name} " + " ".join(_arg_usage(a) for a in command.args), "",
             command.description or command.summary]
    if command.args:
        lines += ["", "Arguments:", *_columns([_arg_help(a) for a in command.args])]
    notes = []
    if command.mutates:
        notes.append("changes backend state: refused under --read-only")
    if command.confirm:
        notes.append(f"asks you to type the {command.confirm.replace('_', ' ')} to confirm; --yes skips that")
    if not command.needs_backend:
        notes.append("works without any key store (file arguments never open or unseal one)")
    if any(a.kind for a in command.args):
        notes.append("values may be typed, or given as fileb://PATH (raw bytes) or file://PATH (text); "
                     "'help values' has the rule")
    if any(a.secret for a in command.args):
        notes.append("lines with secret values are never kept in the REPL history; to keep a secret out of `ps` "
                     "too, give it as fileb://PATH, --in PATH or on standard input (fileb:///dev/stdin, --in -)")
    if any(a is OUT for a in command.args):  # only the shared --out means "else print base64"; envelope's --out does not
        notes.append("without --out, binary results are printed base64-encoded in the output format")
    if command.plugin != "kmstui":
        notes.append(f"from plugin {command.plugin}")
    if notes:
        lines += ["", "Notes:", *(f"  - {n}" for n in notes)]
    if command.examples:
        lines += ["", "Examples:", *(f"  {e}" for e in command.examples)]
    lines += ["", "Global flags (before or after the command): " + " ".join(_arg_usage(a) for a in GLOBAL_ARGS)]
    return "\n".join(lines)


def group_help(registry, path: tuple[str, ...]) -> str:
    rows = []
    for word in registry.children(path):
        cmd = registry.get((*path, word))
        if cmd is not None and cmd.name.startswith("_"):
            continue
        summary = cmd.summary if cmd else registry.group_help.get((*path, word), "")
        rows.append((" ".join((*path, word)), summary))
    head = registry.group_help.get(path, "")
    return "\n".join(([head, ""] if head else []) + [f"{' '.join(path)} commands:"] + _columns(rows)
                     + ["", f"Run 'help {' '.join(path)} COMMAND' for one command's arguments."])


def overview(registry) -> str:
    rows = []
    for word in registry.children(()):
        if word.startswith("_"):
            continue
        cmd = registry.get((word,))
        if cmd is not None:
            rows.append((word, cmd.summary))
        else:
            rows.append((word, registry.group_help.get((word,)) or ", ".join(registry.children((word,)))))
    lines = [f"kmstui {__version__}: a key-management workbench for the terminal", "", "Usage:",
             *_columns(list(MODES)), "", "Commands:", *_columns(rows), "", "Global flags (before or after the command):",
             *_columns([_arg_help(a) for a in GLOBAL_ARGS]), "",
             "Binary results (ciphertexts, data keys, signatures) are printed base64-encoded unless --out is given.",
             "Values may be typed, or read with fileb://PATH (raw bytes), file://PATH (text) or fileb:///dev/stdin: "
             "run 'help values'.",
             "aws kms operation names work as commands, with the aws CLI's options: list-keys, describe-key, "
             "encrypt, generate-data-key, schedule-key-deletion, ... ('help list-keys' names the kmstui command).",
             "Lists page as the aws CLI v2 does: --max-items, --page-size, --starting-token; --no-paginate.",
             f"Exit codes: {EXIT_CODES}.", "Run 'help COMMAND' (or COMMAND --help) for details."]
    return "\n".join(lines)


SHELL_HELP = {
    "set": "set editing-mode vi|emacs   switch the shell's key bindings for this session\n"
           "set output FORMAT           table, json, yaml or text for the rest of this session\n"
           "(shell only: 'kmstui shell'; elsewhere use --output FORMAT or KMSTUI_OUTPUT)",
    "exit": "exit [CODE]   leave the shell (also quit, Ctrl-D), with exit code CODE (default 0)",
}
SHELL_HELP["quit"] = SHELL_HELP["exit"]


def _help(session, args) -> Result:
    from kmstui.commands.awsnames import OPERATIONS

    words = [w for w in (args.topic or []) if w]
    registry = session.registry
    if not words:
        return Result(text=overview(registry))
    if len(words) == 1 and words[0] in SHELL_HELP:
        return Result(text=SHELL_HELP[words[0]])
    if len(words) == 1 and words[0] in OPERATIONS:
        path, fixed = OPERATIONS[words[0]]
        command = registry.get(tuple(path.split()))
        if command is not None:
            same = f"'{words[0]}' (aws kms) is 'kmstui {' '.join([path, *fixed])}'; it accepts the aws CLI's options."
            return Result(text=same + "\n\n" + command_help(registry, command))
    command = registry.get(words)
    if command is not None:
        return Result(text=command_help(registry, command))
    if words in (["values"], ["value"], ["input"], ["inputs"]):
        return Result(text=VALUES_HELP)
    if tuple(words) in registry.groups():
        return Result(text=group_help(registry, tuple(words)))
    raise UsageError(registry._unknown(words).replace("(try 'help')", "(run 'help' for the list)"))


def _plugins(session, args) -> Result:
    rows = [{"Name": p.name, "Version": p.version, "Module": p.module, "Source": p.source} for p in session.plugins]
    counts: dict[str, int] = {}
    for cmd in session.registry:
        counts[cmd.plugin] = counts.get(cmd.plugin, 0) + 1
    data: dict[str, Any] = {"Plugins": rows}
    if session.plugin_errors:
        data["Errors"] = list(session.plugin_errors)
    return Result(data=data, table=TableHint("Plugins", [("Name", "Name"), ("Version", "Version"),
                                                          ("Source", "Source"), ("Module", "Module")]),
                  text="\n".join(f"{r['Name']}\t{r['Version']}\t{r['Source']}" for r in rows))


def _version(session, args) -> Result:
    python = ".".join(map(str, sys.version_info[:3]))
    return Result(data={"Version": __version__, "Python": python}, text=f"kmstui {__version__}")


# -- config ---------------------------------------------------------------------------------------------
def _secret_setting(key: str) -> bool:
    """A setting name that holds a secret: `pin`, `user_pin`, `session_token`, `aws_secret_access_key`,
    `passphrase` ... but not `token_label` (a name) or `pin_env` (the name of a variable holding one).
    Whole name parts are compared, so `spinner` or `pinned` are not taken for a PIN."""
    parts = re.split(r"[^a-z0-9]+", key.lower())
    if parts[-1] == "env":
        return False
    return parts[-1] in _SECRET_LAST_WORDS or any(p in _SECRET_WORDS for p in parts)


def _masked(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: "********" if _secret_setting(k) else _masked(v) if isinstance(v, dict) else v
            for k, v in settings.items()}


def _config_show(session, args) -> Result:
    config = session.config
    profiles = []
    for name in config.profile_names():
        try:
            prof = config.profile(name)
            profiles.append({"Name": name, "Backend": prof.backend, "Settings": _masked(prof.settings),
                             "Active": name == session.profile_name})
        except Exception as exc:  # noqa: BLE001 - show a broken profile instead of failing the listing
            profiles.append({"Name": name, "Backend": None, "Error": str(exc), "Active": False})
    settings = _masked({k: v for k, v in config.data.items() if not isinstance(v, dict)})
    data = {
        "ConfigFile": str(config.paths.config_file),
        "Exists": config.paths.config_file.exists(),
        "ActiveProfile": session.profile_name,
        "Settings": settings,
        "Profiles": profiles,
    }
    return Result(data=data, table=TableHint("Profiles", [("Profile", "Name"), ("Backend", "Backend"),
                                                           ("Active", "Active"), ("Settings", "Settings")]))


def _config_locate(session, args) -> Result:
    paths = session.config.paths
    data = {"ConfigFile": str(paths.config_file), "ConfigDir": str(paths.config_dir), "DataDir": str(paths.data_dir),
            "StateDir": str(paths.state_dir), "RuntimeDir": str(paths.runtime_dir), "ThemesDir": str(paths.themes_dir)}
    return Result(data=data, text=str(paths.config_file))


STARTER_HEADER = """\
# kmstui configuration (written by 'kmstui config init').
# Precedence for every setting: command-line flag > environment > profile > this file's default.
#
# default_profile  the profile used when --profile is not given (env KMSTUI_PROFILE)
# output           table | json | yaml | text; unset: table on a terminal, json otherwise (env KMSTUI_OUTPUT)
# editing_mode     emacs | vi, for the REPL (switch live with 'set editing-mode vi' or F4)
#
# Profiles: [profiles.NAME] with backend = "local" | "pkcs11" | "aws" and that backend's settings, e.g.
#   [profiles.token]
#   backend = "pkcs11"
#   module = "/usr/lib/softhsm/libsofthsm2.so"
#   token_label = "my-token"          # the PIN comes from KMSTUI_PKCS11_PIN or a prompt, never this file
#
#   [profiles.prod]
#   backend = "aws"
#   region = "eu-west-1"
#   # endpoint_url = "http://127.0.0.1:5000"
#
# A key reference may name another profile: 'kmstui encrypt --key-id prod:alias/app ...'.

"""


def starter_config() -> dict[str, Any]:
    return {
        "default_profile": "local",
        "editing_mode": "emacs",
        "profiles": {"local": {"backend": "local"}},
    }


def _config_init(session, args) -> Result:
    import tomli_w

    path: Path = session.config.paths.config_file
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; use --force to replace it (or edit it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = STARTER_HEADER + tomli_w.dumps(starter_config())
    write_output(session, str(path), text.encode("utf-8"), force=args.force, flag="config init")
    return Result(data={"ConfigFile": str(path), "Written": True}, text=str(path), message=f"wrote {path}")


# -- shell completion scripts ---------------------------------------------------------------------------
BASH = r"""# kmstui completion for bash: eval "$(kmstui completion bash)"
_kmstui_complete() {
    local IFS=$'\n'
    COMPREPLY=($(COMP_WORDBREAKS="$COMP_WORDBREAKS" command kmstui __complete --bash "${COMP_LINE:0:COMP_POINT}" 2>/dev/null))
    # a finished word gets its space; a folder, `--flag=` or `profile:` stays open for the rest
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} != *[/=:] ]]; then compopt +o nospace 2>/dev/null; fi
}
complete -o default -o nospace -F _kmstui_complete kmstui
"""

ZSH = r"""#compdef kmstui
# kmstui completion for zsh: eval "$(kmstui completion zsh)"
_kmstui() {
    local -a lines cands
    local line
    lines=("${(@f)$(command kmstui __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for line in $lines; do
        [[ -z $line ]] && continue
        cands+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
    done
    _describe -t kmstui 'kmstui' cands -S ''
}
compdef _kmstui kmstui
"""

FISH = r"""# kmstui completion for fish: kmstui completion fish | source
function __kmstui_complete
    set -l tokens (commandline -opc)
    set -e tokens[1]
    command kmstui __complete -- $tokens (commandline -ct) 2>/dev/null
end
complete -c kmstui -f -a '(__kmstui_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def _completion(session, args) -> Result:
    return Result(text=SCRIPTS[args.shell])


def register(registry) -> None:
    cmd = registry.command
    cmd("help", "Show commands, or one command's arguments",
        [Arg("topic", "command or group, e.g. 'key create'", nargs="*", complete="command", metavar="COMMAND")],
        needs_backend=False, examples=["help", "help key", "help key create"])(_help)
    cmd("plugins", "List loaded plugins with their versions", needs_backend=False)(_plugins)
    cmd("version", "Show kmstui's version", needs_backend=False)(_version)
    registry.describe_group("config", "show, locate or create the configuration file")
    cmd("config show", "Show the configuration: file, settings and profiles (secrets masked)",
        needs_backend=False)(_config_show)
    cmd("config locate", "Print where kmstui keeps its config, data, state and runtime files",
        needs_backend=False)(_config_locate)
    cmd("config init", "Write a starter config.toml (never replaces one without --force)",
        [Arg("--force", "replace an existing config file", flag=True)], needs_backend=False)(_config_init)
    cmd("completion", "Print a shell completion script",
        [Arg("shell", "the shell", choices=("bash", "zsh", "fish"))], needs_backend=False,
        description="Print a completion script for your shell. It asks kmstui for candidates as you type, "
                    "so it completes commands, flags and their values (choices, profiles, files) as the "
                    "REPL does. Key ids and aliases are completed only in the REPL and the TUI: the shell "
                    "script never opens or unseals a key store.",
        examples=['eval "$(kmstui completion bash)"', 'eval "$(kmstui completion zsh)"',
                  "kmstui completion fish | source"])(_completion)
