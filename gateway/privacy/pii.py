"""Validated detectors for structured personal data, in English and Chinese text.

Each detector is a pattern plus a validator (Luhn for cards, mod-97 for IBANs, the
ISO 7064 checksum for CN resident IDs, ``ipaddress`` for IPs, …), so that random digit
runs are not flagged. Boundaries are ASCII look-arounds rather than ``\\b``: in Python's
Unicode regexes a CJK character is a word character, so ``\\b`` finds no boundary in
``邮箱是a@b.com``. Phone numbers, whose formats differ by country, come from Google's
libphonenumber (``phonenumbers``). Names, street addresses, dates of birth and health details come
from gateway.privacy.people (spaCy's English NER, jieba, context rules; on by default). Presidio,
when the ``[pii]`` extra is installed and ``use_presidio`` set, adds its PERSON and LOCATION spans.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.privacy.people import KINDS as PEOPLE_KINDS
from gateway.privacy.people import PeopleDetector
from gateway.privacy.secrets import find_secrets

_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_ALNUM_AFTER = r"(?![A-Za-z0-9])"
_NOT_DIGIT_BEFORE = r"(?<![\d])"
_NOT_DIGIT_AFTER = r"(?![\d])"


@dataclass(frozen=True)
class PiiSpan:
    kind: str
    start: int
    end: int
    value: str


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in _digits(number)]
    if not 12 <= len(digits) <= 19:  # Maestro cards start at 12 digits
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_CARD_GROUPS = re.compile(r"\d{4}(?:([ .-])\d{4}){2,3}(?:\1\d{1,4})?|\d{4}([ .-])\d{6}\2\d{4,5}")


def card_ok(number: str) -> bool:
    """Luhn, an issuer's first digit (never 7; 0 only for Maestro's 06…; 1 only for 15-digit UATP/JCB),
    card-like grouping,
    and not a CN mobile with its country code."""
    digits = _digits(number)
    if ((digits[0] == "0" and not digits.startswith("06")) or digits[0] == "7"
            or (digits[0] == "1" and len(digits) != 15)):
        return False
    if CN_MOBILE_DIGITS.fullmatch(digits):
        return False
    if not luhn_ok(digits):
        return False
    return digits == number or bool(_CARD_GROUPS.fullmatch(number))


def iban_ok(iban: str) -> bool:
    s = re.sub(r"\s", "", iban).upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def cn_id_ok(s: str) -> bool:
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    try:
        date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _CN_ID_WEIGHTS))
    return _CN_ID_CHECK[total % 11] == s[17]


def ssn_ok(s: str) -> bool:
    area, group, serial = re.split(r"[- ]", s)
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def ip_ok(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    validate: Callable[[str], bool] = lambda s: True
    group: int = 0  # which capture group is the value
    shrink: bool = False  # on a failed check, retry without trailing space-separated groups ("… 0130 00 ID")
    needs: re.Pattern[str] | None = None  # every match holds one of these: a text without any is skipped


def _re(p: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(p, flags)


_DIGIT = re.compile(r"\d")  # any decimal digit, as the patterns' \d (and libphonenumber's) reads one

DETECTORS: tuple[Detector, ...] = (
    # from the local part's start only: a match tried from inside it re-read the rest (quadratic)
    Detector("EMAIL", _re(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+[@＠]"
                          r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}" + _NOT_ALNUM_AFTER),
             needs=_re("[@＠]")),
    Detector("CN_RESIDENT_ID", _re(_NOT_ALNUM_BEFORE + r"\d{6}[ -]?\d{8}[ -]?\d{3}[\dXx]" + _NOT_ALNUM_AFTER),
             lambda s: cn_id_ok(re.sub(r"[ -]", "", s)), needs=_DIGIT),
    Detector("CREDIT_CARD", _re(_NOT_ALNUM_BEFORE + r"(?:\d[ .-]?){11,18}\d" + _NOT_ALNUM_AFTER), card_ok,
             shrink=True, needs=_DIGIT),
    Detector("IBAN", _re(_NOT_ALNUM_BEFORE + r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}" + _NOT_ALNUM_AFTER),
             iban_ok, shrink=True, needs=_DIGIT),
    Detector("US_SSN", _re(_NOT_DIGIT_BEFORE + r"\d{3}([- ])\d{2}\1\d{4}" + _NOT_DIGIT_AFTER), ssn_ok,
             needs=_DIGIT),
    Detector("IP_ADDRESS", _re(_NOT_DIGIT_BEFORE + r"(?:\d{1,3}\.){3}\d{1,3}" + _NOT_DIGIT_AFTER), ip_ok,
             needs=_DIGIT),
    Detector(
        "IP_ADDRESS",
        _re(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4}){0,6}(?![0-9A-Fa-f:])"),
        lambda s: ":" in s and ip_ok(s), needs=_re(":"),
    ),
)

# earlier kinds win an overlap of equal length (an ID number is not also a card number)
_PRIORITY = {k: i for i, k in enumerate(["SECRET", "EMAIL", "CN_RESIDENT_ID", "IBAN", "CREDIT_CARD", "US_SSN",
                                         "IP_ADDRESS", "PHONE_NUMBER", "DATE_OF_BIRTH", "ADDRESS", "HEALTH",
                                         "PERSON", "LOCATION"])}


PHONE_REGIONS = ("US", "GB", "DE", "FR", "CN")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}", re.IGNORECASE)
_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_DATE_STAMP = re.compile(r"^(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")
_VERSION = re.compile(r"^\d{1,2}(?:\.\d+){2,}$")
_FR_DOTTED = re.compile(r"^0\d(?:\.\d\d){4}$")  # 01.42.68.53.00 is a French number, not a version
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")


# every CN mobile range (13x-19x), with +86 / 0086 / 86, in one piece or grouped 3-4-4
# by spaces, hyphens or dots
CN_MOBILE_DIGITS = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
CN_MOBILE = re.compile(
    r"(?<![A-Za-z0-9_+])(?:(?:\+|00)?86[ .-]?|[(（]\+?86[)）][ .-]?)?"
    r"1[3-9]\d(?:[ .-]?\d{4}){2}(?![A-Za-z0-9_])")


def find_cn_mobiles(text: str) -> list[PiiSpan]:
    """CN mobile numbers by their shape alone: 11 digits from 13x to 19x, whatever the sentence calls them.

    No date or code heuristics here (190-1012-3456 reads like a date stamp): a missed number
    costs more than a redacted order number of the same shape.
    """
    return [PiiSpan("PHONE_NUMBER", m.start(), m.end(), m.group(0)) for m in CN_MOBILE.finditer(text)]


_PLAIN_NANP = re.compile(r"1?[2-9]\d{2}[2-9]\d{6}")


def _looks_like_phone(text: str, start: int, raw: str) -> bool:
    """libphonenumber's POSSIBLE is generous; dates, versions, order and ticket numbers are not phones."""
    digits = _digits(raw)
    if _DATE.match(raw) or (_VERSION.match(raw) and not _FR_DOTTED.match(raw)) or _SSN_SHAPE.match(raw):
        return False
    if _DATE_STAMP.match(digits) or len(digits) < 7:
        return False
    if raw.isdigit() and not (raw.startswith("0") or _PLAIN_NANP.fullmatch(raw)):
        return False  # an unbroken run (timestamp, count, id) is a phone only as a national or NANP number
    if sum(len(g) == 1 for g in re.findall(r"\d+", raw)) >= 3:
        return False  # "0 1 2 3 4 5": a sequence, not a number
    prev = re.search(r"([A-Za-z0-9]+)[ -]$", text[max(0, start - 24):start])
    if prev and (re.search(r"\d", prev.group(1)) or re.fullmatch(r"[A-Z0-9]{4}", prev.group(1))):
        return False  # the tail of a longer code ("4111 1111 1111 1112", "GB82 WEST 1234 …")
    if len(digits) < 9 and not raw.startswith(("+", "(")):
        return False  # short local numbers are indistinguishable from order numbers without context
    before = text[start - 1] if start else ""  # glued to a word or a "#12…" is an identifier, not a phone
    after = text[start + len(raw):start + len(raw) + 1]  # …or to what follows (a hex digest, a UUID)
    return not (before in ("#", "-", "/", "_") or (before.isascii() and before.isalnum())
                or (after.isascii() and (after.isalnum() or after == "_")))


