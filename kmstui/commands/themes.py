"""`theme list` and `theme use NAME`: the theme files shared by the TUI and the REPL."""

from __future__ import annotations

from kmstui.commands.registry import Arg, Result, TableHint
from kmstui.errors import UsageError

# kmstui.themes is imported inside the handlers: every kmstui start imports this module to register them.


def _theme_list(session, args) -> Result:
    from kmstui.themes import configured_theme_name, load_themes

    themes, errors = load_themes(session.config)
    active = configured_theme_name(session.config)
    rows = [
        {"Name": spec.name, "Dark": spec.dark, "Source": spec.source, "Active": spec.name == active,
         "Description": spec.description, "Path": str(spec.path) if spec.path else None}
        for spec in sorted(themes.values(), key=lambda s: s.name)
    ]
    message = "\n".join(f"kmstui: {e}" for e in errors) or None
    return Result(
        data={"Themes": rows, "Active": active},
        table=TableHint("Themes", [("Name", "Name"), ("Dark", "Dark"), ("Source", "Source"),
                                   ("Active", "Active"), ("Description", "Description")]),
        text="\n".join(f"{'*' if r['Active'] else ' '} {r['Name']:<16} {r['Source']:<8} {r['Description']}"
                       for r in rows),
        message=message,
    )


def _theme_use(session, args) -> Result:
    from kmstui.themes import load_themes, save_theme_choice

    themes, _errors = load_themes(session.config)
    if args.name not in themes:
        raise UsageError(f"no theme named '{args.name}' (known: {', '.join(sorted(themes))}); "
                         f"user themes go in {session.config.paths.themes_dir}")
    path = save_theme_choice(session.config, args.name)
    return Result(data={"Theme": args.name, "ConfigFile": str(path)}, text=args.name,
                  message=f"theme set to '{args.name}' in {path}")


def register(registry) -> None:
    registry.describe_group("theme", "Colour themes shared by the TUI and the REPL")
    registry.command("theme list", "List the shipped and user themes", [], needs_backend=False,
                     description="Shipped themes come with kmstui; user themes are *.toml files in the "
                                 "config folder's themes/ directory (see docs/themes.md).")(_theme_list)
    registry.command("theme use", "Choose the theme (saved in config.toml)",
                     [Arg("name", "theme name (see 'theme list')", complete="theme")], needs_backend=False,
                     examples=["theme use high-contrast"])(_theme_use)
