"""Validated PII detectors, English and Chinese."""

import pytest

from gateway.privacy.pii import PiiDetector, cn_id_ok, iban_ok, luhn_ok

D = PiiDetector()


def kinds(text):
    return [(s.kind, s.value) for s in D.find(text)]


@pytest.mark.parametrize("text,kind,value", [
    ("mail me at jane.doe+x@example.co.uk today", "EMAIL", "jane.doe+x@example.co.uk"),
    ("我的邮箱是zhang.wei@qq.com，谢谢", "EMAIL", "zhang.wei@qq.com"),
    ("card 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("卡号5500-0000-0000-0004已冻结", "CREDIT_CARD", "5500-0000-0000-0004"),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("pay to DE89370400440532013000.", "IBAN", "DE89370400440532013000"),
    ("server 192.168.10.254 is down", "IP_ADDRESS", "192.168.10.254"),
    ("v6 2001:db8:85a3::8a2e:370:7334 ok", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
    ("身份证号11010519491231002X。", "CN_RESIDENT_ID", "11010519491231002X"),
    ("SSN 123-45-6789", "US_SSN", "123-45-6789"),
    ("手机13812345678联系我", "PHONE_NUMBER", "13812345678"),
    ("call +86 138 1234 5678 now", "PHONE_NUMBER", "+86 138 1234 5678"),
    ("call +44 20 7946 0958", "PHONE_NUMBER", "+44 20 7946 0958"),
    ("call (415) 555-2671", "PHONE_NUMBER", "(415) 555-2671"),
    ("desk 206.269.0743x9150 today", "PHONE_NUMBER", "206.269.0743x9150"),
    ("UK office +44(0)115 4960914.", "PHONE_NUMBER", "+44(0)115 4960914"),
    ("Manchester (0161) 4960066", "PHONE_NUMBER", "(0161) 4960066"),
    ("Paris 04 15 39 15 00 le matin", "PHONE_NUMBER", "04 15 39 15 00"),
    ("卡号675925664830已停用", "CREDIT_CARD", "675925664830"),
    ("key sk-proj-abcdefghijklmnopqrstuvwxyz123456", "SECRET", "sk-proj-abcdefghijklmnopqrstuvwxyz123456"),
    ("aws AKIAIOSFODNN7EXAMPLE", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("password: hunter2hunter2", "SECRET", "hunter2hunter2"),
])
def test_detects(text, kind, value):
    assert (kind, value) in kinds(text)


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112 was shipped",   # fails Luhn
    "version 1.2.3.4000 released",              # not an IP
    "id 110105194912310021",                    # bad CN checksum
    "SSN-like 000-12-3456 is invalid",          # invalid area
    "IBAN GB82 WEST 1234 5698 7654 33",         # bad mod-97
    "the year 2024 had 365 days",
    "def f(x): return x @ y",
    "closed on 15.03.2024 at 10:30",                 # a date, not a phone
    "Invoice #20240315-77 totals 1,234.56 EUR.",     # an invoice number
    "Order 4111-2222 shipped on 2024-03-15.",
    "Unix time 1700000000 is 2023-11-14.",           # a timestamp, not a GB/DE number
    "assert candidate(0) == '0 1 2 3 4 5 6 7 8 9 10'",   # a sequence
    "assert candidate(123456789) == 433494437",       # plain counts in code
    'assert candidate("112233445566778899") == 6',   # Luhn-valid by chance, no issuer starts with 1
    'uuid.UUID("92276658-1e27-41c0-8a6a-63ec24ede6a4")',  # digits glued to hex
    "fixed in a5e6cb7865075139423637c7de2870211f73397c",  # a Luhn-valid run inside a git SHA
])
def test_ignores_lookalikes(text):
    assert kinds(text) == []


def test_validators():
    assert luhn_ok("4012888888881881") and not luhn_ok("4012888888881882")
    assert iban_ok("FR1420041010050500013M02606") and not iban_ok("FR1420041010050500013M02607")
    assert cn_id_ok("11010519491231002X") and not cn_id_ok("11010519491331002X")


def test_overlaps_keep_one_span():
    spans = D.find("身份证11010519491231002X")
    assert [s.kind for s in spans] == ["CN_RESIDENT_ID"]


# Every CN mobile range in use (MIIT allocations incl. 190/192/195-199 and the virtual-operator 162/165/167/170/171).
CN_MOBILE_PREFIXES = (
    [f"13{d}" for d in range(10)] + ["145", "146", "147", "148", "149"]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159"] + ["162", "165", "166", "167"]
    + ["170", "171", "172", "173", "174", "175", "176", "177", "178"] + [f"18{d}" for d in range(10)]
    + ["190", "191", "192", "193", "195", "196", "197", "198", "199"]
)


@pytest.mark.parametrize("prefix", CN_MOBILE_PREFIXES)
def test_every_cn_mobile_range(prefix):
    # "0101 2345" makes the 19x numbers look like a date stamp (1990-10-12…), which once hid them
    for value in (f"{prefix}01012345", f"{prefix}-0101-2345", f"{prefix} 0101 2345", f"{prefix}.0101.2345",
                  f"+86 {prefix} 0101 2345", f"+86-{prefix}-0101-2345", f"0086 {prefix}01012345",
                  f"(+86) {prefix}-0101-2345", f"+86{prefix}01012345"):
        for text in (f"手机号{value}，随时联系", f"call {value} after six", f"身份证号 {value} 请核对"):
            assert ("PHONE_NUMBER", value) in kinds(text), text


@pytest.mark.parametrize("text,value", [
    ("我的身份证号是190-1012-3456，请核对。", "190-1012-3456"),     # a phone the sentence calls an ID
    ("工号A12 199-0123-1234 找我", "199-0123-1234"),                # after a code with digits
    ("order number 4111 1111 1111 1111 is wrong", "4111 1111 1111 1111"),  # a card called an order number
    ("卡号 4111.1111.1111.1111 谢谢", "4111.1111.1111.1111"),
    ("身份证 110105 19491231 002X 已登记", "110105 19491231 002X"),
    ("ping me at 0044 20 7946 0958 or mail", "0044 20 7946 0958"),
    ("Büro: +49 (0)30 901820 bis 18 Uhr", "+49 (0)30 901820"),
    ("bureau 01.42.68.53.00 le matin", "01.42.68.53.00"),
    ("Beijing office 010-6552 9988", "010-6552 9988"),
])
def test_values_in_other_words_and_near_formats(text, value):
    found = kinds(text)
    assert any(v == value for _, v in found), found


def test_cn_numbers_with_country_code_are_phones_not_cards():
    assert kinds("0086 138 1234 5678") == [("PHONE_NUMBER", "0086 138 1234 5678")]
    assert kinds("tel 86-13812345678") == [("PHONE_NUMBER", "86-13812345678")]


def test_values_next_to_other_values():
    # a trailing word after a spaced IBAN, a CJK sentence with digits before a phone
    assert ("IBAN", "DE89 3704 0044 0532 0130 00") in kinds("refund to DE89 3704 0044 0532 0130 00 ID card ok")
    text = "把AIzaSyB7xQ2mK9Lp4提交到GitHub了，怎么办？证件号码 695-475-0981x6662 已录入系统。"
    assert ("PHONE_NUMBER", "695-475-0981x6662") in kinds(text)
    assert ("CREDIT_CARD", "060409586553") in kinds("Maestro card 060409586553 please")  # Maestro UK starts 06


def test_phone_numbers_in_prose_and_tables_of_numbers():
    """The matcher reads only stretches that can hold a number we keep: a table of decimals has none, a
    number written in prose is still found, extension included."""
    det = PiiDetector(kinds=["PHONE_NUMBER"])
    table = "| gate | 0.622 (0.06) | 0.610 (0.17) | 0.634 (0.54) |\n" * 20
    assert det.find(table) == []
    text = table + "Call me on +44 20 7946 0958 ext. 12 or (415) 555-0132 tomorrow; room 4.12."
    assert [s.value for s in det.find(text)] == ["+44 20 7946 0958 ext. 12", "(415) 555-0132"]


def test_a_stretch_inside_one_identifier_is_not_read_for_phones(monkeypatch):
    """Text dense with identifiers: libphonenumber (five regions) read every card, ID and IBAN again,
    though a number found inside one loses to it; 4 stretches in 5 of the dense suite, most of its
    scan time. A '+' before a card's digits makes a longer number: that stretch is still read."""
    import phonenumbers

    read: list[str] = []
    matcher = phonenumbers.PhoneNumberMatcher

    def counting(text, region, **kw):
        read.append(text)
        return matcher(text, region, **kw)

    monkeypatch.setattr(phonenumbers, "PhoneNumberMatcher", counting)
    det = PiiDetector()
    found = det.find("Card 4111 1111 1111 1111, ID 11010519491231002X, IBAN DE89 3704 0044 0532 0130 00.")
    assert sorted(s.kind for s in found) == ["CN_RESIDENT_ID", "CREDIT_CARD", "IBAN"] and read == []
    assert [(s.kind, s.value) for s in det.find("联系电话：+4429 2018 0191，工作日可用。")] == [
        ("PHONE_NUMBER", "+4429 2018 0191")]  # its digits alone pass as a card
    assert read
    # an extension past a line break makes the number longer than the card: still read, still a phone
    assert ("PHONE_NUMBER", "4429 2018 0191 x\n12") in [(s.kind, s.value) for s in
                                                         det.find("Call 4429 2018 0191 x\n12 today.")]


ADVERSARIAL = {  # inputs that made a detector's pattern backtrack for minutes or for ever (a long prompt)
    "phone stretches without a digit": " " * 99_998 + "b1",
    "a hyphenated run of capitals": "met Ab" + "-Àa" * 40,
    "a key word repeated in one identifier": "-key" * 2500,
    "an e-mail's local part that never ends": "." * 99_998 + " @",
    "a URL scheme that never ends": "a" * 199_996 + " ://",
    "a kebab-case run before a key word": "a-" * 50_000 + " key",
    "accented capitals after apostrophes": "met " + "À'" * 50_000 + " said",
    # each key word's value ran to the end of the stretch and was judged from scratch again (quadratic)
    "key words assigned one after another": "key=" * 25_000,
    "password words in one stretch, each value random": "-pwd" + ".!@#-pwd" * 25_000,
    # each header, read each way, looked 8000 characters ahead for an END line
    "private key headers without an END line": "-----BEGINPRIVATE KEY----" * 200_000,
    # every split of the units into levels tried from every character
    "Chinese text dense with administrative units": "市市镇市" * 500_000 + "北京市朝阳区建国路88号",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_no_detector_backtracks_for_ever_on_adversarial_text(name):
    """Python's re holds the GIL while it matches: one prompt that backtracks stalls the whole gateway, its
    event loop included, though the scan runs in a worker thread.
    Each of these took from minutes to ages before its pattern (or its scan) was rewritten to read text one
    way only (same matches on the suites); the bound here only says the scan ends."""
    import subprocess
    import sys

    code = ("import sys; from gateway.privacy import pii, secrets;"
            " from gateway.privacy.people import addresses, names;"
            " t = sys.stdin.read(); pii.find_phone_numbers(t); list(names._ACTOR.finditer(t));"
            " secrets.find_secrets(t); [list(d.pattern.finditer(t)) for d in pii.DETECTORS];"
            " addresses.find_chinese_addresses(t)")
    subprocess.run([sys.executable, "-c", code], input=ADVERSARIAL[name], text=True, check=True, timeout=60)


def _random_texts(pieces, seed, n=400):
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))) for _ in range(n)]