# every character libphonenumber's matcher can take into a candidate (digits, its separators and brackets,
# the words of an extension: "ext", "extensión", "int", "anexo", "доб"): a candidate never crosses any
# other character, so the matcher runs on these stretches alone, not on the whole prose around them
_RUN_CHARS = (r"\d+＋()\[\]（）［］\-‐-―−ー－-／.~⁓∼～/ \t,;=#＃\u00a0\u00ad\u200b\u2060\u3000"
              r"extnsióoaдобｅｘｔｎｉ")
# ... and only the stretches with a digit: prose has a stretch between every two words
_PHONE_RUN = re.compile(rf"(?<![{_RUN_CHARS}])[{_RUN_CHARS}]*?\d[{_RUN_CHARS}]*", re.IGNORECASE)


_PLUS_OR_PAREN = re.compile(r"[+(]")
_NUMBER_CHAR = re.compile(r"[\d+＋(（\[［]")  # what a number found in a stretch holds beyond separators


def _may_hold_phone(text: str, run: re.Match[str]) -> bool:
    """Whether a stretch has the digits of a number _looks_like_phone keeps: 9 or more, or 7 or more from
    a '+' or '(' on (the extension that may follow the stretch counted in)."""
    ext = _EXTENSION.match(text, run.end())
    tail = len(_DIGIT.findall(ext.group(0))) if ext else 0
    digits = len(_DIGIT.findall(run.group(0))) + tail
    if digits >= 9:
        return True
    lead = _PLUS_OR_PAREN.search(run.group(0))
    return digits >= 7 and lead is not None and len(_DIGIT.findall(run.group(0), lead.start())) + tail >= 7


