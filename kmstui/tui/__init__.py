"""The Textual face of kmstui. Import `kmstui.tui.app.run_tui` only when a TUI is wanted: importing this
package pulls in Textual."""
