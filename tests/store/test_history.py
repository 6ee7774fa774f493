"""The ``History`` interface, backend by backend: every method, on real storage, no mocks.

Each test runs once per backend (``store`` and ``reopen`` come from ``conftest.py``). "Durable"
is checked by closing the store and opening a new one on the same storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from app.store import History, Page, StoredMessage, StoredRoom
from tests.store.conftest import Reopen
from tests.store.support import (
    TS0,
    append,
    barrier,
    called,
    ids,
    load_room,
    message,
    must_not_fail,
    page,
    save_room,
    trim,
)

# --- open ---


async def test_a_new_store_opens_empty(store: History) -> None:
    """Opening empty storage gives a last id of 0, and no room has a state or messages."""
    snapshot = store.open()
    assert snapshot.last_id == 0
    assert await load_room(store, "#a") == (None, Page([], False))
    await store.close()


async def test_load_room_gives_its_newest_messages_oldest_first(
    store: History, reopen: Reopen
) -> None:
    """``load_room`` gives at most ``recent`` of the room's newest messages, oldest first, and
    whether older ones exist."""
    store.open()
    await append(store, message(1, "#a"), message(2, "#b"), message(3, "#a"), message(4, "#a"))
    await store.close()

    again = reopen()
    again.open()
    assert ids((await load_room(again, "#a", recent=2))[1]) == [3, 4]
    assert (await load_room(again, "#a", recent=2))[1].more is True
    assert (await load_room(again, "#b", recent=2))[1] == Page([message(2, "#b")], False)
    await again.close()


async def test_load_room_gives_the_saved_topic_or_none(store: History, reopen: Reopen) -> None:
    """A room with a saved topic loads it; a room with only messages has no stored state."""
    store.open()
    await append(store, message(1, "#a"), message(2, "#b"))
    save_room(store, StoredRoom("#b", "busy", "bob"))
    save_room(store, StoredRoom("#c", "quiet here", "ann"))
    await store.close()

    again = reopen()
    again.open()
    assert (await load_room(again, "#a"))[0] is None
    assert (await load_room(again, "#b"))[0] == StoredRoom("#b", "busy", "bob")
    assert await load_room(again, "#c") == (StoredRoom("#c", "quiet here", "ann"), Page([], False))
    await again.close()


# --- append ---


async def test_append_calls_done_with_the_messages(store: History) -> None:
    """``done`` receives exactly the messages that were appended, in one call."""
    store.open()
    messages = [message(1), message(2), message(3, "#b")]
    calls: list[Sequence[StoredMessage]] = []
    store.append(messages, calls.append, must_not_fail)
    await barrier(store)
    assert [list(c) for c in calls] == [messages]
    await store.close()


async def test_appended_messages_survive_a_reopen_field_for_field(
    store: History, reopen: Reopen
) -> None:
    """A message whose ``done`` ran is kept, every field intact (action, Unicode, empty text)."""
    store.open()
    kept = [
        message(1, text="plain"),
        message(2, text="waves 👋 — ünïcödé", sender="zoë", action=True),
        message(3, text=""),
    ]
    await append(store, *kept)
    await store.close()

    again = reopen()
    again.open()
    assert (await load_room(again, "#a"))[1].messages == kept
    assert (await page(again, "#a")).messages == kept
    await again.close()


async def test_close_finishes_appends_still_in_flight(store: History, reopen: Reopen) -> None:
    """An append not yet completed when ``close`` is called completes and is durable."""
    store.open()
    appended: list[int] = []
    store.append([message(1)], lambda ms: appended.extend(m.id for m in ms), must_not_fail)
    await store.close()
    assert appended == [1]

    again = reopen()
    again.open()
    assert ids(await page(again, "#a")) == [1]
    await again.close()


# --- reserve_ids ---


async def test_reserved_ids_raise_the_last_id_after_a_reopen(
    store: History, reopen: Reopen
) -> None:
    """``last_id`` is the highest of the reserved ids and the stored message ids."""
    store.open()
    await append(store, message(5))
    store.reserve_ids(100)
    await store.close()

    again = reopen()
    assert again.open().last_id == 100
    await append(again, message(150))
    await again.close()

    third = reopen()
    assert third.open().last_id == 150
    await third.close()


async def test_a_lower_reservation_never_lowers_the_last_id(store: History, reopen: Reopen) -> None:
    """Reserving fewer ids than before keeps the earlier, higher ceiling."""
    store.open()
    store.reserve_ids(100)
    store.reserve_ids(40)
    await store.close()

    again = reopen()
    assert again.open().last_id == 100
    await again.close()


# --- save_room ---


async def test_a_saved_topic_replaces_the_previous_one(store: History, reopen: Reopen) -> None:
    """Saving a room again overwrites its topic and who set it; the last save wins."""
    store.open()
    save_room(store, StoredRoom("#a", "first", "ann"))
    save_room(store, StoredRoom("#a", "second", "bob"))
    await store.close()

    again = reopen()
    again.open()
    assert (await load_room(again, "#a"))[0] == StoredRoom("#a", "second", "bob")
    await again.close()


async def test_a_topic_can_be_cleared(store: History, reopen: Reopen) -> None:
    """Saving an empty topic keeps the room, with no topic."""
    store.open()
    save_room(store, StoredRoom("#a", "something", "ann"))
    save_room(store, StoredRoom("#a", "", "bob"))
    await store.close()

    again = reopen()
    again.open()
    assert (await load_room(again, "#a"))[0] == StoredRoom("#a", "", "bob")
    await again.close()


# --- page ---


async def test_the_latest_page_is_the_newest_messages_oldest_first(store: History) -> None:
    """With neither ``before`` nor ``after``, a page is the room's newest ``limit`` messages."""
    store.open()
    await append(store, *(message(i) for i in range(1, 6)))
    latest = await page(store, "#a", limit=3)
    assert ids(latest) == [3, 4, 5]
    assert latest.more
    await store.close()