def _inside_one(spans: Sequence[PiiSpan], positions: list[int]) -> bool:
    """Whether one of ``spans`` holds every position."""
    return bool(positions) and any(s.start <= positions[0] and positions[-1] < s.end for s in spans)


def _number_positions(text: str, start: int, end: int) -> list[int]:
    """Where a number found in ``text[start:end]`` can have its digits, '+' and brackets: the stretch's own,
    and an extension's after its last digit, which may lie past a line break ("… 0191 x\n12")."""
    positions = [m.start() for m in _NUMBER_CHAR.finditer(text, start, end)]
    ext = _EXTENSION.match(text, positions[-1] + 1) if positions else None
    if ext:
        positions += [m.start() for m in _DIGIT.finditer(text, max(end, ext.start()), ext.end())]
    return positions


def find_phone_numbers(text: str, regions: Iterable[str] = PHONE_REGIONS,
                       known: Sequence[PiiSpan] = ()) -> list[PiiSpan]:
    """Phone numbers through Google's libphonenumber (``phonenumbers``), in each region's formats.

    Leniency POSSIBLE: a number that could be dialled in one of the regions, with or without
    a country code; a trailing extension ("x123", "ext. 4") belongs to the number. The matcher reads
    only the stretches of text a candidate can lie in (``_PHONE_RUN``) with 7 digits or more: in
    prose that is most of the scan's time saved, with the same numbers found. ``known``: identifiers
    found already (cards, IBANs, IDs, ...); a stretch whose every digit, '+' and bracket (its extension's
    included) lies in one is not read: a number found there would be no longer than the identifier, which
    outranks it in ``_resolve_overlaps`` (unless a longer span of another kind took the identifier's place,
    which the identifiers' own boundary rules make rare). In text dense with identifiers that is four
    stretches in five, each read once per region. ("+4429 2018 0191" is still read: the '+' makes it
    longer than the card it holds.)
    """
    if not _DIGIT.search(text):  # every candidate, libphonenumber's or a CN mobile, has digits
        return []
    import phonenumbers

    spans: dict[tuple[int, int], PiiSpan] = {}
    if "CN" in regions:
        spans = {(s.start, s.end): s for s in find_cn_mobiles(text)}
    for run in _PHONE_RUN.finditer(text):
        if not _may_hold_phone(text, run):
            continue
        a = run.start()
        window = text[a : run.end() + 3]  # libphonenumber reads 3 characters on (a time stamp's ":45")
        if _inside_one(known, _number_positions(text, a, run.end())):
            continue
        for region in regions:
            for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.POSSIBLE):
                start, end = a + m.start, a + m.end
                ext = _EXTENSION.match(text, end)
                if ext:
                    end = ext.end()
                if _looks_like_phone(text, start, text[start:end]):
                    spans[(start, end)] = PiiSpan("PHONE_NUMBER", start, end, text[start:end])
    return list(spans.values())


