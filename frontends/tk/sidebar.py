"""The two side panels: the conversations list on the left and the members list on the right.

This module owns how a ``StateSnapshot`` appears beside the messages. ``ConversationList`` is a
``ttk.Treeview`` with rooms and direct messages under two headings, each row with its unread
count, bold when unread and red with an ``@`` when it mentions the user or is a direct message
waiting; selecting a row asks the window to switch. ``MemberList`` shows the active room's
members in the engine's order (owner and ops first, marked ``~`` and ``@`` as in IRC), the user's
own nick in bold and away members dimmed. Both only redraw rows that changed,
so a state change per message during a burst stays cheap. Neither talks to the engine.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Final

from app.client.state import ConversationKind, ConversationView, MemberView
from app.protocol import fold
from frontends.tk.render import font

ROOMS: Final = "group:rooms"
DIRECT: Final = "group:direct"
_ROW_PREFIX: Final = "conv:"


def _row_values(view: ConversationView) -> tuple[str, tuple[str, ...], str]:
    unread = ""
    tags: tuple[str, ...] = ()
    if view.unread:
        unread = f"@{view.unread}" if view.mention else str(view.unread)
        tags = ("mention",) if view.mention else ("unread",)
    if view.kind is ConversationKind.ROOM and not view.joined:
        tags += ("parted",)
    return view.name, tags, unread


class ConversationList(ttk.Frame):
    """Rooms, then direct messages, in the engine's order; selecting one calls ``on_select``."""

    def __init__(self, master: tk.Misc, on_select: Callable[[str], None]) -> None:
        super().__init__(master)
        self.on_select = on_select
        self.tree = ttk.Treeview(
            self, columns=("unread",), show="tree", selectmode="browse", takefocus=False
        )
        self.tree.column("#0", width=150, stretch=True)
        self.tree.column("unread", width=44, anchor="e", stretch=False)
        self.tree.insert("", "end", ROOMS, text="Rooms", open=True, tags=("group",))
        self.tree.insert("", "end", DIRECT, text="Direct messages", open=True, tags=("group",))
        bold = font(self, 10, "bold")
        self.tree.tag_configure("group", foreground="#6b6b6b")
        self.tree.tag_configure("unread", font=bold)
        self.tree.tag_configure("mention", font=bold, foreground="#c62828")
        self.tree.tag_configure("parted", foreground="#9a9a9a")
        self.tree.pack(fill="both", expand=True)
        self.tree.bind("<<TreeviewSelect>>", self._selected)
        self._rows: dict[str, tuple[str, tuple[str, ...], str]] = {}
        self._order: list[str] = []
        self._updating = False

    @staticmethod
    def row_id(key: str) -> str:
        return f"{_ROW_PREFIX}{key}"

    def update_views(self, views: tuple[ConversationView, ...], active: str | None) -> None:
        """Show ``views`` with ``active`` selected, touching only rows that changed."""
        self._updating = True
        try:
            order = [view.key for view in views]
            if order != self._order:
                self._rebuild(views)
                self._order = order
            for view in views:
                values = _row_values(view)
                if self._rows.get(view.key) != values:
                    name, tags, unread = values
                    self.tree.item(self.row_id(view.key), text=name, tags=tags, values=(unread,))
                    self._rows[view.key] = values
            wanted = (self.row_id(active),) if active is not None and active in order else ()
            if tuple(self.tree.selection()) != wanted:
                self.tree.selection_set(wanted)
            if wanted:
                self.tree.see(wanted[0])
        finally:
            self._updating = False

    def _rebuild(self, views: tuple[ConversationView, ...]) -> None:
        for parent in (ROOMS, DIRECT):
            self.tree.delete(*self.tree.get_children(parent))
        self._rows.clear()
        for view in views:
            parent = ROOMS if view.kind is ConversationKind.ROOM else DIRECT
            self.tree.insert(parent, "end", self.row_id(view.key), text=view.name)

    def _selected(self, _event: object) -> None:
        if self._updating:
            return
        selection = self.tree.selection()
        if not selection:
            return
        row = selection[0]
        if row.startswith(_ROW_PREFIX):
            self.on_select(row[len(_ROW_PREFIX) :])
        else:
            # A heading is not a conversation; keep the real selection where it was.
            self.tree.selection_remove(row)

    def row_text(self, key: str) -> tuple[str, str]:
        """The shown name and unread cell of a conversation (for the window's title and tests)."""
        row = self.row_id(key)
        values = self.tree.item(row, "values")
        return str(self.tree.item(row, "text")), str(values[0]) if values else ""

    def row_tags(self, key: str) -> tuple[str, ...]:
        return tuple(self.tree.item(self.row_id(key), "tags"))


class MemberList(ttk.Frame):
    """The active conversation's members, role marks before their nicks; away members dimmed,
    ours bold."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.heading = ttk.Label(self, text="Members", style="Heading.TLabel")
        self.heading.pack(fill="x", padx=6, pady=(6, 2))
        self.tree = ttk.Treeview(self, show="tree", selectmode="browse", takefocus=False)
        self.tree.column("#0", width=140, stretch=True)
        bold = font(self, 10, "bold")
        italic = font(self, 10, "italic")
        self.tree.tag_configure("away", foreground="#a0a0a0", font=italic)
        self.tree.tag_configure("self", font=bold)
        self.tree.pack(fill="both", expand=True)
        self._shown: tuple[tuple[MemberView, ...], str] | None = None
        self._nicks: dict[str, str] = {}  # row id -> nick

    def update_members(self, members: tuple[MemberView, ...], own_nick: str) -> None:
        if self._shown == (members, own_nick):
            return
        self._shown = (members, own_nick)
        self.tree.delete(*self.tree.get_children(""))
        self._nicks.clear()
        for member in members:
            tags: tuple[str, ...] = ("away",) if member.away else ()
            if fold(member.nick) == fold(own_nick):
                tags += ("self",)
            label = member.prefix + member.nick + (" (away)" if member.away else "")
            row = f"m:{fold(member.nick)}"
            self.tree.insert("", "end", row, text=label, tags=tags)
            self._nicks[row] = member.nick
        count = len(members)
        self.heading.configure(text=f"{count} member{'s' if count != 1 else ''}")

    def nick_at(self, row: str) -> str | None:
        """The nick shown in ``row`` (a tree item id), or None."""
        return self._nicks.get(row)

    def nicks(self) -> list[str]:
        return [str(self.tree.item(row, "text")) for row in self.tree.get_children("")]

    def member_tags(self, nick: str) -> tuple[str, ...]:
        return tuple(self.tree.item(f"m:{fold(nick)}", "tags"))
