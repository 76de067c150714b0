"""Person names in English text, including names that no list has.

English: spaCy's NER (en_core_web_sm; PERSON) over short windows around capitalised words, plus
context that names a person whatever the model thinks: salutations and sign-offs ("Dear …",
"Hi …", "Thanks,\\n…"), titles (Mr, Dr, Prof), relations ("my colleague …", "our tenant, …",
"patient …"), "named / called …". A capitalised word in code (``Parker.parse``, ``getUser()``)
or a lone capitalised word that starts a sentence without such context ("Jordan is …", "Will
you …") is not taken.

Chinese names: names_zh.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from gateway.privacy.people.code import (
    capitals_read_as_names,
    code_line,
    in_code,
    is_code_line,
    option_label,
    technical,
)
from gateway.privacy.people.dates import DAY, MONTH
from gateway.privacy.people.nlp import reading, training_words

Span = tuple[int, int]

# -- English ---------------------------------------------------------------------------------------
_TOKEN = re.compile(r"[^\W\d_][^\W_]*(?:['’\-][^\W\d_]+)*\.?")
# lower-case words inside a name (van der, bin, Font i Mas, ap Rhys), the fields' name values' too
PARTICLES = frozenset(
    "van von de der den da di du la le bin binti bint ibn al el y i dos das del ter ten mac mc nic ni ap "
    "ab".split()
)
# words that start sentences and are capitalised for that reason alone
_STARTERS = frozenset(
    "the a an i it this that these those what how why when where who which can could would should "
    "will shall may might must please is are was were do does did if in on at for to from we you "
    "he she they my our your his her their and but or so yes no not thanks thank hi hello hey "
    "dear best regards cheers sincerely yesterday today tomorrow also then there here let make "
    "write send ask tell use set call add get give find check mail ship name date our after "
    "before with as by of about all any some every each one two three mr mrs ms dr prof patient "
    "summarise summarize explain translate review draft use read install run open try see visit "
    "book buy meet invite email ladies gentlemen everyone folks team "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
# a capitalised name followed by one of these is a place, an event or an institution ("Victoria Station")
_THING_HEADS = frozenset(
    "station street road avenue square park bridge line hall house center centre day prize award "
    "memorial university college school hospital foundation institute museum library airport "
    "building tower theatre theater stadium arena church cathedral river lake mountain island bay "
    "valley county city inc ltd llc corp company group bank algorithm class framework package "
    "module model book trophy hotel true false none error exception api sdk".split()
)
# two or three capitalised words followed by what people do ("Tarak Sawhney lives at", "… is on metformin"):
# a name unless the model calls them a place, a nationality, a date or a quantity
# a capitalised name word, hyphenated parts included (Moreau-Batiste, Ann-marie)
# (one way to read each part: an accented capital after the hyphen is read by the letters' class)
_NAME_WORD = r"[A-Z\u00c0-\u00de][a-z\u00c0-\u024f'’]{1,40}(?:-[A-Z]?[a-z\u00c0-\u024f'’]{1,40})*"
_PARTICLE = r"(?:(?:Ó|Ní|Nic|Mac|Mc|Ua|Uí|van der|van den|van|von|de la|de|da|di|del) )?"
# Ada Folta, Isaya G. Omar (a middle initial), Eve Ó Coilín
_PAIR_OF_NAMES = rf"{_NAME_WORD} (?:[A-Z]\. )?{_PARTICLE}{_NAME_WORD}"
# ... and with a middle name (María Cristina Montero), where the context alone says it is a person: three
# capitalised words before "is" are as often a term ("Mean Absolute Deviation is")
_NAMES = rf"{_NAME_WORD} (?:[A-Z]\. )?(?:{_NAME_WORD} )?{_PARTICLE}{_NAME_WORD}"
_ACTOR = re.compile(
    rf"(?<![\w.-])({_PAIR_OF_NAMES}) (?=(?:is|was|has|had|lives|lived|said|says|asked|asks|sent|sends|wrote"
    r"|writes|called|calls|moved|joined|works|worked|told|wants|needs|takes|took|started|will|would|can"
    r"|could|should|did|does|got|gave|went|came|left|emailed|texted|replied|signed|paid|owes|lost|found"
    r"|missed|visited|mentioned|stopped|the right person)\b)"
    # ... or before what is said of a person only: "Vitor Hugo Rezende (born 1980)"
    rf"|(?<![\w.-])({_NAMES}) (?=\((?:born|b\.|n[ée]e|aged?)\b)"
    # ... or after a verb that takes a person: "email Nitesh Kala", "ask Muema Okoth", "what Ada Folta said"
    r"|(?i:\b(?:e-?mail|ask|tell|call|text|ping|invite|thank|remind|cc|contact|message|meet|congratulate"
    r"|introduce|hire|interview|what|whether|is|reply|on behalf of|invoice to:|bill to:|ship to:"
    # ... or after what one sends to someone or does with someone: "an email to …", "lunch with …"
    r"|(?:e-?mail|letter|message|note|contract|invoice|reply|it|this|them) to"
    r"|(?:lunch|dinner|coffee|a meeting|a call|talked|spoke|met|worked) with"
    rf") )({_NAMES})(?![\w(])"
)
_NOT_ACTOR_LABELS = frozenset(
    "GPE LOC FAC NORP DATE TIME MONEY QUANTITY EVENT LAW LANGUAGE PRODUCT WORK_OF_ART".split()
)
_ORG_WORDS = frozenset(
    "services systems technologies labs inc corp ltd llc group bank airlines university college "
    "institute foundation partners capital holdings motors pharmaceuticals media studios records "
    "games software networks team international support classifier regressor network pipeline server "
    "client".split()
)
# what a team or a role is called, where a message is addressed ("cc: Legal Team", "Assigned to Data Science")
_TEAM_WORDS = frozenset(
    "legal engineering science lead leads team teams ops operations platform security finance marketing "
    "sales support hr qa design product data research infrastructure devops admin accounts accounting "
    "desk office department committee board everyone all".split()
)
# two or three capitalised words inside a sentence that the model left without any label:
# a name it does not know
_PAIR = re.compile(
    r"(?<=[a-z,;:] )([A-Z][a-z\u00c0-\u024f'’-]+(?: [A-Z]\.)?(?: [A-Z][a-z\u00c0-\u024f'’-]+){1,2})(?![\w(])"
)
_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Sir|Dame|Madam|Mme|Mlle|Rev|Capt|Judge|Nurse|Doctor)\.?"
_RELATIONS = (
    r"colleague|co-?worker|friend|boss|manager|wife|husband|partner|son|daughter|mother|father|mom|mum"
    r"|dad|brother|sister|cousin|uncle|aunt|nephew|niece|grandmother|grandfather|grandma|grandpa"
    r"|neighbou?r|student|teacher|tutor|doctor|dentist|therapist|lawyer|tenant|landlord|landlady"
    r"|client|customer|assistant|classmate|roommate|flatmate|girlfriend|boyfriend|fianc[ée]e?|employee"
    r"|intern|mentor|supervisor|guest|patient|contact|candidate|applicant|nanny|caregiver"
)
_CUE = re.compile(
    rf"(?:\b{_TITLES}|(?i:\b(?:dear|hi|hello|hey|good (?:morning|afternoon|evening)|thanks|thank you|cheers"
    r"|regards|sincerely|love|yours)),?"
    rf"|(?i:\b(?:my|our|his|her|their|your|the|a|former|new)\s+(?:[a-z]+\s+)?(?:{_RELATIONS})),?"
    rf"|(?i:\b(?:patient|named|called|name is|name:|name|signed|attn:?)))\s+"
)
# where a message addresses someone by full name: a copy line, a ticket's assignee, a mention in a chat
# ("cc: Choi Su-bin", "Assigned to Siriporn Wongsawat", "@Priyanka Venkataraman could you …"). Two words
# at least: "cc: Legal", "@Override" are a team and a Java annotation; an e-mail's @ follows a word
_ADDRESSED = re.compile(r"(?i:\b(?:b?cc:|assigned to|assignee:))\s+|(?<![\w.@])@(?=[A-Z\u00c0-\u00de])")
_SIGN_OFF = re.compile(
    r"(?im)^(?:best(?: regards| wishes)?|kind regards|regards|thanks|thank you|cheers|sincerely"
    r"|yours(?: sincerely| truly)?|warm regards|all the best|love)[,!.]?\s*\n"
)
# words each side of a capitalised word: the model's own context reaches 4 tokens, and it costs per token
_WINDOW_WORDS = 4
# a word that can be (part of) a name: letters, apostrophes and hyphens, a full stop after an initial
_NAME_LIKE = re.compile(r"[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*\.?")
# a name is words of letters, one of them capitalised, an apostrophe or hyphen between letters (O'Dwyer,
# Al-Haddad, Su-bin); no digits, underscores or CJK ("Monkey_68summer")
_LETTER = r"[^\W\d_\u3000-\u9fff]"
_WORD = rf"{_LETTER}+(?:['’-]{_LETTER}+)*\.?"  # one way only to read a word: no backtracking blow-up
_WORDS_ONLY = re.compile(rf"(?=.*\b[A-Z\u00c0-\u00de]){_WORD}(?:\s{_WORD})*\s?")


def _name_after(text: str, pos: int) -> Span | None:
    """Capitalised words (1-4; particles between them) starting at ``pos``."""
    end, words, i = pos, 0, pos
    while words < 4:
        m = _TOKEN.match(text, i)
        if not m:
            break
        word = m.group(0).rstrip(".")
        if len(word) == 1 and m.group(0) != word and words and _name_goes_on(text, m.end()):
            word = m.group(0)  # a middle initial: "Duncan A. Nkrumah" goes on after its full stop
        if word[0].isupper() and not (len(word) > 1 and word.isupper() and len(word) > 3):
            if word.lower() in _STARTERS and words == 0:
                return None
            end, words = i + len(word), words + 1
        elif word.lower() in PARTICLES and words:
            pass
        else:
            break
        i = m.start() + len(word)
        gap = re.match(r"[ \t]+", text[i:])
        if not gap:
            break
        i += gap.end()
    return (pos, end) if words else None


def _name_goes_on(text: str, at: int) -> bool:
    """After an initial's full stop, a capitalised word that starts no sentence ("Hi Ada B. Thanks")."""
    m = re.match(r"[ \t]+([A-Z\u00c0-\u00de][\w'’-]*)", text[at : at + 40])
    return m is not None and m.group(1).lower() not in _STARTERS


