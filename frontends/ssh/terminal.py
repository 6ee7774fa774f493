"""One visitor's ``parley tui``, a child process on a pseudo-terminal of its own.

This module owns the child side of an SSH session: ``TuiProcess`` starts the command on a new
pty (the visitor's ``TERM`` and window size, an environment cleaned of the gateway's own
``PARLEY_*`` settings and terminal size), relays bytes between the pty's master end and the
caller, resizes the pty (the kernel sends the child SIGWINCH and it redraws), and ends it:
SIGHUP, which ``parley tui`` takes as a closed terminal (it quits the chat cleanly), then
SIGKILL if it has not gone within a grace period. The pty is the child's controlling terminal,
so should the gateway itself die, the kernel hangs the child up when the master end closes:
no visitor's process outlives the gateway. The master end is read until the child has closed
its side, also after the visitor has gone (the output is then dropped), so a child writing its
goodbye never blocks on a full pty.
Backpressure runs both ways: ``pause_output`` stops reading the child (the SSH channel is full)
and ``input_paused`` is called when the child is not reading what the visitor types.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import pty
import signal
import struct
import termios
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

logger = logging.getLogger("parley.ssh")

# Keys typed but not yet taken by the child: past HIGH the visitor's channel is paused, and
# resumed below LOW.
INPUT_HIGH: Final = 64 * 1024
INPUT_LOW: Final = 16 * 1024
READ_SIZE: Final = 64 * 1024
# parley tui's own grace after SIGHUP is 10 s (StopOnSignal); this is a little more.
HANG_UP_GRACE: Final = 12.0
# Never inherited by a visitor's process: the gateway's settings, and anything that would
# override the size of the visitor's window or the colours Textual picks from TERM.
_NOT_INHERITED: Final = ("COLUMNS", "LINES", "COLORTERM", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_DRIVER")


@dataclass(frozen=True)
class WindowSize:
    """A terminal's size in characters (and pixels, which most clients leave at 0)."""

    columns: int
    rows: int
    pixel_width: int = 0
    pixel_height: int = 0

    def packed(self) -> bytes:
        """As ``struct winsize`` for TIOCSWINSZ; a size of 0 would confuse the UI, so 1 at least."""
        return struct.pack(
            "HHHH",
            min(max(self.rows, 1), 0xFFFF),
            min(max(self.columns, 1), 0xFFFF),
            min(self.pixel_width, 0xFFFF),
            min(self.pixel_height, 0xFFFF),
        )


