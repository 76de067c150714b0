"""A labelled PII suite: English and Chinese sentences with known personal-data spans.

Deterministic (seeded). Values come from Faker (an independent generator, several
locales: US/GB/DE/FR/CN phone formats with extensions, Luhn-valid cards, valid IBANs, CN
resident IDs with checksums, US SSNs, IPv4/IPv6, emails), so the detectors are not scored
on values shaped after their own patterns; API keys, which Faker lacks, use our own
generator. Sentences without PII, with look-alikes that must not be flagged (order
numbers, dates, versions, prices), measure precision.

    from bench.pii_suite import generate
    for s in generate(600): s.text, s.spans   # spans: [(kind, value), …]
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from routers.pii import _CN_ID_CHECK, _CN_ID_WEIGHTS


@dataclass
class Sentence:
    text: str
    lang: str
    spans: list[tuple[str, str]] = field(default_factory=list)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(c) for c in body + check]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return body + check
    raise AssertionError


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    number = _luhn_complete(prefix, length, rng)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    sep = " " if style == "space" else "-"
    groups = [number[i:i + 4] for i in range(0, len(number), 4)]
    return sep.join(groups)


def iban(rng: random.Random) -> str:
    country, bban_len = rng.choice([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14), ("ES", 20)])
    if country in ("GB", "NL"):
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            rng.choice(string.digits) for _ in range(bban_len - 4))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(bban_len))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        value = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value


def cn_id(rng: random.Random) -> str:
    area = rng.choice(["110105", "310104", "440305", "510107", "330106"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    seq = f"{rng.randint(0, 999):03d}"
    body = area + birth + seq
    return body + _CN_ID_CHECK[sum(int(c) * w for c, w in zip(body, _CN_ID_WEIGHTS)) % 11]


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def email(rng: random.Random) -> str:
    user = rng.choice(["jane.doe", "li.wei", "m.garcia", "wang_fang88", "o.brien", "k.tanaka", "zhangsan2020"])
    domain = rng.choice(["example.com", "mail.cn", "qq.com", "corp.example.org", "163.com", "uni.edu"])
    return f"{user}{rng.randint(1, 999)}@{domain}"


def phone(rng: random.Random) -> str:
    kind = rng.choice(["cn", "cn_intl", "us", "uk", "de"])
    if kind == "cn":
        return f"1{rng.choice('3456789')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"
    if kind == "cn_intl":
        return f"+86 1{rng.choice('3589')}{rng.randint(0, 9)} {rng.randint(0, 9999):04d} {rng.randint(0, 9999):04d}"
    if kind == "us":
        return rng.choice([f"({rng.randint(200, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
                           f"{rng.randint(200, 989)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
                           f"+1 {rng.randint(200, 989)} {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"])
    if kind == "uk":
        return f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    return f"+49 30 {rng.randint(100000, 999999)}"


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def secret(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    return rng.choice([
        "sk-" + "".join(rng.choice(alnum) for _ in range(40)),
        "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        "ghp_" + "".join(rng.choice(alnum) for _ in range(36)),
    ])


MAKERS = {"EMAIL": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "IBAN": iban, "IP_ADDRESS": None,
          "CN_RESIDENT_ID": cn_id, "US_SSN": ssn, "SECRET": secret}

EN = {
    "EMAIL": ["Please send the invoice to {v} by Friday.", "My email is {v}, reply there.", "Contact: {v}"],
    "PHONE_NUMBER": ["Call me at {v} after 6pm.", "My phone number is {v}.", "Reach support on {v} anytime."],
    "CREDIT_CARD": ["Charge it to my card {v} please.", "The card number {v} was declined.",
                    "I paid with {v} yesterday."],
    "IBAN": ["Transfer the deposit to IBAN {v}.", "My account {v} should receive the refund."],
    "IP_ADDRESS": ["The server at {v} keeps timing out.", "Block traffic from {v} on the firewall."],
    "CN_RESIDENT_ID": ["His resident ID is {v}.", "ID card {v} was scanned at the desk."],
    "US_SSN": ["My SSN is {v}, please update the form.", "Social security number: {v}."],
    "SECRET": ["Why does my API key {v} return 401?", "Use the token {v} for the deploy job."],
}
ZH = {
    "EMAIL": ["请把发票发到{v}，谢谢。", "我的邮箱是{v}。"],
    "PHONE_NUMBER": ["有事请打我电话{v}。", "联系电话：{v}，工作日可用。"],
    "CREDIT_CARD": ["请用我的银行卡{v}付款。", "卡号{v}被拒绝了。"],
    "IBAN": ["请把押金转到{v}账户。"],
    "IP_ADDRESS": ["服务器{v}一直超时。", "请在防火墙上屏蔽{v}。"],
    "CN_RESIDENT_ID": ["我的身份证号是{v}。", "身份证号码：{v}，请核对。"],
    "US_SSN": ["他的社会安全号码是{v}。"],
    "SECRET": ["我的API密钥{v}为什么失效了？"],
}
CLEAN = [
    "Order 4111-2222 shipped on 2024-03-15 in 3 boxes.", "Version 1.2.3.4000 fixes the memory leak.",
    "The meeting moved to room 204 at 10:30.", "Python 3.11 is 25% faster on this benchmark.",
    "Invoice #20240315-77 totals 1,234.56 EUR.", "def add(a, b): return a + b",
    "今天的会议改到下午三点，在302会议室。", "订单号20240315001已发货，共3件。", "这个版本比上一个快了百分之二十。",
    "The function returns x @ y for matrices.", "Call the API at /v1/chat/completions with stream=true.",
    "The train leaves at 08:45 from platform 12 and arrives at 13:20.", "Shipment 2023-11-05/778 weighs 12.5 kg.",
    "Ticket JIRA-4521 was closed on 15.03.2024.", "价格是1299元，优惠后899元。", "会议时间：2024年3月15日 14:00-15:30。",
    "The population grew from 1,250,000 to 1,380,000 in ten years.", "Use port 8080 and timeout 30000 ms.",
]


FAKER_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "zh_CN")


def faker_makers(seed: int) -> dict:
    """Value makers backed by Faker (seeded); values for the same kind rotate through locales."""
    from faker import Faker

    Faker.seed(seed)
    fakes = {loc: Faker(loc) for loc in FAKER_LOCALES}
    us, cn = fakes["en_US"], fakes["zh_CN"]

    def any_locale(attr: str):
        return lambda rng: getattr(fakes[rng.choice(FAKER_LOCALES)], attr)()

    return {"EMAIL": any_locale("email"), "PHONE_NUMBER": any_locale("phone_number"),
            "CREDIT_CARD": lambda rng: us.credit_card_number(), "IBAN": any_locale("iban"),
            "IP_ADDRESS": lambda rng: us.ipv6() if rng.random() < 0.3 else us.ipv4(),
            "CN_RESIDENT_ID": lambda rng: cn.ssn(), "US_SSN": lambda rng: us.ssn(), "SECRET": secret}


def generate(n: int = 600, seed: int = 1234, use_faker: bool = True) -> list[Sentence]:
    """n sentences: ~85% with one or two PII values (EN and ZH), the rest clean look-alikes.

    ``use_faker=False`` (or Faker not installed) falls back to our own value generators.
    """
    rng = random.Random(seed)
    makers = dict(MAKERS)
    if use_faker:
        try:
            makers.update(faker_makers(seed))
        except ImportError:
            pass
    out: list[Sentence] = []
    kinds = list(EN)
    while len(out) < n:
        if rng.random() < 0.15:
            text = rng.choice(CLEAN)
            out.append(Sentence(text, "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"))
            continue
        lang = "zh" if rng.random() < 0.4 else "en"
        table = ZH if lang == "zh" else EN
        picked = rng.sample(kinds, 2 if rng.random() < 0.2 else 1)
        parts, spans = [], []
        for kind in picked:
            maker = makers[kind] or (ipv6 if rng.random() < 0.3 else ipv4)
            value = maker(rng)
            parts.append(rng.choice(table[kind]).format(v=value))
            spans.append((kind, value))
        out.append(Sentence(("" if lang == "zh" else " ").join(parts), lang, spans))
    return out