async def test_a_page_before_an_id_holds_older_messages(store: History) -> None:
    """With ``before``, a page is the newest ``limit`` messages older than that id."""
    store.open()
    await append(store, *(message(i) for i in range(1, 8)))
    older = await page(store, "#a", before=6, limit=3)
    assert ids(older) == [3, 4, 5]
    assert older.more
    oldest = await page(store, "#a", before=3, limit=3)
    assert ids(oldest) == [1, 2]
    assert not oldest.more
    await store.close()


async def test_a_page_after_an_id_holds_newer_messages(store: History) -> None:
    """With ``after``, a page is the oldest ``limit`` messages newer than that id."""
    store.open()
    await append(store, *(message(i) for i in range(1, 8)))
    newer = await page(store, "#a", after=2, limit=3)
    assert ids(newer) == [3, 4, 5]
    assert newer.more
    newest = await page(store, "#a", after=5, limit=3)
    assert ids(newest) == [6, 7]
    assert not newest.more
    await store.close()


async def test_more_is_false_when_a_page_holds_exactly_the_rest(store: History) -> None:
    """A page that holds the last ``limit`` messages exactly says there are no more."""
    store.open()
    await append(store, *(message(i) for i in range(1, 4)))
    assert not (await page(store, "#a", limit=3)).more
    assert not (await page(store, "#a", before=4, limit=3)).more
    assert not (await page(store, "#a", after=0, limit=3)).more
    await store.close()


async def test_a_page_holds_only_its_own_room(store: History) -> None:
    """Messages of other rooms never appear in a room's page, whichever direction."""
    store.open()
    await append(store, message(1, "#a"), message(2, "#b"), message(3, "#a"), message(4, "#b"))
    assert ids(await page(store, "#a")) == [1, 3]
    assert ids(await page(store, "#b", before=4)) == [2]
    assert ids(await page(store, "#b", after=2)) == [4]
    await store.close()


async def test_a_page_of_an_unknown_room_is_empty(store: History) -> None:
    """A room with no messages gives an empty page with nothing more."""
    store.open()
    await append(store, message(1, "#a"))
    assert await page(store, "#nowhere") == Page([], False)
    await store.close()


async def test_a_page_sees_messages_appended_before_it(store: History) -> None:
    """A read submitted after an append, without waiting for it, already sees its messages."""
    store.open()
    store.append([message(1)], lambda ms: None, must_not_fail)
    assert ids(await page(store, "#a")) == [1]
    await store.close()


# --- trim ---


async def test_trim_by_age_deletes_only_older_messages(store: History, reopen: Reopen) -> None:
    """Messages with ``ts`` before the bound go, in every room; newer ones stay, durably."""
    store.open()
    await append(store, message(1), message(2, room="#b"), message(3), message(4, room="#b"))
    assert await trim(store, older_than=TS0 + 3) == 2
    await store.close()
    again = reopen()
    again.open()
    assert ids(await page(again, "#a")) == [3]
    assert ids(await page(again, "#b")) == [4]
    await again.close()


async def test_trim_by_count_keeps_each_rooms_newest(store: History) -> None:
    """``keep`` leaves the newest ``keep`` messages of each room and no more."""
    store.open()
    await append(store, *(message(i) for i in range(1, 8)), message(8, room="#b"))
    assert await trim(store, keep=3) == 4
    assert ids(await page(store, "#a")) == [5, 6, 7]
    assert ids(await page(store, "#b")) == [8]
    assert await trim(store, keep=0) == 4
    assert ids(await page(store, "#a")) == []
    await store.close()


