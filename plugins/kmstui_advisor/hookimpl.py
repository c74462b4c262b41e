"""Hook implementations of the advisor plugin."""

from kmstui.hookspecs import hookimpl  # noqa: F401
