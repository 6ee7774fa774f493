"""The SSH gateway with asyncssh clients: what it refuses, its limits, and how sessions end.

Each test talks to a real gateway in front of a real server; sessions that are admitted start a
real ``parley tui`` on a pty, whose login screen is the proof that the UI came up. A raw
protocol client on the server sees a visitor's nick come and go, which proves the session's
chat connection ends with its SSH channel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import trustme

from app.server import Server
from frontends.ssh.gateway import Gateway
from frontends.ssh.session import KEY_ENV
from tests.certs import issue
from tests.conftest import Connect, StartServer
from tests.ssh.conftest import (
    TIMEOUT,
    Dial,
    StartGateway,
    asyncssh,
    eventually,
    logged_ports,
    start_parley,
)
from tests.tui.test_terminal import frame_with


def processes_with(variable: str) -> list[int]:
    """The pids of this machine's processes whose environment holds ``variable`` (NAME=value)."""
    wanted = variable.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if wanted in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


async def screen_until(process: Any, text: str) -> str:
    """What the session's screen shows until ``text`` appears (fails after TIMEOUT)."""
    seen = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while text not in seen:
        remaining = deadline - loop.time()
        assert remaining > 0, f"{text!r} never appeared; the screen showed {seen[-500:]!r}"
        chunk = await asyncio.wait_for(process.stdout.read(65536), remaining)
        assert chunk, f"the session ended before {text!r} appeared: {seen[-500:]!r}"
        seen += chunk
    return seen


async def open_ui(conn: Any) -> Any:
    """A session with a PTY on ``conn``, once its login screen is showing."""
    process = await conn.create_process(term_type="xterm-256color", term_size=(80, 24))
    await screen_until(process, "Nick")
    return process


async def test_a_shell_without_a_pty_is_told_how_to_connect(
    gateway: Gateway, ssh_dial: Dial
) -> None:
    """A session without a PTY gets one line on how to connect and exit status 1."""
    conn = await ssh_dial(gateway)
    result = await asyncio.wait_for(conn.run(), TIMEOUT)
    assert result.exit_status == 1
    assert result.stderr.count("\n") == 1
    assert f"ssh -p {gateway.port}" in result.stderr and "without -T" in result.stderr
    assert gateway.sessions == 0


async def test_a_command_is_refused(gateway: Gateway, ssh_dial: Dial) -> None:
    """exec (``ssh host ls``) is refused, with or without a PTY, and starts nothing."""
    conn = await ssh_dial(gateway)
    for term_type in (None, "xterm"):
        with pytest.raises(asyncssh.ChannelOpenError):
            await asyncio.wait_for(conn.run("ls", term_type=term_type), TIMEOUT)
    assert gateway.sessions == 0


async def test_sftp_and_other_subsystems_are_refused(gateway: Gateway, ssh_dial: Dial) -> None:
    """The sftp subsystem (and so scp, which asks for it) is refused."""
    conn = await ssh_dial(gateway)
    with pytest.raises((asyncssh.ChannelOpenError, asyncssh.SFTPError)):
        await asyncio.wait_for(conn.start_sftp_client(), TIMEOUT)
    with pytest.raises(asyncssh.ChannelOpenError):
        await asyncio.wait_for(conn.run(subsystem="anything"), TIMEOUT)


async def test_port_forwarding_is_refused(gateway: Gateway, ssh_dial: Dial, server: Server) -> None:
    """Forwarding to the chat server's port (-L) and from the gateway (-R) are refused."""
    conn = await ssh_dial(gateway)
    with pytest.raises(asyncssh.ChannelOpenError):
        await asyncio.wait_for(conn.open_connection("127.0.0.1", server.port), TIMEOUT)
    with pytest.raises(asyncssh.ChannelListenError):
        await asyncio.wait_for(conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 9), TIMEOUT)


