"""Whether a sentence is about a person, and whether the one a verb speaks of is: health details count
only there ("How does insulin work?" is about nobody; "my father is on insulin" is about him)."""

from __future__ import annotations

import re

PERSON_NOUNS = frozenset(
    "patient client son daughter wife husband partner mom mum mother dad father brother sister child kid "
    "baby grandma grandpa grandmother grandfather aunt uncle cousin friend colleague boss neighbour neighbor "
    "boyfriend girlfriend fiance fiancé fiancee fiancée".split()
)
_PERSON_EN = re.compile(
    r"(?i)\b(?:i|i'm|i’m|i've|i’ve|me|my|myself|he|him|his|she|her|hers|" + "|".join(sorted(PERSON_NOUNS))
    + r"|diagnosed|prescribed|suffers?|suffering|is on|was on|been on|taking|takes|took|living with"
    r"|discharged)\b"
)
_NOT_PERSON_EN = re.compile(
    r"(?i)^(?:what|how|why|when|where|which|is|are|can|does|do|should|explain|describe)\b"
)
PERSON_ZH = re.compile(
    r"我(?!们)|他|她|本人|员工|家属|患者|病人|孩子|儿子|女儿|老婆|老公|妻子|丈夫|妈|爸|母亲|父亲|爷爷|奶奶|姥姥|外婆|"
    r"外公|哥哥|姐姐|弟弟|妹妹|同事|朋友|客户|家人|宝宝|先生|女士|确诊|诊断|查出|得了|患有|患了|服用|在吃"
)


def about_someone(sentence: str, start: int, end: int, people: list[tuple[int, int]]) -> bool:
    """Whether ``sentence`` (text[start:end]) is about a person: a personal word in either language, or a
    name among ``people``; an English question with no personal word is about nobody."""
    return (
        bool(PERSON_ZH.search(sentence))
        or any(start <= s < end for s, _ in people)
        or (bool(_PERSON_EN.search(sentence)) and not _generic_question(sentence))
    )


def _generic_question(sentence: str) -> bool:
    """A question without a personal word is about nobody ('How does insulin affect his …' is about him)."""
    return bool(_NOT_PERSON_EN.match(sentence.strip())) and not re.search(
        r"(?i)\b(?:my|his|her|i|i'm|i’m|me|patient|son|daughter|wife|husband|mother|father)\b", sentence
    )


# "suffers from" and "recovering from" say what ails a thing as often as a person (memory suffers from
# fragmentation, a model from overfitting, the economy from inflation): what follows them is taken for a
# condition, whatever its name, only where the one who suffers is a person (someone_before)
_SUBJECT_PRONOUNS = frozenset("i he she we they you who".split())
_BEFORE_SUBJECT = frozenset(
    "is was are were am has have had been be also still now currently really often badly long clearly "
    "already recently sadly".split()
)


def someone_before(text: str, cue: int, people: list[tuple[int, int]]) -> bool:
    """Whether the one named before the cue at ``cue`` (past is, has been, still, an age) is a person: a
    pronoun, a person's noun, a name found in the text, or nobody (a note: "Recovering from surgery.")."""
    start = max(text.rfind(c, 0, cue) for c in ".!?\n") + 1
    for m in reversed(list(re.finditer(r"[\w'’]+", text[start:cue]))):
        word = m.group(0).lower()
        if word in _BEFORE_SUBJECT or word.isdigit():
            continue
        a = start + m.start()
        return word in _SUBJECT_PRONOUNS or word in PERSON_NOUNS or any(s <= a < e for s, e in people)
    return True
