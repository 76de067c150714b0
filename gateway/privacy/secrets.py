"""Credentials in text: by family (the token shapes providers issue) and by context.

    find_secrets("my token is ghp_Q7rT2mK9xLp4Vn8Wc3Zy6Hb1")   # -> [(12, 40)]

Families follow gitleaks' and detect-secrets' rules, with the length ranges seen in the
wild rather than one exact length (older, shorter GitHub tokens; AWS key ids pasted with
a lower-case body; OpenAI's project keys of 150+ characters). detect-secrets itself is
not used: its rules are the exact current formats (``ghp_`` + 36, ``AKIA`` + 16 upper
case), which are the misses this module exists to catch, and it is built to scan files.

Context rule: a long random-looking token (mixed character classes, Shannon entropy
≥ 3 bits per character, not an identifier) right after a word such as key, token,
secret, password, credential, 密钥, 令牌 — in code (``api_key = "…"``), config
(``TOKEN: …``) or prose ("use the token … for", "密钥是…"). Passwords get a weaker test
(any non-word value after ``password:`` / "password is" / 密码是). Hex digests, UUIDs and
base64 blobs outside such a context are left alone, so code keeps its hashes.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable

_B = r"(?<![A-Za-z0-9_+/=-])"  # a token starts here: nothing token-like before it
_E = r"(?![A-Za-z0-9_-])"


def _has_digit_and_letter(s: str) -> bool:
    return any(c.isdigit() for c in s) and any(c.isalpha() for c in s)


def _aws_ok(s: str) -> bool:
    """Canonical (16 of A-Z2-7), or random-looking: a digit or mixed case ("ASIAPACIFICOFFICE" is a word)."""
    body = s[4:]
    return bool(re.fullmatch(r"[A-Z2-7]{16}", body)) or _mixed_case_or_digit("..." + body)


def _mixed_case_or_digit(s: str) -> bool:
    body = s[3:]
    return any(c.isdigit() for c in body) or (any(c.isupper() for c in body)
                                              and any(c.islower() for c in body))


_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AKID", "LTAI", "sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
             "glpat-", "xox", "AIza", "hf_", "npm_", "GOCSPX-", "whsec_", "_live_", "_test_")


def _random_body(s: str) -> bool:
    """After the prefix: two of lower case, upper case and digits, and ≥ 3 bits of entropy per character."""
    body = re.sub(r"^(?:[A-Z]{4}|[a-z]{2,5}[-_](?:live_|test_)?|GOCSPX-|whsec_|AIza)", "", s)
    kinds = sum((any(c.islower() for c in body), any(c.isupper() for c in body),
                 any(c.isdigit() for c in body)))
    return kinds >= 2 and shannon_entropy(body) >= 3.0


# a PEM block; a pasted one may lack its END line: then up to the last base64 line
_KEY_HEADER = r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
_KEY_END = r"-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
_KEY_LINES = r"(?:\s*[A-Za-z0-9+/=]{8,})+"
_KEY_BLOCK = _KEY_HEADER + r"(?:[\s\S]{0,8000}?" + _KEY_END + "|" + _KEY_LINES + ")"

# (name, pattern, validator, needles); the whole match is the secret. Every match contains one of
# its needles, so a text holding none of them is not scanned with the pattern (the same spans, sooner).
FAMILIES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None, tuple[str, ...]], ...] = tuple(
    (name, re.compile(pattern), check, needles) for name, pattern, check, needles in (
        ("private key block", _KEY_BLOCK, None, ("-----BEGIN",)),  # found by _key_blocks
        ("openai / anthropic", _B + r"sk-[A-Za-z0-9_-]{20,250}" + _E, _has_digit_and_letter, ("sk-",)),
        ("github", _B + r"(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})" + _E, None,
         ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
        ("aws access key id", _B + r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Za-z0-9]{12,24}" + _E, _aws_ok,
         ("AKIA", "ASIA", "ABIA", "ACCA", "A3T")),
        ("slack", _B + r"(?:xox[abeoprs]-[A-Za-z0-9-]{10,250}|xapp-\d-[A-Za-z0-9-]{10,250})" + _E, None,
         ("xox", "xapp-")),
        ("slack webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,}", None,
         ("https://hooks.slack.com/",)),
        ("google api key", _B + r"AIza[0-9A-Za-z_-]{30,40}" + _E, None, ("AIza",)),
        ("google oauth secret", _B + r"GOCSPX-[A-Za-z0-9_-]{20,40}" + _E, None, ("GOCSPX-",)),
        ("gitlab", _B + r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_-]{20,1024}" + _E, None,
         ("gl",)),
        ("stripe", _B + r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,247}" + _E, None,
         ("_live_", "_test_", "_prod_")),
        ("stripe webhook", _B + r"whsec_[A-Za-z0-9]{24,}" + _E, None, ("whsec_",)),
        ("jwt", _B + r"eyJ[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*" + _E, None, ("eyJ",)),
        ("hugging face", _B + r"hf_[A-Za-z0-9]{30,40}" + _E, _mixed_case_or_digit, ("hf_",)),
        ("npm", _B + r"npm_[A-Za-z0-9]{36}" + _E, None, ("npm_",)),
        ("pypi", _B + r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}" + _E, None, ("pypi-AgEIcHlwaS5vcmc",)),
        ("sendgrid", _B + r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}" + _E, None, ("SG.",)),
        ("shopify", _B + r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _E, None, ("shp",)),
        ("digitalocean", _B + r"do[por]_v1_[a-f0-9]{64}" + _E, None, ("_v1_",)),
        ("telegram bot", r"(?<!\d)\d{8,10}:AA[A-Za-z0-9_-]{30,40}" + _E, None, (":AA",)),
        ("alibaba cloud", _B + r"LTAI[A-Za-z0-9]{12,24}" + _E, lambda s: _mixed_case_or_digit(s[1:]),
         ("LTAI",)),
        ("tencent cloud", _B + r"AKID[A-Za-z0-9]{13,40}" + _E, _has_digit_and_letter, ("AKID",)),
        # a long random token with a known prefix is a secret whatever its length: issuers change lengths,
        # and a pasted key loses or gains characters ("AKIA" + 32, "sk-" + 20 letters)
        ("known prefix, any length",
         _B + r"(?:AKIA|ASIA|ABIA|ACCA|AKID|LTAI|sk-|gh[pousr]_|glpat-|xox[abeoprs]-"
              r"|AIza|hf_|npm_|GOCSPX-|whsec_|(?:sk|rk)_(?:live|test)_)[A-Za-z0-9_-]{16,512}" + _E,
         _random_body, _PREFIXES),
    )
)

_ANY_FAMILY_NEEDLE = re.compile("|".join(re.escape(n) for *_, needles in FAMILIES for n in needles))
_KEY_BLOCK_UNENDED = re.compile(_KEY_HEADER + _KEY_LINES)
_KEY_END_LINE = re.compile(_KEY_END)
# where an END line that ends a block from p can start: "-----BEGIN", 0-100 characters, "PRIVATE KEY",
# " BLOCK" or not, "-----", then up to 8000 characters
_KEY_END_REACH = (10 + 11 + 5, 10 + 100 + 11 + 6 + 5 + 8000)


def _key_blocks(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """``pattern.finditer``'s spans. Its lazy body reads up to 8000 characters for an END line from each
    header, and again from each way the header reads, so text full of headers took 8000 steps a character:
    the pattern runs only where an END line is in reach, elsewhere its other branch does (the same match)."""
    ends = [m.start() for m in re.finditer("-----END", text) if _KEY_END_LINE.match(text, m.start())]
    spans, pos = [], 0
    while (p := text.find("-----BEGIN", pos)) >= 0:
        i = bisect_left(ends, p + _KEY_END_REACH[0])
        reach = i < len(ends) and ends[i] <= p + _KEY_END_REACH[1]
        m = (pattern if reach else _KEY_BLOCK_UNENDED).match(text, p)
        spans += [m.span()] if m else []
        pos = m.end() if m else p + 1
    return spans


# credentials inside a URL: scheme://user:PASSWORD@host
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s:/@]+:([^\s:/@]{3,})@[A-Za-z0-9.-]")
# "Authorization: Bearer X", "Basic X"
_AUTH_SCHEME = re.compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/-]{16,}=*)")

_KEY_WORDS = (r"api[_ -]?keys?|apikey|access[_ -]?keys?|secret[_ -]?keys?|private[_ -]?keys?|keys?|tokens?|"
              r"secrets?|credentials?|auth|passphrase|client[_ -]?secret")
_PASSWORD_WORDS = r"passwords?|passwd|passcode|pwd"
_ZH_KEY_WORDS = r"密钥|秘钥|令牌|私钥|凭证|凭据|访问码"
_ZH_PASSWORD_WORDS = r"密码|口令"

# an identifier that holds a key word, then an assignment: api_key = …, "clientSecret": …, TOKEN: …
# (an identifier read once, from its start: an atomic group up to its first key word, the rest possessively)
_ASSIGN = re.compile(
    r"(?i)(?<![A-Za-z0-9_.-])(?>[A-Za-z0-9_.-]*?(?:(" + _PASSWORD_WORDS + r")|" + _KEY_WORDS + r"))"
    r"[A-Za-z0-9_.-]*+"
    r"[\"'`]?[ \t]*(?:=>|:=|=|:|：)[ \t]*([\"'`]?)")
# prose: the key word; the value is one of the next few tokens of the same sentence
_WORD = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:(" + _PASSWORD_WORDS + r")|(?:" + _KEY_WORDS + r"))(?![A-Za-z0-9_])"
    r"|(?:(" + _ZH_PASSWORD_WORDS + r")|" + _ZH_KEY_WORDS + r")")
# the window after a key word ends with the sentence, or where code closes the literal or call it was in
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|[。！？\n)\]}]|[=!]=")
_NOT_IN_TOKEN = "\\s\"'`,;，。；、：:（）()\\[\\]{}<>“”‘’「」\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
# base64 padding stays; a leading "=" is an operator
_TOKEN = re.compile(f"[^={_NOT_IN_TOKEN}][^{_NOT_IN_TOKEN}]*")
_TOKEN_START = re.compile(f"[^={_NOT_IN_TOKEN}]")
_STRETCH = re.compile(f"[^{_NOT_IN_TOKEN}]+")  # a token runs to the end of its stretch
_TRAILING = ".:)]}"
_WINDOW_CHARS = 60
# what every match of the context rules contains, in the case-folded text (case-insensitive patterns:
# a folded needle; none with an "i", which (?i) also matches as "ı" or "İ", whose folds differ)
_URL_NEEDLES = ("://",)
_AUTH_NEEDLES = ("bearer", "bas")
_KEY_NEEDLES = ("pass", "pwd", "key", "token", "secret", "credent", "auth")
_ZH_NEEDLES = tuple((_ZH_KEY_WORDS + "|" + _ZH_PASSWORD_WORDS).split("|"))
_WINDOW_TOKENS = 6

_OTHER_VARIABLE = re.compile(r"(?i)pass|pwd|secret|token")
_NOT_VALUES = {"none", "null", "nil", "true", "false", "undefined", "str", "string", "int", "bytes",
               "optional", "required", "empty", "changeme", "redacted"}
# names in code: snake_case, camelCase, PascalCase, CONSTANT_CASE, attribute chains
# (random tokens are none of these)
_IDENTIFIER = re.compile(r"[a-z]+(?:_[a-z0-9]+)+|[a-z]{2,}(?:[A-Z][a-z]{2,})+\d*|(?:[A-Z][a-z]{2,}){2,}\d*"
                         r"|[A-Z]+(?:_[A-Z0-9]+)+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_PLACEHOLDER = re.compile(r"\$\{?\w+\}?|%\(?\w*\)?s|\{\w*\}|<[^>]*>|\*+|x+|X+|\.{3}|…")


def shannon_entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def _classes(s: str) -> int:
    return sum((any(c.islower() for c in s), any(c.isupper() for c in s), any(c.isdigit() for c in s),
                any(not c.isalnum() for c in s)))


def looks_random(value: str) -> bool:
    """A key or token: long, several character classes, high entropy, not an identifier or a word."""
    if len(value) < 16 or _classes(value) < 2 or shannon_entropy(value) < 3.0:
        return False
    return not _IDENTIFIER.fullmatch(value)


def looks_like_password(value: str, quoted: bool, explicit: bool) -> bool:
    """After a password word: anything but code, placeholders, type names and plain words.

    ``explicit``: an assignment (``password: …``), which weighs more than "password is …".
    """
    if len(value) < 6 or value.lower() in _NOT_VALUES or _PLACEHOLDER.fullmatch(value):
        return False
    if _OTHER_VARIABLE.search(value):  # another variable: new_password, self.pwd
        return False
    if value.startswith(("-", "/", "http")):  # a CLI flag, a path or a URL ("read the password via --stdin")
        return False
    if quoted:
        return True
    if ((_IDENTIFIER.fullmatch(value) and not any(c.isdigit() for c in value))
            or (value.isdigit() and not explicit)):
        return False
    # a plain word ("incorrect"), unless long enough to be a passphrase
    if value.isalpha() and value.islower():
        return len(value) >= 12 or (explicit and len(value) >= 8)
    return _classes(value) >= 2 or explicit


def _token_at(text: str, pos: int) -> tuple[int, int, str] | None:
    """The value token starting at ``pos``, without sentence punctuation; None for code expressions."""
    m = _TOKEN.match(text, pos)
    if not m:
        return None
    value = m.group(0).rstrip(_TRAILING)
    after = text[m.start() + len(value): m.start() + len(value) + 1]
    if not value or (after in ("(", "[") and value == m.group(0)):
        return None  # a call or a subscript: code, not a literal
    return m.start(), m.start() + len(value), value


def find_secrets(text: str) -> list[tuple[int, int]]:
    """(start, end) of every secret found; overlapping spans are resolved by the caller."""
    spans: list[tuple[int, int]] = []
    for _, pattern, check, needles in FAMILIES if _ANY_FAMILY_NEEDLE.search(text) else ():
        if not any(n in text for n in needles):
            continue
        if pattern.pattern == _KEY_BLOCK:
            spans += _key_blocks(text, pattern)
            continue
        for m in pattern.finditer(text):
            if check is None or check(m.group(0)):
                spans.append((m.start(), m.end()))
    folded = text.casefold()
    if any(n in text for n in _URL_NEEDLES):
        for m in _URL_PASSWORD.finditer(text):
            spans.append((m.start(1), m.end(1)))
    if any(n in folded for n in _AUTH_NEEDLES):
        for m in _AUTH_SCHEME.finditer(text):
            if looks_random(m.group(1)):
                spans.append((m.start(1), m.end(1)))
    values = _Values(text)
    if any(n in folded for n in _KEY_NEEDLES):
        for m in _ASSIGN.finditer(text):
            found = values.token(m.end())
            if found and (values.random(found)
                          or (m.group(1) and values.password(found, bool(m.group(2)), True))):
                spans.append(found)
    if any(n in folded for n in _KEY_NEEDLES) or any(n in text for n in _ZH_NEEDLES):
        for m in _WORD.finditer(text):
            _scan_after(text, m.end(), bool(m.group(1) or m.group(2)), spans, values)
    return spans


def _scan_after(text: str, pos: int, password: bool, spans: list[tuple[int, int]],
                values: _Values | None = None) -> None:
    """Prose: the first of the next few tokens of the sentence that looks like the secret."""
    values = values or _Values(text, pos)
    window = text[pos:pos + _WINDOW_CHARS]
    stop = _SENTENCE_END.search(window)
    end = pos + (stop.start() if stop else len(window))
    for _ in range(_WINDOW_TOKENS):
        m = _TOKEN_START.search(text, pos, end)
        if m is None:
            return
        found, pos = values.read(m.start())
        if found and (values.random(found) or (password and values.password(found, False, False))):
            spans.append(found)
            return


_SHORT = 64  # a value up to this long is judged from scratch


class _Values:
    """_token_at, looks_random and looks_like_password for the tokens of one text, each judged once.

    A token runs to the end of its stretch of token characters, so the values after the key words inside
    one long stretch ("-key-key-…", "key=key=…") are suffixes of one string: judged each from scratch,
    10,000 characters took seconds. A long value is judged from its stretch's character counts, kept as
    its start moves right (_Suffix); what the counts do not answer stops early on such a suffix: at the
    next key word (a password value holding one is out) or at an identifier's or a placeholder's first
    foreign character (the next key word's operator or punctuation)."""

    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self._stretches = _STRETCH.finditer(text, start)  # read as far as tokens are asked for
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._trimmed: dict[int, int] = {}  # a stretch's end -> its end without trailing punctuation
        self._read: dict[int, tuple[tuple[int, int] | None, int]] = {}
        self._suffixes: dict[int, _Suffix] = {}
        self._random: dict[int, bool] = {}
        self._password: dict[tuple[int, bool, bool], bool] = {}

    def stretch(self, pos: int) -> tuple[int, int]:
        """The stretch of token characters around ``pos`` (which is in one, after ``start``)."""
        while not self._ends or self._ends[-1] <= pos:
            m = next(self._stretches)
            self._starts.append(m.start())
            self._ends.append(m.end())
        i = bisect_right(self._starts, pos) - 1
        return self._starts[i], self._ends[i]

    def token(self, pos: int) -> tuple[int, int] | None:
        """_token_at's span."""
        return self.read(pos)[0] if _TOKEN_START.match(self.text, pos) else None

    def read(self, pos: int) -> tuple[tuple[int, int] | None, int]:
        """_token_at's span for the token that starts at ``pos``, and where its stretch ends."""
        if pos not in self._read:
            start, end = self.stretch(pos)
            if end not in self._trimmed:
                self._trimmed[end] = start + len(self.text[start:end].rstrip(_TRAILING))
            value_end = self._trimmed[end]
            code = value_end == end and self.text[end:end + 1] in ("(", "[")
            self._read[pos] = (None if value_end <= pos or code else (pos, value_end)), end
        return self._read[pos]

    def random(self, span: tuple[int, int]) -> bool:
        start, end = span
        if start not in self._random:
            if end - start <= _SHORT:
                self._random[start] = looks_random(self.text[start:end])
            else:
                counts = self._suffix(start, end)
                self._random[start] = (sum(n > 0 for n in counts.classes) >= 2 and counts.entropy_reaches_3()
                                       and not _IDENTIFIER.fullmatch(self.text, start, end))
        return self._random[start]

    def password(self, span: tuple[int, int], quoted: bool, explicit: bool) -> bool:
        start, end = span
        key, text = (start, quoted, explicit), self.text
        if key not in self._password:
            # a long value (longer than any _NOT_VALUES word) that these rule out is not copied and read whole
            ruled_out = end - start > _SHORT and bool(
                _PLACEHOLDER.fullmatch(text, start, end) or _OTHER_VARIABLE.search(text, start, end)
                or text.startswith(("-", "/", "http"), start, end))
            self._password[key] = not ruled_out and looks_like_password(text[start:end], quoted, explicit)
        return self._password[key]

    def _suffix(self, start: int, end: int) -> _Suffix:
        counts = self._suffixes.get(end)
        if counts is None or counts.pos > start:
            counts = self._suffixes[end] = _Suffix(self.text, start, end)
        counts.advance(start)
        return counts


_SCALE = 2 ** 32


def _n_log_n(n: int) -> int:
    """n log2 n in 1 / _SCALE, a whole number: a sum of them is exact in any order."""
    return round(n * math.log2(n) * _SCALE) if n > 1 else 0


class _Suffix:
    """Character counts of text[pos:end], for a pos that only moves right: each character is counted once."""

    def __init__(self, text: str, pos: int, end: int) -> None:
        self.text, self.pos, self.end = text, pos, end
        self.counts = Counter(text[pos:end])
        # _classes' four tests, per character, and how many characters pass each
        self.kinds = {c: (c.islower(), c.isupper(), c.isdigit(), not c.isalnum()) for c in self.counts}
        self.classes = [sum(n for c, n in self.counts.items() if self.kinds[c][i]) for i in range(4)]
        self.sum = sum(map(_n_log_n, self.counts.values()))

    def advance(self, pos: int) -> None:
        for c in self.text[self.pos:pos]:
            n = self.counts[c]
            self.sum += _n_log_n(n - 1) - _n_log_n(n)
            for i, member in enumerate(self.kinds[c]):
                self.classes[i] -= member
            if n == 1:
                del self.counts[c]
            else:
                self.counts[c] = n - 1
        self.pos = pos

    def entropy_reaches_3(self) -> bool:
        """shannon_entropy(text[pos:end]) >= 3.0. The estimate from the sum is off by far less than 1e-6;
        nearer 3 than that, the float sum is redone as shannon_entropy adds it up (its rounding decides)."""
        size = self.end - self.pos
        estimate = math.log2(size) - self.sum / _SCALE / size
        if abs(estimate - 3.0) > 1e-6:
            return estimate > 3.0
        first = sorted(self.counts, key=lambda c: self.text.find(c, self.pos, self.end))  # Counter's order
        return -sum(self.counts[c] / size * math.log2(self.counts[c] / size) for c in first) >= 3.0
