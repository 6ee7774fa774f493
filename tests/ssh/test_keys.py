"""The key is the identity: asyncssh clients through a real gateway that shares its secret with a
real server, and ``parley serve --ssh-port`` with the gateway inside.

A visitor's first session pins the nick they pick to their key; their next session with that key
signs straight in (no login screen); another key asking for that nick is told it is pinned to
another key; ``/keys`` typed in the session lists the key. A raw protocol client on the server
watches who comes in, and ``whois`` says whether the nick became an account.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from app.server import Server
from frontends.ssh.gateway import Gateway
from tests.conftest import Dial, StartServer, WireClient
from tests.ssh.conftest import TIMEOUT, StartGateway, asyncssh
from tests.ssh.conftest import Dial as SSHDial
from tests.ssh.test_gateway import screen_until
from tests.tui.test_terminal import frame_with

SECRET = b"shared by the gateway and server"
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
async def keyed(
    start_server: StartServer, start_gateway: StartGateway, tmp_path: Path
) -> tuple[Server, Gateway]:
    """A server and a gateway in front of it that share ``SECRET``."""
    server = await start_server(gateway_secret=SECRET, db=str(tmp_path / "keys.db"))
    gateway = await start_gateway(server_port=server.port, gateway_secret=SECRET)
    return server, gateway


async def watcher(dial: Dial, server: Server) -> WireClient:
    """A raw client in #general of ``server``."""
    bob = await dial(server.port, "bob")
    await bob.join("#general")
    return bob


async def new_session(conn: Any) -> Any:
    """A session with a PTY on ``conn``, nothing of its screen read yet: the readers below see
    the whole login screen (``open_ui`` reads up to "Nick", and the same read may hold the rest,
    which a later wait would then miss)."""
    return await conn.create_process(term_type="xterm-256color", term_size=(80, 24))


async def type_line(process: Any, text: str) -> None:
    process.stdin.write(text)
    await asyncio.sleep(0.05)  # pacing keystrokes, not waiting for a result
    process.stdin.write("\r")


async def text_until(process: Any, text: str) -> str:
    """The session's screen without its escape sequences, until ``text`` shows (or TIMEOUT)."""
    seen = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while text not in CSI.sub("", seen):
        remaining = deadline - loop.time()
        assert remaining > 0, f"{text!r} never appeared: {CSI.sub('', seen)[-500:]!r}"
        chunk = await asyncio.wait_for(process.stdout.read(65536), remaining)
        assert chunk, f"the session ended before {text!r} appeared"
        seen += chunk
    return CSI.sub("", seen)


async def pin(process: Any, nick: str) -> None:
    """On the login screen of a new key (the pin switch on), sign in as ``nick``."""
    seen = await screen_until(process, "Pin this nick to my SSH key")
    if "Enter to connect" not in seen:  # the whole screen drawn, in whichever order
        await screen_until(process, "Enter to connect")
    await type_line(process, nick)


async def test_a_new_key_pins_its_nick_and_signs_straight_in_next_time(
    keyed: tuple[Server, Gateway], ssh_dial: SSHDial, dial: Dial, client_key: Any
) -> None:
    """The first session of a key picks a nick and it becomes an account pinned to the key; the
    next session with the key skips the login screen and is in as that nick."""
    server, gateway = keyed
    bob = await watcher(dial, server)
    conn = await ssh_dial(gateway)
    first = await new_session(conn)
    await pin(first, "ann")
    await frame_with(bob, "presence", event="join", nick="ann")
    await bob.send(type="whois", nick="ann", ref="w")
    assert (await frame_with(bob, "whois", ref="w"))["account"] is True
    first.stdin.write("\x11")  # Ctrl+Q
    await asyncio.wait_for(first.wait_closed(), TIMEOUT)
    await frame_with(bob, "presence", event="quit", nick="ann")

    again = await (await ssh_dial(gateway)).create_process(
        term_type="xterm-256color", term_size=(80, 24)
    )
    await frame_with(bob, "presence", event="join", nick="ann")
    seen = await screen_until(again, "#general")
    assert "Pin this nick" not in seen and "Enter to connect" not in seen


