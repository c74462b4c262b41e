"""Command-palette providers: every registered command (core and plugins), kmstui themes and plugin screens.

Choosing a command that needs arguments puts it on the console line to finish; one that needs none runs
at once. Commands that change state are left out in read-only mode.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from kmstui.commands.registry import Command


def needs_input(command: Command) -> bool:
    return any(a.required or (not a.is_flag and a.nargs not in ("?", "*")) for a in command.args)


class RegistryCommands(Provider):
    """One entry per command in session.registry, titled "group: words — summary"."""

    def _commands(self) -> list[Command]:
        app = self.app
        read_only = app.session.options.read_only
        return [c for c in app.session.registry if not (read_only and c.mutates)]

    def _run(self, command: Command) -> None:
        self.app.palette_command(command.name, run=not needs_input(command))

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, partial(self._run, command), help=command.summary)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), partial(self._run, command), help=command.summary)


class ThemeCommands(Provider):
    """"theme: NAME" for each kmstui theme; choosing one applies it and saves it (`theme use NAME`)."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name in self.app.kmstui_themes:
            title = f"theme: {name}"
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.use_theme, name),
                          help="use this theme in the TUI and the REPL (saved in config.toml)")

    async def discover(self) -> Hits:
        for name in self.app.kmstui_themes:
            yield DiscoveryHit(f"theme: {name}", partial(self.app.use_theme, name), help="switch theme")


class ScreenCommands(Provider):
    """"open: TITLE" for the main view, the serve screen and each plugin screen; "profile: NAME" for each other profile."""

    def _entries(self):
        yield "open: keys", self.app.action_show_keys, "the key table"
        yield "open: kmstui serve", self.app.action_serve, "is a server running for this HSM; its requests, live (F7)"
        for name in self.app.session.config.profile_names():
            if name != self.app.session.profile_name:
                yield f"profile: {name}", partial(self.app.switch_profile, name), "switch to this profile"
        for entry in self.app.plugin_screens.values():
            yield f"open: {entry.title}", partial(self.app.open_plugin_screen, entry.name), f"from plugin {entry.plugin}"

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)

    async def discover(self) -> Hits:
        for title, callback, help_text in self._entries():
            yield DiscoveryHit(title, callback, help=help_text)