async def test_a_trim_deletes_at_most_its_limit_oldest_first(store: History) -> None:
    """A large trim is done in bounded steps, each removing the oldest of what must go."""
    store.open()
    await append(store, *(message(i) for i in range(1, 11)))
    assert await trim(store, older_than=TS0 + 8, limit=3) == 3
    assert ids(await page(store, "#a")) == [4, 5, 6, 7, 8, 9, 10]
    assert await trim(store, keep=2, limit=4) == 4
    assert ids(await page(store, "#a")) == [8, 9, 10]
    assert await trim(store, older_than=TS0 + 8, keep=2, limit=4) == 1
    assert await trim(store, older_than=TS0 + 8, keep=2, limit=4) == 0
    assert ids(await page(store, "#a")) == [9, 10]
    await store.close()


async def test_a_trim_of_an_empty_store_deletes_nothing(store: History) -> None:
    """Trimming nothing is no error and reports 0."""
    store.open()
    assert await trim(store, older_than=TS0 + 100, keep=0) == 0
    await store.close()


async def test_a_trim_keeps_the_last_id(store: History, reopen: Reopen) -> None:
    """Trimming every message never lets a later id repeat an old one."""
    store.open()
    await append(store, message(1), message(2))
    assert await trim(store, keep=0) == 2
    await store.close()
    again = reopen()
    assert again.open().last_id == 2
    await again.close()


# --- barrier and ordering ---


async def test_completions_run_in_submission_order(store: History) -> None:
    """Appends, reads and barriers complete in the order they were submitted."""
    store.open()
    order: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def appended(messages: Sequence[StoredMessage]) -> None:
        order.append(f"append {messages[0].id}")

    def paged(result: Page) -> None:
        order.append(f"page {ids(result)}")

    store.append([message(1)], appended, must_not_fail)
    store.page("#a", None, None, 10, paged)
    store.append([message(2)], appended, must_not_fail)
    store.barrier(lambda: order.append("barrier"))
    save_room(store, StoredRoom("#a", "t", "ann"))
    store.barrier(lambda: done.set_result(None))
    await asyncio.wait_for(done, 5)
    assert order == ["append 1", "page [1]", "append 2", "barrier"]
    await store.close()


async def test_a_barrier_on_an_idle_store_completes(store: History) -> None:
    """A barrier with nothing in flight still calls ``done``."""
    store.open()
    await barrier(store)
    await store.close()


# --- idle ---


async def test_idle_is_false_while_work_is_in_flight(store: History) -> None:
    """``idle`` is true after open, false once work is submitted, true once it all completed."""
    store.open()
    assert store.idle
    store.append([message(1)], lambda ms: None, must_not_fail)
    assert not store.idle
    await barrier(store)
    assert store.idle
    store.reserve_ids(10)
    assert not store.idle
    await barrier(store)
    assert store.idle
    await store.close()


# --- forget_room ---


async def test_forget_room_deletes_the_state_of_a_room_without_messages(
    store: History, reopen: Reopen
) -> None:
    """A forgotten room with a topic but no messages is gone, for good."""
    store.open()
    save_room(store, StoredRoom("#a", "passing through", "ann"))
    store.forget_room("#a")
    assert await load_room(store, "#a") == (None, Page([], False))
    await store.close()

    again = reopen()
    again.open()
    assert await load_room(again, "#a") == (None, Page([], False))
    await again.close()


async def test_forget_room_keeps_a_room_that_holds_messages(store: History) -> None:
    """A room with history someone may page keeps its topic and messages when forgotten."""
    store.open()
    await append(store, message(1, "#a"))
    save_room(store, StoredRoom("#a", "kept", "ann"))
    store.forget_room("#a")
    stored, newest = await load_room(store, "#a")
    assert stored == StoredRoom("#a", "kept", "ann")
    assert ids(newest) == [1]
    await store.close()


async def test_a_room_saved_after_it_was_forgotten_is_kept(store: History) -> None:
    """Forgetting is ordered like everything else: a later save stands."""
    store.open()
    save_room(store, StoredRoom("#a", "old", "ann"))
    store.forget_room("#a")
    save_room(store, StoredRoom("#a", "new", "bob"))
    assert (await load_room(store, "#a"))[0] == StoredRoom("#a", "new", "bob")
    await store.close()


# --- find_message and delete_message ---


