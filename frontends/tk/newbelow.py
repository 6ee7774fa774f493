"""The "3 new below ↓" button over the message view, while the reader is scrolled back.

This module owns what the Tk window shows when new lines arrive out of sight. ``NewBelow`` is a
small button placed over the bottom right corner of the ``MessageView``: hidden while the view
is at the bottom (new lines scroll into view there), it says "scrolled back ↓" once the reader
scrolls up, and counts the chat lines that arrive below meanwhile ("3 new below ↓"), in the
words of the terminal frontend's status line. Clicking it, or End / Ctrl+End anywhere in the
window, jumps to the bottom; reaching the bottom by scrolling clears it as well. The window
tells it what arrived (``arrived``) before it draws a batch; the view tells it where it is
(``MessageView.on_scroll``). Only the Tk thread calls anything here.
"""

from __future__ import annotations

from tkinter import ttk
from typing import Final

from frontends.tk.messages import MessageView

STYLE: Final = "NewBelow.TButton"


def describe(count: int) -> str:
    """The button's text for ``count`` lines that arrived below the view."""
    return f"{count} new below ↓" if count else "scrolled back ↓"


class NewBelow(ttk.Button):
    """Shown while ``view`` is scrolled back; counts what arrives below; a click goes there."""

    def __init__(self, view: MessageView) -> None:
        style = ttk.Style(view)
        style.configure(STYLE, padding=(10, 3), foreground="#ffffff", background="#3b6ea5")
        style.map(STYLE, background=[("active", "#2f5a88")])
        super().__init__(view, text="", style=STYLE, command=self.jump, takefocus=False)
        self.view = view
        self.count = 0
        self._scrolled_back = False
        view.on_scroll = self.scrolled

    @property
    def shown(self) -> bool:
        """Whether the button is on screen (placed over the view)."""
        return bool(self.winfo_manager())

    def arrived(self, count: int) -> None:
        """``count`` chat lines were added below while the view was scrolled back."""
        if count:
            self.count += count
            self._scrolled_back = True
            self._show()

    def scrolled(self, at_bottom: bool) -> None:
        """The view moved: at the bottom the count is read; above it, say so."""
        if at_bottom == (not self._scrolled_back):
            return
        self._scrolled_back = not at_bottom
        if at_bottom:
            self.count = 0
        self._show()

    def reset(self) -> None:
        """Another conversation is shown, from its bottom: nothing of it is below."""
        self.count = 0
        self._scrolled_back = False
        self._show()

    def jump(self) -> None:
        """Scroll the view to its newest line and forget the count."""
        self.view.text.yview_moveto(1.0)
        self.reset()

    def _show(self) -> None:
        if not self._scrolled_back:
            self.place_forget()
            return
        self.configure(text=describe(self.count))
        if not self.shown:
            # Left of the scrollbar, a little above the bottom edge.
            scrollbar = self.view.scrollbar.winfo_reqwidth()
            self.place(relx=1.0, rely=1.0, x=-(scrollbar + 12), y=-10, anchor="se")
