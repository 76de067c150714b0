"""Dates of birth: a date in a birth context, in the common written forms of English and Chinese.

    find_birth_dates("Patient Ada Obi, born 14 March 1987, …")   # -> [("DATE_OF_BIRTH", 22, 35)]

A date alone is not personal data (a deadline, a release); a date the sentence ties to a
birth is. Forms: 14 March 1987, 14th of March 1987, the fourteenth of March 1987, Sat 14 Mar 1987,
14 MAR 1987, 14MAR1987, 14-Mar-1987, Mar-14-1987, March 14, 1987, March fourteenth, nineteen
eighty-seven, 1987 March 14, 1987-03-14, 14/03/1987, 03/14/1987, 3/14/87, 87.3.14, 14.03.1987,
14.III.1987, 1987/3/14; 1987年3月14日 (or 号), 87年3月14日, 一九八七年三月十四日, 八七年三月十四日,
民國76年3月14日, 公历/农历 before any of them, a lunar day (二月初八, 二月十五); full-width digits.
Context: born, birth, birthday, birthdate, DOB, D.O.B., b. before the date, or a table's column
headed by one of them; 出生, 生日, 生于, 诞生 before it, or 出生 / 生 right after it
(1987年3月14日出生). Cue and date must be in the same clause, at most ``_GAP`` characters apart.
"""

from __future__ import annotations

import bisect
import re

MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d{2}|20\d{2})"
# in a date a month is written in any case (14 MAR 1987: forms, passports) or as a Roman numeral (14.III.1987)
_MONTH_ANY = rf"(?i:{MONTH})"
_MON3 = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_ROMAN = r"(?:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"
_DAY_NUM = r"(?:0?[1-9]|[12]\d|3[01])"
_WEEKDAY_WORD = r"(?i:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?)"
_WEEKDAY = rf"{_WEEKDAY_WORD}\.?,? "
_CALENDAR = r"(?:公[历曆]|[阳陽][历曆]|[农農][历曆]|[阴陰][历曆]|西元|公元)"
# days and years in words: the fourteenth of March, nineteen eighty-seven, two thousand and six
UNITS = "one|two|three|four|five|six|seven|eight|nine"
TEENS = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_DAY_WORD = (
    r"(?i:(?:twenty|thirty)[- ](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
    r"|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth"
    r"|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth)"
)
_YEAR_WORDS = (
    rf"(?i:(?:eighteen|nineteen|twenty)[- ]"
    rf"(?:(?:{_TENS})(?:[- ](?:{UNITS}))?|{TEENS}|oh[- ](?:{UNITS})|hundred)"
    rf"|two thousand(?:(?:,? and)? (?:(?:{_TENS})(?:[- ](?:{UNITS}))?|{TEENS}|{UNITS}))?)"
)
_ANY_YEAR = rf"(?:{_YEAR}|{_YEAR_WORDS})"
_ZH_NUM = "〇零一二三四五六七八九十"
_ZH_YEAR = rf"(?:{_YEAR}|[〇零一二三四五六七八九]{{4}})"
_ZH_MD = rf"(?:\d{{1,2}}|[{_ZH_NUM}]{{1,3}})"
# a lunar day (初八, 廿三), and a day in numerals without 日 (二月十五): both as written for a lunar birthday
_ZH_LUNAR_DAY = r"(?:初[一二三四五六七八九十]|廿[一二三四五六七八九]?)"

