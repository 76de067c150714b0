"""cloud/sessions.py without a model: which session's state is kept, saved, dropped or forgotten."""

from __future__ import annotations

import pytest

from cloud.sessions import SessionStore
from device_runtime.engine import SavedSequence


class CacheOnly:
    """An engine's KV cache as the store sees it: tokens, saved copies of 100 bytes a token."""

    def __init__(self):
        self._tokens: list[int] = []
        self.loads = 0

    @property
    def tokens(self) -> list[int]:
        return list(self._tokens)

    @property
    def n_past(self) -> int:
        return len(self._tokens)

    def truncate(self, keep: int) -> None:
        del self._tokens[keep:]

    def save_sequence(self) -> SavedSequence:
        return SavedSequence(tuple(self._tokens), bytearray(100 * len(self._tokens)))  # type: ignore[arg-type]

    def load_sequence(self, saved: SavedSequence) -> None:
        self._tokens = list(saved.tokens)
        self.loads += 1


def serve(store: SessionStore, owner: str, context: list[int]) -> list[int]:
    """One round: what the cache held for this owner when it began; then the cache holds ``context``."""
    with store.serving(owner) as engine:
        held = engine.tokens
        engine.truncate(0)
        engine._tokens.extend(context)
    return held


def test_sessions_taking_turns_each_find_their_own_state():
    store = SessionStore(CacheOnly(), memory_bytes=10_000, max_sessions=8)  # type: ignore[arg-type]
    for n in range(1, 4):
        for owner in "abc":
            held = serve(store, owner, [ord(owner)] * (n + 1))
            assert held == ([ord(owner)] * n if n > 1 else [])
    assert store.counts["loaded"] == 6 and store.counts["evicted"] == 0
    assert store.tokens("a") == [ord("a")] * 4 and store.tokens("z") is None


def test_memory_bound_drops_the_least_recently_served_state_first():
    store = SessionStore(CacheOnly(), memory_bytes=2_500, max_sessions=8)  # type: ignore[arg-type]
    for owner in "abcd":  # 10 tokens each: 1,000 bytes saved per session not being served
        serve(store, owner, [1] * 10)
    # d is resident; c and b fit the 2,500 bytes, a (served first) was dropped
    assert store.saved_bytes == 2_000 and store.counts["evicted"] == 1
    assert serve(store, "a", [1] * 11) == []  # rebuilt from nothing: its next round is one prefill
    assert store.tokens("a") == [1] * 11 and store.counts["rebuilt"] == 1
    assert serve(store, "c", [1] * 11) == [1] * 10  # still saved


def test_past_max_sessions_the_least_recently_served_is_forgotten():
    store = SessionStore(CacheOnly(), memory_bytes=1 << 20, max_sessions=2)  # type: ignore[arg-type]
    for owner in "abc":
        serve(store, owner, [7] * 5)
    assert store.tokens("a") is None and store.tokens("b") == [7] * 5
    assert store.counts["forgotten"] == 1 and store.saved_bytes == 500  # b's state only


def test_a_completion_parks_the_resident_session_and_starts_empty():
    engine = CacheOnly()
    store = SessionStore(engine, memory_bytes=1 << 20, max_sessions=4)  # type: ignore[arg-type]
    serve(store, "a", [3] * 6)
    store.park()
    assert engine.tokens == [] and store.resident is None
    engine._tokens.extend([9] * 4)  # the completion's own tokens
    store.park()  # no session resident: the completion's cache stays for the next completion
    assert engine.tokens == [9] * 4
    assert serve(store, "b", [5]) == []  # a new session never starts from the completion's cells
    assert serve(store, "a", [3] * 7) == [3] * 6


def test_a_failed_round_empties_the_cache_and_keeps_the_last_good_tokens():
    engine = CacheOnly()
    store = SessionStore(engine, memory_bytes=1 << 20, max_sessions=4)  # type: ignore[arg-type]
    serve(store, "a", [1, 2, 3])
    with pytest.raises(RuntimeError), store.serving("a") as eng:
        eng._tokens.append(99)
        raise RuntimeError("decode failed")
    assert engine.tokens == [] and store.resident is None and store.tokens("a") == [1, 2, 3]
    assert serve(store, "a", [1, 2, 3, 4]) == []  # rebuilt
