"""The prompt_toolkit face: an interactive shell over the same Session and command registry as the CLI.

app (the loop), completer (adapter over kmstui.completion), history (never keeps secret lines), toolbar,
keys (key bindings), editor ($EDITOR hand-off; plain subprocess, no prompt_toolkit).
"""