def test_the_scans_read_what_their_patterns_read(monkeypatch):
    """The scans that replaced a backtracking read (a Chinese address's levels, a private key's END line,
    a value token's counts) find what the patterns and the rules find, on random text from their alphabets."""
    from gateway.privacy import secrets
    from gateway.privacy.people import addresses

    zh = [*"省市区县镇乡村路街道巷弄号楼室栋座组单元州旗段一", *"1-A 的，", "自治州", "新区", "北京", "广西"]
    for text in _random_texts(zh, 1):
        spans = [(a, len(text[:b].rstrip(" \t"))) for a, b in  # trimmed as find_chinese_addresses trims
                 (m.span() for m in addresses.ZH_ADDRESS.finditer(text))]
        if addresses.re.search("[路街道巷弄栋棟幢座组号號]", text):
            assert addresses.find_chinese_addresses(text) == [(a, b) for a, b in spans if b - a >= 5], text
    keys = ["-----BEGIN", " PRIVATE KEY", "-----", " BLOCK", "-----END", "\n", " ", "QUJDREVG=", "x" * 8000]
    pattern = secrets.FAMILIES[0][1]
    headers = ("-----BEGIN PRIVATE KEY-----", "-----BEGIN" + " " * 90 + "PRIVATE KEY BLOCK-----")
    # an END line up to 8000 characters after a header ends its block, one further does not
    edges = [f"{header}{'x' * n}-----END PRIVATE KEY-----"
             for n in (7990, 8000, 8001, 8100) for header in headers]
    for text in _random_texts(keys, 2, 200) + edges:
        assert secrets._key_blocks(text, pattern) == [m.span() for m in pattern.finditer(text)], text
    monkeypatch.setattr(secrets, "_SHORT", 15)  # judge every value from counts
    tokens = ["key", "-pwd", "=", "'", " ", ".", "-", "_", "$", "x", "X", "Ab3", "é", "q8Zr2LmT7nW4", ".!@#"]
    exactly_3_bits = ["-key" + ".!@#-key" * 9, "pwd=" + "Ab1.Cd2." * 5 + "-pwd-" + "abcdefgh" * 6]
    for text in _random_texts(tokens, 3) + exactly_3_bits:
        values = secrets._Values(text)
        for pos in range(len(text) + 1):
            found = secrets._token_at(text, pos)
            assert values.token(pos) == (found and found[:2]), (text, pos)
            if found:
                assert values.random(found[:2]) == secrets.looks_random(found[2]), (text, pos)
                for quoted, explicit in ((False, False), (True, True), (False, True)):
                    assert (values.password(found[:2], quoted, explicit)
                            == secrets.looks_like_password(found[2], quoted, explicit)), (text, pos)
