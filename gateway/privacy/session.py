"""Session pinning: a conversation that was ever private stays on the device for a while.

    pins = SessionPins(ttl_s=3600)
    pins.pin(session_id)          # this turn was private (tag, rule, or detected data)
    pins.pinned(session_id)       # later turns: True until ttl_s after the last private turn

Without it, turn 2 of a conversation ("and what should I take for it?") carries no personal
data of its own, goes to the cloud, and takes turn 1's context with it in the history the
client resends — or simply tells the cloud what the private turn was about. LiteLLM's
sensitive-data routing and vLLM Semantic Router's session-aware routing keep such sessions
local the same way.

Model-free and in memory: bounded (the oldest pin is dropped first), ids stored as
salted hashes (a session id may be a user's e-mail), the clock injectable for tests.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable


class SessionPins:
    def __init__(self, ttl_s: float = 3600.0, max_sessions: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._salt = os.urandom(16)
        self._pins: OrderedDict[bytes, float] = OrderedDict()  # hashed id -> expiry, oldest first

    def _key(self, session: str) -> bytes:
        raw = session.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, digest_size=16, key=self._salt).digest()

    def pin(self, session: str) -> None:
        """Keep ``session`` on the device until ``ttl_s`` from now (renews an existing pin)."""
        if self.ttl_s <= 0:
            return
        key = self._key(session)
        self._pins.pop(key, None)
        self._pins[key] = self.clock() + self.ttl_s
        self._expire()
        while len(self._pins) > self.max_sessions:
            self._pins.popitem(last=False)

    def pinned(self, session: str) -> bool:
        self._expire()
        return self._key(session) in self._pins

    def _expire(self) -> None:
        now = self.clock()
        while self._pins:
            key, expiry = next(iter(self._pins.items()))
            if expiry > now:
                break
            del self._pins[key]

    def __len__(self) -> int:
        self._expire()
        return len(self._pins)
