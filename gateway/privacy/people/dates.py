"""Dates of birth: a date in a birth context, in the common written forms of English and Chinese.

    find_birth_dates("Patient Ada Obi, born 14 March 1987, …")   # -> [("DATE_OF_BIRTH", 22, 35)]

A date alone is not personal data (a deadline, a release); a date the sentence ties to a
birth is. Forms: 14 March 1987, 14th of March 1987, 14-Mar-1987, March 14, 1987, Mar. 14 1987,
1987-03-14, 14/03/1987, 03/14/1987, 3/14/87, 14.03.1987, 1987/3/14, 1987年3月14日 (or 号), 87年3月14日,
一九八七年三月十四日.
Context: born, birth, birthday, birthdate, DOB, D.O.B., b. before the date; 出生, 生日, 生于,
诞生 before it, or 出生 / 生 right after it (1987年3月14日出生). Cue and date must be in the
same clause, at most ``_GAP`` characters apart.
"""

from __future__ import annotations

import re

MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d{2}|20\d{2})"
_ZH_NUM = "〇零一二三四五六七八九十"
_ZH_YEAR = rf"(?:{_YEAR}|[〇零一二三四五六七八九]{{4}})"
_ZH_MD = rf"(?:\d{{1,2}}|[{_ZH_NUM}]{{1,3}})"

DATE = re.compile(
    r"(?<![A-Za-z0-9/.-])(?:"
    rf"{DAY}(?: of)? {MONTH},? {_YEAR}"  # 14 March 1987, 14th of March 1987
    rf"|{DAY}-{MONTH}-(?:{_YEAR}|\d{{2}})"  # 14-Mar-1987, 14-Mar-87 (forms, passports)
    rf"|{MONTH} {DAY},? {_YEAR}"  # March 14, 1987
    rf"|{_YEAR}([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"  # 1987-03-14, 1987/3/14
    # 14/03/1987, 03/14/1987, 3/14/87 (a two-digit year: the cue makes it a birth date)
    rf"|(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|[12]\d|3[01])\2(?:{_YEAR}|\d{{2}})"
    r")(?![A-Za-z0-9/-]|\.\d)"  # not part of a version or an address (1.12.10, 10.1.12.5)
    # 1987年3月14日, 一九八七年三月十四日, 87年3月14日
    rf"|(?<!\d)(?:{_ZH_YEAR}|\d{{2}})\s?年\s?{_ZH_MD}\s?月\s?{_ZH_MD}\s?[日号]"
)
_EN_CUE = re.compile(
    r"(?i)(?<![A-Za-z])(?:born|birth(?:day|date)?|dob|d\.o\.b\.?|date of birth)(?![A-Za-z])"
    r"|(?<![A-Za-z])b\.(?= ?\d| [A-Z])"
)
_ZH_CUE_BEFORE = re.compile(r"出生|生日|生于|诞生|生辰")
_ZH_CUE_AFTER = re.compile(r"\s?(?:出生|生人|生(?![产活病意效命成长]))")  # not 生成 (made), 生长 (grown)
_CLAUSE_END = re.compile(r"[.;!?。；！？\n]|,\s(?:and|but)\s")
_GAP = 40
_NEEDLE = re.compile(r"(?i)born|birth|dob|d\.o\.b|b\.|生")


def find_birth_dates(text: str) -> list[tuple[str, int, int]]:
    if not _NEEDLE.search(text):
        return []
    spans = []
    cues = [(m.start(), m.end()) for rx in (_EN_CUE, _ZH_CUE_BEFORE) for m in rx.finditer(text)]
    for m in DATE.finditer(text):
        start, end = m.start(), m.end()
        before = any(
            0 <= start - c_end <= _GAP and not _CLAUSE_END.search(text, c_end, start) for _, c_end in cues
        )
        after = _ZH_CUE_AFTER.match(text, end) is not None
        if before or after:
            spans.append(("DATE_OF_BIRTH", start, end))
    return spans
