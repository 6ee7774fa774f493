"""The ``Moderation`` interface, backend by backend: roles, bans, mutes, topic locks and their
pruning, each durable across a reopen, on real storage beside the history, no mocks.

Each test runs once per backend (``reopen_stores`` comes from ``conftest.py``); "durable" is
checked by closing the stores and opening new ones on the same storage.
"""

from __future__ import annotations

from app.store import SERVER_WIDE, RoomRules, StoredBan, StoredMute, StoredRoom
from tests.store.conftest import ReopenStores, Stores
from tests.store.support import TS0, called, load_room, saved_room


def opened(reopen_stores: ReopenStores) -> Stores:
    """New stores on the test's storage, opened."""
    stores = reopen_stores()
    stores.history.open()
    return stores


async def test_a_room_without_rules_has_empty_ones(reopen_stores: ReopenStores) -> None:
    """An unknown room, and the server-wide bans of a new file, are empty rules."""
    moderation = opened(reopen_stores).moderation
    assert await called(moderation.room_rules, "#a") == RoomRules()
    assert await called(moderation.room_rules, SERVER_WIDE) == RoomRules()


async def test_roles_are_set_changed_and_removed_durably(reopen_stores: ReopenStores) -> None:
    """A role replaces the account's previous one in that room, ``None`` removes it, other
    rooms are untouched, and what is left survives a reopen."""
    first = opened(reopen_stores)
    history, moderation = first.history, first.moderation
    await called(moderation.set_role, "#a", "ann", "owner")
    await called(moderation.set_role, "#a", "bob", "op")
    await called(moderation.set_role, "#a", "cy", "op")
    await called(moderation.set_role, "#b", "bob", "owner")
    await called(moderation.set_role, "#a", "bob", None)
    await called(moderation.set_role, "#a", "cy", "owner")
    await history.close()

    again = opened(reopen_stores).moderation
    assert (await called(again.room_rules, "#a")).roles == {"ann": "owner", "cy": "owner"}
    assert (await called(again.room_rules, "#b")).roles == {"bob": "owner"}


async def test_a_ban_replaces_one_of_the_same_mask_in_any_case(reopen_stores: ReopenStores) -> None:
    """Banning a mask again (in another case) replaces the ban, keeping the mask as last given;
    server-wide bans are apart from a room's."""
    first = opened(reopen_stores)
    history, moderation = first.history, first.moderation
    await called(moderation.add_ban, StoredBan("#a", "nick:Troll*", "ann", None, TS0))
    await called(moderation.add_ban, StoredBan("#a", "ip:10.0.0.0/8", "ann", "spam", TS0 + 1))
    await called(moderation.add_ban, StoredBan("#a", "NICK:troll*", "bob", "again", TS0 + 2, 99))
    await called(moderation.add_ban, StoredBan(SERVER_WIDE, "account:eve", "root", None, TS0))
    await history.close()

    again = opened(reopen_stores).moderation
    assert (await called(again.room_rules, "#a")).bans == [
        StoredBan("#a", "ip:10.0.0.0/8", "ann", "spam", TS0 + 1),
        StoredBan("#a", "NICK:troll*", "bob", "again", TS0 + 2, 99),
    ]
    assert (await called(again.room_rules, SERVER_WIDE)).bans == [
        StoredBan(SERVER_WIDE, "account:eve", "root", None, TS0)
    ]


async def test_unban_compares_masks_ignoring_case(reopen_stores: ReopenStores) -> None:
    """``remove_ban`` lifts a ban given in another case and says ``False`` for none."""
    moderation = opened(reopen_stores).moderation
    await called(moderation.add_ban, StoredBan("#a", "account:Ann", "bob", None, TS0))
    assert await called(moderation.remove_ban, "#b", "account:ann") is False
    assert await called(moderation.remove_ban, "#a", "ACCOUNT:ANN") is True
    assert await called(moderation.remove_ban, "#a", "account:ann") is False
    assert (await called(moderation.room_rules, "#a")).bans == []


async def test_mutes_are_replaced_and_lifted(reopen_stores: ReopenStores) -> None:
    """A second mute of a nick replaces the first; ``remove_mute`` lifts it once."""
    first = opened(reopen_stores)
    history, moderation = first.history, first.moderation
    await called(moderation.add_mute, StoredMute("#a", "bob", "ann", TS0, TS0 + 60_000))
    await called(moderation.add_mute, StoredMute("#a", "bob", "cy", TS0 + 1))
    await called(moderation.add_mute, StoredMute("#a", "dee", "ann", TS0 + 2))
    assert await called(moderation.remove_mute, "#a", "dee") is True
    assert await called(moderation.remove_mute, "#a", "dee") is False
    await history.close()

    again = opened(reopen_stores).moderation
    assert (await called(again.room_rules, "#a")).mutes == [StoredMute("#a", "bob", "cy", TS0 + 1)]