async def test_passwords_are_refused(gateway: Gateway, ssh_dial: Dial) -> None:
    """A client with no key cannot get in with a password: public keys only."""
    with pytest.raises(asyncssh.PermissionDenied):
        await ssh_dial(gateway, client_keys=None, password="hunter22", preferred_auth="password")


async def test_too_many_sessions_with_one_key(
    start_gateway: StartGateway, ssh_dial: Dial, client_key: Any
) -> None:
    """Past --sessions-per-key a key's next session is refused with a sentence; another key and
    the same key after one closed are let in."""
    gateway = await start_gateway(sessions_per_key=1)
    first = await open_ui(await ssh_dial(gateway))
    assert gateway.sessions == 1
    refused = await asyncio.wait_for(
        (await ssh_dial(gateway)).run(term_type="xterm", term_size=(80, 24)), TIMEOUT
    )
    assert refused.exit_status == 1
    assert "this key already has 1 sessions open" in refused.stderr
    other = await ssh_dial(gateway, key=asyncssh.generate_private_key("ssh-ed25519"))
    await open_ui(other)
    assert gateway.sessions == 2

    first.stdin.write("\x11")  # Ctrl+Q
    await asyncio.wait_for(first.wait_closed(), TIMEOUT)
    await open_ui(await ssh_dial(gateway, key=client_key))


async def test_too_many_sessions_from_one_address(
    start_gateway: StartGateway, ssh_dial: Dial
) -> None:
    """Past --sessions-per-address the next session from that address is refused."""
    gateway = await start_gateway(sessions_per_address=1)
    await open_ui(await ssh_dial(gateway))
    refused = await asyncio.wait_for(
        (await ssh_dial(gateway, key=asyncssh.generate_private_key("ssh-ed25519"))).run(
            term_type="xterm", term_size=(80, 24)
        ),
        TIMEOUT,
    )
    assert refused.exit_status == 1
    assert "your address already has 1 sessions open" in refused.stderr


async def test_closing_the_channel_ends_the_chat_connection(
    gateway: Gateway, ssh_dial: Dial, connect: Connect, client_key: Any
) -> None:
    """A visitor signs in on the login screen; their process knows their key's fingerprint; when
    the SSH connection drops, the process quits the chat (the others see them go) and exits, and
    the gateway counts the session out."""
    bob = await connect("bob")
    await bob.join("#general")
    conn = await ssh_dial(gateway)
    process = await open_ui(conn)
    process.stdin.write("ann")
    process.stdin.write("\r")
    await frame_with(bob, "presence", event="join", nick="ann")
    fingerprint = client_key.get_fingerprint("sha256")
    children = processes_with(f"{KEY_ENV}={fingerprint}")
    assert len(children) == 1
    conn.close()
    await frame_with(bob, "presence", event="quit", nick="ann")
    await eventually(
        lambda: not gateway.sessions and not processes_with(f"{KEY_ENV}={fingerprint}"),
        "the session's process never ended or was not counted out",
    )


async def test_an_idle_session_is_closed_with_a_reason(
    start_gateway: StartGateway, ssh_dial: Dial
) -> None:
    """A session with no key pressed for --idle-timeout is ended and told why."""
    gateway = await start_gateway(idle_timeout=1.0)
    conn = await ssh_dial(gateway)
    process = await conn.create_process(term_type="xterm-256color", term_size=(80, 24))
    await screen_until(process, "closed after 1 second without a key pressed")
    await asyncio.wait_for(process.wait_closed(), TIMEOUT)
    assert gateway.sessions == 0


async def test_a_visitor_still_on_the_login_screen_is_told_and_closed(
    start_gateway: StartGateway, ssh_dial: Dial
) -> None:
    """A visitor who has not signed in within --login-screen-timeout, though typing all along,
    is told why in one line, and the channel closes with status 1."""
    gateway = await start_gateway(login_screen_timeout=2.0)
    process = await open_ui(await ssh_dial(gateway))

    async def keep_typing() -> None:
        while True:
            process.stdin.write("a")
            await asyncio.sleep(0.2)

    typing = asyncio.create_task(keep_typing())
    try:
        await screen_until(process, "Parley: closed after 2 seconds without signing in.")
        await asyncio.wait_for(process.wait_closed(), TIMEOUT)
    finally:
        typing.cancel()
    assert process.exit_status == 1
    await eventually(lambda: not gateway.sessions, "the session was never counted out")