class PiiDetector:
    """Finds personal data spans; ``kinds`` limits which detectors run, ``skip`` switches kinds off.

    The people detectors' models (spaCy's English NER, jieba's dictionary) load once per process,
    with the first detector: build it at start-up, not per request.
    """

    def __init__(self, kinds: Iterable[str] | None = None, use_presidio: bool = False,
                 phone_regions: Iterable[str] = PHONE_REGIONS, skip: Iterable[str] = ()):
        off = set(skip)
        wanted = (set(kinds) if kinds else {d.kind for d in DETECTORS} | {"SECRET", "PHONE_NUMBER"}
                  | set(PEOPLE_KINDS)) - off
        self._detectors = [d for d in DETECTORS if d.kind in wanted]
        self._secrets = "SECRET" in wanted
        self._phone_regions = tuple(phone_regions) if "PHONE_NUMBER" in wanted else ()
        self.people = PeopleDetector(wanted & set(PEOPLE_KINDS))
        self._presidio = _load_presidio() if use_presidio else None

    def find(self, text: str) -> list[PiiSpan]:
        spans: list[PiiSpan] = []
        present: dict[re.Pattern[str], bool] = {}  # needs looked for in this text
        for det in self._detectors:
            if det.needs is not None:
                if det.needs not in present:
                    present[det.needs] = det.needs.search(text) is not None
                if not present[det.needs]:
                    continue
            for m in det.pattern.finditer(text):
                value = m.group(det.group)
                while det.shrink and " " in value and not det.validate(value):
                    value = value.rsplit(" ", 1)[0]
                if value and det.validate(value):
                    start = m.start(det.group)
                    spans.append(PiiSpan(det.kind, start, start + len(value), value))
        if self._secrets:
            secrets = [PiiSpan("SECRET", a, b, text[a:b]) for a, b in find_secrets(text)]
            starts = {s.start for s in secrets}  # scheme://user:PASSWORD@host is a password, not an email
            spans = [s for s in spans if not (s.kind == "EMAIL" and s.start in starts)] + secrets
        if self._phone_regions:
            spans.extend(find_phone_numbers(text, self._phone_regions, known=spans))
        spans.extend(PiiSpan(kind, a, b, text[a:b]) for kind, a, b in self.people.find(text))
        if self._presidio is not None:
            spans.extend(self._presidio(text))
        return _resolve_overlaps(spans)


def _resolve_overlaps(spans: list[PiiSpan]) -> list[PiiSpan]:
    spans.sort(key=lambda s: (-(s.end - s.start), _PRIORITY.get(s.kind, 99), s.start))
    chosen: list[PiiSpan] = []
    for s in spans:
        if all(s.end <= c.start or s.start >= c.end for c in chosen):
            chosen.append(s)
    return sorted(chosen, key=lambda s: s.start)


def _load_presidio() -> Callable[[str], list[PiiSpan]] | None:
    try:
        from presidio_analyzer import AnalyzerEngine
    except ImportError:
        return None
    try:
        engine = AnalyzerEngine()
    except Exception:  # noqa: BLE001 — no spaCy model installed: structured detectors still run
        return None
    mapping = {"PERSON": "PERSON", "LOCATION": "LOCATION"}

    def find(text: str) -> list[PiiSpan]:
        results = engine.analyze(text=text, entities=list(mapping), language="en")
        return [PiiSpan(mapping[r.entity_type], r.start, r.end, text[r.start:r.end])
                for r in results if r.score >= 0.6]

    return find
