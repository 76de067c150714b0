"""Cloud pools: which replica serves a call, so that one conversation stays on one replica.

With several ``cloud.endpoints``, every call of one answer and every answer of one conversation
go to the same replica, whose prefix cache (vLLM) or session state (the local cloud) then holds
the conversation. The replica is chosen by rendezvous (highest-random-weight) hashing of the
request's session key over the replicas' names: every gateway maps a key to the same replica,
and removing a replica moves only the keys it held. The key is the OpenAI ``user``, the
``X-Session-Id`` header or ``metadata.session``, else a hash of the conversation's first messages
(``gateway.core.scheduling.session_key``), so later turns of one chat find the same replica.

    order = rendezvous_order(key, [e.url for e in endpoints])   # replica indexes, best first
    affinity = conversations.open(key, order, progress)          # one answer's view (CallStats.affinity)
    ... every call: transport picks affinity.replica while it is usable, else the next in ``order``
    conversations.close(affinity)

When the replica an answer is on fails (connection error, 5xx, its circuit open), the call goes to
the next replica in the key's order and the answer stays there (``Affinity.served`` records the
move: from, to, and how many tokens the client had by then). Callers whose requests build on state
kept at the replica (the local cloud's verification session) re-send the whole context once
(``Transport.request_raw``'s ``rebody``). Indexes, never addresses, are what the route trace shows.

A conversation's verification session (its local-cloud session id and vLLM ``cache_salt``) lives
here too, keyed like the replica, so the turns of one chat on one replica share one cache
namespace. Only one answer of a conversation holds it at a time; a second answer running at the
same moment verifies under a session of its own (two answers interleaving one cache namespace
could read each other's rows).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def rendezvous_order(key: str, names: Sequence[str]) -> list[int]:
    """Indexes of ``names``, best first for ``key``: each scored by a hash of (key, name)."""
    def score(i: int) -> bytes:
        return hashlib.blake2b(f"{key}\0{names[i]}".encode("utf-8", "surrogatepass"), digest_size=8).digest()

    return sorted(range(len(names)), key=score, reverse=True)


@dataclass(eq=False)
class Conversation:
    """What outlives one answer: the replica the conversation was last served by, its verification
    session (a ``VerifySession``, made by the first answer that verifies), and the answers running."""

    replica: int | None = None
    session: Any = None
    active: int = 0


def _no_progress() -> int:
    return 0


@dataclass(eq=False)
class Affinity:
    """One answer's place in the pool; rides on the answer's ``CallStats`` to every cloud call."""

    key: str
    order: list[int]  # replica indexes, best first for this key
    progress: Callable[[], int] = _no_progress  # completion tokens the client has so far
    replica: int | None = None  # where this answer's calls go while that replica is usable
    conversation: Conversation = field(default_factory=Conversation)
    holds: bool = True  # this answer holds its conversation's state (the only answer of it running)
    failed: set[int] = field(default_factory=set)  # replicas that failed a call of this answer
    failovers: list[dict[str, int]] = field(default_factory=list)  # for the route trace
    closed: bool = False

    def served(self, index: int) -> None:
        """A call of this answer got its answer from replica ``index``: the answer is on it now."""
        if self.replica is not None and index != self.replica:
            self.failovers.append({"from_replica": self.replica, "to_replica": index,
                                   "at_token": self.progress()})
        self.replica = index

    def moved(self, index: int) -> bool:
        """Would a call sent to ``index`` land where this answer's replica state is not?"""
        return self.replica is not None and index != self.replica


class Conversations:
    """Conversations by session key, the least recently used forgotten first (ids are hashes)."""

    def __init__(self, capacity: int = 4096):
        self.capacity = capacity
        self._by_key: OrderedDict[str, Conversation] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_key)

    def open(self, key: str, order: list[int], progress: Callable[[], int] = _no_progress) -> Affinity:
        conv = self._by_key.pop(key, None) or Conversation()
        self._by_key[key] = conv
        while len(self._by_key) > self.capacity:
            self._by_key.popitem(last=False)
        conv.active += 1
        holds = conv.active == 1
        return Affinity(key, order, progress, replica=conv.replica if holds else None, conversation=conv,
                        holds=holds)

    def close(self, affinity: Affinity) -> None:
        """The answer is over; the conversation remembers where it was served."""
        if affinity.closed:
            return
        conv = affinity.conversation
        conv.active = max(0, conv.active - 1)
        if affinity.holds and affinity.replica is not None:
            conv.replica = affinity.replica
        affinity.holds, affinity.closed = False, True
