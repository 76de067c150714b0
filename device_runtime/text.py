"""Turning a stream of token ids into a stream of text that is always safe to show.

Two things make this harder than ``detokenize(token)``: a token may end in the middle of
a UTF-8 character (common for Chinese and emoji with byte-level BPE), and a stop
sequence may straddle tokens, so text that could still become a stop must be held back.
"""

from __future__ import annotations

import codecs
from typing import Callable, Sequence


class IncrementalDetokenizer:
    """Bytes of each token in, complete characters out; a split character waits for its tail."""

    def __init__(self, token_bytes: Callable[[int], bytes]):
        self._token_bytes = token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._decoder.decode(self._token_bytes(token_id))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class StopMatcher:
    """Releases text as soon as it can no longer be the start of a stop sequence."""

    def __init__(self, stops: Sequence[str] = ()):
        self._stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def push(self, text: str) -> str:
        """Add text; return what may be shown now. After a stop is found, nothing more is shown."""
        if self.stopped:
            return ""
        self._pending += text
        if not self._stops:
            out, self._pending = self._pending, ""
            return out
        hits = [i for i in (self._pending.find(s) for s in self._stops) if i >= 0]
        if hits:
            self.stopped = True
            out, self._pending = self._pending[: min(hits)], ""
            return out
        hold = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(self._pending)), hold, -1):
                if self._pending.endswith(stop[:k]):
                    hold = k
                    break
        cut = len(self._pending) - hold
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def flush(self) -> str:
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


class TokenTextStream:
    """Token ids in, releasable text deltas out, honouring stop sequences."""

    def __init__(self, token_bytes: Callable[[int], bytes], stops: Sequence[str] = ()):
        self._detok = IncrementalDetokenizer(token_bytes)
        self._stop = StopMatcher(stops)

    @property
    def stopped(self) -> bool:
        return self._stop.stopped

    def push(self, token_id: int) -> str:
        return self._stop.push(self._detok.push(token_id))

    def push_text(self, text: str) -> str:
        """Text from a producer without token ids (cloud pass-through).

        A character split across pieces is held back until it is complete.
        """
        return self._stop.push(self._detok.flush() + text)

    def flush(self) -> str:
        return self._stop.push(self._detok.flush()) + self._stop.flush()
