"""Screens and modal dialogs of the TUI."""
