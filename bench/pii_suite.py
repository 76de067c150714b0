"""A labelled PII suite: English, Chinese and mixed sentences with known personal-data spans.

Deterministic (seeded). Two disjoint sets of sentence templates: ``tuning`` (the detectors
were developed against these) and ``held_out`` (written before tuning and not used for it),
so a score on held-out says how the detectors do on wording nobody tuned for. Both sets
phrase values in words that do not match their type (a phone number called an ID, a card
number called an order number), mix English and Chinese in one sentence, and carry the
values in near-formats: separators (spaces, hyphens, dots), ``+86`` / ``0086`` / ``(+86)``,
every CN mobile range, spaced CN IDs, fullwidth ``＠``, secrets of every family in their
older and newer lengths, and bare keys and passwords that only their context gives away.

Values come half from Faker (an independent generator: US/GB/DE/FR/CN phone formats with
extensions, Luhn-valid cards, valid IBANs, CN resident IDs, SSNs, IPs, emails) and half from
the generators here, which produce the near-formats Faker lacks. Sentences without PII, with
look-alikes that must not be flagged (order numbers, dates, versions, prices, hashes,
UUIDs), measure precision.

    from bench.pii_suite import generate
    for s in generate(600, split="held_out"): s.text, s.spans   # spans: [(kind, value), …]
"""

from __future__ import annotations

import base64
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.privacy.pii import _CN_ID_CHECK, _CN_ID_WEIGHTS

ALNUM = string.ascii_letters + string.digits


@dataclass
class Sentence:
    text: str
    lang: str  # en | zh | mixed
    spans: list[tuple[str, str]] = field(default_factory=list)


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _sep_join(groups: list[str], sep: str) -> str:
    return sep.join(groups)


# -- values ----------------------------------------------------------------------------------------
CN_MOBILE_PREFIXES = ([f"13{d}" for d in range(10)]
                      + ["145", "147", "149", "150", "151", "152", "153", "155", "156", "157", "158", "159",
                         "162", "165", "166", "167", "170", "171", "172", "173", "175", "176", "177", "178"]
                      + [f"18{d}" for d in range(10)]
                      + ["190", "191", "192", "193", "195", "196", "197", "198", "199"])


def cn_mobile(rng: random.Random) -> str:
    prefix = rng.choice(CN_MOBILE_PREFIXES)
    a, b = f"{rng.randint(0, 9999):04d}", f"{rng.randint(0, 9999):04d}"
    sep = rng.choice(["", "", " ", "-", "."])
    number = _sep_join([prefix, a, b], sep)
    cc = rng.choice(["", "", "", "+86 ", "+86-", "+86", "0086 ", "0086-", "(+86) ", "（+86）", "86-"])
    return cc + number


def cn_landline(rng: random.Random) -> str:
    area, digits = rng.choice([("010", 8), ("021", 8), ("020", 8), ("0755", 8), ("0571", 8), ("028", 8)])
    local = f"{rng.randint(2, 9)}{rng.randint(0, 10 ** (digits - 1) - 1):0{digits - 1}d}"
    style = rng.choice(["dash", "dash_space", "paren", "intl"])
    if style == "dash":
        return f"{area}-{local}"
    if style == "dash_space":
        return f"{area}-{local[:4]} {local[4:]}"
    if style == "paren":
        return f"({area}) {local[:4]} {local[4:]}"
    return f"+86 {area[1:]} {local[:4]} {local[4:]}"


def us_phone(rng: random.Random) -> str:
    a, e, n = rng.randint(201, 989), rng.randint(201, 999), rng.randint(0, 9999)
    return rng.choice([f"({a}) {e}-{n:04d}", f"{a}-{e}-{n:04d}", f"{a}.{e}.{n:04d}", f"+1 {a} {e} {n:04d}",
                       f"+1-{a}-{e}-{n:04d}", f"1-{a}-{e}-{n:04d}",
                       f"({a}) {e}-{n:04d} ext. {rng.randint(1, 999)}"])


