"""What a node of a Redis deployment asks of Redis beyond ``History``: ids assigned inside Redis,
room events published on the room's channel, and blocks of ids for direct messages.

``RedisNodeStore`` is ``RedisHistory`` with three more operations, queued on the same worker and
connection, so that Redis executes everything one node sends in the order the node sent it (a room
event published after a message is published after it). ``append_new`` runs one script that takes
the next message id (``ZINCRBY`` of the ceiling, so two nodes never get the same), adds the message
to its room's sorted set and publishes it on the room's channel, ``PREFIX:{ROOM}:events``, with the
id of the room's previous newest message (so a subscriber sees a gap) and the sender's token (so
the sender's node recognises its own). Redis writes the AOF (and, at ``appendfsync always``, fsyncs
it) before it writes any reply or published message to a socket, so no node can see a message that
a crash of Redis could lose. A node's tokens carry a per-node sequence; the script keeps, per room,
the last sequence of each node (``PREFIX:{ROOM}:senders``), so the retry of a batch whose reply was
lost stores nothing twice. ``publish`` sends a room event or a node's own marker; ``claim_ids``
raises the ceiling by a block atomically and returns its top.

Channels: ``PREFIX:{ROOM}:events`` (the room's messages and events; the room's hash tag, so on
Redis Cluster the script's keys and the channel are on the room's shard, except the global id
ceiling) and ``PREFIX:node:NODE`` (what is sent to one node). ``Envelope`` is what travels on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from app.store.base import Failed, StoredMessage
from app.store.redis import Keys, RedisHistory, _Pipeline

# KEYS: ids, the room's messages, the rooms index, the room's senders.
# ARGV: room, the member's tail after its id, token ("NODE.SEQ"), node, seq, channel.
_APPEND: Final = """
local seen = redis.call('HGET', KEYS[4], ARGV[4])
if seen then
  local at = string.find(seen, ':', 1, true)
  if tonumber(string.sub(seen, 1, at - 1)) >= tonumber(ARGV[5]) then
    return tonumber(string.sub(seen, at + 1))
  end
end
local top = redis.call('ZRANGE', KEYS[2], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 1,
  'WITHSCORES')
local prev = top[2] or '0'
local id = redis.call('ZINCRBY', KEYS[1], 1, 'last')
local member = '[' .. id .. ',' .. ARGV[2]
redis.call('ZADD', KEYS[2], id, member)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5] .. ':' .. id)
redis.call('PEXPIRE', KEYS[4], 86400000)
redis.call('PUBLISH', ARGV[6],
  '{"k":"m","prev":' .. prev .. ',"token":"' .. ARGV[3] .. '"}\\n' .. member)
return tonumber(id)
"""


class Envelope(msgspec.Struct, omit_defaults=True):
    """The first line of what a channel carries; what follows it depends on ``k``.

    ``m``: a room message (its member as stored follows), ``prev`` the id of the room's newest
    message before it, ``token`` the sending node's. ``e``: room events, encoded frames follow,
    not for the sessions in ``skip``; a topic change carries ``topic`` and ``by``, a deletion
    the id to ``blank``. ``s``: a node's own marker ``seq`` (nothing follows).
    """

    k: str
    prev: int = 0
    token: str = ""
    skip: list[str] = []
    topic: str | None = None
    by: str = ""
    blank: int = 0
    seq: int = 0


_encode_envelope = msgspec.json.Encoder().encode
decode_envelope = msgspec.json.Decoder(Envelope).decode


def wrap(envelope: Envelope, body: bytes = b"") -> bytes:
    """What ``publish`` sends: the envelope's line, then ``body``."""
    return _encode_envelope(envelope) + b"\n" + body


class NodeKeys(Keys):
    """``Keys`` plus the channels and the per-room keys a node uses."""

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        self.prefix = prefix

    def events(self, room: str) -> str:
        return f"{self.prefix}:{{{room}}}:events"

    def senders(self, room: str) -> str:
        return f"{self.prefix}:{{{room}}}:senders"

    def node(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    def room_of(self, channel: str) -> str | None:
        """The room whose events ``channel`` carries, or ``None`` for another channel."""
        head = f"{self.prefix}:{{"
        if channel.startswith(head) and channel.endswith("}:events"):
            return channel[len(head) : -len("}:events")]
        return None


class RedisNodeStore(RedisHistory):
    """``RedisHistory`` with the operations a node of a shared deployment needs."""

    def __init__(self, url: str, prefix: str = "parley") -> None:
        super().__init__(url, prefix)
        self.keys = NodeKeys(prefix)
        self.url = url

    def append_new(
        self,
        message: StoredMessage,
        node: str,
        seq: int,
        done: Callable[[int], None],
        failed: Failed,
    ) -> None:
        """Store ``message`` under the next id (its own ``id`` is ignored) and publish it on its
        room's channel with the token ``NODE.SEQ``; ``done`` gets the id."""
        keys = self.keys
        room = message.room
        tail = msgspec.json.encode((message.ts, message.sender, message.text, message.action))[1:]
        token = f"{node}.{seq}"

        def stage(pipe: _Pipeline) -> int:
            pipe.eval(
                _APPEND,
                4,
                keys.ids,
                keys.messages(room),
                keys.rooms,
                keys.senders(room),
                room,
                tail,
                token,
                node,
                seq,
                keys.events(room),
            )
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            id = int(results[0])
            return lambda: done(id)

        self._submit(stage, finish, failed)

    def publish(self, channel: str, data: bytes, failed: Failed | None = None) -> None:
        """Publish ``data`` on ``channel``, in order after everything submitted before."""

        def stage(pipe: _Pipeline) -> int:
            pipe.publish(channel, data)
            return 1

        self._submit(stage, lambda results: _nothing, failed, writes=False)

    def claim_ids(self, count: int, done: Callable[[int], None], failed: Failed) -> None:
        """Raise the id ceiling by ``count`` for this node alone; ``done`` gets the new top
        (the ids ``top - count + 1`` to ``top`` are this node's)."""

        def stage(pipe: _Pipeline) -> int:
            pipe.zincrby(self.keys.ids, count, "last")
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            top = int(results[0])
            return lambda: done(top)

        self._submit(stage, finish, failed)


def _nothing() -> None:
    return None
