"""Person names in Chinese text: jieba's segmentation and its dictionary's part-of-speech tags.

A word starting with a surname (surnames.py) is a name when the dictionary tags it ``nr`` or does
not know it (jieba's HMM joined unknown characters into it), or when a surname stands alone before
an unknown or ``nr`` given name ("邹/建平"); the end of the name follows context (你好, 先生, 老师,
说, 把, …) where jieba cut it short ("秦妍/一/你好" → 秦妍一). Dictionary words tagged ``nr`` that
are everyday words (谢谢, 明白, 高峰) need a cue on both sides.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.privacy.people.surnames import COMPOUND, surname_at

Span = tuple[int, int]

_CJK = re.compile(r"[\u4e00-\u9fff]+")
_ZH_RIGHT = tuple(
    "你好 您好 先生 女士 小姐 老师 医生 大夫 教授 同学 经理 总监 护士 师傅 阿姨 "
    "叔叔 同志 主任 律师 一直 今年 明天 下午 上午 昨天 需要 住在 已经".split()
)
_ZH_RIGHT_CHARS = set("说让把被在住的是和与跟给要已想问也都还就对向从等请")
_ZH_FUNCTION = set("的了在是和与跟把被让给说也都就还又很要会能着过们这那你我他她它吗呢吧啊请")


def chinese_tokens(text: str, tokenizer: Any) -> list[Span]:
    """jieba's words inside the CJK runs of ``text``, as spans."""
    out: list[Span] = []
    for run in _CJK.finditer(text):
        pos = run.start()
        for word in tokenizer.cut(run.group(0), HMM=True):
            out.append((pos, pos + len(word)))
            pos += len(word)
    return out


def _right_cue(text: str, pos: int) -> bool:
    if pos >= len(text) or not ("\u4e00" <= text[pos] <= "\u9fff"):
        return True
    return text[pos] in _ZH_RIGHT_CHARS or text.startswith(_ZH_RIGHT, pos)


_ZH_LEFT = tuple(
    "患者 病人 同事 朋友 同学 学生 老师 亲爱的 尊敬的 联系 叫 名叫 姓名 联系人 "
    "收件人 客户 员工 老板 经理 医生 先生 女士 和 跟 与 请 让 给 问 ： :".split()
)
_NAME_TAGS = ("nr", "nrfg", "nrt")
_NOT_GIVEN_TAGS = tuple("r v uj ul uz ug uv ud p m q d c u y e o f vn ad an mq rr rz x".split())


