"""Hook implementations of the envelope plugin: its commands, registered like any third-party plugin's."""

from kmstui.hookspecs import hookimpl


@hookimpl
def register_commands(registry):
    from kmstui_envelope import commands

    commands.register(registry)
