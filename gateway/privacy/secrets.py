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


# (name, pattern, validator, needles); the whole match is the secret. Every match contains one of
# its needles, so a text holding none of them is not scanned with the pattern (the same spans, sooner).
FAMILIES: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None, tuple[str, ...]], ...] = tuple(
    (name, re.compile(pattern), check, needles) for name, pattern, check, needles in (
        # a pasted block may lack its END line: then up to the last base64 line
        ("private key block", (r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                               r"(?:[\s\S]{0,8000}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                               r"|(?:\s*[A-Za-z0-9+/=]{8,})+)"), None, ("-----BEGIN",)),
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
_TRAILING = ".:)]}"
_WINDOW_CHARS = 60
# what every match of the context rules contains, in the case-folded text (case-insensitive patterns:
# a folded needle; none with an "i", which (?i) also matches as "ı" or "İ", whose folds differ)
_URL_NEEDLES = ("://",)
_AUTH_NEEDLES = ("bearer", "bas")
_KEY_NEEDLES = ("pass", "pwd", "key", "token", "secret", "credent", "auth")
_ZH_NEEDLES = tuple((_ZH_KEY_WORDS + "|" + _ZH_PASSWORD_WORDS).split("|"))
_WINDOW_TOKENS = 6

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
    if re.search(r"(?i)pass|pwd|secret|token", value):  # another variable: new_password, self.pwd
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
    if any(n in folded for n in _KEY_NEEDLES):
        for m in _ASSIGN.finditer(text):
            found = _token_at(text, m.end())
            if found and (looks_random(found[2])
                          or (m.group(1) and looks_like_password(found[2], bool(m.group(2)), True))):
                spans.append(found[:2])
    if any(n in folded for n in _KEY_NEEDLES) or any(n in text for n in _ZH_NEEDLES):
        for m in _WORD.finditer(text):
            _scan_after(text, m.end(), bool(m.group(1) or m.group(2)), spans)
    return spans


def _scan_after(text: str, pos: int, password: bool, spans: list[tuple[int, int]]) -> None:
    """Prose: the first of the next few tokens of the sentence that looks like the secret."""
    window = text[pos:pos + _WINDOW_CHARS]
    stop = _SENTENCE_END.search(window)
    end = pos + (stop.start() if stop else len(window))
    for i, m in enumerate(_TOKEN.finditer(text, pos)):
        if i >= _WINDOW_TOKENS or m.start() >= end:
            return
        found = _token_at(text, m.start())
        if found is None:
            continue
        value = found[2]
        if looks_random(value) or (password and looks_like_password(value, False, False)):
            spans.append(found[:2])
            return
