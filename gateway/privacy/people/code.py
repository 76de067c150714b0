"""Whether a capitalised word in a prompt is code rather than a person's name: a name's detectors ask
before they take one (``Parker.parse``, ``getUser()``, a test's string on a line of code, ``JSON``, a
multiple-choice option's letter);
and which words in capitals are names written so (``Omar V. RACHEDI``) rather than acronyms."""

from __future__ import annotations

import re

from gateway.privacy.people.nlp import training_words

_CODE_BEFORE = re.compile(r"[._$#@`/\\]$|\bclass\s+$|\bdef\s+$|\bimport\s+$|\bnew\s+$")
_CODE_AFTER = re.compile(r"^(?:\.[A-Za-z_]|[(\[_`=<]|::|->)")

# how a line of code starts (a prompt, a definition, a statement, a comment, a closing bracket)
_CODE_START = re.compile(
    r"\s*(?:>>>|\.\.\.|def |class |return\b|assert\b|import |from \S+ import |#|//|print\(|[\])}])"
)


def is_code_line(line: str) -> bool:
    """A line of code: it starts like one, compares (== !=), calls (a word before "("), or ends in = ; { }.
    Plain string search rather than one regex: a prompt without line breaks is one 2,000-character line,
    and the regex tried each of its alternatives at every character (72 us a line, ~15 lines a scan)."""
    if _CODE_START.match(line) or "==" in line or "!=" in line or line.rstrip()[-1:] in ("=", ";", "{", "}"):
        return True
    paren = line.find("(", 1)
    while paren > 0:
        before = line[paren - 1]
        if before.isalnum() or before == "_":  # what \w is
            return True
        paren = line.find("(", paren + 1)
    return False


def in_code(text: str, start: int, end: int) -> bool:
    """A capitalised word that is code, or sits on a line of code (a test's string, a comment)."""
    if (
        "\n" in text[start:end]
        or _CODE_BEFORE.search(text[max(0, start - 7) : start])
        or _CODE_AFTER.match(text[end : end + 3])
    ):
        return True
    return code_line(text, start, end)


def code_line(text: str, start: int, end: int) -> bool:
    return is_code_line(line_at(text, start, end))


def line_at(text: str, start: int, end: int | None = None) -> str:
    """The whole line (or lines) holding text[start:end]."""
    line_end = text.find("\n", start if end is None else end)
    return text[text.rfind("\n", 0, start) + 1 : line_end if line_end >= 0 else len(text)]


_LETTERED = re.compile(r"[ \t]*([A-Z])([.)])[ \t]+")


def option_label(text: str, start: int) -> int:
    """The length of a lettered list's label at ``start`` ("B. " in "B. Wrong" at a line's start, where lines
    labelled "A." and "B." are there too: a multiple-choice question's options), else 0. The small NER reads
    "B. Wrong" as an initial and a surname; a name after the label stays one ("A. Jude Law"), and a list of
    initials is no such list ("J. Smith" / "K. Jones")."""
    m = _LETTERED.match(text, start)
    if not m or text[text.rfind("\n", 0, start) + 1 : start].strip():
        return 0
    mark = re.escape(m.group(2))
    lettered = all(re.search(rf"(?m)^[ \t]*{first}{mark}[ \t]", text) for first in "AB")
    return m.end() - start if lettered else 0


_NAME_CAPS = re.compile(r"(?:Mc|Mac|O'|O’|D'|D’|De|Le|La|Di|Da|Van)[A-Z][a-z]+")


def technical(value: str) -> bool:
    """An acronym or a word with capitals inside (JSON, NaN, OSError, iPhone) names a thing, not a person
    (McDonald, O'Brien, DeShawn are people)."""
    words = [w.removesuffix(".") for w in value.replace("-", " ").split()]  # "A." is an initial, "U.S" not
    return any(
        (len(w) > 1 and w.isupper()) or (any(c.isupper() for c in w[1:]) and not _NAME_CAPS.fullmatch(w))
        for w in words
    )


_WORD_BEFORE = re.compile(r"(?<!\S)([^\W\d_][^\W\d_'’-]*\.?)[ \t]+$")
_WORD_AFTER = re.compile(r"[ \t]+([^\W\d_][^\W\d_'’-]*\.?)(?!\S)")
_CAPS_WORD = re.compile(r"\b[A-Z\u00c0-\u00de\u0100-\u024f]{3,}(?:['’-][A-Z\u00c0-\u00de\u0100-\u024f]+)*\b")


def capitals_read_as_names(text: str) -> str:
    """The text with each word in capitals beside another capitalised word, that the model never saw in
    capitals, written as a name (TERESA CATALÁN, Sagar GURUNG -> Teresa Catalán, Sagar Gurung: forms and
    signatures): the rules and the model take a word in capitals for an acronym. Same length, same offsets."""
    if not _CAPS_WORD.search(text):
        return text
    seen = training_words()
    out = list(text)
    for m in _CAPS_WORD.finditer(text):
        word = m.group(0)
        if word in seen or not any(c in "AEIOUYÀÁÂÃÄÅÆÈÉÊËÌÍÎÏÒÓÔÕÖØÙÚÛÜÝ" for c in word.upper()):
            continue
        before = _WORD_BEFORE.search(text[max(0, m.start() - 40) : m.start()])
        after = _WORD_AFTER.match(text[m.end() : m.end() + 40])
        if any(n and n.group(1)[0].isupper() for n in (before, after)):
            # one character for one: a letter whose lower case is two (İ -> i̇) stays as it is
            out[m.start() + 1 : m.end()] = [c.lower() if len(c.lower()) == 1 else c for c in word[1:]]
    return "".join(out)
