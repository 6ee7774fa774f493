"""``parley serve`` with TLS from the command line: bad pairs refused at start, SIGHUP reloads.

Like ``tests/test_cli.py`` (whose helpers these use), each test runs the real command in a
subprocess: a missing, unreadable, non-PEM or mismatched certificate or key is one sentence and
exit status 2 before any port or database opens; the switches combine sensibly; and a running
server (on uvloop when it is installed, as users run it) reloads its pair on SIGHUP, keeping an
open connection and serving the new certificate to the next one.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trustme

from tests.certs import Pems, client_context, issue
from tests.conftest import WireClient
from tests.test_cli import REPO, TIMEOUT, environment, one_sentence, parley, printed_config

TLS_LISTENING = re.compile(r"listening for TLS on (\S+):(\d+)")


@pytest.fixture
def pems(tmp_path: Path) -> Pems:
    return issue(trustme.CA(), tmp_path / "tls")


def serve_tls(tmp_path: Path, pems: Pems, *args: str) -> subprocess.CompletedProcess[str]:
    return parley(
        tmp_path,
        *("serve", "--db", "x.db", "--port", "0", "--tls-port", "0"),
        *("--tls-cert", str(pems.cert), "--tls-key", str(pems.key), *args),
    )


@pytest.mark.parametrize(
    ("replace", "words"),
    [
        ("--tls-cert=missing.pem", "--tls-cert missing.pem: no such file"),
        ("--tls-key=missing.pem", "--tls-key missing.pem: no such file"),
        ("--tls-cert=junk.pem", "holds no PEM certificate"),
        ("--tls-key=junk.pem", "holds no PEM private key"),
        ("--tls-key=other-key.pem", "is not the key of the certificate in --tls-cert"),
        ("--tls-cert=.", "is a folder"),
    ],
)
def test_serve_refuses_a_bad_certificate_or_key(
    tmp_path: Path, pems: Pems, replace: str, words: str
) -> None:
    """A bad --tls-cert or --tls-key is one sentence naming it, exit 2, nothing opened."""
    (tmp_path / "junk.pem").write_text("not a certificate\n", encoding="utf-8")
    other = issue(trustme.CA(), tmp_path / "other")
    (tmp_path / "other-key.pem").write_bytes(other.key.read_bytes())
    flag, value = replace.split("=")
    value = str(tmp_path / value) if value != "missing.pem" else value
    result = serve_tls(tmp_path, pems, flag, value)
    line = one_sentence(result, "serve", flag)
    assert words.replace("missing.pem", str(tmp_path / "missing.pem")) in line or words in line
    assert not (tmp_path / "x.db").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_serve_refuses_an_unreadable_key(tmp_path: Path, pems: Pems) -> None:
    """A key the server's user cannot read is named in one sentence."""
    pems.key.chmod(0)
    one_sentence(serve_tls(tmp_path, pems), "serve", "--tls-key", "not readable")


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("--tls-cert", "c.pem"), {}, "--tls-cert needs --tls-key too"),
        ((), {"PARLEY_TLS_KEY": "k.pem"}, "PARLEY_TLS_KEY needs --tls-cert too"),
        (("--no-plain",), {}, "--no-plain turns off the only listener"),
        ((), {"PARLEY_PLAIN": "maybe"}, "PARLEY_PLAIN must be true or false"),
    ],
)
def test_serve_refuses_tls_switches_that_do_not_fit(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], words: str
) -> None:
    """Half a pair, or no listener at all, is refused in one sentence."""
    result = parley(tmp_path, "serve", "--db", "x.db", *args, env=env)
    one_sentence(result, "serve", words)


def test_plain_follows_flag_over_environment_over_file(tmp_path: Path) -> None:
    """plain = false in the file, PARLEY_PLAIN=true beats it, --no-plain beats both."""
    (tmp_path / "p.toml").write_text('plain = false\ntls_cert = "c.pem"\n', encoding="utf-8")
    base = ("serve", "--config", "p.toml", "--tls-key", "k.pem", "--print-config")
    config = printed_config(parley(tmp_path, *base))
    assert config["plain"] is False
    assert config["tls_cert"] == str(tmp_path / "c.pem")  # relative to the file's folder
    assert printed_config(parley(tmp_path, *base, env={"PARLEY_PLAIN": "true"}))["plain"] is True
    config = printed_config(parley(tmp_path, *base, "--no-plain", env={"PARLEY_PLAIN": "1"}))
    assert config["plain"] is False


async def hello_over_tls(port: int, ca: Path, nick: str) -> WireClient:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("localhost", port, ssl=client_context(ca)), TIMEOUT
    )
    client = WireClient(reader, writer)
    await client.hello(nick)
    return client


async def test_sighup_reloads_the_certificate_without_dropping_anyone(
    tmp_path: Path, pems: Pems
) -> None:
    """SIGHUP to parley serve: an open TLS connection stays, new ones get the renewed pair."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "parley", "serve", "--port", "0", "--tls-port", "0"),
            *("--db", "x.db", "--tls-cert", str(pems.cert), "--tls-key", str(pems.key)),
        ],
        cwd=tmp_path,
        env=environment(tmp_path, {}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr or ()])
    reader.start()

    async def wait_for_line(words: str) -> str:
        while True:
            line = await asyncio.to_thread(lines.get, timeout=TIMEOUT)
            assert proc.poll() is None, line
            if words in line:
                return line

    try:
        found = TLS_LISTENING.search(await wait_for_line("listening for TLS"))
        assert found is not None
        port = int(found.group(2))
        first = await hello_over_tls(port, pems.ca, "alice")
        renewed = issue(trustme.CA(), tmp_path / "renewed")
        pems.cert.write_bytes(renewed.cert.read_bytes())
        pems.key.write_bytes(renewed.key.read_bytes())
        proc.send_signal(signal.SIGHUP)
        await wait_for_line("TLS certificate reloaded")
        assert await first.barrier() == []  # the open connection is still served
        second = await hello_over_tls(port, renewed.ca, "bob")
        pems.key.write_text("broken\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        await wait_for_line("TLS reload failed, still serving the old certificate")
        third = await hello_over_tls(port, renewed.ca, "carol")
        for client in (first, second, third):
            await client.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        reader.join(TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("command", ["tui", "tk"])
@pytest.mark.parametrize(
    ("name", "words"), [("missing.pem", "no such file"), ("junk.pem", "holds no PEM certificate")]
)
def test_clients_refuse_a_bad_ca(tmp_path: Path, command: str, name: str, words: str) -> None:
    """parley tui|tk --ca names a missing or non-PEM file in one sentence, before anything opens."""
    (tmp_path / "junk.pem").write_text("not a certificate\n", encoding="utf-8")
    one_sentence(parley(tmp_path, command, "--ca", name), command, "--ca", name, words)


def test_demo_tls_without_cryptography_is_one_sentence(tmp_path: Path) -> None:
    """A broken install without ``cryptography``: ``demo --tls`` says what to install, exit 2."""
    code = (
        "import sys; sys.modules['cryptography'] = None; from parley.cli import main;"
        " sys.exit(main(['demo', '--tls']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "parley demo: error: --tls needs the cryptography package: pip install cryptography\n"
    )
