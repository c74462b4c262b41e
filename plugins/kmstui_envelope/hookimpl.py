"""Hook implementations of the envelope plugin."""

from kmstui.hookspecs import hookimpl  # noqa: F401