async def test_a_key_signing_straight_in_is_not_bound_by_the_login_screen_timeout(
    keyed: tuple[Server, Gateway],
    start_gateway: StartGateway,
    ssh_dial: SSHDial,
    dial: Dial,
) -> None:
    """A key with a pinned nick, which never sees the login screen, stays connected past
    --login-screen-timeout: a line typed after it reaches the chat."""
    server, gateway = keyed
    bob = await watcher(dial, server)
    first = await new_session(await ssh_dial(gateway))
    await pin(first, "ann")
    await frame_with(bob, "presence", event="join", nick="ann")
    first.stdin.write("\x11")  # Ctrl+Q
    await asyncio.wait_for(first.wait_closed(), TIMEOUT)

    strict = await start_gateway(
        server_port=server.port, gateway_secret=SECRET, login_screen_timeout=2.0
    )
    again = await (await ssh_dial(strict)).create_process(
        term_type="xterm-256color", term_size=(80, 24)
    )
    await frame_with(bob, "presence", event="join", nick="ann")
    await screen_until(again, "connected")
    await asyncio.sleep(strict.config.login_screen_timeout + 0.5)
    await type_line(again, "still here")
    await frame_with(bob, "message", text="still here")
    assert strict.sessions == 1


async def test_another_key_for_a_pinned_nick_is_refused_with_a_message(
    keyed: tuple[Server, Gateway], ssh_dial: SSHDial, dial: Dial
) -> None:
    """A session with another key that asks for the pinned nick is told, on its login screen,
    that the nick is pinned to another key."""
    server, gateway = keyed
    bob = await watcher(dial, server)
    await pin(await new_session(await ssh_dial(gateway)), "ann")
    await frame_with(bob, "presence", event="join", nick="ann")

    other = await new_session(
        await ssh_dial(gateway, key=asyncssh.generate_private_key("ssh-ed25519"))
    )
    await pin(other, "ann")
    await text_until(other, "ann is pinned to another SSH key")


async def test_keys_typed_in_an_ssh_session_list_its_key(
    keyed: tuple[Server, Gateway], ssh_dial: SSHDial, dial: Dial, client_key: Any
) -> None:
    """``/keys`` in a session that pinned its nick lists the one key, by fingerprint."""
    server, gateway = keyed
    bob = await watcher(dial, server)
    process = await new_session(await ssh_dial(gateway))
    await pin(process, "ann")
    await frame_with(bob, "presence", event="join", nick="ann")
    await screen_until(process, "connected")  # the chat screen, ready for a line
    await type_line(process, "/keys")
    # Styles change within a row, and the log wraps the fingerprint at its width.
    shown = await text_until(process, "No password: only these keys sign in to it.")
    assert "Your account's SSH keys (1):" in shown
    assert client_key.get_fingerprint("sha256")[:30] in shown


async def test_a_gateway_without_the_secret_leaves_visitors_guests(
    server: Server, start_gateway: StartGateway, ssh_dial: SSHDial, dial: Dial
) -> None:
    """Without a gateway secret the login screen offers no pin, and the nick taken is a guest's."""
    gateway = await start_gateway()
    bob = await watcher(dial, server)
    process = await new_session(await ssh_dial(gateway))
    seen = await screen_until(process, "Enter to connect")
    assert "Pin this nick" not in seen
    await type_line(process, "gus")
    await frame_with(bob, "presence", event="join", nick="gus")
    await bob.send(type="whois", nick="gus", ref="w")
    assert (await frame_with(bob, "whois", ref="w"))["account"] is False


# --- parley serve --ssh-port ---------------------------------------------------------------


async def test_serve_with_ssh_port_runs_the_gateway_with_keys_trusted(
    serve_with_ssh: tuple[int, int], dial: Dial, client_key: Any
) -> None:
    """``parley serve --ssh-port`` accepts an SSH session, whose nick is pinned to its key with
    no secret configured by hand, and the key's next session signs straight in."""
    chat_port, ssh_port = serve_with_ssh
    bob = await dial(chat_port, "bob")
    await bob.join("#general")
    options = {"known_hosts": None, "client_keys": [client_key], "agent_path": None}
    conn = await asyncio.wait_for(asyncssh.connect("127.0.0.1", ssh_port, **options), TIMEOUT)
    first = await new_session(conn)
    await pin(first, "ann")
    await frame_with(bob, "presence", event="join", nick="ann")
    conn.close()
    await frame_with(bob, "presence", event="quit", nick="ann")

    again = await asyncio.wait_for(asyncssh.connect("127.0.0.1", ssh_port, **options), TIMEOUT)
    await again.create_process(term_type="xterm-256color", term_size=(80, 24))
    await frame_with(bob, "presence", event="join", nick="ann")
    again.close()