def _listed(text: str, start: int, end: int) -> bool:
    """One capitalised word in a list of them ("Mercury, Venus, Earth", "Flask and Django"): a list of
    things, not a person; a lone first name beside another is left to context ("Dear Ann and Bob")."""
    return bool(
        re.search(r"[A-Z][a-z]+(?:,|\s+(?:and|or|&))\s*$", text[max(0, start - 20) : start])
        or re.match(r"(?:,|\s+(?:and|or|&))\s*(?:(?:and|or|then)\s+)?[A-Z][a-z]+", text[end : end + 20])
    )


def _cue_names(text: str) -> Iterator[Span]:
    for rx in (_CUE, _SIGN_OFF):
        for m in rx.finditer(text):
            span = _name_after(text, m.end())
            if span and not in_code(text, *span):
                yield span
    for m in _ADDRESSED.finditer(text):
        span = _name_after(text, m.end())
        if span and _addressed_person(text, *span, mention=text[m.start()] == "@"):
            yield span


def _addressed_person(text: str, start: int, end: int, mention: bool) -> bool:
    """Two words or more that are neither code nor a team: "cc: Legal Team", "Assigned to Platform
    Engineering", "@Nullable String name," (a Java parameter) are not people."""
    words = text[start:end].split()
    return (
        len(words) > 1
        and not technical(text[start:end])
        and not any(w.lower() in _ORG_WORDS or w.lower() in _TEAM_WORDS for w in words)
        and not code_line(text, start, end)
        and not (mention and re.match(r"\s+[a-z_]\w*\s*[,;)=]", text[end : end + 40]))
    )