def eu_phone(rng: random.Random) -> str:
    return rng.choice([
        f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        f"020 {rng.randint(7000, 8999)} {rng.randint(1000, 9999)}",
        f"07{rng.randint(400, 999)} {rng.randint(100000, 999999)}",
        f"0044 7{rng.randint(400, 999)} {rng.randint(100000, 999999)}",
        f"+49 30 {rng.randint(1000000, 9999999)}",
        f"+49 (0)30 {rng.randint(100000, 999999)}",
        f"0049 151 {rng.randint(10000000, 99999999)}",
        f"030 {rng.randint(1000000, 9999999)}",
        "+33 {} {:02d} {:02d} {:02d} {:02d}".format(rng.randint(1, 7),
                                                    *(rng.randint(0, 99) for _ in range(4))),
        "0{}.{:02d}.{:02d}.{:02d}.{:02d}".format(rng.randint(1, 7), *(rng.randint(0, 99) for _ in range(4))),
        "06 {:02d} {:02d} {:02d} {:02d}".format(*(rng.randint(0, 99) for _ in range(4))),
    ])


def phone(rng: random.Random) -> str:
    return rng.choice([cn_mobile, cn_mobile, cn_mobile, cn_landline, us_phone, eu_phone])(rng)


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(c) for c in body + check]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
                    for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return body + check
    raise AssertionError


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("6011", 16),
                                 ("62", 16), ("62", 19), ("35", 16)])
    number = _luhn_complete(prefix, length, rng)
    style = rng.choice(["plain", "space", "dash", "dot"])
    if style == "plain":
        return number
    sep = {"space": " ", "dash": "-", "dot": "."}[style]
    if length == 15 and rng.random() < 0.5:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


def iban(rng: random.Random) -> str:
    country, bban_len = rng.choice([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14), ("ES", 20), ("IT", 23),
                                    ("CH", 17)])
    if country in ("GB", "NL"):
        bban = _rand(rng, string.ascii_uppercase, 4) + _rand(rng, string.digits, bban_len - 4)
    elif country == "IT":
        bban = rng.choice(string.ascii_uppercase) + _rand(rng, string.digits, bban_len - 1)
    else:
        bban = _rand(rng, string.digits, bban_len)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{bban}"
    if rng.random() < 0.5:
        value = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value


def cn_id(rng: random.Random) -> str:
    area = rng.choice(["110105", "310104", "440305", "510107", "330106", "420102", "210203"])
    birth = f"{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = area + birth + f"{rng.randint(0, 999):03d}"
    value = body + _CN_ID_CHECK[sum(int(c) * w for c, w in zip(body, _CN_ID_WEIGHTS)) % 11]
    if value.endswith("X") and rng.random() < 0.3:
        value = value[:-1] + "x"
    if rng.random() < 0.25:
        value = f"{value[:6]} {value[6:14]} {value[14:]}"
    return value


def ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    sep = rng.choice(["-", "-", "-", " "])
    return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"


def email(rng: random.Random) -> str:
    user = rng.choice(["jane.doe", "li.wei", "m.garcia", "wang_fang88", "o.brien", "k.tanaka", "zhangsan2020",
                       "Chen.Jing", "dev+alerts", "a.b.c"])
    domain = rng.choice(["example.com", "mail.cn", "qq.com", "corp.example.org", "163.com", "uni.edu",
                         "sub.mail.example.co.uk", "foxmail.com"])
    at = "＠" if rng.random() < 0.1 else "@"
    return f"{user}{rng.randint(1, 999)}{at}{domain}"


def ipv4(rng: random.Random) -> str:
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return ip


def ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:3])
    return ":".join(groups)


def ip(rng: random.Random) -> str:
    return ipv6(rng) if rng.random() < 0.3 else ipv4(rng)


def jwt(rng: random.Random) -> str:
    def b64(obj: str) -> str:
        return base64.urlsafe_b64encode(obj.encode()).decode().rstrip("=")
    header = b64('{"alg":"HS256","typ":"JWT"}')
    sub, name, iat = rng.randint(1, 10 ** 6), rng.randint(1, 99), rng.randint(1_600_000_000, 1_800_000_000)
    payload = b64(f'{{"sub":"{sub}","name":"user{name}","iat":{iat}}}')
    return f"{header}.{payload}.{_rand(rng, ALNUM + '-_', 43)}"


