"""A room message as Redis holds it, and how one stored message is found and changed in place.

This module owns the member format of a room's history (``PREFIX:{ROOM}:messages``, a sorted set
scored by message id; docs/redis.md has the table): a message is a JSON array ``[id, ts, sender,
text, action]``, with a sixth element ``true`` for a deleted message (its text is "") and, for an
edited one, ``false`` and a seventh ``true``, so that every other member is as layout 1 wrote it
and a Parley that predates edits reads an edited member as a plain one (msgspec ignores trailing
elements of an array-like struct). ``find`` looks a message up by id alone, which means asking
every room that holds messages, in one round trip; ``swap`` replaces one message's member by a
changed one (deleted, or edited) in one script, so that two nodes changing one message at once
never bring back a deleted message's text nor leave two members for one message.
``redis.py`` (``RedisHistory``) and the node's fan-out (``app/server/node.py``) use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

import msgspec
import redis
import redis.asyncio

from app.store.base import StoredMessage

if TYPE_CHECKING:
    from app.store.redis import Keys

# Put ARGV[2] in the place of whatever member message ARGV[1] has, unless it has none or (ARGV[3]
# is "edit") it is deleted: what an edit or a deletion changes (text, deleted, edited) is all a
# member may differ in, so the new member, made from an earlier read, is right whatever happened
# in between; removing by score heals a duplicate as well.
_SWAP: Final = (
    "local now = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[1], 'BYSCORE')"
    " if #now == 0 then return 0 end"
    " if ARGV[3] == 'edit' and cjson.decode(now[1])[6] == true then return 0 end"
    " redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])"
    " redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])"
    " return 1"
)


class _Row(msgspec.Struct, array_like=True):
    """What a message's member holds (the room is the key's): a JSON array, whose sixth element
    is there only for a deleted or edited message, so that every other member is as layout 1
    wrote it; an edited one has a seventh, ``true`` (which a Parley before edits ignores)."""

    id: int
    ts: int
    sender: str
    text: str
    action: bool
    deleted: bool = False
    edited: bool = False


_decode_row = msgspec.json.Decoder(_Row).decode


def member(message: StoredMessage) -> bytes:
    """``message`` as the member of its room's history."""
    row = (message.id, message.ts, message.sender, message.text, message.action)
    if message.deleted:
        return msgspec.json.encode((*row, True))
    return msgspec.json.encode((*row, False, True) if message.edited else row)


def message(room: str, member: bytes) -> StoredMessage:
    """The message a member of ``room``'s history holds."""
    row = _decode_row(member)
    return StoredMessage(
        row.id, row.ts, room, row.sender, row.text, row.action, row.deleted, row.edited
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def find(client: redis.asyncio.Redis, keys: Keys, id: int) -> tuple[str, bytes] | None:
    """The room and member of room message ``id``, or ``None``. An id does not say its room, so
    every room that holds messages is asked, in one round trip."""
    rooms = sorted(_text(room) for room in await client.smembers(keys.rooms))
    if not rooms:
        return None
    async with client.pipeline(transaction=False) as pipe:
        for room in rooms:
            pipe.zrange(keys.messages(room), id, id, byscore=True)
        found: list[list[bytes]] = await pipe.execute()
    for room, members in zip(rooms, found, strict=True):
        if members:
            return room, members[0]
    return None


async def swap(
    client: redis.asyncio.Redis,
    keys: Keys,
    id: int,
    change: Callable[[StoredMessage], StoredMessage | None],
    *,
    edit: bool,
    room: str | None = None,
) -> bool:
    """Put ``change(message)`` in the place of room message ``id`` (of ``room``: then only that
    room is read); False if there is no such message, ``change`` gives None, or (``edit``) it is
    deleted by the time of the swap. The swap is one script, so a deletion and an edit on two
    nodes at once never leave a deleted message with text, nor two members for one message; a
    repeat after a lost reply does the same again."""
    if room is None:
        found = await find(client, keys, id)
    else:
        read = await client.zrange(keys.messages(room), id, id, byscore=True)
        members = cast("list[bytes]", read)
        found = (room, members[0]) if members else None
    if found is None:
        return False
    room, old = found
    new = change(message(room, old))
    if new is None:
        return False
    mode = "edit" if edit else "delete"
    swapped = await client.eval(_SWAP, 1, keys.messages(room), str(id), member(new), mode)
    return bool(swapped)