def _left_cue(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    if not before:
        return False
    if before[-1].isascii() and before[-1].isalpha():  # a Chinese name in an English sentence
        return True
    return before.endswith(_ZH_LEFT)


def _strong_right(text: str, pos: int) -> bool:
    """What follows is a word that follows a person (你好, 老师, 说, 把, ...), not just a comma."""
    return text.startswith(_ZH_RIGHT, pos) or text[pos : pos + 1] in _ZH_RIGHT_CHARS


# characters that are grammar or everyday verbs, not given names: jieba's HMM joins them to a surname
# character before them into words it does not know (查下, 周要, 段时间)
_NOT_GIVEN_CHARS = _ZH_FUNCTION | set("下些没才最看用里过别服漏")


def _given_name(given: str, tags: dict[str, str], freq: dict[str, int]) -> bool:
    """Whether what follows a surname in a word jieba does not know reads as a given name: no grammar
    character, and not an everyday word of its own (时间, 会议: "段时间" is 这段时间 cut badly)."""
    return not any(c in _NOT_GIVEN_CHARS for c in given) and not (
        len(given) > 1 and freq.get(given, 0) >= 5000 and tags.get(given) not in _NAME_TAGS
    )


def everyday_start(value: str, tags: dict[str, str], freq: dict[str, int]) -> bool:
    """Whether a labelled value starts with an everyday word rather than a surname and a given name
    (负责人：项目经理, 出席：全体员工, 收件人：客服)."""
    if value[:2] in COMPOUND:
        return False
    prefixes = (value[:n] for n in (2, 3, 4) if n <= len(value))
    return any(freq.get(p) and tags.get(p) not in _NAME_TAGS for p in prefixes)


def _unknown(word: str, freq: dict[str, int]) -> bool:
    return not freq.get(word)  # jieba's FREQ also holds every prefix of a word, with count 0


def find_chinese_names(
    text: str, tokens: list[Span], tags: dict[str, str], freq: dict[str, int]
) -> list[Span]:
    found: list[Span] = []
    k = 0
    while k < len(tokens):
        a, b = tokens[k]
        word = text[a:b]
        sur = surname_at(text, a)
        span: Span | None = None
        cue = _left_cue(text, a)
        if sur and 2 <= len(word) <= 4 and len(word) > sur:
            tag = tags.get(word)
            if _given_name(word[sur:], tags, freq) and (
                _unknown(word, freq)
                or tag in _NAME_TAGS
                and (len(word) >= 3 or (cue or _strong_right(text, b)) and _right_cue(text, b))
            ):
                span = (a, b)
        elif sur and len(word) == sur and k + 1 < len(tokens) and tokens[k + 1][0] == b:
            nb = tokens[k + 1][1]
            given = text[b:nb]
            tag = tags.get(given)
            if (
                1 <= len(given) <= 2
                and given[0] not in _ZH_FUNCTION
                and tag not in _NOT_GIVEN_TAGS
                and (
                    tag in _NAME_TAGS
                    or _unknown(given, freq)
                    or (cue or _strong_right(text, nb))
                    and _right_cue(text, nb)
                )
            ):
                span, k = (a, nb), k + 1
        if span is not None:
            a, b = span
            # jieba cut a three-character name short: "秦妍/一/你好", "褚然/书/把"
            if (
                (b - a) - surname_at(text, a) < 2
                and b < len(text)
                and "\u4e00" <= text[b] <= "\u9fff"
                and text[b] not in _ZH_FUNCTION
                and not _right_cue(text, b)
                and _right_cue(text, b + 1)
            ):
                b += 1
                if k + 1 < len(tokens) and tokens[k + 1][1] <= b:
                    k += 1
            found.append((a, b))
        k += 1
    return _merge(found + _framed(text, tags, freq))


# what is said of a person only, where the name ends the phrase ("经理叫赖红。", "收件人：迟秀辉"); the other
# cues (和, 请, a colon alone) come before a thing as often ("颜色：金黄", "低危和高危")
_PERSON_LABEL = tuple(
    "叫 名叫 姓名 联系人 收件人 寄件人 抄送 经办人 负责人 患者 病人 同事 朋友 客户 家属 先生 女士".split()
)
_TIME_WORDS = ("昨天", "今天", "明天", "刚才", "后来", "上周", "下周")
# a verb's "a little" before its object, such as a name: "总结一下滑瑶初在" (jieba joined 下 to the surname).
# 的 was tried too (…号的賴秀美今年): it found that name but lowered Chinese name precision on the second
# blind split from 0.85 to 0.80, with no recall gained there
_BEFORE_NOUN = ("一下",)


def _framed(text: str, tags: dict[str, str], freq: dict[str, int]) -> list[Span]:
    """A surname with one or two more characters between a boundary (start, punctuation, a cue word, a
    time word, 一下) and a word that follows a person (你好, 老师, 把, 在, 需要, …), however jieba cut it:
    "昨天/令狐/初/把" → 令狐初, "於/铭/若/你好" → 於铭若. Where a cue word or a label's colon comes before
    it, the end of the phrase is a boundary too: "经理叫赖红。", "收件人：迟秀辉", "@逄新秀 这个"."""
    out = []
    for run in _CJK.finditer(text):
        for i in range(run.start(), run.end()):
            sur = surname_at(text, i)
            if not sur:
                continue
            before = text[run.start() : i]
            after_de = before.endswith("的")  # "…出生的賴秀美今年": only before a word that follows a person
            if before and not before.endswith(_ZH_LEFT + _TIME_WORDS + _BEFORE_NOUN) and not after_de:
                continue
            cued = (before or text[: run.start()].rstrip(" ：:")).endswith(_PERSON_LABEL) or (
                not before and text[: run.start()].endswith("@")
            )
            for g in (2, 1):
                end = i + sur + g
                given = text[i + sur : end]
                if end > run.end() or any(c in _ZH_FUNCTION for c in given):
                    continue
                if not (_strong_right(text, end) or cued and end == run.end()):
                    continue
                if after_de and not text.startswith(_ZH_RIGHT, end):
                    continue
                if g == 2 and text.startswith(_ZH_RIGHT, end - 1):
                    continue  # the second character starts the word after the name: "令狐星需要" → 令狐星
                whole = text[i:end]
                if freq.get(whole) and tags.get(whole) not in _NAME_TAGS:
                    continue  # an everyday word that starts with a surname character (成本, 方法)
                out.append((i, end))
                break
    return out


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out
