"""One SSH session channel: a PTY and a shell get the Textual UI, anything else a refusal.

This module owns ``ChatSession``, asyncssh's session object for one channel. A shell request with a
PTY starts the visitor's ``parley tui`` (``terminal.TuiProcess``) with the visitor's ``TERM``,
window size, key fingerprint and (with a gateway secret) key token, once the gateway's limits admit
it; then it relays keys in and screens out, resizes on window-change, and ends the channel when the
child exits (with its exit status) and the child when the channel ends. A shell without a PTY gets
one line that says how to connect and is closed; exec and subsystem requests (sftp, scp) are
refused outright. Idle sessions (no key pressed for ``idle_timeout``) are hung up and told why.

A session still on the login screen after ``login_screen_timeout`` is ended by its own
``parley tui`` (``--login-screen-timeout``), which says why in its last line; the channel relays
that line and closes with the child, as for any exit. The child enforces it, not the gateway,
because only the child knows when the visitor has signed in (a key with a pinned nick never sees
the screen; a refused nick sends the visitor back to it); the gateway would otherwise need a
second channel from each child to learn it. The command line carries the limit, as it already
carries the chat server: the visitor's environment is theirs (``TERM``, colours, their key), and
``parley tui`` checks its flags itself. Should the child not keep it, the idle timeout still ends
a session nobody types in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import asyncssh

from app.client.accounts import KEY_ENV, KEY_TOKEN_ENV
from app.protocol.keys import key_token
from frontends.flags import duration, visitor_tui
from frontends.ssh.terminal import TuiProcess, WindowSize, visitor_environment

if TYPE_CHECKING:
    from frontends.ssh.gateway import Gateway

logger = logging.getLogger("parley.ssh")

# What a visitor's process is told about them: their key's fingerprint (KEY_ENV), and with a
# gateway secret the token with which it proves that key to the chat server (KEY_TOKEN_ENV,
# ``app.protocol.keys``); the engine reads both (``app.client.accounts``).
USER_ENV: Final = "PARLEY_SSH_USER"
# Colour settings a client may send (SetEnv / SendEnv) that the child honours.
_PASSED_ENV: Final = frozenset({"COLORTERM"})


@dataclass(frozen=True)
class Visitor:
    """Who opened a session: their key's SHA256 fingerprint, address and SSH user name."""

    fingerprint: str
    address: str
    username: str


class ChatSession(asyncssh.SSHServerSession[bytes]):
    """The UI for one session channel, or its refusal."""

    def __init__(self, gateway: Gateway, visitor: Visitor) -> None:
        self._gateway = gateway
        self._visitor = visitor
        self._channel: asyncssh.SSHServerChannel[bytes] | None = None
        self._term: str | None = None
        self._size = WindowSize(80, 24)
        self._process: TuiProcess | None = None
        self._admitted = False
        self._open = True
        self._farewell = ""
        self._last_key = 0.0
        self._idle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    # --- requests ----------------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._channel = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        self._term = term_type
        self._size = WindowSize(*term_size)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        logger.info("refused a command from %s: this gateway runs none", self._visitor.address)
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        logger.info("refused subsystem %r from %s", subsystem, self._visitor.address)
        return False

    def session_started(self) -> None:
        channel = self._channel
        assert channel is not None
        if self._term is None:
            self._refuse(
                "this is a chat in a terminal: connect without -T, as "
                f"`ssh -p {self._gateway.port} HOST`."
            )
            return
        refusal = self._gateway.admit(self._visitor)
        if refusal is not None:
            logger.info("refused a session from %s: %s", self._visitor.address, refusal)
            self._refuse(refusal)
            return
        self._admitted = True
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _refuse(self, sentence: str) -> None:
        assert self._channel is not None
        self._channel.write_stderr(f"Parley: {sentence}\r\n".encode())
        self._channel.exit(1)

    # --- the child ---------------------------------------------------------------------

    async def _run(self) -> None:
        channel = self._channel
        assert channel is not None
        env = visitor_environment(
            os.environ,
            term=self._term or "",
            extra={
                **{
                    name: value
                    for name, value in channel.get_environment().items()
                    if name in _PASSED_ENV
                },
                KEY_ENV: self._visitor.fingerprint,
                USER_ENV: self._visitor.username,
                **self._key_token(),
            },
        )
        config = self._gateway.config
        try:
            process = await TuiProcess.start(
                visitor_tui(
                    config.server_host,
                    config.server_port,
                    config.login_screen_timeout,
                    tls=config.server_tls,
                    ca=config.server_ca,
                ),
                env=env,
                size=self._size,
                output=self._screen,
                input_paused=self._input_paused,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            logger.error("could not start a session's process: %s", exc)
            self._finish(1, "Parley could not start your session; try again later.")
            return
        self._process = process
        self._gateway.started(process)
        logger.info(
            "session %d for %s (key %s) started",
            process.pid,
            self._visitor.address,
            self._visitor.fingerprint,
        )
        self._touch()
        try:
            if not self._open:  # the visitor left while it started
                await process.stop()
                return
            status = await process.wait()
        finally:
            self._gateway.ended(process)
        logger.info("session %d ended with status %d", process.pid, status)
        self._finish(status, self._farewell)

    def _key_token(self) -> dict[str, str]:
        secret = self._gateway.config.gateway_secret
        if not secret or not self._visitor.fingerprint:
            return {}
        return {KEY_TOKEN_ENV: key_token(secret, self._visitor.fingerprint).hex()}

    def _finish(self, status: int, farewell: str) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._channel is not None and self._open:
            if farewell:
                self._channel.write(f"\r\n{farewell}\r\n".encode())
            self._channel.exit(status if 0 <= status < 256 else 1)
        self._release()

    def _release(self) -> None:
        if self._admitted:
            self._admitted = False
            self._gateway.release(self._visitor)

    def _screen(self, data: bytes) -> None:
        if self._channel is not None and self._open:
            self._channel.write(data)

    def _input_paused(self, paused: bool) -> None:
        if self._channel is None or not self._open:
            return
        if paused:
            self._channel.pause_reading()
        else:
            self._channel.resume_reading()

    # --- the visitor -------------------------------------------------------------------

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._process is not None:
            self._touch()
            self._process.write(data)

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self._size = WindowSize(width, height, pixwidth, pixheight)
        if self._process is not None:
            self._process.resize(self._size)

    def eof_received(self) -> bool:
        # A terminal's input never ends on its own; keep the channel until the UI exits.
        return True

    def pause_writing(self) -> None:
        if self._process is not None:
            self._process.pause_output()

    def resume_writing(self) -> None:
        if self._process is not None:
            self._process.resume_output()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        if self._idle is not None:
            self._idle.cancel()
        if self._process is not None:
            self._gateway.track(self._process.stop())
        self._release()

    # --- idleness ----------------------------------------------------------------------

    def _touch(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_key = loop.time()
        if self._idle is None:
            self._idle = loop.call_at(
                self._last_key + self._gateway.config.idle_timeout, self._check
            )

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        due = self._last_key + self._gateway.config.idle_timeout
        if loop.time() < due:
            self._idle = loop.call_at(due, self._check)
            return
        idle = duration(self._gateway.config.idle_timeout)
        self._farewell = f"Parley: closed after {idle} without a key pressed."
        logger.info("session for %s was idle: closed", self._visitor.address)
        if self._process is not None:
            self._gateway.track(self._process.stop())
