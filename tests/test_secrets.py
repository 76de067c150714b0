"""Secrets by family (the shapes detect-secrets and gitleaks know, in their older and newer
lengths) and by context (a long random token next to key, token, secret, password, 密钥,
令牌) — and code full of hashes, UUIDs and base64 that must stay untouched."""

import pytest

from gateway.privacy.pii import PiiDetector
from gateway.privacy.secrets import find_secrets

D = PiiDetector()


def secrets_in(text: str) -> list[str]:
    return [s.value for s in D.find(text) if s.kind == "SECRET"]


PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2Lv9yCd0MtkP4fAkhQZ3bLQcpZ\n"
       "u9Kq1W4Xe7rT0aLm2NcVb8yH6gJf3sDp5kYtQ/+Wz==\n-----END RSA PRIVATE KEY-----")


@pytest.mark.parametrize("value", [
    "ghp_Q7rT2mK9xLp4Vn8Wc3Zy6Hb1",                       # GitHub classic, short body (24)
    "ghp_Q7rT2mK9xLp4Vn8Wc3Zy6Hb1Jd5Sf0Ga2Ke4Ru",          # today's 36
    "gho_8fKq2LmZr7Tn4Wc9Xv1Bp6Hy3Ds0Ja5Ge",
    "ghs_2Bq9LrT4mZx7Kp1Wc8Vn3Hy6Ds0Fa5Gj",
    "ghu_Lm3Zr7Tn4Wc9Xv1Bp6Hy3Ds0Ja5GeQ8f",
    "github_pat_11ABCDEFG0aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789abcdEFGHijklMNOPqrstUVWXyz0123456789",
    "AKIA2QF7RX4MZPLN8TBC",                               # canonical AWS key id
    "AKIAq7Rt2Mk9XLp4vN8w",                               # mixed-case body as pasted in the wild
    "AKIAq7Rt2Mk9XLp4vN8wZc3y",                           # and 20 characters after the prefix
    "ASIAZ7Q2RX4MPLN8TBCD",
    "sk-3Fh8Kq2LmZr7Tn4Wc9Xv1Bp6Hy3Ds0Ja5GeQ8fT2m",
    "sk-proj-Xc9Vn3Hy6Ds0Fa5GjQ7rT2mK9xLp4Vn8Wc3Zy6Hb1Jd5Sf0Ga2Ke4RuT3BlbkFJ7Lm2Qw9Er4Ty6Ui8Op1As3Df5Gh7",
    "sk-ant-api03-Lm3Zr7Tn4Wc9Xv1Bp6Hy3Ds0Ja5GeQ8f-Q7rT2mK9xLp4Vn8Wc3Zy6Hb1AA",
    "xoxb-2847561930-5839201746152-Qw7Er4Ty6Ui8Op1As3Df5Gh7",
    "xoxp-1234567890-1234567890123-1234567890123-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
    "AIzaSyB7xQ2mK9Lp4Vn8Wc3Zy6Hb1Jd5Sf0Ga2K",
    "glpat-Xy7kQ2mZr9Tn4Wc8Vb1p",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "rk_live_51Hq7Lm2Qw9Er4Ty6Ui8Op1As3Df5Gh7Jk9Lz",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MjQyIiwibmFtZSI6IkxpIFdlaSJ9.m7Qx2Kp9Vn4Wc8Zy3Hb1Jd5Sf0Ga2Ke",
    "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",
    "LTAI5tQ7rT2mK9xLp4Vn8Wc3",                           # Alibaba Cloud AccessKey ID
    "LTAIuSGLDflIGonN",                                   # …without a digit
    "AKIAPVjjiZIumzpwsfTPx",                              # mixed case, no digit
    PEM,
])
def test_secret_families_in_prose(value):
    assert secrets_in(f"Why does this fail with {value} when I deploy?") == [value]
    assert secrets_in(f"部署时用的是{value}，为什么报错？") == [value]


@pytest.mark.parametrize("text,value", [
    ("api_key = 'q8Zr2LmT7nW4cX9vB1pH6yD3s0J'", "q8Zr2LmT7nW4cX9vB1pH6yD3s0J"),
    ('"client_secret": "Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4OTA="', "Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4OTA="),
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("use the token Xy7kq9PzLm3Rt8Wv3Hn2 for the deploy job", "Xy7kq9PzLm3Rt8Wv3Hn2"),
    ('"client_secret": "tVd5VrrFjeDhdchFy06TfllS7",', "tVd5VrrFjeDhdchFy06TfllS7"),  # random, yet camel-ish
    ("Authorization: Bearer 9fK2mQ7xLr4Tz8Wc3Vb6Nh1Jd5", "9fK2mQ7xLr4Tz8Wc3Vb6Nh1Jd5"),
    ("我的API密钥是 Q2w9E4r7T1y6U3i8O5p0AsDf，帮我看看", "Q2w9E4r7T1y6U3i8O5p0AsDf"),
    ("访问令牌：b7Xq2Lm9Zr4Tn8Wc3Vy6Hp1Ds", "b7Xq2Lm9Zr4Tn8Wc3Vy6Hp1Ds"),
    ("数据库密码为Tr0ub4dor&3，别外传", "Tr0ub4dor&3"),
    ("My password is Summer2024!x.", "Summer2024!x"),
    ("postgres://admin:S3cr3tPa55w0rd@db.internal:5432/app", "S3cr3tPa55w0rd"),
])
def test_secrets_by_context(text, value):
    assert secrets_in(text) == [value]