def pem(rng: random.Random) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
    lines = [_rand(rng, ALNUM + "+/", 64) for _ in range(rng.randint(2, 4))]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def secret(rng: random.Random) -> str:
    """A credential of a known family, in the lengths issued over the years."""
    family = rng.choice(["openai", "openai_proj", "anthropic", "github", "github_short", "github_pat", "aws",
                         "aws_mixed", "slack", "google", "gitlab", "stripe", "jwt", "pem", "hf", "alibaba"])
    if family == "openai":
        return "sk-" + _rand(rng, ALNUM, rng.choice([32, 48]))
    if family == "openai_proj":
        return "sk-proj-" + _rand(rng, ALNUM + "-_", rng.choice([48, 74, 156]))
    if family == "anthropic":
        return "sk-ant-api03-" + _rand(rng, ALNUM + "-_", 93) + "AA"
    if family == "github":
        return rng.choice(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]) + _rand(rng, ALNUM, 36)
    if family == "github_short":
        return rng.choice(["ghp_", "gho_", "ghs_"]) + _rand(rng, ALNUM, rng.randint(20, 35))
    if family == "github_pat":
        return "github_pat_" + _rand(rng, ALNUM, 22) + "_" + _rand(rng, ALNUM, 59)
    if family == "aws":
        return rng.choice(["AKIA", "ASIA"]) + _rand(rng, string.ascii_uppercase + "234567", 16)
    if family == "aws_mixed":
        return "AKIA" + _rand(rng, ALNUM, rng.randint(16, 20))
    if family == "slack":
        return (rng.choice(["xoxb-", "xoxp-"])
                + f"{rng.randint(10 ** 9, 10 ** 12)}-{rng.randint(10 ** 11, 10 ** 13)}-"
                + _rand(rng, ALNUM, 24))
    if family == "google":
        return "AIza" + _rand(rng, ALNUM + "-_", 35)
    if family == "gitlab":
        return "glpat-" + _rand(rng, ALNUM + "-_", 20)
    if family == "stripe":
        return rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + _rand(rng, ALNUM, rng.choice([24, 99]))
    if family == "jwt":
        return jwt(rng)
    if family == "pem":
        return pem(rng)
    if family == "hf":
        return "hf_" + _rand(rng, string.ascii_letters, 34)
    return "LTAI" + _rand(rng, ALNUM, rng.choice([12, 20]))


def bare_token(rng: random.Random) -> str:
    """A key with no telling prefix: only the words around it say what it is."""
    return rng.choice([
        lambda: _rand(rng, ALNUM, rng.randint(20, 48)),
        lambda: _rand(rng, "0123456789abcdef", rng.choice([32, 40, 64])),
        lambda: _rand(rng, ALNUM + "+/", 40),
        lambda: base64.b64encode(rng.randbytes(rng.choice([24, 30, 33]))).decode(),
        lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    ])()


def password(rng: random.Random) -> str:
    words = ["Summer", "dragon", "Monkey", "sunshine", "Shadow", "Tiger", "river", "Coffee", "Panda", "blue"]
    return rng.choice([
        lambda: f"{rng.choice(words)}{rng.randint(1970, 2030)}{rng.choice('!@#$%&*?')}",
        lambda: f"{rng.choice(words)}_{rng.randint(10, 99)}{rng.choice(words).lower()}",
        lambda: _rand(rng, ALNUM + "!@#$%^&*", rng.randint(10, 18)),
        lambda: "-".join(rng.choice(["correct", "horse", "battery", "staple", "orange", "window", "piano"])
                         for _ in range(4)),
        lambda: (f"{rng.choice(words)[0].upper()}{_rand(rng, string.ascii_lowercase, 5)}"
                 f"{rng.randint(100, 999)}"),
    ])()


