"""A third, blind split of the people suite (bench/pii_people.py): templates, values and hard negatives
written on 2026-12-06, before any detector change of that day and never used to tune one.

The ``held_out`` split stopped being blind once its misses informed fixes (bench/results/pii_eval.md
lists them). This split answers the same question again: how do the detectors do on wording and values
nobody looked at? Its values come from sources neither earlier split used:

| type | blind values |
|---|---|
| PERSON (en) | Faker de_DE, fr_FR, es_MX, pt_BR, it_IT, nl_NL, tr_TR, fi_FI, hu_HU, cs_CZ, ig_NG, ha_NG, tw_GH, sw, en_PK; ja_JP romanised; a middle initial or a hyphenated surname now and then |
| PERSON (zh) | the 100 most common modern surnames, compound surnames (司徒, 端木, 夏侯, ...) and a given-name list written here |
| ADDRESS (en) | Faker en_IN, en_PH; formats written here (UK house names, US directionals and suites, Singapore blocks, Irish Eircodes, Indian flats, rural routes) |
| ADDRESS (zh) | formats written here: 大厦/座/层, 街道/社区, 巷/弄/胡同, 院/号楼, traditional characters (台北市...號...樓) |
| DATE_OF_BIRTH | 14-Mar-1987, Mar. 14, 1987, 14th March 1987, March 14 1987, 3/14/87; 1987.3.14, 87年3月14日, 1987 年 3 月 14 日, 一九八七年三月十四号 |
| HEALTH | conditions, medicines and pregnancy wordings on no earlier list (shingles, Xanax, 带状疱疹, 碳酸锂, ...) |

Score it once before changing a detector; after that it is no longer blind either.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# bench.pii_people imports this module (its "blind" split and the written forms of dates below),
# so nothing here imports it back
Maker = Callable[[random.Random], str]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
ZH_DIGITS = "〇一二三四五六七八九"


def zh_num(n: int, digits: str = ZH_DIGITS, ten: str = "十") -> str:
    """十四, 二十, 三十一 (day and month numbers in Chinese numerals; other digits and ten: 叁拾壹)."""
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + ten + (digits[ones] if ones else "")


def ordinal(d: int) -> str:
    return f"{d}{'th' if 11 <= d <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"

BLIND: list[tuple[str, str]] = [
    ("en", "Good morning {P}, the keys are waiting at reception."),
    ("en", "Please add {P} to the onboarding list for March."),
    ("en", "Remind me to call {P} after lunch."),
    ("en", "I'm writing on behalf of {P}, who is out of the office."),
    ("en", "Kind regards,\n{P}"),
    ("en", "The landlord, {P}, wants the deposit by Friday."),
    ("en", "Book a table for {P} and two guests at seven."),
    ("en", "Invoice to: {P}, {A}"),
    ("en", "Our warehouse is at {A}."),
    ("en", "Forward my mail to {A} until August."),
    ("en", "Home address: {A}"),
    ("en", "Her date of birth is {D}."),
    ("en", "{P} (born {D}) joined the team in 2019."),
    ("en", "D.O.B. {D} - please check it against the passport."),
    ("en", "My aunt has been living with {H} for years."),
    ("en", "My boss told me she has {H}, so please keep it between us."),
    ("en", "I've had {H} since college and it flares up in winter."),
    ("en", "{P} stopped taking {M} because of the side effects."),
    ("en", "My husband has been on {M} since the spring."),
    ("en", "Our son's doctor thinks it is {H}."),
    ("en", "I'm {G}, can I still fly to Lisbon?"),
    ("zh", "{P}同学，明天记得交作业。"),
    ("zh", "麻烦转告{P}，会议改到周四。"),
    ("zh", "这份报告是{P}写的，你看看有没有问题。"),
    ("zh", "新来的经理叫{P}。"),
    ("zh", "请把样品寄到{A}。"),
    ("zh", "我住在{A}，离地铁很近。"),
    ("zh", "公司注册地址为{A}。"),
    ("zh", "{P}是{D}生的，属龙。"),
    ("zh", "本人出生日期{D}，身份证已过期。"),
    ("zh", "我外婆有{H}好多年了。"),
    ("zh", "我儿子得了{H}，要住院一周。"),
    ("zh", "医生给我开了{M}，一天两次。"),
    ("zh", "{P}患有{H}，不能熬夜。"),
    ("zh", "我{G}，想换个轻松一点的岗位。"),
    ("mixed", "帮我 reply {P}，说 deadline 推迟了。"),
    ("mixed", "Can you 把这个 forward 给 {PZ}？"),
    ("mixed", "我的 home address 是 {A}。"),
    ("mixed", "{PZ} 的 birthday 是 {D}，记得订蛋糕。"),
    ("mixed", "我妈 has {H}，需要 daily check。"),
    ("mixed", "My friend 在吃 {M}，can she drink coffee?"),
]

CLEAN_BLIND = [
    "The invoice is due on 30 June 2026.", "What are the early signs of shingles?",
    "Convert this CSV to JSON.", "How long does a flu vaccine protect you?", "请问带状疱疹会传染吗？",
    "下周三下午两点开部门例会。", "The train leaves platform 4 at 08:15.", "Draft a tweet about our new release.",
    "把这个函数改成异步的。", "Our Q3 revenue grew 12% year on year.",
]

HARD_NEGATIVES_BLIND = [
    "Mark the ticket as done when the build passes.", "Phoenix is very hot in July.",
    "Florence is the capital of Tuscany.", "The Rose Bowl is played in Pasadena.",
    "Jenkins failed on the main branch again.", "Chase and Wells Fargo raised their rates.",
    "Sage and thyme go well with chicken.", "We drove a Bentley to the Savoy.",
    "React and Angular both render components.", "The Kafka consumer lags behind.",
    "Lithium batteries should not be shipped by air.", "What causes lupus flares in general?",
    "Pearl Harbor was attacked in December 1941.", "Madison Square Garden is sold out.",
    "Jaguar unveiled an electric model.", "The Morris dance is a folk tradition.",
    "Dell and Lenovo ship business laptops.", "Set the Hunter flag in the config.",
    "Lily.load(path) returns a dict.", "Sphinx builds the docs from docstrings.",
    "周末去王府井逛街吧。", "黄河是中国第二长河。", "白云机场今天航班延误。", "我们坐高铁去张家界。",
    "华山很险，但风景很好。", "Gordon Ramsay's restaurants are famous.",  # a public figure by design
    "Victoria Falls is on the Zambezi.", "Cambridge won the Boat Race.",
    "The Nelson Mandela Bridge is in Johannesburg.", "Read Chapter 5 before the Monday lecture.",
]
# the public figure above is a person: it is not counted among the hard negatives
HARD_NEGATIVES_BLIND = [t for t in HARD_NEGATIVES_BLIND if not t.startswith("Gordon")]

# -- values ----------------------------------------------------------------------------------------
ZH_SURNAMES_BLIND = ("王 李 张 刘 陈 杨 赵 黄 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗 梁 宋 郑 谢 韩 唐 冯 于 董 萧 程 曹 袁 邓 许 "
                     "傅 沈 曾 彭 吕 苏 卢 蒋 蔡 贾 丁 魏 薛 叶 阎 余 潘 杜 戴 夏 钟 汪 田 任 姜 范 方 石 姚 谭 廖 邹 熊 "
                     "金 陆 郝 孔 白 崔 康 毛 邱 秦 江 史 顾 侯 邵 孟 龙 万 段 雷 钱 汤 尹 黎 易 常 武 乔 贺 赖 龚 文 "
                     "司徒 端木 独孤 南宫 夏侯 宇文 长孙 闻人").split()
ZH_GIVEN_BLIND = list("伟芳娜敏静丽强磊军洋勇艳娟涛超霞刚桂玉萍红鑫鹏宁慧琳婷倩雪莉斌凯健帆晶颖鸿韬骏璐蕾薇岚菲钰"
                      "瑾琪煜炜昕哲霖朗峰毅彬翊珂骁弈婧璟琰颢瀚烨筱妤")


def seeded_fakers(locales, seed: int) -> list:
    """One Faker per locale, each seeded with the split's seed (every blind split's value makers use it)."""
    from faker import Faker

    fakes = [Faker(loc) for loc in locales]
    for f in fakes:
        f.seed_instance(seed)
    return fakes


def zh_name(rng: random.Random, surnames, given, whole=(), whole_share: float = 0.0) -> str:
    """A Chinese name: one of ``whole`` (with probability ``whole_share``) or a surname with one or two given
    characters (two three times as often)."""
    if whole and rng.random() < whole_share:
        return rng.choice(whole)
    return rng.choice(surnames) + "".join(rng.sample(given, rng.choice([1, 2, 2, 2])))


def zh_name_blind(rng: random.Random) -> str:
    return zh_name(rng, ZH_SURNAMES_BLIND, ZH_GIVEN_BLIND)


_LOCALES_BLIND = ("de_DE", "fr_FR", "es_MX", "pt_BR", "it_IT", "nl_NL", "tr_TR", "fi_FI", "hu_HU", "cs_CZ", "ig_NG",
                  "ha_NG", "tw_GH", "sw", "en_PK")


def person_en_blind(seed: int) -> Maker:
    fakes = seeded_fakers(_LOCALES_BLIND, seed)
    ja = seeded_fakers(["ja_JP"], seed)[0]

    def make(rng: random.Random) -> str:
        if rng.random() < 0.1:
            return f"{ja.first_romanized_name()} {ja.last_romanized_name()}"
        f = rng.choice(fakes)
        first, last = f.first_name(), f.last_name()
        r = rng.random()
        if r < 0.12:
            return f"{first} {rng.choice('ABCDEFGHJKLMNPRST')}. {last}"
        if r < 0.2:
            return f"{first} {last}-{f.last_name()}"
        return f"{first} {last}"
    return make


_STREETS_BLIND = ["Mill", "Orchard", "Clark", "Sunset", "Seaview", "Hawthorn", "Ashgrove", "Beacon", "Cedar",
                  "Maple", "Elm", "Riverside", "Station", "Church", "Willow"]


def en_address_blind(rng: random.Random) -> str:
    s, n = rng.choice(_STREETS_BLIND), rng.randint(1, 9800)
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return rng.choice([
        lambda: f"{rng.choice(['Rose Cottage', 'The Old Rectory', 'Ivy House'])}, {rng.randint(1, 60)} {s} Lane, "
                f"Bath BA{rng.randint(1, 3)} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}",
        lambda: f"{n} {rng.choice('NSEW')} {s} St Apt {rng.randint(1, 12)}{rng.choice('ABC')}, Chicago, IL "
                f"{rng.randint(60601, 60661)}",
        lambda: f"Suite {rng.randint(100, 2400)}, {n} {s} Street, San Francisco, CA {rng.randint(94102, 94134)}",
        lambda: f"Blk {rng.randint(100, 999)} {rng.choice(['Ang Mo Kio', 'Tampines', 'Bedok North'])} Avenue "
                f"{rng.randint(1, 10)}, #{rng.randint(2, 20):02d}-{rng.randint(1, 1500)}, Singapore "
                f"{rng.randint(310000, 829999)}",
        lambda: f"{rng.randint(1, 80)} {s} Terrace, Salthill, Galway H91 {rng.choice(letters)}{rng.randint(1, 9)}"
                f"{rng.choice(letters)}{rng.randint(1, 9)}",
        lambda: f"Flat {rng.randint(101, 904)}, {rng.choice(['Sai Residency', 'Prestige Towers', 'Green Glen'])}, "
                f"{rng.randint(1, 18)}th Cross, Indiranagar, Bengaluru {rng.randint(560001, 560099)}",
        lambda: f"RR {rng.randint(1, 9)}, Box {rng.randint(10, 999)}, Lakefield, ON K0L {rng.randint(1, 9)}"
                f"{rng.choice('ABCEGH')}{rng.randint(0, 9)}",
        lambda: f"{n} {s} Drive, Hilo, HI {rng.randint(96720, 96721)}",
        lambda: f"{n} {s} Road, Te Awamutu {rng.randint(3800, 3899)}",
    ])()


def address_en_blind(seed: int) -> Maker:
    fakes = seeded_fakers(("en_IN", "en_PH"), seed)
    return lambda r: (r.choice(fakes).address().replace("\n", ", ") if r.random() < 0.35 else en_address_blind(r))


_ZH_CITIES_BLIND = ["广州市天河区", "重庆市渝中区", "长沙市岳麓区", "深圳市福田区", "西安市雁塔区", "江苏省苏州市工业园区",
                    "河北省保定市莲池区", "辽宁省大连市中山区", "安徽省合肥市蜀山区", "昆明市五华区"]
_ZH_ROADS_BLIND = ["体育西路", "民权路", "麓山南路", "深南中路", "小寨东路", "星湖街", "东风中路", "人民路", "长江西路",
                   "青年路", "解放大道", "建设北路"]
_ZH_BUILDINGS_BLIND = ["中石化大厦", "英利国际金融中心", "百隆大厦", "创意产业园", "华润中心", "万达广场", "时代公寓",
                       "枫林苑", "滨江花园"]


def zh_address_blind(rng: random.Random) -> str:
    city, road, bld = rng.choice(_ZH_CITIES_BLIND), rng.choice(_ZH_ROADS_BLIND), rng.choice(_ZH_BUILDINGS_BLIND)
    no, floor, room = rng.randint(1, 999), rng.randint(2, 45), f"{rng.randint(2, 45)}{rng.randint(1, 12):02d}"
    return rng.choice([
        lambda: f"{city}{road}{no}号{bld}{rng.choice('ABC')}座{room}室",
        lambda: f"{city}{road}{no}号{bld}{floor}楼",
        lambda: f"{city}{rng.choice(['华强北街道华航社区', '五里牌街道', '望城坡街道'])}{road}{no}号",
        lambda: f"{city}{road}{rng.randint(1, 300)}巷{rng.randint(1, 40)}号{rng.randint(1, 6)}单元{room}",
        lambda: f"北京市东城区{rng.choice(['东四十条', '南锣鼓巷', '史家胡同'])}{rng.randint(1, 99)}号院"
                f"{rng.randint(1, 12)}号楼{room}",
        lambda: f"台北市大安區忠孝東路四段{rng.randint(1, 300)}巷{rng.randint(1, 20)}弄{rng.randint(1, 99)}號"
                f"{rng.randint(2, 15)}樓",
        lambda: f"{city}{road}{no}号{bld}{rng.randint(1, 20)}栋{room}",
    ])()


def dob_blind(zh: bool) -> Maker:
    def make(rng: random.Random) -> str:
        y, m, d = rng.randint(1932, 2016), rng.randint(1, 12), rng.randint(1, 28)
        mon = MONTHS[m - 1]
        en = [f"{d:02d}-{mon[:3]}-{y}", f"{mon[:3]}. {d}, {y}", f"{ordinal(d)} {mon} {y}", f"{mon} {d} {y}",
              f"{m}/{d}/{y % 100:02d}"]
        zh_forms = [f"{y}.{m}.{d}", f"{y % 100:02d}年{m}月{d}日", f"{y} 年 {m} 月 {d} 日",
                    "".join(ZH_DIGITS[int(c)] for c in str(y)) + f"年{zh_num(m)}月{zh_num(d)}号"]
        return rng.choice(zh_forms if zh else en)
    return make


HEALTH_BLIND_EN = ["shingles", "diverticulitis", "sciatica", "tinnitus", "Graves' disease", "Hashimoto's thyroiditis",
                   "ulcerative colitis", "melanoma", "hemophilia", "scoliosis", "gallstones", "a herniated disc",
                   "narcolepsy", "Tourette syndrome", "borderline personality disorder", "bulimia", "PCOS", "a UTI",
                   "syphilis", "HPV", "macular degeneration", "cataracts", "angina", "deep vein thrombosis",
                   "Lyme disease", "mononucleosis", "long COVID", "an enlarged prostate", "ALS", "pancreatitis",
                   "cervical cancer", "dyslexia"]
MEDS_BLIND_EN = ["Xanax", "Adderall", "Lexapro", "Wellbutrin", "Prozac", "metoprolol", "losartan",
                 "hydrochlorothiazide", "rosuvastatin", "Eliquis", "Humira", "Suboxone", "Seroquel", "lamotrigine",
                 "clozapine", "PrEP", "tamoxifen", "Mounjaro", "methylphenidate", "naltrexone",
                 "hormone replacement therapy", "antiretroviral therapy"]
PREGNANCY_BLIND_EN = ["eight months pregnant", "thirty weeks pregnant", "pregnant", "pregnant with our second child"]
HEALTH_BLIND_ZH = ["带状疱疹", "湿疹", "银屑病", "白内障", "耳鸣", "腰椎间盘突出", "胆结石", "痔疮", "心律不齐",
                   "多囊卵巢综合征", "阿斯伯格综合征", "乙型肝炎", "荨麻疹", "颈椎病", "鼻炎", "子宫肌瘤", "肺结节",
                   "前列腺增生"]
MEDS_BLIND_ZH = ["碳酸锂", "甲氨蝶呤", "氯氮平", "来曲唑", "他莫昔芬", "左甲状腺素钠", "奥氮平", "阿莫西林", "氨氯地平",
                 "优甲乐"]
PREGNANCY_BLIND_ZH = ["怀了二胎", "怀孕五个月了", "有了身孕", "在做试管"]


def setup(values, seed: int) -> None:
    """Fills a bench.pii_people._Values with the blind split's makers."""
    values.person_en = person_en_blind(seed)
    values.person_zh = zh_name_blind
    values.address_en = address_en_blind(seed)
    values.address_zh = zh_address_blind
    values.dob = dob_blind(zh=False)
    values.dob_zh = dob_blind(zh=True)
    values.health_en = (PREGNANCY_BLIND_EN, MEDS_BLIND_EN, HEALTH_BLIND_EN)
    values.health_zh = (PREGNANCY_BLIND_ZH, MEDS_BLIND_ZH, HEALTH_BLIND_ZH)
