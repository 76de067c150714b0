"""Validated PII detectors, English and Chinese."""

import pytest

from routers.pii import PiiDetector, cn_id_ok, iban_ok, luhn_ok

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
