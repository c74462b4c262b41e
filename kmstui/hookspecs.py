"""The hooks a kmstui plugin can implement. Built-in plugins use exactly these, as a third-party one would.

A plugin is a package with a ``hookimpl`` module listed under the ``kmstui`` entry-point group::

    [project.entry-points.kmstui]
    myplugin = "myplugin.hookimpl"
"""

import pluggy

hookspec = pluggy.HookspecMarker("kmstui")
hookimpl = pluggy.HookimplMarker("kmstui")


@hookspec
def register_commands(registry):
    """Add commands to `registry` (a kmstui.commands.CommandRegistry), with ``registry.command(...)`` or
    ``registry.add(Command(...))``. A plugin may add subcommands to core groups (``policy test``).
    This hook runs on every kmstui start: give handlers as ``handler="package.module:function"`` so their
    modules are imported only when the command runs."""


@hookspec
def register_backends(register):
    """Offer backend kinds: call ``register(kind, factory, summary)`` where ``factory(ctx)`` takes a
    kmstui.session.BackendContext and returns a kmstui.backends.base.Backend. Import heavy libraries
    inside the factory so other backends do not pay for them."""


@hookspec
def register_tui_screens(register):
    """Offer TUI screens: call ``register(name, title, factory, key=None)`` where ``factory(app)``
    returns a Textual Screen. Only called when the TUI starts, so import Textual inside the factory."""


@hookspec
def register_completers(register):
    """Offer value completers for arguments declaring ``complete=NAME``: call
    ``register(name, fn)`` where ``fn(session, prefix)`` returns a list of kmstui.completion.Candidate."""