OWN_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "EMAIL": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "IBAN": iban, "IP_ADDRESS": ip,
    "CN_RESIDENT_ID": cn_id, "US_SSN": ssn, "SECRET": secret, "API_TOKEN": bare_token, "PASSWORD": password,
}
LABEL = {"API_TOKEN": "SECRET", "PASSWORD": "SECRET"}  # template slots that hold a secret without a prefix
MAKERS = OWN_MAKERS  # kept for callers of the earlier suite


# -- templates ------------------------------------------------------------------------------------------
# Each slot lists (language, template). "mixed": English and Chinese in one sentence.
TUNING: dict[str, list[tuple[str, str]]] = {
    "EMAIL": [("en", "Please send the invoice to {v} by Friday."), ("en", "My email is {v}, reply there."),
              ("en", "Contact: {v}"), ("zh", "请把发票发到{v}，谢谢。"), ("zh", "我的邮箱是{v}。"),
              ("en", "Username: {v} (that's what the login form asks for)"),
              ("mixed", "我的 email 是 {v}，please reply。"), ("zh", "账号{v}登录不上了")],
    "PHONE_NUMBER": [("en", "Call me at {v} after 6pm."), ("en", "My phone number is {v}."),
                     ("en", "Reach support on {v} anytime."), ("zh", "有事请打我电话{v}。"),
                     ("zh", "联系电话：{v}，工作日可用。"), ("zh", "我的身份证号是{v}，请核对。"),
                     ("en", "My ID number is {v}, can you check it?"),
                     ("mixed", "请 call 我 {v} 或者发短信。"), ("zh", "订单联系人手机{v}")],
    "CREDIT_CARD": [("en", "Charge it to my card {v} please."), ("en", "The card number {v} was declined."),
                    ("en", "I paid with {v} yesterday."), ("zh", "请用我的银行卡{v}付款。"),
                    ("zh", "卡号{v}被拒绝了。"), ("en", "Order number {v} has not arrived yet."),
                    ("mixed", "我的 Visa 卡 {v} 被 declined 了")],
    "IBAN": [("en", "Transfer the deposit to IBAN {v}."), ("en", "My account {v} should receive the refund."),
             ("zh", "请把押金转到{v}账户。"), ("en", "Reference {v} on the invoice is mine."),
             ("mixed", "refund 请退到 {v}")],
    "IP_ADDRESS": [("en", "The server at {v} keeps timing out."),
                   ("en", "Block traffic from {v} on the firewall."), ("zh", "服务器{v}一直超时。"),
                   ("zh", "请在防火墙上屏蔽{v}。"), ("mixed", "我家 router 的地址是 {v}")],
    "CN_RESIDENT_ID": [("en", "His resident ID is {v}."), ("en", "ID card {v} was scanned at the desk."),
                       ("zh", "我的身份证号是{v}。"), ("zh", "身份证号码：{v}，请核对。"),
                       ("en", "Ticket {v} is still open."), ("mixed", "这是我的 ID：{v}，thanks")],
    "US_SSN": [("en", "My SSN is {v}, please update the form."), ("en", "Social security number: {v}."),
               ("zh", "他的社会安全号码是{v}。"), ("en", "Employee number {v} in payroll.")],
    "SECRET": [("en", "Why does my API key {v} return 401?"), ("en", "Use the token {v} for the deploy job."),
               ("zh", "我的API密钥{v}为什么失效了？"), ("en", "I pasted {v} into the chat by mistake."),
               ("mixed", "这个 {v} 还能用吗？")],
    "API_TOKEN": [("en", "api_key = \"{v}\""), ("en", "Use the token {v} for the deploy job."),
                  ("zh", "我的API密钥是{v}，帮我看看。"), ("en", "export SERVICE_TOKEN={v}")],
    "PASSWORD": [("en", "My password is {v}"), ("en", "password: {v}"), ("zh", "数据库密码为{v}，别外传。"),
                 ("mixed", "wifi 密码是 {v}")],
}