async def test_find_message_gives_a_room_message_by_id_or_none(store: History) -> None:
    """A stored message is found by its id alone, whichever room holds it; an unknown id is
    ``None``."""
    store.open()
    await append(store, message(1, "#a"), message(2, "#b", "hello", action=True))
    assert await called(store.find_message, 2) == message(2, "#b", "hello", action=True)
    assert await called(store.find_message, 3) is None
    await store.close()


async def test_a_deleted_message_loses_its_text_for_good(store: History, reopen: Reopen) -> None:
    """A deleted message keeps its id, time, sender and place, with no text and ``deleted`` set,
    in every read: find, pages both ways, a room's load, and after a reopen."""
    store.open()
    await append(store, message(1), message(2, text="regret", action=True), message(3))
    assert await called(store.delete_message, 2) is True
    await store.close()

    again = reopen()
    again.open()
    gone = StoredMessage(2, TS0 + 2, "#a", "ann", "", True, deleted=True)
    assert await called(again.find_message, 2) == gone
    assert (await page(again, "#a")).messages == [message(1), gone, message(3)]
    assert (await page(again, "#a", before=3, limit=1)) == Page([gone], True)
    assert (await page(again, "#a", after=1, limit=1)) == Page([gone], True)
    assert (await load_room(again, "#a"))[1].messages[1] == gone
    await again.close()


async def test_deleting_an_unknown_id_says_so_and_changes_nothing(store: History) -> None:
    """``done(False)`` for an id no room message has; deleting twice is ``True`` both times."""
    store.open()
    await append(store, message(1), message(2))
    assert await called(store.delete_message, 9) is False
    assert await called(store.delete_message, 1) is True
    assert await called(store.delete_message, 1) is True
    assert [(m.text, m.deleted) for m in (await page(store, "#a")).messages] == [
        ("", True),
        ("hi", False),
    ]
    await store.close()


async def test_a_deleted_message_is_trimmed_like_any_other(store: History) -> None:
    """Deletion does not keep a message from a trim, nor lose the ids it used."""
    store.open()
    await append(store, message(1), message(2))
    assert await called(store.delete_message, 2) is True
    assert await trim(store, keep=0) == 2
    assert await called(store.find_message, 2) is None
    await store.close()


# --- edit_message ---


async def test_an_edited_message_has_its_new_text_everywhere(
    store: History, reopen: Reopen
) -> None:
    """An edit replaces the text in place and marks the message edited, in every read: find,
    pages both ways, a room's load, and after a reopen; its id, time and sender stay."""
    store.open()
    await append(store, message(1), message(2, text="teh typo", action=True), message(3))
    assert await called(store.edit_message, 2, "#a", "the typo", TS0 + 50) is True
    assert await called(store.edit_message, 2, "#a", "the fix", TS0 + 60) is True
    await store.close()

    again = reopen()
    again.open()
    fixed = StoredMessage(2, TS0 + 2, "#a", "ann", "the fix", True, edited=True)
    assert await called(again.find_message, 2) == fixed
    assert (await page(again, "#a")).messages == [message(1), fixed, message(3)]
    assert (await page(again, "#a", before=3, limit=1)) == Page([fixed], True)
    assert (await page(again, "#a", after=1, limit=1)) == Page([fixed], True)
    assert (await load_room(again, "#a"))[1].messages[1] == fixed
    await again.close()


async def test_an_unknown_or_deleted_message_cannot_be_edited(store: History) -> None:
    """``done(False)`` for an id no room message has, one of another room and a deleted
    message, whose text stays gone; deleting an edited message takes its new text too."""
    store.open()
    await append(store, message(1), message(2), message(3))
    assert await called(store.edit_message, 9, "#a", "x", TS0) is False
    assert await called(store.edit_message, 3, "#b", "another room's", TS0) is False
    assert await called(store.delete_message, 1) is True
    assert await called(store.edit_message, 1, "#a", "back from the dead", TS0) is False
    assert await called(store.edit_message, 2, "#a", "changed", TS0) is True
    assert await called(store.delete_message, 2) is True
    texts = [(m.text, m.deleted) for m in (await page(store, "#a")).messages]
    assert texts == [("", True), ("", True), ("hi", False)]
    assert [m.id for m in (await page(store, "#a")).messages if m.edited] == []
    await store.close()


async def test_edits_and_appends_keep_their_order(store: History) -> None:
    """An edit submitted after an append sees the message; completions come in order."""
    store.open()
    order: list[str] = []
    store.append([message(1)], lambda done: order.append("append"), must_not_fail)
    store.edit_message(
        1, "#a", "later", TS0, lambda found: order.append(f"edit {found}"), must_not_fail
    )
    await barrier(store)
    assert order == ["append", "edit True"]
    assert (await page(store, "#a")).messages[0].text == "later"
    await store.close()
