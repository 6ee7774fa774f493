"""What a node tells its members after a subscription outage (``app/server/node_resync.py``),
from the frames it delivered and the members read from Redis: no sockets, no Redis."""

from __future__ import annotations

from app import protocol as p
from app.server.node_resync import RoomViews, changed_roles
from app.store.redis_node import Seat


def seat(nick: str, account: str = "") -> Seat:
    return Seat(nick, account, None, "n1")


def test_the_view_follows_the_presence_frames_delivered() -> None:
    """Joins, parts, quits, kicks and nick changes delivered change the view; other frames
    and other rooms do not."""
    views = RoomViews()
    views.start("#r", [seat("alice"), seat("bob"), seat("carol"), seat("dave")])
    frames = [
        p.Presence(room="#r", nick="erin", event="join"),
        p.Presence(room="#r", nick="bob", event="part"),
        p.Presence(room="#r", nick="carol", event="quit", text="node_lost"),
        p.Presence(room="#r", nick="dave", event="kick", by="alice"),
        p.Presence(room="#r", nick="Al", old="alice", event="nick"),
        p.Topic(room="#r", topic="t", by="erin"),
    ]
    views.heard("#r", b"".join(p.encode(frame) for frame in frames))
    views.heard("#other", p.encode(p.Presence(room="#other", nick="zed", event="join")))
    assert views.changed_members("#r", [seat("Al"), seat("erin")]) == []


def test_what_differs_from_redis_is_told_once() -> None:
    """A member gone is a part, one who came a join, a change of case a nick; told once, the
    view is Redis' (a second comparison finds nothing)."""
    views = RoomViews()
    views.start("#r", [seat("alice"), seat("bob"), seat("carol")])
    now = [seat("ALICE"), seat("carol"), seat("dave")]
    assert views.changed_members("#r", now) == [
        p.Presence(room="#r", nick="bob", event="part"),
        p.Presence(room="#r", nick="ALICE", old="alice", event="nick"),
        p.Presence(room="#r", nick="dave", event="join"),
    ]
    assert views.changed_members("#r", now) == []
    views.stop("#r")
    assert views.changed_members("#r", []) == []


def test_changed_roles_are_told_for_members_by_themselves() -> None:
    """A role given, taken or changed is a mode by the member itself; an account that is not
    a member is not told of."""
    seats = [seat("Ann", "ann"), seat("bob", "bob"), seat("cy", "cy"), seat("guest")]
    before = {"ann": "op", "bob": "owner", "gone": "op"}
    after = {"bob": "owner", "cy": "op", "gone": "owner"}
    assert changed_roles("#r", before, after, seats) == [
        p.Mode(room="#r", nick="Ann", role="member", by="Ann"),
        p.Mode(room="#r", nick="cy", role="op", by="cy"),
    ]
