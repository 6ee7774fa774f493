"""Desktop notifications for a mention or a direct message the user is not looking at.

This module owns ``DesktopNotifier``. When a line names us, or comes in a direct conversation,
while the window does not have the focus or shows another conversation, it asks the desktop's
notification service through ``notify-send`` (libnotify's command, which speaks the freedesktop
``org.freedesktop.Notifications`` interface) where that command is installed, and rings the
window's bell otherwise. The command is started and not waited for, so a slow or missing
notification daemon never stalls the Tk thread; it is reaped on the next notification and waited
for (briefly) when the window closes. The text shown is the sender and the first
characters of the message, with control characters removed.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tkinter as tk
from typing import Final

log = logging.getLogger("parley.tk")

SUMMARY_LIMIT: Final = 160  # characters of the message shown in the notification


def _clean(text: str) -> str:
    return "".join(char if char.isprintable() else " " for char in text)[:SUMMARY_LIMIT]


class DesktopNotifier:
    """Tells the desktop (or rings the bell); only the Tk thread uses it."""

    def __init__(self, root: tk.Misc, command: str | None = None) -> None:
        self.root = root
        # Looked up once: the PATH does not change under a running window.
        self.command = command if command is not None else shutil.which("notify-send")
        self.enabled = True
        self.sent = 0  # notifications shown (or bells rung), for the tests
        self._running: list[subprocess.Popen[bytes]] = []

    def notify(self, title: str, body: str) -> None:
        """Show ``title`` and ``body`` on the desktop, or ring the bell where that cannot be."""
        if not self.enabled:
            return
        self.sent += 1
        if self.command is None:
            self.root.bell()
            return
        self._running = [child for child in self._running if child.poll() is None]
        try:
            child = subprocess.Popen(
                [self.command, "--app-name=Parley", "--", _clean(title), _clean(body)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            log.warning("cannot run %s: %s; ringing the bell instead", self.command, exc)
            self.command = None
            self.root.bell()
            return
        self._running.append(child)

    def close(self, timeout: float = 1.0) -> None:
        """Reap the notifications still being sent, waiting at most ``timeout`` for each."""
        for child in self._running:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s is still running after %.1f s", self.command, timeout)
        self._running.clear()
