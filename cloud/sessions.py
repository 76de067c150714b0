"""Verification sessions on the local cloud: each caller's KV state kept apart, a bounded number at once.

    store = SessionStore(engine, memory_bytes=512 << 20, max_sessions=64)
    # on the worker thread, inside the worker's turn:
    with store.serving(owner) as engine:     # the cache now holds this session's state, or nothing
        verify_round(engine, context, draft, top_n)

One llama.cpp context, one sequence in it. The session being served is *resident* in the KV cache;
every other one is a saved copy of its cells (``LlamaEngine.save_sequence``, llama.cpp's
``llama_state_seq_get_data``) in RAM, loaded back before its next round. N devices verifying at
once take turns on the model anyway (one worker thread); they no longer take each other's cache.

Why saved copies rather than llama.cpp sequences in one context (``bench/spec_capacity.py --design``:
Qwen2.5-Coder-1.5B, one thread, on 2 shared cores; bench/results/capacity.md):

* a swap (save + load) is a memory copy of 28.7 KB a token: 1.6 / 3.3 / 5.1 ms at 256 / 512 / 768
  tokens, 0.2-0.7% of one k = 8 round and under 1/4000 of prefilling those tokens again (9-42 s
  there); the logits after a load are bit-identical to the uninterrupted ones;
* sequences in one unified KV cache pay on every round instead: each decode attends over every
  session's cells (a round beside three other sessions took 1.12-1.21x the same round alone);
* with the KV cache split per sequence a round costs what it costs alone, but each sequence gets a
  fixed n_ctx / n_seq_max (four sessions in a 4,096 context: 1,024 tokens each), and n_seq_max is
  fixed when the context is made. Saved states cost the same per round within the noise, and bound
  memory in plain bytes (``cloud.local.session_memory_mb``) for any number of sessions of any length.

Rules:

* A session is its caller: API key and session id, hashed (``owner``, made by the server). Its
  state is read only by the same owner; a session never starts from another's cells (a new or
  evicted one starts from an empty cache), so neither a refusal nor the time a round takes says
  anything about another conversation.
* Memory: saved states together take at most ``memory_bytes``; past it, the least recently served
  session's state is dropped first. Its token list is kept, so its next round is evaluated from the
  context it already holds: one prefill, never a refusal.
* ``max_sessions`` sessions are remembered at all (their token lists); past it the least recently
  served one is forgotten: its next delta round is refused once (409) and the client resends the
  whole context, which is never refused.
* Completions run on the same sequence: ``park`` saves the resident session first and empties the
  cache, so a completion never reads a verification session's cells, nor the other way round.
"""

from __future__ import annotations

import contextlib
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from device_runtime.engine import LlamaEngine, SavedSequence


@dataclass
class _Session:
    tokens: list[int] = field(default_factory=list)  # what its state holds (kept when the state is dropped)
    saved: SavedSequence | None = None  # its cells, while another session is resident


class SessionStore:
    """Per-owner KV states on one engine; every method runs on the engine's worker thread, in its turn."""

    def __init__(self, engine: LlamaEngine, memory_bytes: int = 512 << 20, max_sessions: int = 64):
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.engine = engine
        self.memory_bytes = memory_bytes
        self.max_sessions = max_sessions
        self.resident: str | None = None  # whose state the cache holds (None: a completion's, or nothing)
        self.saved_bytes = 0
        self.counts: Counter[str] = Counter()  # saved, loaded, rebuilt, evicted, forgotten
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently served first

    def tokens(self, owner: str) -> list[int] | None:
        """What this owner's state holds (None: a session this store does not know, or has forgotten)."""
        session = self._sessions.get(owner)
        return None if session is None else session.tokens

    @contextlib.contextmanager
    def serving(self, owner: str) -> Iterator[LlamaEngine]:
        """The engine holding this owner's state for one round; afterwards the store keeps what it holds.

        A round that fails leaves the cache in no known state: it is emptied, and the session keeps the
        tokens of its last good round (its next round is one prefill of them).
        """
        try:
            self._enter(owner)
            yield self.engine
        except BaseException:
            self.engine.truncate(0)
            self.resident = None
            raise
        session = self._sessions.setdefault(owner, _Session())
        session.tokens = self.engine.tokens
        self._sessions.move_to_end(owner)
        self._forget_beyond_max()

    def park(self) -> None:
        """Before a completion: the resident session saved, the cache emptied (a completion's own cache,
        when no session was resident, stays: completions reuse each other's prefixes, as vLLM's do)."""
        if self.resident is not None:
            self._save_resident()
            self.engine.truncate(0)

    def stats(self) -> dict[str, int]:
        """Counts for ``/v1/tandem/info`` (read on the event loop: the list is copied in one C call)."""
        saved = sum(s.saved is not None for s in list(self._sessions.values()))
        return {"sessions": len(self._sessions), "saved": saved, "saved_bytes": self.saved_bytes,
                "memory_bytes": self.memory_bytes, "max_sessions": self.max_sessions,
                **{f"{k}_total": v for k, v in sorted(self.counts.items())}}

    # -- the steps --
    def _enter(self, owner: str) -> None:
        if self.resident == owner:
            return
        session = self._sessions.get(owner)
        saved = session.saved if session is not None else None
        if session is not None and saved is not None:  # taken out first: saving the resident may need room
            session.saved = None
            self.saved_bytes -= saved.nbytes
        self._save_resident()
        self.resident = owner
        if saved is not None:
            try:
                self.engine.load_sequence(saved)
                self.counts["loaded"] += 1
                return
            except RuntimeError:  # llama.cpp refused it (the engine left the cache empty): rebuild instead
                pass
        # new, or its state was dropped: never start from whatever the cache holds
        self.engine.truncate(0)
        if session is not None and session.tokens:
            self.counts["rebuilt"] += 1

    def _save_resident(self) -> None:
        owner, self.resident = self.resident, None
        session = self._sessions.get(owner) if owner is not None else None
        if session is None or not self.engine.n_past:
            return
        session.saved = self.engine.save_sequence()
        self.saved_bytes += session.saved.nbytes
        self.counts["saved"] += 1
        for victim in self._sessions.values():  # least recently served first
            if self.saved_bytes <= self.memory_bytes:
                break
            if victim.saved is not None:
                self.saved_bytes -= victim.saved.nbytes
                victim.saved = None
                self.counts["evicted"] += 1

    def _forget_beyond_max(self) -> None:
        while len(self._sessions) > self.max_sessions:
            _, victim = self._sessions.popitem(last=False)  # never the resident: it was served last
            if victim.saved is not None:
                self.saved_bytes -= victim.saved.nbytes
            self.counts["forgotten"] += 1
