"""The ``Accounts`` interface, backend by backend: accounts and stored direct messages, on real
storage beside the history, no mocks.

Each test runs once per backend (``stores`` and ``reopen_stores`` come from ``conftest.py``);
"durable" is checked by closing the stores and opening new ones on the same storage.
"""

from __future__ import annotations

import asyncio

from app.store import NO_PASSWORD, DirectPage, StoredAccount, StoredDirect, StoredKey
from tests.store.conftest import ReopenStores, Stores
from tests.store.support import TIMEOUT, TS0, called, load_room, message, must_not_fail

HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"


def direct(id: int, sender: str = "Ann", to: str = "bob", text: str = "hi") -> StoredDirect:
    return StoredDirect(id=id, ts=TS0 + id, sender=sender, to=to, text=text, action=False)


def ssh_key(n: int, account: str = "ann", added: int = TS0) -> StoredKey:
    return StoredKey(f"SHA256:{n:043d}", account, f"ssh-ed25519 KEY{n}", f"key {n}", added)


def ids(page: DirectPage) -> list[int]:
    return [m.id for m in page.messages]


async def test_an_account_is_created_found_by_folded_nick_and_survives(
    stores: Stores, reopen_stores: ReopenStores
) -> None:
    """A created account is found by its folded nick, keeps its nick as registered, and is still
    there after the store is reopened."""
    stores.history.open()
    ann = StoredAccount("Ann", HASH, TS0)
    assert await called(stores.accounts.create_account, ann) is True
    assert await called(stores.accounts.find_account, "ann") == ann
    assert await called(stores.accounts.find_account, "bob") is None
    await stores.history.close()

    again = reopen_stores()
    again.history.open()
    assert await called(again.accounts.find_account, "ann") == ann


async def test_an_account_cannot_be_created_twice_whatever_the_case(stores: Stores) -> None:
    """Creating an account whose folded nick exists answers False and keeps the first."""
    stores.history.open()
    assert await called(stores.accounts.create_account, StoredAccount("ann", HASH, TS0))
    assert not await called(stores.accounts.create_account, StoredAccount("ANN", "other", TS0))
    assert await called(stores.accounts.find_account, "ann") == StoredAccount("ann", HASH, TS0)


async def test_a_password_change_replaces_the_hash(stores: Stores) -> None:
    """``set_password`` replaces the hash of an account and answers False for none."""
    stores.history.open()
    await called(stores.accounts.create_account, StoredAccount("ann", HASH, TS0))
    assert await called(stores.accounts.set_password, "ann", "new-hash") is True
    assert await called(stores.accounts.set_password, "bob", "new-hash") is False
    found = await called(stores.accounts.find_account, "ann")
    assert found == StoredAccount("ann", "new-hash", TS0)


async def test_direct_messages_page_like_a_room_in_either_order(stores: Stores) -> None:
    """A pair's conversation pages newest first without a cursor, older with ``before``, newer
    with ``after``, whichever of the two is named first, and holds nobody else's messages."""
    stores.history.open()
    for n in range(1, 7):
        sender, to = ("Ann", "bob") if n % 2 else ("bob", "Ann")
        await called(stores.accounts.append_direct, direct(n, sender, to), True)
    await called(stores.accounts.append_direct, direct(7, "Ann", "cy"), True)
    newest = await called(stores.accounts.direct_page, "ann", "bob", None, None, 4)
    assert ids(newest) == [3, 4, 5, 6] and newest.more
    assert ids(await called(stores.accounts.direct_page, "bob", "ann", 3, None, 4)) == [1, 2]
    later = await called(stores.accounts.direct_page, "bob", "ann", None, 4, 4)
    assert ids(later) == [5, 6] and not later.more
    assert (await called(stores.accounts.direct_page, "ann", "bob", None, None, 1)).messages == [
        direct(6, "bob", "Ann")
    ]
    assert ids(await called(stores.accounts.direct_page, "ann", "cy", None, None, 9)) == [7]


