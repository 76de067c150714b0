"""Personal data about people, beyond identifiers: names, street addresses, dates of birth, health.

    det = PeopleDetector()            # loads spaCy's English NER and jieba once per process
    det.find("Patient Ada Obi, born 14 March 1987, has type 2 diabetes")
    # -> [("PERSON", 8, 15), ("DATE_OF_BIRTH", 22, 35), ("HEALTH", 41, 56)]

Kinds: PERSON (names.py), ADDRESS (addresses.py), DATE_OF_BIRTH (dates.py), HEALTH (health.py).
Spans are (kind, start, end); gateway.privacy.pii turns them into PiiSpans with the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.privacy.people import nlp
from gateway.privacy.people.addresses import find_chinese_addresses, find_english_addresses
from gateway.privacy.people.dates import find_birth_dates
from gateway.privacy.people.fields import find_fields
from gateway.privacy.people.health import english_terms, find_health
from gateway.privacy.people.names import find_english_names
from gateway.privacy.people.names_zh import chinese_tokens, everyday_start, find_chinese_names

KINDS = ("PERSON", "ADDRESS", "DATE_OF_BIRTH", "HEALTH")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_UPPER = re.compile(r"[A-Z\u00c0-\u00de\u0100-\u024f]")


class PeopleDetector:
    def __init__(self, kinds: Iterable[str] = KINDS):
        self.kinds = frozenset(kinds) & frozenset(KINDS)
        self._ner = nlp.english_ner() if "PERSON" in self.kinds else None
        needs_zh = bool(self.kinds & {"PERSON", "HEALTH"})
        self._zh = nlp.chinese_tokenizer() if needs_zh else None
        self._tags = nlp.chinese_tags() if needs_zh else {}

    @property
    def english_model(self) -> bool:
        """Whether spaCy's English NER is loaded (without it, English names come from context alone)."""
        return self._ner is not None

    def _everyday(self, text: str, kind: str, a: int, b: int) -> bool:
        """A labelled Chinese value that starts with an everyday word is no name (出席：全体员工)."""
        return (
            kind == "PERSON"
            and self._zh is not None
            and _CJK.match(text, a) is not None
            and everyday_start(text[a:b], self._tags, self._zh.FREQ)
        )

    def find(self, text: str) -> list[tuple[str, int, int]]:
        if not self.kinds:
            return []
        spans: list[tuple[str, int, int]] = []
        zh_tokens = chinese_tokens(text, self._zh) if self._zh is not None and _CJK.search(text) else []
        fields = [  # labelled values: Patient: …, 地址：…
            (k, a, b)
            for k, a, b in find_fields(text)
            if k in self.kinds and not self._everyday(text, k, a, b)
        ]
        if "ADDRESS" in self.kinds:
            spans += [("ADDRESS", a, b) for a, b in find_english_addresses(text)]
            if zh_tokens:
                spans += [("ADDRESS", a, b) for a, b in find_chinese_addresses(text)]
            spans = _outermost(spans + [f for f in fields if f[0] == "ADDRESS"])
        if "DATE_OF_BIRTH" in self.kinds:
            spans += find_birth_dates(text)
        people: list[tuple[int, int]] = []
        if "PERSON" in self.kinds or "HEALTH" in self.kinds:
            if _LATIN_UPPER.search(text):
                people += find_english_names(text, self._ner, [(a, b) for _, a, b in spans])
                # a listed medicine or condition read as a name ("has been on Prozac") is the medicine
                people = [(a, b) for a, b in people if text[a:b].lower() not in english_terms()]
            if zh_tokens and self._zh is not None:
                people += find_chinese_names(text, zh_tokens, self._tags, self._zh.FREQ)
            people += [(a, b) for k, a, b in fields if k == "PERSON"]
        if "HEALTH" in self.kinds:
            spans += find_health(text, zh_tokens, people, self._tags)
            spans += [f for f in fields if f[0] == "HEALTH"]
        if "PERSON" in self.kinds:  # an address holds names of streets; a name may end like a condition
            spans = [  # "Manimun Veiraidroma" is a name, not a condition ending in -oma
                (k, a, b)
                for k, a, b in spans
                if not (k == "HEALTH" and text[a].isupper() and any(pa <= a and b <= pb for pa, pb in people))
            ]
            taken = [(a, b) for k, a, b in spans if k in ("ADDRESS", "HEALTH")]
            spans += [("PERSON", a, b) for a, b in people if not any(a < tb and ta < b for ta, tb in taken)]
        return _outermost(spans)


def _outermost(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Each span once, less those inside another of the same kind (a field's whole address and the part of
    it the address rules read)."""
    out: list[tuple[str, int, int]] = []
    reach: dict[str, int] = {}  # per kind, the furthest end kept so far (spans by start, longest first)
    for s in sorted(set(spans), key=lambda s: (s[1], -s[2])):
        if s[2] > reach.get(s[0], -1):
            out.append(s)
            reach[s[0]] = s[2]
    return out
