"""What a node of a Redis deployment asks of Redis beyond ``History``: ids assigned inside Redis,
room events published on the room's channel, and blocks of ids for direct messages.

``RedisNodeStore`` is ``RedisHistory`` with three more operations, queued on the same worker and
connection, so that Redis executes everything one node sends in the order the node sent it (a room
event published after a message is published after it). ``append_new`` runs one script that takes
the next message id (``ZINCRBY`` of the ceiling, so two nodes never get the same), adds the message
to its room's sorted set and publishes it on the room's channel (``PREFIX:dbN:{ROOM}:events``) with
the id of the room's previous newest message (so a subscriber sees a gap) and the sender's token (so
the sender's node recognises its own). Redis writes the AOF (and, at ``appendfsync always``, fsyncs
it) before it writes any reply or published message to a socket, so no node can see a message that
a crash of Redis could lose. A node's tokens carry a per-node sequence; the script keeps, per room,
the last sequence of each node (``PREFIX:{ROOM}:senders``), so the retry of a batch whose reply was
lost stores nothing twice. ``publish`` sends a room event or a node's own marker; ``claim_ids``
raises the ceiling by a block atomically and returns its top.

Channels, each carrying the deployment's database number ``N`` (channels are the whole Redis
server's, whatever the database): ``PREFIX:dbN:{ROOM}:events`` (the room's messages and events,
under the room's hash tag; the message script also takes the global id ceiling and rooms index,
and the nick, seat and reaper scripts global or per-node keys, so Redis Cluster would refuse them:
docs/scale-out.md lists each), ``PREFIX:dbN:node:NODE`` (what is sent to one node) and
``PREFIX:dbN:nodes:events`` (what is for every node). ``Envelope`` is what travels on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec
from redis.connection import parse_url

from app.protocol import fold
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


# KEYS: the nick's key, the node's nicks. ARGV: the owner ("NODE SESSION"), the folded nick,
# "SINCE NICK" (when the session connected, in ms, and the nick as written). The key holds
# "NODE SESSION SINCE NICK"; its owner may rewrite it (the nick's case).
_CLAIM: Final = """
local value = ARGV[1] .. ' ' .. ARGV[3]
if redis.call('SET', KEYS[1], value, 'NX') then
  redis.call('SADD', KEYS[2], ARGV[2])
  return 1
end
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  redis.call('SET', KEYS[1], value)
  return 1
end
return 0
"""
# KEYS and the first two ARGV as for a claim: the nick goes only from its owner.
_RELEASE: Final = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], ARGV[2])
return 0
"""
# KEYS: the room's members, the occupied rooms, the node's seats. ARGV: room, session, seat.
_UNSEAT: Final = """
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
redis.call('SREM', KEYS[3], ARGV[1] .. '\t' .. ARGV[2])
return 0
"""
# A room's state goes only if it holds no messages and no node has members in it.
_FORGET: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  return redis.call('DEL', KEYS[2])
end
return 0
"""
# KEYS: the nodes, the dead node's seats and nicks. ARGV: the node, the key prefix.
# Returns room, member, room, member, ... of the node's seats, or nothing if another node
# reaped it first (SREM answers 1 to one caller only).
_REAP: Final = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
local gone = {}
for _, seat in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local tab = string.find(seat, '\t', 1, true)
  local room = string.sub(seat, 1, tab - 1)
  local sid = string.sub(seat, tab + 1)
  local members = ARGV[2] .. ':{' .. room .. '}:members'
  local member = redis.call('HGET', members, sid)
  if member then
    redis.call('HDEL', members, sid)
    table.insert(gone, room)
    table.insert(gone, member)
  end
  if redis.call('HLEN', members) == 0 then
    redis.call('ZREM', ARGV[2] .. ':occupied', room)
  end
end
for _, nick in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local key = ARGV[2] .. ':nick:' .. nick
  local owner = redis.call('GET', key)
  if owner and string.sub(owner, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
    redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[2], KEYS[3])
return gone
"""