async def test_undelivered_messages_wait_until_marked_and_survive(
    stores: Stores, reopen_stores: ReopenStores
) -> None:
    """Messages stored as undelivered are listed for their recipient only, oldest first, across
    a restart, until marked delivered up to an id."""
    stores.history.open()
    await called(stores.accounts.append_direct, direct(1, "Ann", "bob"), False)
    await called(stores.accounts.append_direct, direct(2, "Ann", "bob"), True)
    await called(stores.accounts.append_direct, direct(3, "cy", "Bob"), False)
    await called(stores.accounts.append_direct, direct(4, "bob", "Ann"), False)
    await stores.history.close()

    again = reopen_stores()
    again.history.open()
    waiting = await called(again.accounts.undelivered, "bob", 10)
    assert ids(waiting) == [1, 3] and not waiting.more
    assert ids(await called(again.accounts.undelivered, "bob", 1)) == [1]
    await called(again.accounts.mark_delivered, "bob", 1)
    assert ids(await called(again.accounts.undelivered, "bob", 10)) == [3]
    await called(again.accounts.mark_delivered, "bob", 3)
    assert ids(await called(again.accounts.undelivered, "bob", 10)) == []
    assert ids(await called(again.accounts.undelivered, "ann", 10)) == [4]


async def test_deleting_an_account_deletes_its_direct_messages_only(stores: Stores) -> None:
    """``delete_account`` removes the account and every message it sent or received, keeps the
    others' conversations, and answers False when there was none."""
    stores.history.open()
    await called(stores.accounts.create_account, StoredAccount("Ann", HASH, TS0))
    await called(stores.accounts.append_direct, direct(1, "Ann", "bob"), True)
    await called(stores.accounts.append_direct, direct(2, "bob", "Ann"), False)
    await called(stores.accounts.append_direct, direct(3, "bob", "cy"), True)
    await called(stores.accounts.append_direct, direct(4, "annie", "bob"), True)
    await called(stores.accounts.append_direct, direct(5, "ann", "bob"), False)
    await called(stores.accounts.append_direct, direct(6, "annie", "bob"), False)
    assert await called(stores.accounts.delete_account, "ann") is True
    assert await called(stores.accounts.delete_account, "ann") is False
    assert await called(stores.accounts.find_account, "ann") is None
    assert ids(await called(stores.accounts.direct_page, "ann", "bob", None, None, 9)) == []
    assert ids(await called(stores.accounts.undelivered, "ann", 9)) == []
    assert ids(await called(stores.accounts.direct_page, "bob", "cy", None, None, 9)) == [3]
    assert ids(await called(stores.accounts.direct_page, "bob", "annie", None, None, 9)) == [4, 6]
    assert ids(await called(stores.accounts.undelivered, "bob", 9)) == [6]


async def test_stored_direct_ids_count_as_used_after_a_restart(
    stores: Stores, reopen_stores: ReopenStores
) -> None:
    """The last id a reopened store reports covers stored direct messages too."""
    stores.history.open()
    await called(stores.accounts.append_direct, direct(90), True)
    await stores.history.close()
    again = reopen_stores()
    assert again.history.open().last_id == 90
    assert (await load_room(again.history, "#a"))[1].messages == []


async def test_account_writes_complete_in_order_with_room_messages(stores: Stores) -> None:
    """Operations submitted to the accounts and the history in turn complete in that order."""
    stores.history.open()
    outcomes: list[str] = []
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    history, accounts = stores.history, stores.accounts
    history.append([message(1)], lambda m: outcomes.append("room 1"), must_not_fail)
    account = StoredAccount("ann", HASH, TS0)
    accounts.create_account(account, lambda made: outcomes.append(f"ann {made}"), must_not_fail)
    accounts.append_direct(direct(2), False, lambda: outcomes.append("direct 2"), must_not_fail)
    history.append([message(3)], lambda m: outcomes.append("room 3"), must_not_fail)
    accounts.find_account("ann", lambda a: outcomes.append(f"found {a is not None}"), must_not_fail)
    history.barrier(lambda: finished.set_result(None))
    await asyncio.wait_for(finished, TIMEOUT)
    assert outcomes == ["room 1", "ann True", "direct 2", "room 3", "found True"]


