"""Health details about a person: diagnoses, medicines and treatments, pregnancy, mental health.

A health term is personal data when the sentence is about someone: "I", a relative, a patient,
he or she, a name ("my mother takes metformin", "患者张伟确诊糖尿病"). "How does metformin
work?" is about nobody and stays public. Terms come from three places:

- term lists: ICD-10-CM's condition titles, the Disease Ontology's names and MedlinePlus's medicine
  names (data/health_en.txt), CMeKG's Chinese diseases and medicines (data/health_zh_terms.txt; both
  built by scripts/build_health_terms.py), everyday English and Chinese wording (data/*.txt);
- word shapes that name conditions and medicines whatever the list: -itis, -osis, -emia, -oma,
  -pathy; "<words> disease / syndrome / disorder / cancer"; INN stems (-pril, -sartan, -olol,
  -statin, -prazole, -mab, ...); Chinese words ending in 病, 症, 炎, 癌, 瘤, 综合征, 障碍, ...;
- pregnancy: pregnant, N weeks pregnant (in digits or words), pregnant with our second child, 怀孕,
  孕N周, 怀孕五个月了, 怀了二胎, 有了身孕, 做试管.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from gateway.privacy.people.about import PERSON_ZH, about_someone, someone_before
from gateway.privacy.people.dates import TEENS, UNITS

_DATA = Path(__file__).with_name("data")


def _read(name: str) -> set[str]:
    lines = (_DATA / name).read_text(encoding="utf-8").splitlines()
    return {line.strip().lower() for line in lines if line.strip() and not line.startswith("#")}


@lru_cache(maxsize=1)
def english_terms() -> frozenset[str]:
    return frozenset(_read("health_en.txt") | _read("health_common_en.txt"))


@lru_cache(maxsize=1)
def _first_words() -> dict[str, int]:
    """First word of every English term -> the most words a term starting with it has."""
    out: dict[str, int] = {}
    for term in english_terms():
        words = term.split()
        out[words[0]] = max(out.get(words[0], 0), len(words))
    return out


@lru_cache(maxsize=1)
def chinese_terms() -> frozenset[str]:
    return frozenset(_read("health_zh.txt"))


@lru_cache(maxsize=1)
def chinese_kg_terms() -> frozenset[str]:
    """CMeKG's diseases and medicines (data/health_zh_terms.txt), matched over runs of jieba's words."""
    return frozenset(_read("health_zh_terms.txt"))


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
# word endings of conditions (-itis, -osis, ...) and of medicines (INN stems: -pril, -sartan, -olol, ...)
_SHAPE_ENDINGS = tuple(
    "itis osis aemia emia oma pathy algia plegia phobia ectomy pril sartan olol dipine statin prazole tidine "
    "oxetine triptyline zepam zolam cillin mycin cycline floxacin conazole vir mab tinib glutide gliptin "
    "gliflozin formin afil triptan profen coxib setron lukast parin xaban gatran thiazide semide azine "
    "pramine "
    "barbital caine".split()
)


def _shaped(word: str) -> bool:
    """A word with the ending of a condition or a medicine, at least three letters before the ending."""
    return (
        len(word) >= 6
        and word.endswith(_SHAPE_ENDINGS)
        and word.isalpha()
        and word not in _NOT_SHAPE
        and any(len(word) - len(e) >= 3 for e in _SHAPE_ENDINGS if word.endswith(e))
    )


_NOT_SHAPE = {
    "diploma",
    "aroma",
    "oklahoma",
    "tacoma",
    "sonoma",
    "academia",
    "bohemia",
    "diagnosis",
    "prognosis",
    "osmosis",
    "mitosis",  # cell biology, not a condition
    "meiosis",
    "apoptosis",
    "endocytosis",
    "exocytosis",
    "phagocytosis",
    "symbiosis",
    "hypnosis",
    "metamorphosis",
    "empathy",
    "sympathy",
    "telepathy",
    "apathy",
    "nostalgia",
    "magazine",
    "gasoline",
    "cocaine",
    "novocaine",
    "sardine",
    "catacomb",
    "ladakh",
}
_HEADS = (
    "disease",
    "syndrome",
    "disorder",
    "cancer",
    "carcinoma",
    "infection",
    "deficiency",
    "failure",
    "palsy",
    "dystrophy",
    "tumor",
    "tumour",
    "fever",
)
_NOT_MODIFIER = (
    r"(?!(?:for|from|with|have|this|that|some|their|about|into|what|which|your|other|rare"
    r"|same)\b)"
)
_HEAD_PHRASE = re.compile(
    rf"\b({_NOT_MODIFIER}(?:[A-Z][a-z]+(?:'s)?|[a-z]{{4,}})(?: {_NOT_MODIFIER}[a-z]{{4,}})?) "
    r"(?i:" + "|".join(_HEADS) + r")\b"
)
_NUMBER_WORD = rf"(?:\d{{1,2}}|{UNITS}|{TEENS}|(?:twenty|thirty|forty)(?:[- ](?:{UNITS}))?)"
_ORDINAL = r"(?:first|second|third|fourth|fifth)"
_PREGNANT = re.compile(
    rf"(?i)\b(?:{_NUMBER_WORD} (?:weeks?|months?) (?:pregnant|along|gone)"
    r"|(?:(?:newly|heavily|recently|just) )?pregnant"
    rf"(?: with (?:(?:our|my|her|their|his) {_ORDINAL} (?:child|baby|kid)|twins|triplets|quadruplets)"
    rf"| for the {_ORDINAL} time)?"
    rf"|in (?:the|my|her|their) {_ORDINAL} trimester"
    r"|expecting (?:twins|triplets|a baby|a child|a (?:little )?(?:boy|girl)"
    rf"|our {_ORDINAL} (?:child|baby)))\b"
)
# PrEP (HIV prevention) only so written: "meal prep" is not health
_TYPE = re.compile(r"(?i)\btype (?:1|2|one|two|i|ii) diabetes\b|\b(?-i:PrEP)\b")
# what follows these is a condition whatever its name: "diagnosed with kidney stones", "确诊为慢性肾炎"
# (after "suffers from" and "recovering from" only where a person suffers: about.someone_before)
_NOT_CONDITION_WORD = (
    r"(?:in|at|on|and|but|since|last|this|so|because|for|after|before|which|that|when|while|with|by|to|from|of"
    r"|yesterday|today|recently)\b"
)
_AFTER_CUE = re.compile(
    r"(?i)\b(?:diagnosed with|diagnosis of|suffers from|suffering from|(?:being )?treated for|recovering from"
    rf"|tested positive for|prescribed)\s+(?!{_NOT_CONDITION_WORD})((?:an? )?[a-z][a-z'’-]*"
    rf"(?: (?!{_NOT_CONDITION_WORD})[a-z][a-z'’-]*){{0,3}})"
)
_ZH_AFTER_CUE = re.compile(
    r"(?:确诊(?:为|了|出)?|诊断(?:为|出)|查出(?:了)?|患(?:有|了)|罹患)"
    r"([\u4e00-\u9fff]{2,10}?)"
    r"(?=[，。；！？、,.;!?\s]|$|了|的|，)"
)

_ZH_SUFFIX = (
    "综合征",
    "综合症",
    "障碍",
    "感染",
    "结石",
    "梗死",
    "梗塞",
    "衰竭",
    "硬化",
    "溃疡",
    "增生",
    "囊肿",
    "结核",
    "疱疹",
    "骨折",
    "减退",
    "亢进",
    "不全",
    "失调",
    "紊乱",
    "病",
    "症",
    "炎",
    "癌",
    "瘤",
    "疮",
)
# medicines by the Chinese renderings of INN stems (舍曲林, 华法林, 阿托伐他汀, 缬沙坦, 奥美拉唑, …) and "…药"
_ZH_DRUG = re.compile(
    r"(?:曲林|法林|匹林|他汀|沙坦|洛尔|地平|普利|拉唑|西汀|沙星|霉素|西林|替丁|替尼"
    r"|单抗|西泮|唑仑|洛芬|尼松|他韦|双胍|格列[\u4e00-\u9fff]|胰岛素)"
)
_ZH_DRUG_CLASS = re.compile(r"(?:抗|降|止|安|消|镇)[\u4e00-\u9fff]{1,4}药")
_ZH_STOP = set("吃用服在要都每天我你他她的了是和与给把被有得患确诊为查出喝打开药片粒次正还也就")
# what may stand before a condition's head and belong to it: 类风湿|关节炎, 产后|抑郁, 甲状腺|功能|减退
_ZH_JOIN_TAGS = ("n", "nz", "b", "a", "t", "ng", "an", "vn", "l")
_ZH_NOT = {
    "毛病",
    "生病",
    "看病",
    "病毒",
    "病人",
    "疾病",
    "症状",
    "炎热",
    "发炎",
    "病情",
    "病房",
    "病历",
    "病假",
    "通病",
    "弊病",
    "语病",
    "心病",
    "治病",
    "防病",
    "重症",
    "急症",
    "病因",
    "病症",
    "老毛病",
    "职业病",
    "富贵病",
    "炎症",
}
_ZH_PREGNANT = re.compile(
    r"孕\d{1,2}周|怀孕\d{1,2}周|怀孕(?:\d{1,2}|[一二三四五六七八九十]{1,2})个(?:多)?月了?|(?:怀孕|怀上|流产|小产)了"
    r"|怀了(?:[一二三]|头|二|双)?胎|有了身孕|(?:在)?做试管(?!实验|反应|测试)"  # IVF, not a lab test
    r"|怀[着了上]?(?:[二三四]|双|龙凤)胎|孕吐|(?:在家)?保胎|预产期|孕[早中晚]期"
)
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")


def _english_candidates(text: str, people: list[tuple[int, int]]) -> list[tuple[int, int]]:
    terms, firsts = english_terms(), _first_words()
    words = [(m.start(), m.end(), m.group(0).lower().replace("’", "'")) for m in _WORD.finditer(text)]
    # run[i]: how many words from words[i] on are one space apart, as the words of a term are
    run = [1] * len(words)
    for k in range(len(words) - 2, -1, -1):
        if words[k + 1][0] - words[k][1] == 1:
            run[k] = run[k + 1] + 1
    found: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        hit = 0
        for n in range(min(firsts.get(words[i][2], 1), run[i]), 0, -1):
            phrase = " ".join(w for _, _, w in words[i : i + n])
            if phrase in terms or phrase[-1] == "s" and phrase[:-1] in terms or (n == 1 and _shaped(phrase)):
                hit = n
                break
        if hit:
            found.append((words[i][0], words[i + hit - 1][1]))
            i += hit
        else:
            i += 1
    for rx in (_HEAD_PHRASE, _PREGNANT, _TYPE):
        found.extend((m.start(), m.end()) for m in rx.finditer(text))
    found.extend(
        m.span(1)
        for m in _AFTER_CUE.finditer(text)
        if not m.group(0).lower().startswith(("suffer", "recover")) or someone_before(text, m.start(), people)
    )
    return found


def _chinese_candidates(
    text: str, tokens: list[tuple[int, int]], tags: dict[str, str]
) -> list[tuple[int, int]]:
    found = _chinese_heads(text, tokens)
    starts = {a: k for k, (a, _) in enumerate(tokens)}
    ends = {b: k for k, (_, b) in enumerate(tokens)}
    joined = []
    for a, b in found:  # a condition's modifiers before it belong to it (类风湿关节炎, 产后抑郁)
        k = ends.get(a)
        while k is not None and k >= 0:
            pa, pb = tokens[k]
            word = text[pa:pb]
            if (
                pb != a
                or len(word) < 2
                or not _cjk(word)
                or tags.get(word, "n") not in _ZH_JOIN_TAGS
                or PERSON_ZH.search(word)
            ):
                break
            a, k = pa, k - 1
        k = starts.get(b)  # …and a state after it: 甲状腺功能|减退
        if k is not None and text[tokens[k][0] : tokens[k][1]] in ("减退", "亢进", "不全", "失调", "紊乱"):
            b = tokens[k][1]
        joined.append((a, b))
    joined.extend((m.start(), m.end()) for m in _ZH_PREGNANT.finditer(text))
    joined.extend(m.span(1) for m in _ZH_AFTER_CUE.finditer(text))
    for m in _ZH_DRUG.finditer(text):  # the stem, and the name's characters before it: 阿托伐|他汀, 舍|曲林
        a = m.start()
        while (
            a > 0
            and m.start() - a < 6
            and "\u4e00" <= text[a - 1] <= "\u9fff"
            and text[a - 1] not in _ZH_STOP
        ):
            a -= 1
        joined.append((a, m.end()))
    joined.extend((m.start(), m.end()) for m in _ZH_DRUG_CLASS.finditer(text))
    return joined


def _chinese_heads(text: str, tokens: list[tuple[int, int]]) -> list[tuple[int, int]]:
    terms, kg = chinese_terms(), chinese_kg_terms()
    found: list[tuple[int, int]] = []
    for k, (a, b) in enumerate(tokens):
        word = text[a:b]
        # a listed term that ends where a word ends, wherever jieba began it (碳酸|锂, 用布|地奈德, 肺|结节)
        for start in range(max(0, b - 12), b - 1):
            piece = text[start:b]
            if (piece in kg or len(piece) > 2 and piece in terms) and _cjk(piece):
                found.append((start, b))
                break
        if word in terms:
            found.append((a, b))
        elif word in _ZH_NOT:
            continue
        elif len(word) >= 2 and word.endswith(_ZH_SUFFIX) and _cjk(word):
            found.append((a, b))
        elif (
            word in _ZH_SUFFIX
            and k
            and _cjk(text[tokens[k - 1][0] : tokens[k - 1][1]])
            and tokens[k - 1][1] - tokens[k - 1][0] >= 2
            and tokens[k - 1][1] == a
        ):
            prev = text[tokens[k - 1][0] : b]
            if prev not in _ZH_NOT and not PERSON_ZH.search(prev):
                found.append((tokens[k - 1][0], b))
    return found


def _cjk(s: str) -> bool:
    return bool(s) and all("\u4e00" <= c <= "\u9fff" for c in s)


def find_health(
    text: str,
    zh_tokens: list[tuple[int, int]],
    people: list[tuple[int, int]],
    zh_tags: dict[str, str] | None = None,
) -> list[tuple[str, int, int]]:
    """Health terms in sentences about a person (a personal word, or a name among ``people``)."""
    candidates = _english_candidates(text, people)
    if zh_tokens:
        candidates += _chinese_candidates(text, zh_tokens, zh_tags or {})
    if not candidates:
        return []
    out: list[tuple[str, int, int]] = []
    for sent in _SENTENCE.finditer(text):
        a, b = sent.span()
        inside = [(s, e) for s, e in candidates if a <= s < b]
        if not inside:
            continue
        if about_someone(sent.group(0), a, b, people):
            out.extend(("HEALTH", s, e) for s, e in _longest(inside))
    return out


def _longest(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    chosen: list[tuple[int, int]] = []
    for s, e in sorted(set(spans), key=lambda x: (x[0] - x[1], x[0])):
        if all(e <= cs or s >= ce for cs, ce in chosen):
            chosen.append((s, e))
    return sorted(chosen)