async def test_a_topic_lock_is_set_and_cleared(reopen_stores: ReopenStores) -> None:
    """Locking twice is one lock; unlocking clears it; only the locked room is locked."""
    first = opened(reopen_stores)
    history, moderation = first.history, first.moderation
    await called(moderation.set_locked, "#a", True)
    await called(moderation.set_locked, "#a", True)
    await called(moderation.set_locked, "#b", True)
    await called(moderation.set_locked, "#b", False)
    await history.close()

    again = opened(reopen_stores).moderation
    assert (await called(again.room_rules, "#a")).locked is True
    assert (await called(again.room_rules, "#b")).locked is False


async def test_prune_deletes_only_what_ended(reopen_stores: ReopenStores) -> None:
    """Bans and mutes that ended before ``now`` go and are counted; lasting ones and those
    still running stay."""
    moderation = opened(reopen_stores).moderation
    await called(moderation.add_ban, StoredBan("#a", "nick:a*", "ann", None, TS0, TS0 + 10))
    await called(moderation.add_ban, StoredBan("#a", "nick:b*", "ann", None, TS0, TS0 + 99))
    await called(moderation.add_ban, StoredBan("#a", "nick:c*", "ann", None, TS0))
    await called(moderation.add_mute, StoredMute("#a", "dee", "ann", TS0, TS0 + 10))
    await called(moderation.add_mute, StoredMute("#a", "eve", "ann", TS0))
    assert await called(moderation.prune, TS0 + 50) == 2
    rules = await called(moderation.room_rules, "#a")
    assert [ban.mask for ban in rules.bans] == ["nick:b*", "nick:c*"]
    assert [mute.nick for mute in rules.mutes] == ["eve"]
    assert await called(moderation.prune, TS0 + 50) == 0


async def test_a_forgotten_room_keeps_its_rules(reopen_stores: ReopenStores) -> None:
    """``forget_room`` drops an empty room's topic but not its roles, bans or lock."""
    first = opened(reopen_stores)
    history, moderation = first.history, first.moderation
    await saved_room(history, StoredRoom("#a", "rules", "ann"))
    await called(moderation.set_role, "#a", "ann", "owner")
    await called(moderation.add_ban, StoredBan("#a", "nick:x", "ann", None, TS0))
    await called(moderation.set_locked, "#a", True)
    history.forget_room("#a")
    assert (await load_room(history, "#a"))[0] is None
    rules = await called(moderation.room_rules, "#a")
    assert rules.roles == {"ann": "owner"} and len(rules.bans) == 1 and rules.locked


async def test_a_dropped_account_loses_every_role_and_its_rooms_pass_to_an_op(
    reopen_stores: ReopenStores,
) -> None:
    """``drop_account`` takes an account's roles everywhere; a room it was the last owner of
    passes to its first op by name, one with another owner stays as it is, durably."""
    first = opened(reopen_stores)
    history, moderation = first.history, first.moderation
    for room, account, role in [
        ("#a", "alice", "owner"),
        ("#a", "zed", "op"),
        ("#a", "bob", "op"),
        ("#b", "alice", "owner"),
        ("#b", "carol", "owner"),
        ("#c", "alice", "op"),
        ("#d", "alice", "owner"),
    ]:
        await called(moderation.set_role, room, account, role)
    assert await called(moderation.drop_account, "alice") == {"#a": "bob"}
    await history.close()
    moderation = opened(reopen_stores).moderation
    assert (await called(moderation.room_rules, "#a")).roles == {"bob": "owner", "zed": "op"}
    assert (await called(moderation.room_rules, "#b")).roles == {"carol": "owner"}
    assert (await called(moderation.room_rules, "#c")).roles == {}
    assert (await called(moderation.room_rules, "#d")).roles == {}


async def test_a_ban_replaced_by_a_lasting_one_is_not_pruned(reopen_stores: ReopenStores) -> None:
    """Replacing a ban or mute that ends by one that does not (or ends later) keeps it from
    ``prune``; one made to end sooner is pruned."""
    moderation = opened(reopen_stores).moderation
    await called(moderation.add_ban, StoredBan("#a", "nick:a*", "ann", None, TS0, TS0 + 10))
    await called(moderation.add_ban, StoredBan("#a", "NICK:A*", "ann", None, TS0))
    await called(moderation.add_mute, StoredMute("#a", "dee", "ann", TS0, TS0 + 10))
    await called(moderation.add_mute, StoredMute("#a", "dee", "ann", TS0, TS0 + 99))
    await called(moderation.add_mute, StoredMute("#a", "eve", "ann", TS0))
    await called(moderation.add_mute, StoredMute("#a", "eve", "ann", TS0, TS0 + 10))
    assert await called(moderation.prune, TS0 + 50) == 1
    rules = await called(moderation.room_rules, "#a")
    assert [ban.mask for ban in rules.bans] == ["NICK:A*"]
    assert [mute.nick for mute in rules.mutes] == ["dee"]
    assert await called(moderation.prune, TS0 + 100) == 1