async def test_a_visitor_signed_in_in_time_stays_past_the_login_screen_timeout(
    start_gateway: StartGateway, ssh_dial: Dial, connect: Connect
) -> None:
    """A visitor who signs in within --login-screen-timeout is still connected after it: a line
    typed then reaches the chat."""
    gateway = await start_gateway(login_screen_timeout=3.0)
    bob = await connect("bob")
    await bob.join("#general")
    process = await open_ui(await ssh_dial(gateway))
    process.stdin.write("ann\r")
    await frame_with(bob, "presence", event="join", nick="ann")
    await screen_until(process, "connected")  # the chat screen, ready for a line
    await asyncio.sleep(gateway.config.login_screen_timeout + 0.5)
    process.stdin.write("still here\r")
    await frame_with(bob, "message", text="still here")
    assert gateway.sessions == 1


async def test_stopping_the_gateway_hangs_up_every_session(
    gateway: Gateway, ssh_dial: Dial, client_key: Any
) -> None:
    """Gateway.stop() (SIGTERM, Ctrl+C) ends every session's process before it returns."""
    await open_ui(await ssh_dial(gateway))
    fingerprint = client_key.get_fingerprint("sha256")
    assert len(processes_with(f"{KEY_ENV}={fingerprint}")) == 1
    await asyncio.wait_for(gateway.stop(), TIMEOUT)
    assert processes_with(f"{KEY_ENV}={fingerprint}") == []


async def test_no_session_outlives_a_killed_gateway(
    server: Server, client_key: Any, tmp_path: Path
) -> None:
    """A gateway killed outright (SIGKILL, no goodbye) leaves no visitor's process behind: the
    kernel hangs up their terminals."""
    gateway = await start_parley(
        tmp_path, "ssh", "--port", "0", "--server", f"127.0.0.1:{server.port}"
    )
    try:
        assert gateway.stderr is not None
        [port] = await logged_ports(gateway.stderr, r"listening on \S+:(\d+)")
        conn = await asyncio.wait_for(
            asyncssh.connect(
                "127.0.0.1",
                port,
                known_hosts=None,
                client_keys=[client_key],
                agent_path=None,
            ),
            TIMEOUT,
        )
        await open_ui(conn)
        variable = f"{KEY_ENV}={client_key.get_fingerprint('sha256')}"
        assert len(processes_with(variable)) == 1
        gateway.kill()
        await gateway.wait()
        await eventually(
            lambda: not processes_with(variable), "a visitor's process outlived the gateway"
        )
        conn.close()
    finally:
        if gateway.returncode is None:
            gateway.kill()
            await gateway.wait()


async def test_a_gateway_reaches_a_tls_only_server_in_tls(
    start_server: StartServer, start_gateway: StartGateway, ssh_dial: Dial, tmp_path: Path
) -> None:
    """With --tls and --ca the visitors' `parley tui` reach a server that has no plain port,
    verifying it against that CA: a visitor signs in there."""
    pems = issue(trustme.CA(), tmp_path / "tls")
    server = await start_server(
        tls_cert=str(pems.cert), tls_key=str(pems.key), tls_port=0, plain=False
    )
    gateway = await start_gateway(
        server_host="localhost",
        server_port=server.tls_port,
        server_tls=True,
        server_ca=str(pems.ca),
    )
    process = await open_ui(await ssh_dial(gateway))
    process.stdin.write("ann\r")
    await eventually(lambda: "ann" in server.hub.nicks, "the visitor never reached the server")
