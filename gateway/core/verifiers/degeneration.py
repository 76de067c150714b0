"""Degeneration: the failure small models make *confidently*, so log-probabilities miss it.

Three signs, each cheap and model-free:

* a loop in tokens: some run of ``span`` tokens comes back (the streaming watch hands over at
  its second occurrence; the whole-answer check also fails a high share of repeated 4-grams);
* a loop in prose: the same sentence (five words or more, case and spacing ignored) twice,
  outside code blocks — "… used to store and retrieve data in a hash table-like manner" said
  again is a circle, not an answer;
* an answer cut by ``max_tokens`` in the middle of a sentence.

Code repeats itself legitimately (``self.x = x`` lines, similar branches), so the token loop
needs a long run (16 tokens by default) and sentences are only read outside code fences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.core.verifiers.base import DeviceAnswer, Verdict

CODE_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
ENDS_A_SENTENCE = re.compile(r"[.!?。！？:;)\]}\"'`*]\s*$|```\s*$")
MAX_NGRAM_SHARE = 0.5  # answers whose 4-grams repeat more than this loop


def repeated_span(tokens: Sequence[int], span: int) -> int | None:
    """Index of the first token that completes a second occurrence of some ``span``-token run, or None
    (the streaming watch, run over a whole answer)."""
    watch = LoopWatch(span)
    return next((i for i, t in enumerate(tokens) if watch.loops_after(t)), None)


def repetition(tokens: Sequence[int], n: int = 4) -> float:
    """Share of repeated n-grams (0 = none, near 1 = a loop)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def repeated_sentence(text: str, min_words: int = 5) -> str | None:
    """The first sentence (outside code blocks) said twice, or None."""
    seen: set[str] = set()
    for sentence in SENTENCE_END.split(CODE_FENCE.sub(" ", text)):
        words = re.findall(r"\w+", sentence.lower())
        if len(words) < min_words:
            continue
        key = " ".join(words)
        if key in seen:
            return sentence.strip()
        seen.add(key)
    return None


def cut_mid_sentence(text: str, finish_reason: str | None) -> bool:
    return finish_reason == "length" and bool(text.strip()) and not ENDS_A_SENTENCE.search(text)


@dataclass
class Degeneration:
    """The whole-answer check (the cascade's gate). Always on."""

    span: int = 16
    max_ngram_share: float = MAX_NGRAM_SHARE
    name: str = "degeneration"

    async def check(self, answer: DeviceAnswer) -> Verdict:
        ids = answer.token_ids
        share = repetition(ids)
        why = None
        if repeated_span(ids, self.span) is not None:
            why = f"a run of {self.span} tokens repeats"
        elif share > self.max_ngram_share:
            why = f"{share:.0%} of its 4-grams repeat"
        elif repeated_sentence(answer.text) is not None:
            why = "a sentence repeats"
        elif cut_mid_sentence(answer.text, answer.finish_reason):
            why = "cut by max_tokens mid-sentence"
        return Verdict(self.name, "fail" if why else "pass", score=1.0 - share, reason=why or "")


@dataclass
class LoopWatch:
    """The streaming cascade's degeneration check: token by token, True where a loop closes."""

    span: int = 16
    _recent: list[int] = field(default_factory=list, repr=False)
    _seen: set[tuple[int, ...]] = field(default_factory=set, repr=False)

    def loops_after(self, token_id: int) -> bool:
        self._recent.append(token_id)
        if len(self._recent) < self.span:
            return False
        gram = tuple(self._recent[-self.span :])
        if gram in self._seen:
            return True
        self._seen.add(gram)
        return False