HELD_OUT: dict[str, list[tuple[str, str]]] = {
    "EMAIL": [("en", "If anything breaks, ping {v} and cc the team."), ("zh", "简历请投递至{v}，注明岗位。"),
              ("en", "Login ID {v} is locked out again."), ("mixed", "麻烦把 report forward 给 {v} 吧"),
              ("zh", "客服工单号填的是{v}，对吗？")],
    "PHONE_NUMBER": [("en", "Text the courier on {v} when you arrive."),
                     ("zh", "快递员电话是{v}，到了打给他。"),
                     ("en", "Membership no. {v} — is that still valid?"), ("zh", "学号{v}查不到成绩"),
                     ("mixed", "我的 WeChat 绑定的是 {v}，login 不了"), ("en", "Booking reference: {v}"),
                     ("zh", "证件号码 {v} 已录入系统。")],
    "CREDIT_CARD": [("en", "The refund should go back to {v}, not the gift card."),
                    ("zh", "信用卡{v}这个月账单不对。"), ("en", "Tracking code {v} shows no update."),
                    ("zh", "会员号：{v}，积分没到账"), ("mixed", "我用 card {v} pay 的，怎么扣了两次？")],
    "IBAN": [("en", "Wire the rent to {v} before the 3rd."), ("zh", "收款账号{v}，户名张伟。"),
             ("en", "Customer code {v} — please check."), ("mixed", "salary 打到 {v} 这个 account")],
    "IP_ADDRESS": [("en", "SSH into {v} and restart nginx."), ("zh", "日志里一直出现{v}的访问。"),
                   ("en", "Ticket {v} is assigned to me."), ("mixed", "把 {v} 加到 whitelist 里")],
    "CN_RESIDENT_ID": [("en", "The hotel wrote down {v} at check-in."), ("zh", "报名时填的证件号是{v}。"),
                       ("en", "My phone is {v}, sorry, I mean my ID."), ("zh", "银行卡号{v}绑定失败"),
                       ("mixed", "please verify 身份证 {v}，谢谢")],
    "US_SSN": [("en", "For the W-2 use {v}."), ("zh", "表格上的编号是{v}。"),
               ("en", "Case number {v} was filed today."), ("mixed", "我的 SSN 是 {v}，帮我填 form")],
    "SECRET": [("en", "Our CI log printed {v} in plain text."), ("zh", "不小心把{v}提交到GitHub了，怎么办？"),
               ("en", "Order reference {v} — can you look it up?"),
               ("mixed", "这个 credential {v} 要 rotate 吗")],
    "API_TOKEN": [("en", "The access token is {v}, it expires tomorrow."), ("zh", "服务端的令牌：{v}"),
                  ("en", "\"client_secret\": \"{v}\","), ("mixed", "我把 secret key {v} 放在 config 里了")],
    "PASSWORD": [("en", "The admin password for staging is {v}."), ("zh", "我的登录密码是{v}，忘了怎么改。"),
                 ("en", "DB_PASSWORD={v}"), ("mixed", "router 的 admin 密码：{v}")],
}

CLEAN_TUNING = [
    "Order 4111-2222 shipped on 2024-03-15 in 3 boxes.", "Version 1.2.3.4000 fixes the memory leak.",
    "The meeting moved to room 204 at 10:30.", "Python 3.11 is 25% faster on this benchmark.",
    "Invoice #20240315-77 totals 1,234.56 EUR.", "def add(a, b): return a + b",
    "今天的会议改到下午三点，在302会议室。", "订单号20240315001已发货，共3件。",
    "这个版本比上一个快了百分之二十。",
    "The function returns x @ y for matrices.", "Call the API at /v1/chat/completions with stream=true.",
    "The train leaves at 08:45 from platform 12 and arrives at 13:20.",
    "Shipment 2023-11-05/778 weighs 12.5 kg.",
    "Ticket JIRA-4521 was closed on 15.03.2024.", "价格是1299元，优惠后899元。",
    "会议时间：2024年3月15日 14:00-15:30。",
    "The population grew from 1,250,000 to 1,380,000 in ten years.", "Use port 8080 and timeout 30000 ms.",
    "Commit 9b2e6c1d4f7a8e0b3c5d9f1a2e4b6c8d0f1a3e5b fixed the build.",
    "The token limit is 4096 per request.",
    "请把密钥轮换周期改成90天。", "The password must be at least 12 characters long.",
]
CLEAN_HELD_OUT = [
    "Build 2024.03.15-rc2 passed all 1,842 tests.", "The checksum is 5d41402abc4b2a76b9719d911017c592.",
    "Request id 3f2b8c1e-9d4a-4e7b-8c2f-1a5d6e9b0c3d timed out after 30 s.",
    "ISBN 978-3-16-148410-0 is out of print.",
    "共有13,800,000人参加了考试。", "报销单编号BX-2024-0315-007已审批。",
    "Temperature dropped to -12.5 °C at 06:40.",
    "Reset your password from the settings page.", "令牌桶算法每秒补充100个令牌。",
    "The image digest is sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.",
    "Room 1203, building 7, floor 12.", "下载量突破1.5亿次，评分4.8分。",
    "Set max_tokens=256 and top_p=0.95 for this run.", "Unix time 1700000000 is 2023-11-14.",
]

