"""Hook implementations of the grants plugin."""

from kmstui.hookspecs import hookimpl  # noqa: F401
