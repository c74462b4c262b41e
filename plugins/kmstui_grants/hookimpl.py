"""Hook implementations of the grants plugin: the `grant` commands, registered as a third-party plugin would."""

from kmstui.hookspecs import hookimpl


@hookimpl
def register_commands(registry):
    from kmstui_grants import specs

    specs.register(registry)