SPLITS = {"tuning": (TUNING, CLEAN_TUNING), "held_out": (HELD_OUT, CLEAN_HELD_OUT)}
FAKER_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "zh_CN")


def faker_makers(seed: int) -> dict[str, Callable[[random.Random], str]]:
    """Value makers backed by Faker (seeded); values for the same kind rotate through locales."""
    from faker import Faker

    Faker.seed(seed)
    fakes = {loc: Faker(loc) for loc in FAKER_LOCALES}
    us, cn = fakes["en_US"], fakes["zh_CN"]

    def any_locale(attr: str) -> Callable[[random.Random], str]:
        return lambda rng: getattr(fakes[rng.choice(FAKER_LOCALES)], attr)()

    return {"EMAIL": any_locale("email"), "PHONE_NUMBER": any_locale("phone_number"),
            "CREDIT_CARD": lambda rng: us.credit_card_number(), "IBAN": any_locale("iban"),
            "IP_ADDRESS": lambda rng: us.ipv6() if rng.random() < 0.3 else us.ipv4(),
            "CN_RESIDENT_ID": lambda rng: cn.ssn(), "US_SSN": lambda rng: us.ssn()}


def generate(n: int = 600, seed: int = 1234, use_faker: bool = True, split: str = "tuning") -> list[Sentence]:
    """n sentences from one split's templates: ~85% with one or two values, the rest clean look-alikes.

    Half the values of a kind Faker knows come from Faker (``use_faker=False``, or Faker not
    installed: all from the generators here).
    """
    templates, clean = SPLITS[split]
    rng = random.Random(f"{split}:{seed}")
    faker: dict[str, Callable[[random.Random], str]] = {}
    if use_faker:
        try:
            faker = faker_makers(seed)
        except ImportError:
            pass
    out: list[Sentence] = []
    slots = list(templates)
    while len(out) < n:
        if rng.random() < 0.15:
            text = rng.choice(clean)
            out.append(Sentence(text, _lang(text)))
            continue
        picked = rng.sample(slots, 2 if rng.random() < 0.2 else 1)
        parts, spans, langs = [], [], set()
        for slot in picked:
            maker = faker[slot] if slot in faker and rng.random() < 0.5 else OWN_MAKERS[slot]
            value = maker(rng)
            lang, template = rng.choice(templates[slot])
            parts.append(template.format(v=value))
            spans.append((LABEL.get(slot, slot), value))
            langs.add(lang)
        lang = langs.pop() if len(langs) == 1 else "mixed"
        out.append(Sentence(("" if lang == "zh" else " ").join(parts), lang, spans))
    return out


def _lang(text: str) -> str:
    has_zh = any("\u4e00" <= c <= "\u9fff" for c in text)
    has_en = any(c.isascii() and c.isalpha() for c in text)
    return "mixed" if has_zh and has_en and sum(c.isascii() and c.isalpha() for c in text) > 6 else (
        "zh" if has_zh else "en")
