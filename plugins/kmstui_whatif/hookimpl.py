"""Hook implementations of the whatif plugin."""

from kmstui.hookspecs import hookimpl  # noqa: F401
