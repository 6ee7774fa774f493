"""The load generator's fast receive path counts exactly, however the reads cut the stream.

A receiver in ``benchmarks.loadgen`` counts newlines per read and subtracts the server's
keepalives; a probe parses whole lines for every message's send time and slot number. Both are
fed here the bytes a Parley server and an IRC server send, cut at every offset, so that a frame
(or a keepalive's marker) split across two reads would show as a wrong count or a lost slot.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks import generators, loadgen


def _parley_stream(slots: list[int]) -> bytes:
    """Room messages with the given slot numbers, a server ping between them."""
    stamp = time.monotonic_ns()
    lines = [
        b'{"type":"message","id":%d,"ts":1,"sender":"b1","room":"#bench",'
        b'"text":"%d %d xxxx"}\n' % (i + 1, stamp, slot)
        for i, slot in enumerate(slots)
    ]
    lines.insert(len(lines) // 2, b'{"type":"ping","id":1733000000000}\n')
    return b"".join(lines)


def _irc_stream(slots: list[int]) -> bytes:
    """PRIVMSGs with the given slot numbers, a server PING between them."""
    stamp = time.monotonic_ns()
    lines = [b":b1!b1@localhost PRIVMSG #bench :%d %d xxxx\r\n" % (stamp, s) for s in slots]
    lines.insert(len(lines) // 2, b"PING :irc.local\r\n")
    return b"".join(lines)


def _receive(stream: bytes, cuts: list[int], probe: bool, irc: bool) -> loadgen.Client:
    """A fast-path client fed ``stream`` in reads that end at ``cuts``."""
    client = loadgen.Client(0, probe, loadgen.Tally(), irc)
    client.go_fast()
    client.expected = 1 << 30  # never finished: every read is counted
    client.finished = False
    begin = 0
    for end in [*cuts, len(stream)]:
        client.data_received(stream[begin:end])
        begin = end
    return client


def test_every_cut_of_the_stream_counts_each_message_once() -> None:
    """Cut anywhere (a frame or a keepalive split over two reads), a receiver counts exactly
    the messages and a probe finds every slot number once."""
    slots = [0, 3, 6, 9, 12]
    for irc, stream in ((False, _parley_stream(slots)), (True, _irc_stream(slots))):
        for cut in range(1, len(stream)):
            for probe in (False, True):
                client = _receive(stream, [cut], probe, irc)
                assert client.got == len(slots), (irc, cut, probe)
                if probe:
                    assert client.slots == slots, (irc, cut)
                    assert sum(client.tally.hist.values()) == len(slots)


def test_a_stream_read_a_few_bytes_at_a_time_counts_the_same() -> None:
    """Reads of 1 to 7 bytes, so that a keepalive's marker spans three reads or more."""
    slots = list(range(40))
    for irc, stream in ((False, _parley_stream(slots)), (True, _irc_stream(slots))):
        for size in range(1, 8):
            cuts = list(range(size, len(stream), size))
            client = _receive(stream, cuts, True, irc)
            assert client.got == len(slots), (irc, size)
            assert client.slots == slots, (irc, size)


def test_a_repeated_or_foreign_slot_is_reported() -> None:
    """A probe that got one slot twice and lacks another is told apart from a clean one."""
    generator = loadgen.Generator(
        {"mode": "parley", "host": "127.0.0.1", "port": 1, "first": 0, "count": 2}
    )
    clean = loadgen.Client(0, True, generator.tally)
    bad = loadgen.Client(1, True, generator.tally)
    generator.clients = [clean, bad]
    clean.slots = [0, 1, 2, 3]
    bad.slots = [0, 1, 1, 3, 7]
    assert generator._check_slots([0, 1], 4) == (1, 1, 1)


async def test_clients_connect_from_their_own_loopback_address() -> None:
    """The generator's clients come from 127.0.0.2, leaving 127.0.0.1's ephemeral ports to
    the tests and servers that bind there."""
    peers: list[str] = []

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    setup = {"mode": "relay", "host": "127.0.0.1", "port": port, "first": 0, "count": 1}
    generator = loadgen.Generator({**setup, "source": generators.CLIENT_ADDRESS})
    sock = await generator._connected_socket()
    try:
        assert sock.getsockname()[0] == "127.0.0.2"
        for _ in range(1000):  # 10 s at most (asyncio.timeout is 3.11+)
            if peers:
                break
            await asyncio.sleep(0.01)
        assert peers == ["127.0.0.2"]
    finally:
        sock.close()
        server.close()
        await server.wait_closed()