CODE = '''
import base64, hashlib, uuid

def string_to_md5(text):
    """>>> string_to_md5('Hello world') == '3e25960a79dbc69b674cd4ec67a72c62'"""
    return hashlib.md5(text.encode('ascii')).hexdigest() if text else None

# fixed in commit 9b2e6c1d4f7a8e0b3c5d9f1a2e4b6c8d0f1a3e5b (see 9b2e6c1)
REQUEST_ID = uuid.UUID("3f2b8c1e-9d4a-4e7b-8c2f-1a5d6e9b0c3d")
LOGO = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
assert hashlib.sha256(b"abc").hexdigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

def sort_by_key(items, key=lambda x: x[1]):
    tokens = sorted(items, key=key)
    token = tokens[0]
    password = getpass.getpass()
    secret = os.environ["APP_SECRET"]
    return token, password, secret
'''


def test_code_with_hashes_uuids_and_base64_is_left_alone():
    assert D.find(CODE) == []


@pytest.mark.parametrize("text", [
    "pip install sk-learn-contrib-imbalanced",             # sk- but a package name
    "The ASIAPACIFICHEADQUARTERS team owns it.",
    "the password is incorrect",
    "Reset the token expiry to 3600 seconds.",
    "密钥轮换周期是90天。",
    "assert candidate('password') == '5f4dcc3b5aa765d61d8327deb882cf99'",  # HumanEval/162: md5 of a word
    "pass --verbose to see it; read the password via --stdin",
])
def test_secret_lookalikes_in_prose(text):
    assert secrets_in(text) == []


def _every_pattern(text: str) -> list[tuple[int, int]]:
    """find_secrets without its needles: every pattern over every text (what the needles must not change)."""
    from gateway.privacy import secrets as s

    spans = [(m.start(), m.end()) for _, pattern, check, _ in s.FAMILIES for m in pattern.finditer(text)
             if check is None or check(m.group(0))]
    spans += [(m.start(1), m.end(1)) for m in s._URL_PASSWORD.finditer(text)]
    spans += [(m.start(1), m.end(1)) for m in s._AUTH_SCHEME.finditer(text) if s.looks_random(m.group(1))]
    for m in s._ASSIGN.finditer(text):
        found = s._token_at(text, m.end())
        if found and (s.looks_random(found[2])
                      or (m.group(1) and s.looks_like_password(found[2], bool(m.group(2)), True))):
            spans.append(found[:2])
    for m in s._WORD.finditer(text):
        s._scan_after(text, m.end(), bool(m.group(1) or m.group(2)), spans)
    return spans


@pytest.mark.parametrize("text", [
    CODE, PEM, "api_key = 'q8Zr2LmT7nW4cX9vB1pH6yD3s0J'",
    # case-insensitive key words spelled with the characters (?i) also matches: Kelvin sign, long s, dotless i
    "\u212aEY = 'q8Zr2LmT7nW4cX9vB1pH6yD3s0J'", "pa\u017f\u017fword: Tr0ub4dor&3x", "credent\u0131al=Xy7kq9PzLm3Rt8Wv3Hn2",
    "Authorization: BAS\u0130C 9fK2mQ7xLr4Tz8Wc3Vb6Nh1Jd5", "Authorization: ba\u017fic 9fK2mQ7xLr4Tz8Wc3Vb6Nh1Jd5",
    "我的API密钥是 Q2w9E4r7T1y6U3i8O5p0AsDf，帮我看看", "postgres://admin:S3cr3tPa55w0rd@db.internal:5432/app",
])
def test_needles_only_skip_patterns_that_cannot_match(text):
    from gateway.privacy.secrets import find_secrets

    assert sorted(find_secrets(text)) == sorted(_every_pattern(text))


@pytest.mark.parametrize("token", [
    "AKIA9NvcQ2xLp4Vn8Wc3Zy6Hb1Tr5Ks7Md2Fg0hJX",  # AKIA + 37 mixed case: a length no issuer uses
    "AKIA" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF",  # + 32
    "sk-QwErTyUiOpAsDfGhJkLz",  # sk- + 20 letters, no digit
])
def test_a_long_random_token_with_a_known_prefix_is_a_secret_whatever_its_length(token):
    text = f"Please email {token} about the refund."
    assert [text[a:b] for a, b in find_secrets(text)] == [token]


@pytest.mark.parametrize("text", ["use sk-learn-compatible-estimators here", "AKIAPACIFICOFFICEBUILDINGS is a word",
                                  "the sk-preview-build-artifacts folder"])
def test_a_known_prefix_on_a_word_is_not_a_secret(text):
    assert find_secrets(text) == []
