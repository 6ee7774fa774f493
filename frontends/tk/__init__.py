"""The Tk desktop frontend of Parley (``parley tk``).

The engine of ``app.client`` runs on an asyncio loop in a worker thread (``session``); the Tk
thread alone touches widgets and learns of the engine's events through a queue drained by
``root.after`` (``app``). ``window`` is the chat window, ``messages`` the message view,
``sidebar`` the conversation and member lists, ``entry`` the input line, ``dialogs`` the forms,
and ``render`` how a line looks. Importing this package does not create a window.
"""

from __future__ import annotations

from frontends.tk.app import TkApp, run

__all__ = ["TkApp", "run"]
