"""Widgets of the TUI's main view. They show data and post messages; the session does the work."""
