"""Privacy: which requests may touch the cloud, and what must be hidden from it.

Levels, strictest last: ``public`` < ``redact`` < ``private``. A request's level is the
strictest of its explicit tags (``metadata.privacy``, the ``X-Privacy`` header, config
rules by API key or by text pattern) and what detection implies: each detected kind raises
the level to its action, ``types[kind]`` when configured (``privacy.types``), else
``pii_action``. By default health details make a request ``private`` (``DEFAULT_TYPES``) and
every other kind, names, addresses and dates of birth included, is redacted. ``off`` drops a
kind. A value found in one text is redacted wherever it appears in the request (an earlier
turn, a stop string), and so is each word of a person's name on its own ("Ms Oyelaran").

``private`` pins the request to the device. ``redact`` replaces each detected value
with a typed placeholder (``[EMAIL_1]``) before anything leaves the device, and a
``StreamRestorer`` puts the values back into the answer as it streams, even when a
placeholder arrives split across chunks. The mapping lives only in the request's memory.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from gateway.privacy.pii import PiiDetector, PiiSpan

if TYPE_CHECKING:
    from gateway.config import PrivacyConfig

LEVELS = ("public", "redact", "private")
ACTIONS = ("redact", "private", "off")
DEFAULT_TYPES: dict[str, str] = {"HEALTH": "private"}


def strictest(levels: Iterable[str | None]) -> str:
    rank = {lvl: i for i, lvl in enumerate(LEVELS)}
    best = "public"
    for lvl in levels:
        if lvl is None:
            continue
        if lvl not in rank:
            raise ValueError(f"unknown privacy level {lvl!r}; one of {', '.join(LEVELS)}")
        if rank[lvl] > rank[best]:
            best = lvl
    return best


@dataclass(frozen=True)
class PrivacyRule:
    """A config rule: requests by this API key, or whose text matches this pattern, get ``level``."""

    level: str
    api_key: str | None = None
    pattern: str | None = None

    def applies(self, api_key: str | None, texts: Sequence[str]) -> bool:
        if self.api_key is not None and api_key == self.api_key:
            return True
        if self.pattern is not None:
            rx = re.compile(self.pattern)
            return any(rx.search(t) for t in texts)
        return False


class Redactor:
    """Value ↔ placeholder mapping for one request; the same value always gets the same placeholder."""

    def __init__(self) -> None:
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: Counter[str] = Counter()

    def placeholder(self, kind: str, value: str) -> str:
        ph = self._by_value.get(value)
        if ph is None:
            self._counts[kind] += 1
            ph = f"[{kind}_{self._counts[kind]}]"
            self._by_value[value] = ph
            self._by_placeholder[ph] = value
        return ph

    @property
    def count(self) -> int:
        return len(self._by_value)

    def value_for(self, placeholder: str) -> str | None:
        return self._by_placeholder.get(placeholder.upper())

    def restore(self, text: str) -> str:
        return PLACEHOLDER_RX.sub(lambda m: self.value_for(m.group(0)) or m.group(0), text)


PLACEHOLDER_RX = re.compile(r"\[[A-Za-z_]+_\d+\]")
_PARTIAL_PLACEHOLDER_RX = re.compile(r"\[[A-Za-z_]*\d*$")
MAX_PLACEHOLDER_LEN = 32


class StreamRestorer:
    """Restores placeholders in streamed text; holds back a tail that may be half a placeholder."""

    def __init__(self, redactor: Redactor):
        self._redactor = redactor
        self._pending = ""

    def push(self, text: str) -> str:
        self._pending += text
        m = _PARTIAL_PLACEHOLDER_RX.search(self._pending)
        if m and len(self._pending) - m.start() <= MAX_PLACEHOLDER_LEN:
            ready, self._pending = self._pending[: m.start()], self._pending[m.start():]
        else:
            ready, self._pending = self._pending, ""
        return self._redactor.restore(ready)

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return self._redactor.restore(out)


@dataclass
class PrivacyDecision:
    level: str
    pii: dict[str, int] = field(default_factory=dict)  # kind -> count, never values
    # what raised the level: "metadata", "header", "rule", "pii"
    sources: list[str] = field(default_factory=list)
    redactor: Redactor | None = None
    spans: list[list[PiiSpan]] = field(default_factory=list, repr=False)  # per text; values: never log these
    texts: list[str] = field(default_factory=list, repr=False)  # what ``spans`` were found in
    values: dict[str, str] = field(default_factory=dict, repr=False)  # every value found -> its kind

    @property
    def cloud_allowed(self) -> bool:
        return self.level != "private"


class PrivacyRouter:
    """Tags requests. ``decide`` is CPU work (regexes, libphonenumber, Presidio): run it off the event loop.

    ``max_scan_chars`` bounds that work: a request whose texts hold more characters is not
    scanned at all but treated as ``private`` (source ``unscanned``) — it stays on the device,
    which is always safe, instead of spending seconds of CPU (~7 µs per character) or
    sending the unscanned rest to the cloud. The default (64 Ki characters, ~16k tokens) is
    above what a device context window takes, so only requests that could not run anyway
    or that a large-context deployment should scan in pieces hit it.
    """

    def __init__(self, pii_action: str = "redact", rules: Sequence[PrivacyRule] = (),
                 detector: PiiDetector | None = None, default_level: str = "public",
                 max_scan_chars: int = 65_536, types: Mapping[str, str] | None = None):
        if pii_action not in ("redact", "private"):
            raise ValueError("pii_action must be 'redact' or 'private'")
        self.pii_action = pii_action
        self.types = {**DEFAULT_TYPES, **{k.upper(): v for k, v in (types or {}).items()}}
        bad = {k: v for k, v in self.types.items() if v not in ACTIONS}
        if bad:
            raise ValueError(f"privacy.types: actions are {', '.join(ACTIONS)}; got {bad}")
        self.rules = list(rules)
        self.detector = detector or PiiDetector(skip=self.off)
        self.default_level = strictest([default_level])
        self.max_scan_chars = max_scan_chars
        self._seen = ScanMemo()

    @classmethod
    def from_config(cls, p: PrivacyConfig) -> PrivacyRouter:
        """The router the ``privacy`` section configures (the gateway's; the benchmark's view of it)."""
        return cls(
            p.pii_action,
            [PrivacyRule(**r.model_dump()) for r in p.rules],
            PiiDetector(use_presidio=p.use_presidio, skip=[k for k, v in p.types.items() if v == "off"]),
            p.default_level,
            p.max_scan_chars,
            p.types,
        )

    def _find(self, text: str) -> list[PiiSpan]:
        found = self._seen.get(text)
        if found is None:
            found = self.detector.find(text)
            self._seen.put(text, found)
        return found

    @property
    def off(self) -> set[str]:
        """Kinds switched off by ``types``: not detected (or, from a given detector, dropped)."""
        return {k for k, v in self.types.items() if v == "off"}

    def action(self, kind: str) -> str:
        return self.types.get(kind, self.pii_action)

    def decide(self, texts: Sequence[str], metadata_level: str | None = None, header_level: str | None = None,
               api_key: str | None = None) -> PrivacyDecision:
        """Tag a request. Raises ValueError for an unknown explicit level (a client error)."""
        sources: list[str] = []
        levels = [self.default_level]
        for name, lvl in (("metadata", metadata_level), ("header", header_level)):
            if lvl:
                levels.append(strictest([lvl.lower()]))
                sources.append(name)
        if sum(len(t) for t in texts) > self.max_scan_chars:
            return PrivacyDecision("private", {}, sources + ["unscanned"], spans=[[] for _ in texts])
        for rule in self.rules:
            if rule.applies(api_key, texts):
                levels.append(rule.level)
                sources.append("rule")
        off = self.off
        spans = [[s for s in self._find(text) if s.kind not in off] for text in texts]
        # a JSON text (tool-call arguments) read as its reader reads it: "\u5f20\u4f1f" is 张伟
        inside = [[s for leaf in _json_strings(text) or () for s in self._find(leaf) if s.kind not in off]
                  for text in texts]
        counts = Counter(span.kind for found in spans + inside for span in found)
        if counts:
            levels.extend(self.action(kind) for kind in counts)
            sources.append("pii")
        values = _values(spans + inside)
        spans = _everywhere(texts, spans, values)
        return PrivacyDecision(strictest(levels), dict(counts), sources, spans=spans, texts=list(texts),
                               values=values)

    def redact(self, texts: Sequence[str], decision: PrivacyDecision) -> list[str]:
        """Replace every detected value with its placeholder; records the mapping in the decision."""
        redactor = decision.redactor or Redactor()
        decision.redactor = redactor
        known = dict(zip(decision.texts, decision.spans))  # decide() already scanned these
        out = []
        for text in texts:
            spans = known.get(text)
            if spans is None:  # a text decide() did not see: scanned now, and every value found before hidden
                spans = _everywhere([text], [[s for s in self._find(text) if s.kind not in self.off]],
                                    decision.values)[0]
            rewritten = _redact_json(text, decision.values, redactor)
            if rewritten is not None:
                out.append(rewritten)
                continue
            pieces, last = [], 0
            for span in spans:
                pieces.append(text[last:span.start])
                pieces.append(redactor.placeholder(span.kind, span.value))
                last = span.end
            pieces.append(text[last:])
            out.append("".join(pieces))
        return out


class ScanMemo:
    """What the detector found in texts seen lately, so a text is scanned once, not once per request.

    A chat resends its system prompt and every earlier turn with each new question, and the NER
    behind names costs milliseconds a text. Remembered by the text's digest, as kinds and offsets:
    never the text, never a value (the values are read back from the text asked about). The least
    recently used of ``size`` texts is dropped first; safe from several threads (``decide`` runs in
    worker threads).
    """

    def __init__(self, size: int = 4096):
        self.size = size
        self._spans: OrderedDict[bytes, tuple[tuple[str, int, int], ...]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, text: str) -> list[PiiSpan] | None:
        key = self._key(text)
        with self._lock:
            found = self._spans.get(key)
            if found is not None:
                self._spans.move_to_end(key)
        return None if found is None else [PiiSpan(kind, a, b, text[a:b]) for kind, a, b in found]

    def put(self, text: str, spans: Sequence[PiiSpan]) -> None:
        if self.size <= 0 or any(s.value != text[s.start:s.end] for s in spans):
            return  # a span whose value is not its text's slice is not remembered
        key = self._key(text)
        with self._lock:
            self._spans[key] = tuple((s.kind, s.start, s.end) for s in spans)
            self._spans.move_to_end(key)
            while len(self._spans) > self.size:
                self._spans.popitem(last=False)


_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’-]{2,}")


def _values(spans: Iterable[Iterable[PiiSpan]]) -> dict[str, str]:
    """Every value found (value -> kind), and each word of a person's name on its own ("Ms Oyelaran"
    after "Margarethe Oyelaran")."""
    values: dict[str, str] = {}
    for found in spans:
        for sp in found:
            values.setdefault(sp.value, sp.kind)
            if sp.kind == "PERSON" and " " in sp.value.strip():
                for w in _NAME_WORD.findall(sp.value):
                    if w[0].isupper():
                        values.setdefault(w, "PERSON")
    return {v: k for v, k in values.items() if len(v) >= 2}


def _values_rx(values: Mapping[str, str]) -> re.Pattern[str]:
    """Any of the values, a Latin-script one not inside a longer Latin word or number ("Ada" not in "Adams";
    a date or a card number beside Chinese characters still counts: 生于2002年10月16号)."""
    latin = "0-9A-Za-z_\u00c0-\u024f"
    return re.compile("|".join(rf"(?<![{latin}]){re.escape(v)}(?![{latin}])" if v[0].isascii()
                               else re.escape(v) for v in sorted(values, key=len, reverse=True)))


def _json_strings(text: str) -> list[str] | None:
    """The strings inside a JSON text that escapes any of them (``\\u5f20``, ``\\n``): what a reader of
    the JSON, a model included, reads. None for any other text."""
    if "\\" not in text or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    out: list[str] = []
    stack = [parsed]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return out


def _redact_json(text: str, values: Mapping[str, str], redactor: Redactor) -> str | None:
    """A JSON text with escapes, every found value in its strings replaced (as JSON again, unescaped); None
    when it is not such a text or holds none of the values."""
    if not values or _json_strings(text) is None:
        return None
    rx, changed = _values_rx(values), False

    def clean(x: object) -> object:
        nonlocal changed
        if isinstance(x, str):
            new = rx.sub(lambda m: redactor.placeholder(values[m.group(0)], m.group(0)), x)
            changed |= new != x
            return new
        if isinstance(x, dict):
            return {clean(k): clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    out = json.dumps(clean(json.loads(text)), ensure_ascii=False)
    return out if changed else None


def _everywhere(texts: Sequence[str], spans: list[list[PiiSpan]],
                values: Mapping[str, str] | None = None) -> list[list[PiiSpan]]:
    """Add every other occurrence of a found value (``values``, else those in ``spans``), in any of the
    texts, to that text's spans.

    Detection reads each text on its own; a name found in the question must also be hidden in an
    earlier turn, a stop string or a tool call's arguments that hold it without the context that gave
    it away.
    """
    values = _values(spans) if values is None else values
    if not values:
        return spans
    rx = _values_rx(values)
    out = []
    for text, found in zip(texts, spans):
        extra = [PiiSpan(values[m.group(0)], m.start(), m.end(), m.group(0)) for m in rx.finditer(text)
                 if not any(m.start() < s.end and s.start < m.end() for s in found)]
        out.append(sorted(found + extra, key=lambda s: s.start) if extra else found)
    return out
