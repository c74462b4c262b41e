"""The footer: the keys that work here, most useful first, dropped whole (never cut mid-word) when the
terminal is too narrow. F1 Help always shows, since help lists everything the footer leaves out."""

from __future__ import annotations

from collections import defaultdict

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_WIDTH = 13  # "^p palette" with its separator, docked on the right
FIRST = ("help", "app.help")  # actions shown before all others


def footer_label(description: str) -> str:
    """A short footer label: the part before a colon ("Advisor: KMS or CloudHSM?" -> "Advisor")."""
    return description.split(":", 1)[0].strip()


class KeyFooter(Footer):
    """Footer that fits its keys to the width: F1 Help first, then the focused widget's keys, the
    screen's, the app's; whatever does not fit is left out whole."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        by_action: dict[str, tuple] = {}
        order: defaultdict[int, list[str]] = defaultdict(list)
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in by_action:
                continue
            by_action[binding.action] = (binding, enabled, tooltip)
            order[0 if binding.action in FIRST else 1].append(binding.action)
        room = max(0, (self.size.width or self.app.size.width) - PALETTE_WIDTH)
        for action in order[0] + order[1]:
            binding, enabled, tooltip = by_action[action]
            key = self.app.get_key_display(binding)
            label = footer_label(binding.description)
            need = cell_len(key) + cell_len(label) + 3  # " key label " and one space after
            if need > room:
                continue  # a shorter one further on may still fit
            room -= need
            yield FooterKey(binding.key, key, label, binding.action, disabled=not enabled,
                            tooltip=tooltip or binding.description).data_bind(compact=Footer.compact)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, binding, enabled, tooltip = found
                yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                binding.action, classes="-command-palette", disabled=not enabled,
                                tooltip=binding.tooltip or binding.description)

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready:
            self.call_after_refresh(self.recompose)
