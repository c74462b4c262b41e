"""Hook implementations of the whatif plugin: `whatif`, `policy test`, `policy matrix`, `policy lint` and
`policy diff`, all faces over kmstui.authz.

Every command is registered with needs_backend=False, so working on files can never create, open or unseal
a key store. Given --key-id (or `--requests audit`), a command re-runs itself through
`Session.run_command` as a variant declared needs_backend=True; only then is a backend opened.
"""

from kmstui.hookspecs import hookimpl


@hookimpl
def register_commands(registry):
    from kmstui_whatif import specs

    specs.register(registry)


@hookimpl
def register_tui_screens(register):
    def whatif_screen(app):
        from kmstui_whatif.screens import WhatIfScreen

        return WhatIfScreen(app.session)

    register("whatif", "What-if", whatif_screen, key="f4")