class Seat(msgspec.Struct, array_like=True, frozen=True):
    """A member of a room on some node, as ``PREFIX:{ROOM}:members`` keeps it."""

    nick: str
    account: str
    away: str | None
    node: str = ""
    ip: str = ""  # what an ip: ban mask matches

    @property
    def key(self) -> str:
        return fold(self.nick)


_decode_seat = msgspec.json.Decoder(Seat).decode


class Envelope(msgspec.Struct, omit_defaults=True):
    """The first line of what a channel carries; what follows it depends on ``k``.

    On a room's channel, ``m``: a room message (its member as stored follows), ``prev`` the id
    of the room's newest message before it, ``token`` the sending node's; ``e``: room events,
    encoded frames follow, not for the sessions in ``skip``; a topic change carries ``topic``
    and ``by``, a deletion the id to ``blank``, a change of the room's moderation ``rules``, an
    edit the id to ``revise`` and its new ``text``, a kick the sessions to ``expel`` (their node
    removes them, doing ``order``, before the frames).
    On a node's channel, ``s``: the node's own marker ``seq`` (nothing follows); ``d``: frames
    for its session ``skip[0]`` alone (a direct message); ``c``: an order for its session
    ``skip[0]``, a JSON list ``[action, *arguments]`` follows. On the channel of every node,
    ``c``: the same from node ``skip[0]`` to all the others.
    """

    k: str
    prev: int = 0
    token: str = ""
    skip: list[str] = []
    topic: str | None = None
    by: str = ""
    blank: int = 0
    rules: bool = False  # the room's moderation rules changed
    seq: int = 0
    revise: int = 0
    text: str = ""
    expel: list[str] = []  # sessions their node takes out of the room first (``order``)
    order: list[str] = []


_encode_envelope = msgspec.json.Encoder().encode
decode_envelope = msgspec.json.Decoder(Envelope).decode


def wrap(envelope: Envelope, body: bytes = b"") -> bytes:
    """What ``publish`` sends: the envelope's line, then ``body``."""
    return _encode_envelope(envelope) + b"\n" + body