def visitor_environment(
    base: Mapping[str, str], *, term: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """The child's environment: ``base`` without the gateway's settings, ``TERM``, ``extra``."""
    env = {
        name: value
        for name, value in base.items()
        if not name.startswith("PARLEY_") and name not in _NOT_INHERITED
    }
    env["TERM"] = term or "xterm-256color"
    env.update(extra)
    return env


def _take_terminal(child_end: int) -> None:
    """In the child, between fork and exec: make the pty its controlling terminal, in a session
    of its own. Only calls into modules already imported: safe in a forked child of a threaded
    process. The pty is named by its descriptor in the parent, not as stdin, and setsid is done
    here if ``start_new_session`` has not done it yet: uvloop (``parley serve --ssh-port``)
    runs this before it sets up the child's session and standard streams."""
    with contextlib.suppress(OSError):  # already a session leader
        os.setsid()
    fcntl.ioctl(child_end, termios.TIOCSCTTY, 0)


class TuiProcess:
    """A child process on its own pty, with its output handed to ``output``."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        master: int,
        *,
        output: Callable[[bytes], None],
        input_paused: Callable[[bool], None],
    ) -> None:
        self._process = process
        self._master = master
        self._output = output
        self._input_paused = input_paused
        self._loop = asyncio.get_running_loop()
        self._pending = bytearray()
        self._reading = False
        self._paused_input = False
        self._closed = asyncio.Event()  # the child has closed its side of the pty
        self._resume_reading()

    @classmethod
    async def start(
        cls,
        argv: list[str],
        *,
        env: Mapping[str, str],
        size: WindowSize,
        output: Callable[[bytes], None],
        input_paused: Callable[[bool], None],
    ) -> TuiProcess:
        """Start ``argv`` on a new pty of ``size``."""
        master, child_end = pty.openpty()
        try:
            fcntl.ioctl(child_end, termios.TIOCSWINSZ, size.packed())
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=child_end,
                stdout=child_end,
                stderr=child_end,
                env=dict(env),
                # Its own session (a signal meant for the gateway, Ctrl+C, is not the child's),
                # with the pty as its controlling terminal.
                start_new_session=True,
                preexec_fn=functools.partial(_take_terminal, child_end),
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(child_end)
        os.set_blocking(master, False)
        return cls(process, master, output=output, input_paused=input_paused)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def output(self) -> Callable[[bytes], None]:
        return self._output

    @output.setter
    def output(self, output: Callable[[bytes], None]) -> None:
        self._output = output

    # --- output: child -> caller -------------------------------------------------------

    def pause_output(self) -> None:
        """Stop reading the child for now: whoever takes its output is full."""
        if self._reading:
            self._loop.remove_reader(self._master)
            self._reading = False

    def resume_output(self) -> None:
        self._resume_reading()

    def _resume_reading(self) -> None:
        if not self._reading and not self._closed.is_set():
            self._loop.add_reader(self._master, self._readable)
            self._reading = True

    def _readable(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO: every copy of the child's end is closed (it has exited).
            if exc.errno != errno.EIO:
                logger.warning("reading a session's terminal failed: %s", exc)
            data = b""
        if not data:
            self.pause_output()
            self._closed.set()
            return
        self._output(data)

    # --- input: caller -> child --------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Type ``data`` into the child's terminal (kept in order until it reads it)."""
        if self._closed.is_set():
            return
        if not self._pending:
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                written = 0
            except OSError:
                return  # the child is gone; its exit ends the session
            data = data[written:]
            if not data:
                return
            self._loop.add_writer(self._master, self._writable)
        self._pending += data
        if len(self._pending) > INPUT_HIGH and not self._paused_input:
            self._paused_input = True
            self._input_paused(True)

    def _writable(self) -> None:
        try:
            written = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pending)
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self._master)
        if self._paused_input and len(self._pending) < INPUT_LOW:
            self._paused_input = False
            self._input_paused(False)

    # --- size and life -----------------------------------------------------------------

    def resize(self, size: WindowSize) -> None:
        """Give the pty a new size and tell the child, which redraws."""
        if self._process.returncode is not None:
            return
        with contextlib.suppress(OSError):
            # The kernel tells the terminal's foreground process (the child) with SIGWINCH.
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, size.packed())

    def hang_up(self) -> None:
        """Tell the child its terminal has closed: it quits the chat and exits."""
        self._signal(signal.SIGHUP)

    def _signal(self, signum: int) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signum)

    async def wait(self) -> int:
        """The child's exit status, once it has exited and all its output has been read."""
        status = await self._process.wait()
        # Its side of the pty closed with it; a moment for the last bytes to be read.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closed.wait(), 2.0)
        self.close()
        return status

    async def stop(self) -> int:
        """Hang up, wait for the child within ``HANG_UP_GRACE``, else kill it; its status."""
        self.hang_up()
        self.resume_output()  # its goodbye must not block on a full pty
        try:
            return await asyncio.wait_for(asyncio.shield(self.wait()), HANG_UP_GRACE)
        except asyncio.TimeoutError:
            logger.warning("session process %d ignored the hangup: killed", self.pid)
            self._signal(signal.SIGKILL)
            return await self.wait()

    def close(self) -> None:
        """Let go of the pty (after the child has exited)."""
        if self._master < 0:
            return
        self.pause_output()
        if self._pending:
            self._loop.remove_writer(self._master)
            self._pending.clear()
        self._closed.set()
        os.close(self._master)
        self._master = -1
