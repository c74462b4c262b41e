"""Hook implementations of the envelope plugin: its commands (and its TUI screen), registered like any
third-party plugin's. Both import their modules lazily, so loading the plugin costs next to nothing."""

from kmstui.hookspecs import hookimpl


@hookimpl
def register_commands(registry):
    from kmstui_envelope import commands

    commands.register(registry)


@hookimpl
def register_tui_screens(register):
    def factory(app):
        from kmstui_envelope.screens import EnvelopeScreen

        return EnvelopeScreen(app.session)

    register("envelope", "Envelope files", factory)
