"""Pasting several lines: what they become, and the one question both frontends ask first.

This module owns the meaning of a multi-line paste, shared by the terminal and the Tk window so
the two cannot differ. ``paste_lines`` splits pasted text into the messages it will send: one
per line, blank lines skipped (the server takes no empty message), and a line longer than the
server's limit cut into pieces that fit. ``PasteQuestion`` is what the person is asked once,
before anything is sent: "Send 12 lines to #general?"; past ``LARGE_PASTE`` lines it also says
how long the server's flood control will make them take and suggests cancelling, since a large
paste is more often a mistake (the wrong clipboard) than a message. The lines then go one per
message through the engine's outbox (``Engine.paste``), paced and in order; nothing here sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.client.commands import MAX_TEXT

# Past this many lines the question suggests cancelling and gives an estimate of the time.
LARGE_PASTE: Final = 20
# The server's default flood control (docs/protocol.md): a burst of 20, then 2 lines a second.
# The outbox learns the real pace; this is only for the estimate before anything is sent.
DEFAULT_BURST: Final = 20
DEFAULT_RATE: Final = 2.0


def paste_lines(text: str) -> list[str]:
    """The messages a paste sends: one per non-blank line, long lines cut to the limit."""
    messages: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        messages += [line[start : start + MAX_TEXT] for start in range(0, len(line), MAX_TEXT)]
    return messages


def is_multiline(text: str) -> bool:
    """Whether pasting ``text`` needs the question (more than one line once trailing line
    breaks are ignored)."""
    return "\n" in text.strip("\r\n") or "\r" in text.strip("\r\n")


@dataclass(frozen=True, slots=True)
class PasteQuestion:
    """What to ask before sending ``count`` lines to ``where``."""

    count: int
    where: str
    interval: float = 0.0  # the pace the outbox has learned, seconds per line (0: not yet)

    @property
    def large(self) -> bool:
        return self.count > LARGE_PASTE

    @property
    def seconds(self) -> float:
        """About how long the lines take to go out at the server's pace."""
        per_line = self.interval or 1 / DEFAULT_RATE
        return max(0, self.count - DEFAULT_BURST) * per_line

    @property
    def title(self) -> str:
        return f"Send {self.count} lines to {self.where}?"

    @property
    def detail(self) -> str:
        text = "Each line goes as its own message, in order."
        if self.large:
            text += (
                f" That is a lot: at the server's pace it takes about {self.seconds:.0f} s."
                " Cancel if this was the wrong clipboard."
            )
        return text
