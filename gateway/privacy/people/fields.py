"""Personal data in a record's fields: a label that says what its value is (``Patient:``, ``"full_name":``,
``user="…"``, ``收件人：``, a CSV's or a markdown table's column), so the value is personal whatever its shape
or the models' opinion of it: a name in capitals, an address in a format no rule knows, a diagnosis.

    find_fields("Policyholder: OYUNCHIMEG DASHDORJ\\nInsured property: Vinohradská 2672/48, 120 00 Praha 2")
    # -> [("PERSON", 14, 33), ("ADDRESS", 52, 85)]

A value is taken only in the shape of its kind: a person is name-like words (two at least unless the
label is a name's) or a Chinese name, an address holds a digit or a Chinese address word, a condition is
a short phrase. A speaker's turn in a transcript ("Customer: Hello there") is not a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway.privacy.people.code import line_at
from gateway.privacy.people.dates import DATE, MONTH
from gateway.privacy.people.names import PARTICLES
from gateway.privacy.people.surnames import surname_at

Span = tuple[str, int, int]

_NAME_LABELS = frozenset(
    "full name|name|first name|last name|surname|given name|family name|dependant's name|dependent's name"
    "|姓名".split("|")
)
_LABELS = {
    "PERSON": "|".join(_NAME_LABELS) + "|patient|patient name|member|member name|policyholder|policy holder"
    "|claimant|applicant|insured|insured name|beneficiary|dependant|dependent|employee name|customer name"
    "|client name|contact name|contact person|emergency contact|next of kin|recipient|addressee|attendee"
    "|attendees|guest|student name|tenant|landlord|account holder|cardholder|card holder|passenger|assignee"
    "|reporter|requester|guardian|spouse|user|username|signed by|prepared by|referred by|physician"
    "|收件人|寄件人|收货人|联系人|申请人|被保险人|投保人|受益人|取药人|签收人|代收人|监护人"
    "|患者|病人|客户|经办人|负责人|参与人|出席|出席人|记录|记录人|主持人|发件人|抄送|员工|家长|租客|房东|业主",
    "ADDRESS": "address|addr|home address|mailing address|postal address|shipping address|billing address"
    "|delivery address|street address|residential address|residence|property address|insured property"
    "|地址|住址|家庭住址|收件地址|收货地址|送货地址|联系地址|通讯地址|现住址|户籍地址|居住地址|被保险人住址",
    "HEALTH": "diagnosis|principal diagnosis|primary diagnosis|secondary diagnosis|medical condition"
    "|medical history|past medical history|current medication|current medications|medication|medications"
    "|allergies|refill request|prescription|诊断|主要诊断|初步诊断|既往病史|病史|现病史|过敏史|目前用药|用药",
    # where a parcel goes or someone lives: no colon, but the value must start like an address (a number,
    # capitalised words with a house number, 北京市…)
    "TO": "deliver to|ship to|send to|lives at|live at|living at|resides at|reside at|residing at|staying at"
    "|moved to|moving to|relocated to|tenancy of|寄到|送到|住在|搬到|搬去",
}
_KIND = {label: kind for kind, labels in _LABELS.items() for label in labels.split("|")}
# Chinese labels that name a person alone: they also read "…是 X", "…写 X" (收件人写 X, 取药人是X)
_PERSON_ZH_STRONG = frozenset(
    "姓名 收件人 寄件人 收货人 联系人 申请人 被保险人 投保人 受益人 取药人 签收人 代收人 监护人".split()
)
# what a record about a person holds beside a bare "name" (a product's or a step's name has none of these)
_SIBLING = re.compile(
    r"(?i)(?<![A-Za-z])(?:e-?mail|phone|mobile|tel|dob|birth\w*|born|address|addr|age|gender|sex|patient"
    r"|ssn|nationality|passport|diagnosis)(?![A-Za-z])|出生|生日|电话|手机|地址|住址|性别|年龄|邮箱"
)


def _alternation(words: list[str], space: str) -> str:
    """One regex for any of ``words``, the longest that matches (insured property before insured), as a
    tree of their shared beginnings: a flat alternation of ~140 labels was tried label by label at every
    word of a prompt (0.66 ms a 2,000-character scan; 0.23 ms as a tree)."""
    tree: dict[str, dict] = {}
    for word in words:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def branch(node: dict[str, dict]) -> str:
        ways = [(space if c == " " else re.escape(c)) + branch(rest) for c, rest in sorted(node.items()) if c]
        if not ways:
            return ""
        body = ways[0] if len(ways) == 1 and "" not in node else f"(?:{'|'.join(ways)})"
        return body + ("?" if "" in node else "")  # greedy: a longer label first, then the one that ends here

    return branch(tree)


# every label; a Latin one is a whole word in any case, _ or - for its spaces (full_name, Mailing-Address)
_FIELD = re.compile(
    r"(?<![A-Za-z])(?i:"
    + _alternation([label for label in _KIND if label.isascii()], "[ _-]")
    + r")(?![A-Za-z])|"
    + _alternation([label for label in _KIND if not label.isascii()], " ")
)


def _label(m: re.Match[str]) -> str:
    """The label as _KIND knows it ("" where case folding made another word of it: İ, ſ)."""
    label = m.group(0).lower().replace("_", " ").replace("-", " ")
    return label if label in _KIND else ""


_SEP = re.compile(r"[\"']?[ \t]*[:：=][ \t]*")
# after a strong Chinese label (or a Latin one before 是)
_SAYS = re.compile(r"[ \t]*(?:是|为|写)[ \t]*|[ \t]+")
_ADDRESS_END = re.compile(
    r" (?:with|and|but|since|for|because|who|which|when|while|until|from|after|before)\b|"
    r"[|;；。\"！？!?，、]|(?<![A-Z][a-z])(?<![A-Z][a-z]{2})(?<![A-Z][a-z]{3})\.(?=\s+[A-Z]|$)"
)
_NEEDLE = re.compile(r"[:：=|]|,.*\n|是|写|(?i:to |at |of )|[寄送]到|住在|搬")
# a word of a name: letters with apostrophes, hyphens or an initial's full stop; lower-case only as a particle
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’.-]*(?:['’-][^\W\d_]+)*\.?")
# what starts a speaker's turn rather than a name ("Customer: Hello", "Patient: I feel …")
_NOT_NAMES = frozenset(
    "hello hi hey thanks thank yes no ok okay sure please i we you my our the a an this that it is good "
    "sorry unknown none pending tbd n/a morning afternoon evening since well so yeah doctor nurse sir "
    "madam".split()
)
_TITLES = frozenset("mr mrs ms mx dr prof sir dame".split())
_CJK_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}(?![\u4e00-\u9fff])")
# where a parcel goes, the value is an address when it starts like one: a number or a Chinese place, or
# capitalised words with a house number and a comma later (Dizengoff St 69, Apt 12, Tel Aviv)
_HOUSE_NUMBER = r"(?<![\d.:])\d+[A-Za-z]?(?:[/-]\d+[A-Za-z]?)?\b(?![.:]\d)"
_ADDRESS_START = re.compile(
    # a house number before a capitalised word (42 Elm Street, 221B Baker St), a Chinese place, or
    # capitalised words with a house number and a comma later (Dizengoff St 69, Apt 12, Tel Aviv);
    # not 40 countries, 10:30 tomorrow, Python 3.12
    rf"{_HOUSE_NUMBER},?[ \t]+[A-Z\u00c0-\u00de]|[\u4e00-\u9fff]"
    rf"|[A-Z\u00c0-\u00de](?=[^\n]{{0,80}}\b{_HOUSE_NUMBER})(?=[^\n]*,)"
)
# a date or an amount after "moved to" is not where anyone lives (moved to 3 December, moved to 2 pm)
_NOT_ADDRESS = re.compile(
    rf"\d{{1,4}}(?:st|nd|rd|th)?[ \t]*(?i:{MONTH}|am\b|pm\b|%|percent|hours?|days?|weeks?)"
)
_ZH_ADDRESS_WORD = re.compile(r"[省市区县镇乡村路街道巷弄号楼栋室幢座]")


# a line of code, where a label is a parameter or a key of test data: f(name="x"), >>> g({"Name": "John"})
# (narrower than code.is_code_line, which takes a line ending in } for code: a JSON record here is data)
_CODE = re.compile(
    r"\w\(|;\s*$|^\s*(?:>>>|\.\.\.|def |class |return\b|assert\b|import |from \S+ import |print\("
    r"|const |let |var )",
    re.M,
)


def find_fields(text: str) -> list[Span]:
    """PERSON, ADDRESS and HEALTH values of labelled fields, table columns and CSV columns."""
    if not _NEEDLE.search(text):
        return []
    out = [s for kind, a, b, strong in _labelled(text) if (s := _value(text, kind, a, b, strong))]
    out += [s for kind, a, b in _columns(text) if (s := _value(text, kind, a, b, True))]
    return [s for s in out if not _CODE.search(line_at(text, s[1]))]


def _labelled(text: str) -> Iterator[tuple[str, int, int, bool]]:
    """(kind, value start, value end before shaping, whether the label alone names a person) of every
    label followed by its separator."""
    for m in _FIELD.finditer(text):
        label = _label(m)
        kind = _KIND.get(label)
        if kind is None:
            continue
        if kind == "TO":
            start = m.end() + len(text[m.end() :]) - len(text[m.end() :].lstrip(" \t了"))  # 搬到了…
            if (start > m.end() or not label.isascii()) and _ADDRESS_START.match(text, start):
                if not (_NOT_ADDRESS.match(text, start) or DATE.match(text, start)):
                    yield "ADDRESS", start, _line_end(text, start), True
            continue
        if label == "name" and not _SIBLING.search(line_at(text, m.start())):
            continue  # {"name": "Widget Pro"}, "- name: Checkout code": a thing's name without a person's
        strong = label in _NAME_LABELS or label in _PERSON_ZH_STRONG
        sep = _SEP.match(text, m.end())
        if not sep and kind == "ADDRESS" and not label.isascii():
            sep = _SAYS.match(text, m.end())  # 地址 北京市…, 住址是…: the shape of the value decides
        if not sep and kind == "PERSON" and (label in _PERSON_ZH_STRONG or label.isascii()):
            sep = _SAYS.match(text, m.end())
            if sep and label.isascii() and "是" not in sep.group(0):
                continue  # a Latin label before a value without a colon: only "claimant 是 X"
        if not sep or (label == "user" and not sep.group(0).strip().startswith("=")):
            continue  # "User: hello" is a chat turn; user=… and user="…" are a log's
        start = sep.end()
        if start < len(text) and text[start] in "\"'“":
            end = text.find("”" if text[start] == "“" else text[start], start + 1, _line_end(text, start))
            if end > start:
                yield kind, start + 1, end, strong
            continue
        yield kind, start, _line_end(text, start), strong


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


_CSV_CELL = re.compile(r'"(?:[^"\n]|"")*"|[^,\n]*')
_HEADER_CELL = re.compile(r"[ \t]*[\"']?[\w'’]+(?:[ _-][\w'’]+){0,3}[\"']?[ \t]*")  # one to four words


def _columns(text: str) -> Iterator[tuple[str, int, int]]:
    """Cells under a labelled header: a markdown table's (| Name | Address |), a CSV's (id,full_name,...)."""
    header: list[str] = []
    for line in re.finditer(r"[^\n]+", text):
        row = line.group(0).strip()
        if row.startswith("|") and row.endswith("|") and row.count("|") >= 3:
            cells = [(line.start() + c.start(), line.start() + c.end())
                     for c in re.finditer(r"(?<=\|)[^|]*(?=\|)", line.group(0))]
        elif "," in row:
            cells, i = [], 0
            while i <= len(line.group(0)):
                end = _CSV_CELL.match(line.group(0), i).end()  # type: ignore[union-attr]  # matches ''
                cells.append((line.start() + i, line.start() + end))
                i = end + 1
        else:
            header = []
            continue
        kinds = [_kind_of(text[a:b]) for a, b in cells]
        if any(kinds) and all(_HEADER_CELL.fullmatch(text[a:b]) for a, b in cells):
            # a header: its labelled columns hold the values of the rows below; a bare "name" column only
            # beside a column that says the rows are people (| Name | Capital | is about countries)
            bare = [text[a:b].strip(" \t\"'").lower() == "name" for a, b in cells]
            sibling = any(_SIBLING.search(text[a:b]) for a, b in cells)
            header = [k if not (b and not sibling) else "" for k, b in zip(kinds, bare)]
            continue
        if len(cells) != len(header):
            continue  # not a row of this table (a sentence with a comma, a ragged row)
        for kind, (a, b) in zip(header, cells):
            value = text[a:b].strip().strip('"').strip()
            if kind and value and not set(value) <= set("-: "):
                a = text.index(value, a)
                yield kind, a, a + len(value)


def _kind_of(header: str) -> str:
    m = _FIELD.fullmatch(header.strip().strip("\"'").strip())
    kind = _KIND.get(_label(m), "") if m else ""
    return kind if kind != "TO" else ""


def _value(text: str, kind: str, start: int, end: int, strong: bool) -> Span | None:
    value = text[start:end]
    start += len(value) - len(value.lstrip())
    value = value.strip()
    if not value:
        return None
    if kind == "PERSON":
        return _people(start, value, strong)
    if kind == "ADDRESS":
        cut = _ADDRESS_END.search(value)
        value = (value[: cut.start()] if cut else value)[:160].rstrip(" ,.，")
        while "," in value and re.fullmatch(r"\s*[a-z][^,]*", value.rsplit(",", 1)[1]):
            value = value.rsplit(",", 1)[0].rstrip()  # "…, 101 Reykjavík, thanks": what follows is not
        shortest = 6 if _ZH_ADDRESS_WORD.search(value) else 10
        if (
            shortest <= len(value)
            and (re.search(r"\d", value) or _ZH_ADDRESS_WORD.search(value))
            and re.search(r"[^\W\d_]{2,}", value)  # words, not an IP, MAC or wallet address
            and not value.lower().startswith("0x")
        ):
            return ("ADDRESS", start, start + len(value))
        return None
    cut = re.search(r"[|;；。\n(（]|\.(?=\s|$)", value)
    value = (value[: cut.start()] if cut else value).strip()
    # a list of conditions or medicines is all of it, up to an item that is not one (90-day supply, for …)
    items = re.split(r"\s*(?:,|，|、|\band\b)\s*", value)
    stop = next((k for k, item in enumerate(items) if _NOT_A_TERM.match(item)), None)
    if stop is not None:
        value = value[: value.find(items[stop])].rstrip(" ,，、") if stop else ""
    if 2 <= len(value) <= 120 and not re.fullmatch(r"[\d\W_]+", value) and value.lower() not in _NOT_NAMES:
        return ("HEALTH", start, start + len(value))
    return None


_NOT_A_TERM = re.compile(r"\d|(?:for|with|to|in|at|from|by|until)\b")  # "90-day supply", "for my son"
_LIST_SEP = re.compile(r"[ \t]*(?:、|，|,|&|;|(?i:and))[ \t]*")


def _people(start: int, value: str, strong: bool) -> Span | None:
    """The names at the start of a person field's value, a list of them included (参与人：饶荷蔓、谢锋;
    Attendees: Ana Ruiz, Bo Li): one span from the first to the last; an item before a colon is the next
    field's label (姓名：王小明，性别：男)."""
    end, at = 0, 0
    for _ in range(8):
        n = _person(value[at:], strong)
        if not n or at and value[at + n : at + n + 1] in (":", "："):
            break
        end = at + n
        sep = _LIST_SEP.match(value, end)
        if not sep:
            break
        at = sep.end()
    return ("PERSON", start, start + end) if end else None


def _person(value: str, strong: bool) -> int:
    """The length of the name at the start of ``value`` (0: none): name words, or a Chinese name."""
    zh = _CJK_NAME.match(value)
    if zh:
        return zh.end() if strong or surname_at(value, 0) else 0
    end = words = i = 0
    while words < 6:
        m = _NAME_WORD.match(value, i)
        if not m or not (m.group(0)[0].isupper() or words and m.group(0).lower() in PARTICLES):
            break
        end, words = m.end(), words + 1
        if m.group(0).endswith(".") and len(m.group(0)) > 2 and m.group(0)[:-1].lower() not in _TITLES:
            end -= 1  # a sentence's full stop ("Member: Mia DIEGO. Notes: …"), not an initial's or Mr.'s
            break
        gap = re.match(r"[ \t]+", value[end:])
        if not gap:
            break
        i = end + gap.end()
    first = value[:end].split()[0].lower().rstrip(".") if value[:end].split() else ""
    if end < 2 or first in _NOT_NAMES or first in _TITLES and words < 2 or words < 2 and not strong:
        return 0
    if re.match(r"[ \t]+[a-z]+\b(?!=)", value[end:]):
        return 0  # a sentence goes on: a speaker's turn ("Patient: Since Monday I've had headaches")
    return end