DATE = re.compile(
    r"(?<![A-Za-z0-9/.-])(?:"
    # 14 March 1987, 14th of March 1987, Sat 14 Mar 1987, the 14th of March 1987, the fourteenth of March 1987
    rf"(?:{_WEEKDAY})?(?:the )?(?:{DAY}|{_DAY_WORD})(?: of)? {_MONTH_ANY},? {_ANY_YEAR}"
    rf"|{DAY}-{MONTH}-(?:{_YEAR}|\d{{2}})"  # 14-Mar-1987, 14-Mar-87 (forms, passports)
    rf"|{_DAY_NUM}{_MON3}{_YEAR}"  # 14MAR1987 (machine-readable forms)
    # March 14, 1987, Saturday, March 14, 1987, March fourteenth, nineteen eighty-seven
    rf"|(?:{_WEEKDAY})?{_MONTH_ANY} (?:{DAY}|{_DAY_WORD}),? {_ANY_YEAR}"
    rf"|{_MON3}-{_DAY_NUM}-{_YEAR}"  # Mar-14-1987
    rf"|{_YEAR} {_MONTH_ANY} {DAY}"  # 1987 March 14
    rf"|{_YEAR}([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"  # 1987-03-14, 1987/3/14
    rf"|\d{{2}}([-/.])(?:0?[1-9]|1[0-2])\2(?:0?[1-9]|[12]\d|3[01])"  # 87.3.14 (a two-digit year first)
    # 14/03/1987, 03/14/1987, 3/14/87 (a two-digit year: the cue makes it a birth date)
    rf"|(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|[12]\d|3[01])\3(?:{_YEAR}|\d{{2}})"
    rf"|{_DAY_NUM}([-/. ]){_ROMAN}\4(?:{_YEAR}|\d{{2}})"  # 14.III.1987, 14/III/87
    r"|(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"  # 19870314 (records, exports)
    r")(?![A-Za-z0-9/-]|\.\d)"  # not part of a version or an address (1.12.10, 10.1.12.5)
    # 1987年3月14日, 一九八七年三月十四日, 87年3月14日, 八七年三月十四日,
    # 民國76年3月14日, 公历…, 农历1987年二月初八
    rf"|(?<!\d)(?:{_CALENDAR}\s?)?"
    rf"(?:{_ZH_YEAR}|\d{{2}}|[〇零一二三四五六七八九]{{2}}|民[国國]\s?(?:\d{{1,3}}|[一二三四五六七八九十百]{{1,4}}))"
    rf"\s?年\s?{_ZH_MD}\s?月\s?(?:{_ZH_MD}\s?[日号]|{_ZH_LUNAR_DAY}[日号]?|[{_ZH_NUM}]{{1,3}})"
)
# Whatever its form, the value right after a birth cue is read as far as date pieces go (DOB 14-MAR-87,
# born the 14th day of March, 1987, 出生：民国七十六年三月十四日星期六): the cue says it is a date of birth,
# the pieces say where it ends. Three pieces at least (day, month, year), one of them a year.
_NUMBER_WORDS = rf"(?i:{UNITS}|{TEENS}|{_TENS}|hundred|thousand(?: and)?|oh)"
_PIECE = (
    rf"(?:T?\d{{1,2}}:\d\d(?::\d\d)?Z?|\d{{1,4}}(?i:st|nd|rd|th)?|{_MONTH_ANY}|{_ROMAN}|{_WEEKDAY_WORD}|{_DAY_WORD}|{_NUMBER_WORDS}"
    r"|(?i:the|of|day)|[腊臘正冬]月|[〇零一二三四五六七八九十百壹贰貳叁參肆伍陆陸柒捌玖拾廿卅初]+|[年月日号號]"
    rf"|{_CALENDAR}|民[国國]|星期[一二三四五六日天]"
    r"|[甲乙丙丁戊己庚辛壬癸][子丑寅卯辰巳午未申酉戌亥])"
)
_CUE_VALUE = re.compile(  # each run of blanks after a required token: one way to read "DOB" + spaces
    rf"(?:日期|年月日|年月)?[ \t]*(?:(?:[:：=]|(?i:is|was|on|as))[ \t]*)?(?:(?:是|为|於|于|在)[ \t]*)?"
    rf"((?:{_PIECE}[ \t\-/.,'’]{{0,2}}){{3,12}})"
)
_MARKER = re.compile(rf"(?i:the|of|day)|[年月日号號]|{_CALENDAR}|民[国國]|星期.|{_WEEKDAY_WORD}")
_YEAR_IN = re.compile(
    rf"\b(?:1[89]\d\d|20\d\d)\b|{_YEAR_WORDS}|年|[甲乙丙丁戊己庚辛壬癸][子丑寅卯辰巳午未申酉戌亥]"
)
# a two-digit year after a day and a month: 14-MAR-87, 3/14/87, 14 Feb 69, 4 July '82
_SHORT_YEAR = re.compile(rf"\d{{1,2}}(?:([-/.])(?:\d{{1,2}}|[A-Za-z]{{3,9}})\1| {_MONTH_ANY},? ['’]?)\d{{2}}")


def _cue_value(text: str, at: int) -> tuple[int, int] | None:
    """The date of birth right after a cue ending at ``at``, in any form (see _PIECE), or None."""
    m = _CUE_VALUE.match(text, at)
    if not m:
        return None
    value = m.group(1)
    trimmed = re.sub(r"(?i)(?:[\s\-/.,'’]|\b(?:the|of|day|on)\b)+$", "", value)
    # a day, a month and a year: markers (年, 月, 民国, a weekday) are not pieces of their own
    pieces = [p for p in re.findall(_PIECE, trimmed) if not _MARKER.fullmatch(p)]
    if len(pieces) < 3 or not (_YEAR_IN.search(trimmed) or _SHORT_YEAR.fullmatch(trimmed)):
        return None
    return m.start(1), m.start(1) + len(trimmed)