def _sentence_initial(text: str, start: int) -> bool:
    """At the start of a sentence, a line, or a markdown bullet, table cell or heading."""
    before = text[max(0, start - 3) : start].rstrip(" \t\"'“(")
    return not before or before[-1] in ".!?\n:;-*•|#>。！？；："


_NOT_SENTENCE_END = frozenset(
    "mr mrs ms mx dr st jr sr mt prof rev capt mme mlle sgt gen lt col sen gov hon fr rep no vs etc "
    "apt ave rd blvd ln ct ste fl bldg inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# a month beside a day is a date (dates.py's own forms), not a name for the model to read
_MONTH_WORD = re.compile(MONTH)
_DAY_WORD = re.compile(rf"{DAY},?")


def _ends_sentence(word: str) -> bool:
    """A word that ends a sentence: . ! ? after it (closing quotes and brackets after that), not an initial
    ("G."), a title or abbreviation ("Dr.", "U.S."); a Chinese run (one word: no spaces) ending in 。！？."""
    w = word.rstrip("\"'”’)]")
    if not w or w[-1] not in ".!?。！？":
        return False
    body = w[:-1]
    return not (w[-1] == "." and (len(body) <= 1 or "." in body or body.lower() in _NOT_SENTENCE_END))


def _windows(text: str, known: list[Span]) -> list[Span]:
    """Stretches of text around capitalised words that could be names (and are not in ``known``), merged."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    code_lines = [m.span() for m in re.finditer(r"[^\n]+", text) if is_code_line(m.group(0))]
    taken = list(known) + code_lines
    hits = []
    for k, (a, b) in enumerate(words):
        w = text[a:b].strip("\"'“”‘’(),.;:!?")
        if not w or not w[0].isupper() or w.isupper() and len(w) > 1 or not w[0].isalpha():
            continue
        lower = w.lower()
        if lower in _STARTERS or lower in _THING_HEADS or any(s <= a < e for s, e in taken):
            continue  # a name on a line of code is never taken (in_code): the model need not read it
        if not _NAME_LIKE.fullmatch(w) or technical(w):
            continue  # V2, gpt_4, ValueError, NaN: never a name (_WORDS_ONLY, technical), so never read
        if _sentence_initial(text, a) and not (k + 1 < len(words) and text[words[k + 1][0]].isupper()):
            continue  # a lone capital that starts a sentence is never taken without context either
        if _MONTH_WORD.fullmatch(w) and (
            k + 1 < len(words) and text[words[k + 1][0]].isdigit()
            or k and _DAY_WORD.fullmatch(text[words[k - 1][0] : words[k - 1][1]])
        ):
            continue  # "Feb 9, 1963", "9 March": a date (dates.py reads it), not a name for the model to read
        hits.append(k)
    sentence = [0] * len(words)  # a window stays in its word's sentence and line: a name's context is there
    for k in range(1, len(words)):
        (a, b), c = words[k - 1], words[k][0]
        sentence[k] = sentence[k - 1] + ("\n" in text[b:c] or _ends_sentence(text[a:b]))
    spans: list[Span] = []
    for k in hits:
        i, j = k, k
        while i > max(0, k - _WINDOW_WORDS) and sentence[i - 1] == sentence[k]:
            i -= 1
        while j < min(len(words) - 1, k + _WINDOW_WORDS) and sentence[j + 1] == sentence[k]:
            j += 1
        a, b = words[i][0], words[j][1]
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def find_english_names(text: str, nlp: Any | None, known: Sequence[Span] = ()) -> list[Span]:
    """Names from context and from the model; ``known`` (addresses, already found) is not read again."""
    text = capitals_read_as_names(text)
    cued = list(_cue_names(text))
    found = set(cued)
    if nlp is not None:
        windows = _windows(text, cued + list(known))
        with reading(nlp):  # what the model learns of the text is forgotten after
            for (offset, stop), doc in zip(windows, nlp.pipe(text[a:b] for a, b in windows)):
                found |= _model_persons(text, offset, doc, cued)
                found |= _actors(text, offset, stop, doc)
                found |= _pairs(text, offset, stop, doc)
    return _merge(sorted(_widen(text, span) for span in found))


def _model_persons(text: str, offset: int, doc: Any, cued: Sequence[Span]) -> set[Span]:
    """The model's PERSON entities in one window, less what reads as a thing, a starter or code."""
    found: set[Span] = set()
    for ent in doc.ents:
        if ent.label_ != "PERSON":
            continue
        start, end = offset + ent.start_char, offset + ent.end_char
        value = text[start:end]
        if value.endswith(("'s", "’s")):
            end -= 2
            value = value[:-2]
        cut = option_label(text, start)  # "B. Wrong": an option's letter, not an initial
        start, value = start + cut, value[cut:]
        if not _WORDS_ONLY.fullmatch(value) or in_code(text, start, end) or technical(value):
            continue
        while " " in value and value.split()[0].lower() in _STARTERS:  # "Use Jackson", "Dear Ann"
            cut = value.index(" ") + 1
            start, value = start + cut, value[cut:]
        single = " " not in value.strip()
        cue = any(s <= start < e or start <= s < end for s, e in cued)
        if not cue and (
            single
            and (_sentence_initial(text, start) or _listed(text, start, end))
            or _thing(text, start, end)
        ):
            continue  # "Jordan is a country", "Will you …", "the Hamilton book", "Victoria Station"
        found.add((start, end))
    return found


def _actors(text: str, offset: int, stop: int, doc: Any) -> set[Span]:
    """Capitalised words doing what people do, unless the model calls them a place, a date, … and knows
    every word of them: a word it never saw in training is labelled by its shape ("Ada Folta" a place)."""
    found: set[Span] = set()
    others = [(offset + e.start_char, offset + e.end_char) for e in doc.ents if e.label_ in _NOT_ACTOR_LABELS]
    seen = training_words()
    for m in _ACTOR.finditer(text, offset, stop):
        g = next(k for k in (1, 2, 3) if m.group(k))
        a, b = m.span(g)
        words = m.group(g).split()
        if words[0].lower() in _STARTERS and len(words) > 2:  # "Yesterday Ada Folta sent": the name is after
            a += len(words[0]) + 1
            words = words[1:]
        if (
            words[0].lower() in _STARTERS
            or any(w.lower() in _ORG_WORDS for w in words)
            or all(w in seen for w in words) and any(a <= la and le <= b for la, le in others)
            or _thing(text, a, b)
            or in_code(text, a, b)
        ):
            continue
        found.add((a, b))
    return found


def _pairs(text: str, offset: int, stop: int, doc: Any) -> set[Span]:
    """A pair of capitalised words the model left unlabelled, in a person's place in the sentence."""
    found: set[Span] = set()
    labelled = [(offset + e.start_char, offset + e.end_char) for e in doc.ents]
    for m in _PAIR.finditer(text, offset, stop):
        a, b = m.span(1)
        if any(a < le and la < b for la, le in labelled) or _thing(text, a, b) or in_code(text, a, b):
            continue
        if m.group(1).split()[0].lower() not in _STARTERS:
            found.add((a, b))
    return found


_GAELIC = ("Ó", "Ní", "Nic", "Mac", "Mc", "O'", "Ua", "Uí")


def _widen(text: str, span: Span) -> Span:
    """Take in the capitalised given name before a span the model started at a particle ("Blathnaid Mac
    Uaid") and a Gaelic or Dutch particle word before or after ("Eve Ó Coilín")."""
    a, b = span
    m = re.search(r"(?:^|(?<=[ \t]))([A-Z][a-z\u00c0-\u024f'’-]+ )$", text[max(0, a - 30) : a])
    first = text[a:b].split()[0] if text[a:b].split() else ""
    if (
        m
        and (first in _GAELIC or first.lower() in PARTICLES)
        and m.group(1).strip().lower() not in _STARTERS
    ):
        a -= len(m.group(1))
    m = re.match(r" (?:Ó|Ní|Nic|Mac|Mc|Ua|Uí) [A-Z][a-z\u00c0-\u024f'’-]+", text[b : b + 40])
    if m:
        b += m.end()
    return a, b


def _thing(text: str, start: int, end: int) -> bool:
    """A name used for a thing: after an article, or before (or ending in) a word for a place or a thing."""
    before = text[max(0, start - 4) : start].lower()
    after = re.match(r"[ \t]*([A-Za-z]+)", text[end : end + 20])
    last = text[start:end].split()[-1].lower()
    return (
        before.endswith(("the ", " a ", "an "))
        or last in _THING_HEADS
        or bool(after and after.group(1).lower() in _THING_HEADS)
    )


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in spans:
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out