class NodeKeys(Keys):
    """``Keys`` plus the channels and the per-room keys a node uses.

    Pub/sub channels belong to the whole Redis server, not to one of its databases, so the
    channels carry the deployment's database number (``db``): two deployments on one Redis, on
    ``/0`` and ``/1``, then never hear each other's rooms."""

    def __init__(self, prefix: str, db: int = 0) -> None:
        super().__init__(prefix)
        self.channels = f"{prefix}:db{db}"

    def events(self, room: str) -> str:
        return f"{self.channels}:{{{room}}}:events"

    def senders(self, room: str) -> str:
        return f"{self.prefix}:{{{room}}}:senders"

    def node(self, node: str) -> str:
        """The channel of one node."""
        return f"{self.channels}:node:{node}"

    def members(self, room: str) -> str:
        return f"{self.prefix}:{{{room}}}:members"

    def nick(self, key: str) -> str:
        return f"{self.prefix}:nick:{key}"

    @property
    def everyone(self) -> str:
        """The channel every node follows (what concerns all of them)."""
        return f"{self.channels}:nodes:events"

    @property
    def nodes(self) -> str:
        return f"{self.prefix}:nodes"

    @property
    def occupied(self) -> str:
        return f"{self.prefix}:occupied"

    def alive(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:alive"

    def seats(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:seats"

    def nicks(self, node: str) -> str:
        return f"{self.prefix}:node:{node}:nicks"

    def room_of(self, channel: str) -> str | None:
        """The room whose events ``channel`` carries, or ``None`` for another channel."""
        head = f"{self.channels}:{{"
        if channel.startswith(head) and channel.endswith("}:events"):
            return channel[len(head) : -len("}:events")]
        return None


class RedisNodeStore(RedisHistory):
    """``RedisHistory`` with the operations a node of a shared deployment needs."""

    def __init__(self, url: str, prefix: str = "parley") -> None:
        super().__init__(url, prefix)
        db = int(parse_url(url).get("db", 0))  # type: ignore[no-untyped-call]
        self._keys = self._node_keys = NodeKeys(prefix, db)
        self.url = url

    @property
    def keys(self) -> NodeKeys:
        return self._node_keys

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

        self.submit(stage, finish, failed)

    def publish(self, channel: str, data: bytes, failed: Failed | None = None) -> None:
        """Publish ``data`` on ``channel``, in order after everything submitted before."""

        def stage(pipe: _Pipeline) -> int:
            pipe.publish(channel, data)
            return 1

        self.submit(stage, lambda results: _nothing, failed, writes=False)

    def claim_ids(self, count: int, done: Callable[[int], None], failed: Failed) -> None:
        """Raise the id ceiling by ``count`` for this node alone; ``done`` gets the new top
        (the ids ``top - count + 1`` to ``top`` are this node's)."""

        def stage(pipe: _Pipeline) -> int:
            pipe.zincrby(self.keys.ids, count, "last")
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            top = int(results[0])
            return lambda: done(top)

        self.submit(stage, finish, failed)

    def forget_room(self, room: str) -> None:
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.eval(_FORGET, 3, keys.messages(room), keys.state(room), keys.members(room))
            return 1

        self.submit(stage, lambda results: _nothing)

    # --- membership and nicks, shared by every node ---

    def claim_nick(
        self,
        nick: str,
        since: int,
        node: str,
        owner: str,
        done: Callable[[bool], None],
        failed: Failed,
    ) -> None:
        """Take ``nick`` for ``owner`` ("NODE SESSION", connected at ``since``, in ms) unless
        another owner has it (in any case); ``done`` says whether ``owner`` holds it now."""
        keys = self.keys
        key = fold(nick)

        def stage(pipe: _Pipeline) -> int:
            pipe.eval(_CLAIM, 2, keys.nick(key), keys.nicks(node), owner, key, f"{since} {nick}")
            return 1

        self.submit(stage, lambda results: lambda: done(bool(results[0])), failed)

    def nick_owner(
        self, key: str, done: Callable[[tuple[str, str, int] | None], None], failed: Failed
    ) -> None:
        """Who holds folded nick ``key`` ("NODE SESSION"), the nick as written, and when that
        session connected (ms since the epoch); or None."""

        def stage(pipe: _Pipeline) -> int:
            pipe.get(self.keys.nick(key))
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            held = None if results[0] is None else _text(results[0]).split(" ", 3)
            found = None if held is None else (f"{held[0]} {held[1]}", held[3], int(held[2]))
            return lambda: done(found)

        self.submit(stage, finish, failed, writes=False)

    def release_nick(self, key: str, node: str, owner: str) -> None:
        """Free ``key`` if ``owner`` holds it."""
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.eval(_RELEASE, 2, keys.nick(key), keys.nicks(node), owner, key)
            return 1

        self.submit(stage, lambda results: _nothing)

    def seat(self, room: str, node: str, session: str, seat: Seat) -> None:
        """Record (or update) ``session`` of ``node`` as a member of ``room``."""
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.hset(keys.members(room), session, msgspec.json.encode(seat))
            pipe.zadd(keys.occupied, {room: 0})
            pipe.sadd(keys.seats(node), f"{room}\t{session}")
            return 3

        self.submit(stage, lambda results: _nothing)

    def unseat(self, room: str, node: str, session: str) -> None:
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.eval(
                _UNSEAT, 3, keys.members(room), keys.occupied, keys.seats(node), room, session
            )
            return 1

        self.submit(stage, lambda results: _nothing)

    def members(self, room: str, done: Callable[[dict[str, Seat]], None], failed: Failed) -> None:
        """Every member of ``room`` on every node, by session id."""

        def stage(pipe: _Pipeline) -> int:
            pipe.hgetall(self.keys.members(room))
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            seats = {_text(sid): _decode_seat(value) for sid, value in results[0].items()}
            return lambda: done(seats)

        self.submit(stage, finish, failed, writes=False)

    def room_view(
        self,
        room: str,
        done: Callable[[tuple[dict[str, Seat], str, str]], None],
        failed: Failed,
    ) -> None:
        """What a member of ``room`` is told of it beyond messages, read at once: its members
        on every node (by session id), its topic and who set it."""
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.hgetall(keys.members(room))
            pipe.hmget(keys.state(room), "topic", "by")
            return 2

        def finish(results: list[Any]) -> Callable[[], None]:
            seats = {_text(sid): _decode_seat(value) for sid, value in results[0].items()}
            topic, by = (_text(value or b"") for value in results[1])
            return lambda: done((seats, topic, by))

        self.submit(stage, finish, failed, writes=False)

    def occupied(
        self,
        after: str,
        limit: int,
        done: Callable[[list[tuple[str, str, int]]], None],
        failed: Failed,
    ) -> None:
        """Rooms with members on any node, by name after ``after``: (room, topic, members)."""

        async def run(client: Any) -> Callable[[], None]:
            low = f"({after}" if after else "-"
            names = [
                _text(n)
                for n in await client.zrange(
                    self.keys.occupied, low, "+", bylex=True, offset=0, num=limit
                )
            ]
            async with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hget(self.keys.state(name), "topic")
                    pipe.hlen(self.keys.members(name))
                found = await pipe.execute()
            rooms = [
                (name, _text(found[2 * i] or b""), int(found[2 * i + 1]))
                for i, name in enumerate(names)
            ]
            return lambda: done(rooms)

        self.submit(None, None, failed, run=run, writes=False)

    def heartbeat(
        self,
        node: str,
        lease_ms: int,
        done: Callable[[bool, list[str]], None],
        failed: Failed,
    ) -> None:
        """Say ``node`` is alive for ``lease_ms`` more; ``done`` gets whether it had to be
        added to the nodes (first beat, or another node reaped it) and the nodes whose lease
        ran out (to ``reap``)."""
        keys = self.keys

        async def run(client: Any) -> Callable[[], None]:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(keys.alive(node), 1, px=lease_ms)
                pipe.sadd(keys.nodes, node)
                pipe.smembers(keys.nodes)
                _, added, members = await pipe.execute()
            others = sorted(_text(n) for n in members if _text(n) != node)
            async with client.pipeline(transaction=False) as pipe:
                for other in others:
                    pipe.exists(keys.alive(other))
                alive = await pipe.execute()
            dead = [other for other, up in zip(others, alive, strict=True) if not up]
            return lambda: done(bool(added), dead)

        self.submit(None, None, failed, run=run, writes=False)

    def reap(self, node: str, done: Callable[[list[tuple[str, Seat]]], None]) -> None:
        """Forget dead ``node``: its seats and nicks go; ``done`` gets the seats it had (empty
        if another node reaped it first)."""
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.eval(_REAP, 3, keys.nodes, keys.seats(node), keys.nicks(node), node, keys.prefix)
            return 1

        def finish(results: list[Any]) -> Callable[[], None]:
            flat = results[0]
            gone = [(_text(flat[i]), _decode_seat(flat[i + 1])) for i in range(0, len(flat), 2)]
            return lambda: done(gone)

        self.submit(stage, finish, lambda reason: None)

    def leave(self, node: str) -> None:
        """``node`` stops (its members left already): it is no longer one of the nodes."""
        keys = self.keys

        def stage(pipe: _Pipeline) -> int:
            pipe.srem(keys.nodes, node)
            pipe.delete(keys.alive(node), keys.seats(node), keys.nicks(node))
            return 2

        self.submit(stage, lambda results: _nothing)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _nothing() -> None:
    return None