# full-width digits and letters read as their ASCII forms, one character for one (offsets stay)
_HALF_WIDTH = {c: c - 0xFEE0 for c in range(0xFF0D, 0xFF5B) if (chr(c - 0xFEE0)).isalnum()
               or chr(c - 0xFEE0) in "-./:"}
_EN_CUE = re.compile(
    r"(?i)(?<![A-Za-z])(?:born|birth(?:day|date)?|dob|d\.o\.b\.?|date of birth)(?![A-Za-z])"
    r"|(?<![A-Za-z])b\.(?= ?\d| [A-Z])"
)
_ZH_CUE_BEFORE = re.compile(r"出生|生日|(?<![发产衍派])生于|诞生|生辰")  # not 发生于 (happened on)
_ZH_CUE_AFTER = re.compile(r"\s?(?:出生|生人|生(?![产活病意效命成长]))")  # not 生成 (made), 生长 (grown)
_CLAUSE_END = re.compile(r"[.;!?。；！？\n]|,\s(?:and|but)\s")
_GAP = 40
_NEEDLE = re.compile(r"(?i)born|birth|dob|d\.o\.b|b\.|生")
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.M)


def _column_cues(text: str) -> list[tuple[int, int]]:
    """A markdown table's column headed by a birth cue (| Name | Born |): each of its cells, (start, end),
    is cued as if the header were written before its value, and the value stays inside the cell."""
    cells_out: list[tuple[int, int]] = []
    column: int | None = None
    last_end = -2
    for row in _TABLE_ROW.finditer(text):
        bars = [m.start() for m in re.finditer(r"\|", row.group(0))]
        if row.start() != last_end + 1:  # a new table: its first row is the header
            heads = row.group(0).split("|")[1:-1]
            column = next(
                (k for k, h in enumerate(heads) if _EN_CUE.search(h) or _ZH_CUE_BEFORE.search(h)), None
            )
        elif column is not None and column + 1 < len(bars):
            cells_out.append((row.start() + bars[column] + 1, row.start() + bars[column + 1]))
        last_end = row.end()
    return cells_out


def find_birth_dates(text: str) -> list[tuple[str, int, int]]:
    text = text.translate(_HALF_WIDTH)
    if not _NEEDLE.search(text):
        return []
    # (where the cue ends, how far its date may reach): a cue in the text reaches the text's end, a table's
    # column of births only its own cell
    cues = [(m.end(), len(text)) for rx in (_EN_CUE, _ZH_CUE_BEFORE) for m in rx.finditer(text)]
    if "|" in text:
        cues += _column_cues(text)
    cues.sort()
    spans = []
    for m in _dates_near_cues(text, cues):
        start, end = m.start(), m.end()
        first = bisect.bisect_left(cues, (start - _GAP, -1))
        last = bisect.bisect_right(cues, (start, len(text)))
        before = any(
            end <= limit and not _CLAUSE_END.search(text, c_end, start) for c_end, limit in cues[first:last]
        )
        if before or _ZH_CUE_AFTER.match(text, end) is not None:
            spans.append((start, end))
    replaced: set[tuple[int, int]] = set()
    values: set[tuple[int, int]] = set()
    for c_end, limit in cues:  # a form the patterns above do not know, right after its cue, or more of one
        value = _cue_value(text, c_end)
        if value is None or value[1] > limit:
            continue
        k = bisect.bisect_left(spans, (value[0], -1))
        near = spans[max(0, k - 1) : k + 8]  # the patterns' spans do not overlap: only neighbours can
        inside = {s for s in near if value[0] <= s[0] and s[1] <= value[1]}
        if not any(a < value[1] and value[0] < b for a, b in near if (a, b) not in inside):
            replaced |= inside
            values.add(value)
    return [("DATE_OF_BIRTH", a, b) for a, b in sorted(set(spans) - replaced | values)]


_LONGEST_DATE = 80  # "Saturday, the twenty-third of September, nineteen eighty-seven" and room to spare


def _dates_near_cues(text: str, cues: list[tuple[int, int]]) -> list[re.Match[str]]:
    """The dates that start within reach of a cue before them or end at a 生 after them: the date pattern
    is long, and a prompt is mostly other text."""
    regions = [(c_end, c_end + _GAP + _LONGEST_DATE) for c_end, _ in cues]
    regions += [(max(0, i - _LONGEST_DATE), i) for i in (m.start() for m in re.finditer("生", text))]
    merged: list[list[int]] = []
    for a, b in sorted(regions):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [m for a, b in merged for m in DATE.finditer(text, a, min(b, len(text)))]
