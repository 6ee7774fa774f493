"""The right-click menus: on a member, the moderation actions we may take; on a message, Delete.

This module owns the two context menus of the chat window. What each offers is decided by the
engine's rules (``app.client.moderation.member_actions`` and ``may_delete``) on the newest
``StateSnapshot``, so the menu never shows an action the server is bound to refuse and agrees
with what the Textual frontend allows; an action chosen is submitted as the command line it
means (``/kick bob``, ``/delete 42``), as if typed. The member menu also opens a direct
conversation, as a double click does. ``ContextMenus.posted`` keeps the last menu built, for
the tests to read and invoke. Only the Tk thread calls anything here; nothing here talks to the
network.
"""

from __future__ import annotations

import contextlib
import functools
import tkinter as tk
from collections.abc import Callable

from app.client.moderation import ACTION_LABELS, action_line, may_delete, member_actions
from app.client.state import ConversationKind, Line, StateSnapshot
from frontends.tk.messages import MessageView
from frontends.tk.sidebar import MemberList


class ContextMenus:
    """Binds the right mouse button on the member list and the message view."""

    def __init__(
        self,
        members: MemberList,
        view: MessageView,
        snapshot: Callable[[], StateSnapshot | None],
        submit: Callable[[str], None],
    ) -> None:
        self._members = members
        self._view = view
        self._snapshot = snapshot
        self._submit = submit
        self.posted: tk.Menu | None = None
        # Button-3 is the right button on X11 and Windows; macOS's Tk calls it Button-2.
        for sequence in ("<Button-3>", "<Button-2>"):
            members.tree.bind(sequence, self._on_member, add=True)
            view.text.bind(sequence, self._on_message, add=True)

    # --- what the menus offer -----------------------------------------------------------------

    def member_menu(self, nick: str) -> tk.Menu:
        """The menu for ``nick`` in the active room: a direct message, then what we may do."""
        menu = tk.Menu(self._members, tearoff=False)
        menu.add_command(label="Message", command=lambda: self._submit(f"/msg {nick}"))
        state = self._snapshot()
        active = state.active_view if state is not None else None
        if state is not None and active is not None and active.kind is ConversationKind.ROOM:
            actions = member_actions(state, active, nick)
            if actions:
                menu.add_separator()
            for action in actions:
                submit = functools.partial(self._submit, action_line(action, nick))
                menu.add_command(label=ACTION_LABELS[action], command=submit)
        return menu

    def message_menu(self, line: Line) -> tk.Menu | None:
        """The menu for a message of the active room, or None when there is nothing to offer."""
        state = self._snapshot()
        active = state.active_view if state is not None else None
        if state is None or active is None or not may_delete(state, active, line):
            return None
        menu = tk.Menu(self._view, tearoff=False)
        menu.add_command(label="Delete", command=lambda: self._submit(f"/delete {line.id}"))
        return menu

    # --- the right mouse button ---------------------------------------------------------------

    def _on_member(self, event: tk.Event[tk.Misc]) -> str:
        row = self._members.tree.identify_row(event.y)
        nick = self._members.nick_at(row) if row else None
        if nick is not None:
            self._members.tree.selection_set(row)
            self._post(self.member_menu(nick), event)
        return "break"

    def _on_message(self, event: tk.Event[tk.Misc]) -> str:
        line = self._view.line_at(event.x, event.y)
        menu = self.message_menu(line) if line is not None else None
        if menu is not None:
            self._post(menu, event)
        return "break"

    def _post(self, menu: tk.Menu, event: tk.Event[tk.Misc]) -> None:
        if self.posted is not None:
            with contextlib.suppress(tk.TclError):
                self.posted.unpost()
                self.posted.destroy()
        self.posted = menu
        try:
            menu.tk_popup(event.x_root, event.y_root)
        finally:
            # Without this the menu keeps the pointer grabbed on some window managers.
            menu.grab_release()


def labels(menu: tk.Menu) -> list[str]:
    """The labels of ``menu``'s commands, in order (separators left out)."""
    end = menu.index("end")
    if end is None:
        return []
    return [
        str(menu.entrycget(index, "label"))
        for index in range(end + 1)
        if menu.type(index) == "command"
    ]