async def test_keys_are_pinned_listed_in_order_and_survive(
    stores: Stores, reopen_stores: ReopenStores
) -> None:
    """Keys added to an account are found by fingerprint, listed oldest first, and still there
    after the store is reopened; a key of no account and a key of a missing account are not
    added."""
    stores.history.open()
    await called(stores.accounts.create_account, StoredAccount("Ann", HASH, TS0))
    second, first = ssh_key(2, added=TS0 + 5), ssh_key(1, added=TS0 + 1)
    assert await called(stores.accounts.add_key, second) is True
    assert await called(stores.accounts.add_key, first) is True
    assert await called(stores.accounts.add_key, ssh_key(3, "nobody")) is False
    assert await called(stores.accounts.find_key, second.fingerprint) == second
    assert await called(stores.accounts.find_key, ssh_key(3).fingerprint) is None
    await stores.history.close()

    again = reopen_stores()
    again.history.open()
    assert await called(again.accounts.account_keys, "ann") == [first, second]
    assert await called(again.accounts.account_keys, "bob") == []


async def test_a_key_is_pinned_to_one_account_at_most(stores: Stores) -> None:
    """Adding a fingerprint that is already pinned (to another account or the same) answers
    False and keeps the first."""
    stores.history.open()
    for nick in ("ann", "bob"):
        await called(stores.accounts.create_account, StoredAccount(nick, HASH, TS0))
    assert await called(stores.accounts.add_key, ssh_key(1, "ann")) is True
    assert await called(stores.accounts.add_key, ssh_key(1, "bob")) is False
    assert await called(stores.accounts.add_key, ssh_key(1, "ann")) is False
    assert await called(stores.accounts.find_key, ssh_key(1).fingerprint) == ssh_key(1, "ann")


async def test_removing_a_key_takes_only_that_accounts_own(stores: Stores) -> None:
    """``remove_key`` unpins one of the account's keys and answers False for a key that is
    another account's or none."""
    stores.history.open()
    for nick in ("ann", "bob"):
        await called(stores.accounts.create_account, StoredAccount(nick, HASH, TS0))
    await called(stores.accounts.add_key, ssh_key(1, "ann"))
    await called(stores.accounts.add_key, ssh_key(2, "bob"))
    assert await called(stores.accounts.remove_key, "ann", ssh_key(2).fingerprint) is False
    assert await called(stores.accounts.remove_key, "ann", ssh_key(1).fingerprint) is True
    assert await called(stores.accounts.remove_key, "ann", ssh_key(1).fingerprint) is False
    assert await called(stores.accounts.account_keys, "ann") == []
    assert await called(stores.accounts.account_keys, "bob") == [ssh_key(2, "bob")]


async def test_a_pinned_account_is_made_with_its_key_or_not_at_all(stores: Stores) -> None:
    """``create_pinned_account`` makes the account and its one key together; if the nick is an
    account, or the key is pinned already, it answers False and makes neither."""
    stores.history.open()
    ann = StoredAccount("Ann", NO_PASSWORD, TS0)
    assert await called(stores.accounts.create_pinned_account, ann, ssh_key(1, "ann")) is True
    assert await called(stores.accounts.find_account, "ann") == ann
    assert await called(stores.accounts.account_keys, "ann") == [ssh_key(1, "ann")]

    bob = StoredAccount("bob", NO_PASSWORD, TS0)
    assert await called(stores.accounts.create_pinned_account, bob, ssh_key(1, "bob")) is False
    assert await called(stores.accounts.find_account, "bob") is None
    again = StoredAccount("ANN", NO_PASSWORD, TS0)
    assert await called(stores.accounts.create_pinned_account, again, ssh_key(2, "ann")) is False
    assert await called(stores.accounts.find_key, ssh_key(2).fingerprint) is None


async def test_deleting_an_account_unpins_its_keys(stores: Stores) -> None:
    """``delete_account`` removes the account's keys, so they can be pinned again elsewhere, and
    leaves other accounts' keys."""
    stores.history.open()
    for nick in ("ann", "bob"):
        await called(stores.accounts.create_account, StoredAccount(nick, HASH, TS0))
    await called(stores.accounts.add_key, ssh_key(1, "ann"))
    await called(stores.accounts.add_key, ssh_key(2, "bob"))
    assert await called(stores.accounts.delete_account, "ann") is True
    assert await called(stores.accounts.find_key, ssh_key(1).fingerprint) is None
    assert await called(stores.accounts.account_keys, "ann") == []
    assert await called(stores.accounts.add_key, ssh_key(1, "bob")) is True
    assert await called(stores.accounts.find_key, ssh_key(2).fingerprint) == ssh_key(2, "bob")
