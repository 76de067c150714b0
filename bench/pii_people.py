"""A labelled suite of personal data about people: names, street addresses, dates of birth and
health conditions, in English, Chinese and mixed sentences.

Written before the detectors (gateway/privacy/people/*) and kept apart from them. Like
bench/pii_suite.py it has two disjoint sets of templates, ``tuning`` and ``held_out``; on top
of that the *values* of the held-out half come from other sources than the tuning half's:

| type | tuning values | held-out values |
|---|---|---|
| PERSON (en) | Faker en_US, en_GB | Faker en_IN, yo_NG, zu_ZA, pl_PL, vi_VN, ga_IE, en_KE; invented names |
| PERSON (zh) | Faker zh_CN | rare and compound surnames + given names from a character list here; Faker zh_TW |
| ADDRESS (en) | Faker en_US, en_GB | Faker en_AU, en_CA, en_NZ; formats written here (flats, units, PO boxes, DC) |
| ADDRESS (zh) | Faker zh_CN | addresses down to the room written here (小区, 栋, 单元, 室; 村, 组; 弄) |
| DATE_OF_BIRTH | four English and two Chinese forms | other forms: ordinals, abbreviations, dotted, 号, Chinese numerals |
| HEALTH | one list of conditions and medicines | a disjoint list (other conditions, brand names) |

A third split, ``blind`` (bench/pii_blind.py), has its own templates and values, written later
and scored once before the detector changes that followed it; a fourth, ``blind2``
(bench/pii_blind2.py), does the same again with templates, values and formats on neither list, and a
fifth, ``blind3`` (bench/pii_blind3.py), once more with genres, values and formats on none of the three,
and a sixth, ``blind4`` (bench/pii_blind4.py), again with genres, values and formats on none of the four.

Hard negatives (``hard_negatives``): capitalised common words, places, products and code
identifiers (Will, May, Jordan the country, Parker the class, Apple) and general health
questions about nobody: none may be flagged.

    from bench.pii_people import generate
    for s in generate(400, split="held_out"): s.text, s.spans   # [(kind, value), ...]
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from bench.pii_blind import MONTHS, ZH_DIGITS, ordinal, zh_num
from bench.pii_suite import Sentence

Maker = Callable[[random.Random], str]

# -- names ----------------------------------------------------------------------------------------
_SYLLABLES_ONSET = ["b", "d", "f", "g", "k", "l", "m", "n", "r", "s", "t", "v", "z", "br", "dr", "kr", "th", "sh"]
_SYLLABLES_NUCLEUS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ya"]


def invented_name(rng: random.Random) -> str:
    """A pronounceable name that no list has ("Dravoki Menthas")."""
    def word(n: int) -> str:
        w = "".join(rng.choice(_SYLLABLES_ONSET) + rng.choice(_SYLLABLES_NUCLEUS) for _ in range(n))
        return (w + rng.choice(["", "n", "s", "r", "th", "k"])).capitalize()
    return f"{word(rng.randint(2, 3))} {word(rng.randint(2, 4))}"


# held-out Chinese names: surnames across the whole range (rare and compound ones included) and
# given-name characters from this list, not Faker's
ZH_SURNAMES_HELD = ("欧阳 司马 诸葛 上官 慕容 东方 皇甫 令狐 尉迟 公孙 钱 孙 周 吴 郑 冯 陈 褚 卫 蒋 沈 韩 杨 朱 秦 尤 许 何 吕 施 张 "
                    "孔 曹 严 华 金 魏 陶 姜 戚 谢 邹 喻 柏 窦 章 云 苏 潘 葛 奚 范 彭 郎 鲁 韦 昌 马 苗 凤 花 方 俞 任 袁 柳 "
                    "鲍 史 唐 费 廉 岑 薛 雷 贺 倪 汤 滕 殷 罗 毕 郝 邬 安 常 乐 于 时 傅 皮 卞 齐 康 伍 余 元 卜 顾 孟 平 黄 "
                    "谭 贾 路 娄 危 江 童 颜 郭 梅 盛 林 刁 钟 徐 邱 骆 高 夏 蔡 田 樊 胡 凌 霍 虞 万 支 柯 昝 管 卢 莫 房 裘 "
                    "缪 干 解 应 宗 丁 宣 贲 邓 郁 单 杭 洪 包 诸 左 石 崔 吉 钮 龚 程 嵇 邢 滑 裴 陆 荣 翁 荀 羊 於 惠 甄 "
                    "曲 家 封 芮 羿 储 靳 汲 邴 糜 松 井 段 富 巫 乌 焦 巴 弓 牧 隗 山 谷 车 侯 宓 蓬 全 郗 班 仰 秋 仲 伊 宫").split()
ZH_GIVEN_HELD = list("子涵梓萱浩宇俊杰雨桐思远嘉怡欣妍一诺晨曦亦辰语嫣若汐沐阳铭泽景行知秋书瑶婉清"
                     "星河昊天锦程安然慕白时雨听澜初夏南乔北辰予安芷若云舒望舒长歌")


def zh_name_held(rng: random.Random) -> str:
    given = "".join(rng.sample(ZH_GIVEN_HELD, rng.choice([1, 2, 2])))
    return rng.choice(ZH_SURNAMES_HELD) + given


# -- addresses --------------------------------------------------------------------------------------
_STREETS_HELD = ["Wattle", "Kauri", "Birchwood", "Tamarack", "Pohutukawa", "Larchmont", "Kensington", "Juniper",
                 "Rosebank", "Dunmore", "Fenwick", "Greycliffe", "Harcourt", "Inverness", "Marlowe"]


def en_address_held(rng: random.Random) -> str:
    """Formats from several countries, written here: flats, units, PO boxes, quadrants, no commas."""
    street = rng.choice(_STREETS_HELD)
    n = rng.randint(1, 2400)
    return rng.choice([
        lambda: f"Flat {rng.randint(1, 40)}, {n} {street} Road, Leeds LS{rng.randint(1, 28)} {rng.randint(1, 9)}"
                f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
        lambda: f"Unit {rng.randint(1, 30)}/{n} {street} Street, Parramatta NSW {rng.randint(2000, 2999)}",
        lambda: f"Apt {rng.randint(1, 30)}{rng.choice('ABCD')}, {n} W {rng.randint(1, 120)}th St, New York, "
                f"NY {rng.randint(10001, 10299)}",
        lambda: f"{n} {street} Ave NW, Washington, DC {rng.randint(20001, 20099)}",
        lambda: f"PO Box {rng.randint(100, 99999)}, Anchorage, AK {rng.randint(99501, 99599)}",
        lambda: f"{n} {street} Crescent, Toronto, ON M{rng.randint(1, 9)}{rng.choice('ABCEGHJ')} "
                f"{rng.randint(1, 9)}{rng.choice('ABCEGHJ')}{rng.randint(1, 9)}",
        lambda: f"{n} {street} Lane, Dublin 4",
        lambda: f"{n} {street} Boulevard Suite {rng.randint(100, 990)}, Austin, TX {rng.randint(73301, 78799)}",
        lambda: f"{rng.randint(1, 99)} {street} Close, Cambridge CB{rng.randint(1, 5)} {rng.randint(1, 9)}"
                f"{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}",
    ])()


_ZH_PROVINCES_HELD = ["浙江省杭州市西湖区", "广东省深圳市南山区", "四川省成都市武侯区", "上海市浦东新区", "北京市海淀区",
                      "江苏省南京市鼓楼区", "湖北省武汉市洪山区", "山东省青岛市市南区", "福建省厦门市思明区", "天津市和平区"]
_ZH_ROADS_HELD = ["文三路", "科技南十二路", "天府大道", "世纪大道", "中关村大街", "中山北路", "珞喻路", "香港中路",
                  "鹭江道", "南京路", "长乐路", "学院路"]
_ZH_ESTATES_HELD = ["金色家园", "翠苑一区", "阳光花园", "锦绣华庭", "万科城", "绿城桂花园", "融创玖樟台", "碧桂园"]


def zh_address_held(rng: random.Random) -> str:
    """Down to building and room: 省市区 + 路 + 号 + 小区 + 栋/幢/号楼 + 单元 + 室; lanes (弄); villages (村, 组)."""
    area, road = rng.choice(_ZH_PROVINCES_HELD), rng.choice(_ZH_ROADS_HELD)
    no, estate = rng.randint(1, 999), rng.choice(_ZH_ESTATES_HELD)
    bld, unit, room = rng.randint(1, 30), rng.randint(1, 6), f"{rng.randint(1, 33)}{rng.randint(1, 4):02d}"
    return rng.choice([
        lambda: f"{area}{road}{no}号{estate}{bld}栋{unit}单元{room}室",
        lambda: f"{area}{road}{no}号{bld}幢{room}室",
        lambda: f"{area}{road}{no}号{estate}{bld}号楼{room}",
        lambda: f"{road}{no}弄{bld}号{room}室",
        lambda: f"{area}{estate}{bld}栋{unit}单元{room}",
        lambda: f"{rng.choice(['云南省大理州', '河南省洛阳市', '甘肃省天水市'])}{rng.choice(['宾川县', '孟津区', '秦安县'])}"
                f"{rng.choice(['平川镇', '朝阳乡', '城关镇'])}{rng.choice(['李家村', '新庄村', '上河村'])}"
                f"{rng.randint(1, 9)}组{rng.randint(1, 99)}号",
        lambda: f"{area}{road}{no}号{rng.choice('ABCD')}座{rng.randint(2, 30)}层{room}室",
    ])()


# -- dates of birth -----------------------------------------------------------------------------------
def dob_maker(forms: list[str]) -> Maker:
    def make(rng: random.Random) -> str:
        y, m, d = rng.randint(1932, 2016), rng.randint(1, 12), rng.randint(1, 28)
        form = rng.choice(forms)
        return {
            "d_month_y": f"{d} {MONTHS[m - 1]} {y}", "month_d_y": f"{MONTHS[m - 1]} {d}, {y}",
            "iso": f"{y}-{m:02d}-{d:02d}", "us_slash": f"{m:02d}/{d:02d}/{y}",
            "zh": f"{y}年{m}月{d}日", "zh_padded": f"{y}年{m:02d}月{d:02d}日",
            # held-out forms
            "ordinal_of": f"{ordinal(d)} of {MONTHS[m - 1]} {y}", "abbr": f"{MONTHS[m - 1][:3]} {d}, {y}",
            "dotted": f"{d:02d}.{m:02d}.{y}", "eu_slash": f"{d}/{m}/{y}", "zh_slash": f"{y}/{m}/{d}",
            "zh_hao": f"{y}年{m}月{d}号", "zh_numerals": "".join(ZH_DIGITS[int(c)] for c in str(y))
                                                         + f"年{zh_num(m)}月{zh_num(d)}日",
            "month_ordinal": f"{MONTHS[m - 1]} {ordinal(d)}, {y}",
        }[form]
    return make


# -- health -------------------------------------------------------------------------------------------
HEALTH_TUNING_EN = ["type 2 diabetes", "hypertension", "asthma", "depression", "generalized anxiety disorder",
                    "breast cancer", "HIV", "epilepsy", "migraines", "rheumatoid arthritis", "COPD",
                    "bipolar disorder", "PTSD", "ADHD", "Crohn's disease", "pneumonia", "heart failure",
                    "hepatitis C", "autism", "dementia", "an eating disorder", "a stroke"]
MEDS_TUNING_EN = ["metformin", "insulin", "sertraline", "lisinopril", "atorvastatin", "levothyroxine",
                  "chemotherapy", "antidepressants"]
PREGNANCY_TUNING_EN = ["pregnant", "expecting twins"]
HEALTH_HELD_EN = ["hypothyroidism", "celiac disease", "multiple sclerosis", "schizophrenia", "OCD",
                  "anorexia nervosa", "psoriasis", "gout", "hepatitis B", "chlamydia", "lupus", "Parkinson's disease",
                  "Alzheimer's disease", "atrial fibrillation", "kidney stones", "endometriosis", "prostate cancer",
                  "glaucoma", "sickle cell anemia", "panic attacks", "postpartum depression", "leukemia",
                  "tuberculosis", "insomnia", "a miscarriage"]
MEDS_HELD_EN = ["fluoxetine", "warfarin", "prednisone", "methotrexate", "lithium", "Ozempic", "Zoloft",
                "amlodipine", "omeprazole", "gabapentin"]
PREGNANCY_HELD_EN = ["12 weeks pregnant", "expecting a baby"]
HEALTH_TUNING_ZH = ["糖尿病", "高血压", "抑郁症", "哮喘", "乳腺癌", "焦虑症", "癫痫", "乙肝", "胃溃疡", "艾滋病", "心脏病",
                    "偏头痛", "肺炎", "冠心病", "自闭症", "双相情感障碍"]
MEDS_TUNING_ZH = ["二甲双胍", "胰岛素", "降压药", "化疗药"]
PREGNANCY_TUNING_ZH = ["怀孕", "怀孕三个月"]
HEALTH_HELD_ZH = ["甲状腺功能减退", "帕金森病", "阿尔茨海默病", "精神分裂症", "强迫症", "痛风", "类风湿关节炎",
                  "系统性红斑狼疮", "肾结石", "白血病", "青光眼", "产后抑郁", "肺结核", "慢性肾炎", "宫颈癌", "失眠症"]
MEDS_HELD_ZH = ["阿司匹林", "华法林", "舍曲林", "抗抑郁药"]
PREGNANCY_HELD_ZH = ["怀孕了", "流产", "孕12周"]

# -- templates -----------------------------------------------------------------------------------------
# slots: {P} name (language of the template), {PZ} Chinese name in an English template, {A} address,
# {D} date of birth; health (language of the template): {H} a condition, {M} a medicine or treatment,
# {G} pregnancy
TUNING: list[tuple[str, str]] = [
    ("en", "Dear {P}, thank you for your letter of last week."),
    ("en", "My colleague {P} asked me to review the slides."),
    ("en", "Can you draft an email to {P} about the delayed shipment?"),
    ("en", "{P} will join the call at 3pm."),
    ("en", "I had lunch with {P} and we talked about the budget."),
    ("en", "Please forward this to Dr. {P} before Monday."),
    ("en", "Best regards,\n{P}"),
    ("en", "Patient {P}, born {D}, presents with {H}; summarise the care plan."),
    ("en", "Ship it to {A}, please."),
    ("en", "My new address is {A}."),
    ("en", "The package went to {A} instead of my office."),
    ("en", "Send the contract to {P} at {A}."),
    ("en", "DOB: {D}"),
    ("en", "I was born {D} in a small town."),
    ("en", "Date of birth {D}, please add it to the form."),
    ("en", "I've been diagnosed with {H} and I'm nervous about work."),
    ("en", "My mother takes {M} every morning."),
    ("en", "I'm {G} and need to plan my leave."),
    ("en", "{P} has {H}, so she can't travel this month."),
    ("en", "My son was recently diagnosed with {H}."),
    ("zh", "亲爱的{P}，感谢你上周的来信。"),
    ("zh", "我同事{P}让我帮忙看一下报告。"),
    ("zh", "请给{P}写一封邮件，说明发货延迟。"),
    ("zh", "患者{P}，出生日期：{D}，诊断为{H}。"),
    ("zh", "我家地址是{A}。"),
    ("zh", "快递请寄到{A}，谢谢。"),
    ("zh", "我{D}出生，今年要办退休手续。"),
    ("zh", "生日是{D}，帮我填一下表格。"),
    ("zh", "我最近被确诊为{H}，工作压力很大。"),
    ("zh", "我妈妈每天都要吃{M}。"),
    ("zh", "我{G}了，想请几天假。"),
    ("zh", "{P}下午三点开会。"),
    ("mixed", "我的 colleague {P} 明天 join 会议。"),
    ("mixed", "My colleague {PZ} asked for the Q3 numbers."),
    ("mixed", "请把 invoice 寄到 {A}。"),
    ("mixed", "patient {P} 确诊了 {H}，please 安排复查。"),
    ("mixed", "我的 DOB 是 {D}。"),
]

HELD_OUT: list[tuple[str, str]] = [
    ("en", "Hi {P}, just checking whether the invoice arrived."),
    ("en", "Could you summarise what {P} said in the meeting?"),
    ("en", "Yesterday {P} sent the revised figures to the whole team."),
    ("en", "Write a reference letter for my former student {P}."),
    ("en", "Thanks,\n{P}\nHead of Operations"),
    ("en", "Mr {P} has asked to reschedule his appointment."),
    ("en", "Is {P} the right person to approve this?"),
    ("en", "Our new tenant, {P}, moves in on the first of the month."),
    ("en", "The delivery address is {A}."),
    ("en", "We relocated the office to {A} last spring."),
    ("en", "Mail the signed lease to {A} by Friday."),
    ("en", "{P} lives at {A} and wants a quote."),
    ("en", "She was born on {D} in Lagos."),
    ("en", "Birthday: {D}. Please update the HR record."),
    ("en", "Name {P}, b. {D}, needs a new passport."),
    ("en", "My dad was told he has {H} and I don't know how to help."),
    ("en", "{P} is on {M} and asked whether it interacts with alcohol."),
    ("en", "My wife just found out she has {H}."),
    ("en", "I was treated for {H} in June and my manager doesn't know yet."),
    ("en", "My daughter started {M} last week and feels dizzy."),
    ("en", "My sister is {G}, what should she avoid eating?"),
    ("zh", "{P}你好，请确认一下合同。"),
    ("zh", "帮我总结一下{P}在会上说的内容。"),
    ("zh", "昨天{P}把修改后的数据发给了大家。"),
    ("zh", "我的学生{P}需要一封推荐信。"),
    ("zh", "请联系{P}老师安排面试。"),
    ("zh", "收货地址：{A}"),
    ("zh", "我们公司搬到了{A}。"),
    ("zh", "{P}住在{A}，想要一份报价。"),
    ("zh", "她生于{D}，老家在湖南。"),
    ("zh", "出生于{D}的{P}今年要参加体检。"),
    ("zh", "我爸爸得了{H}，我不知道该怎么办。"),
    ("zh", "我老婆最近查出{H}，心情很差。"),
    ("zh", "{P}一直在服用{M}，想问能不能喝酒。"),
    ("zh", "我老婆{G}，需要注意什么？"),
    ("mixed", "请帮我 email {P}，问一下 report 的进度。"),
    ("mixed", "Please ask {PZ} to sign the NDA today."),
    ("mixed", "我的 address 是 {A}，please 寄过来。"),
    ("mixed", "My grandmother 出生于 {D}。"),
    ("mixed", "我哥哥 was diagnosed with {H} last year."),
]

# sentences without any of the four types: the same words used for other things
CLEAN_TUNING = [
    "The meeting is on 14 March 2025 at 10:00.", "Our office opens at 9 on Monday.",
    "Please review the pull request before Friday.", "The function returns a sorted list of strings.",
    "What are the common symptoms of diabetes?", "Explain how insulin regulates blood sugar.",
    "合同于2023年5月1日签署。", "糖尿病的早期症状有哪些？", "今天下午三点在302会议室开会。",
    "The parade goes down Main Street every July.", "Version 2.1 was released on 2024-06-01.",
    "Summarise the quarterly report in three bullet points.", "请把这段话翻译成英文。",
]
CLEAN_HELD_OUT = [
    "The deadline moved to March 3, 2026.", "How does chemotherapy affect the immune system?",
    "Write a haiku about the sea.", "Is it safe to exercise in hot weather?", "请解释一下高血压是怎么形成的。",
    "项目截止日期是2026年3月3日。", "We shipped 1,200 units from the Denver warehouse.",
    "The conference takes place in Jordan next May.", "Sort the array in place and return it.",
    "北京的冬天很冷，记得多穿衣服。",
]

# capitalised common words, places, products and code identifiers: none may be flagged
HARD_NEGATIVES_TUNING = [
    "Will you send the report tomorrow?", "May I ask a question about the API?", "Jordan is a country in the Middle East.",
    "The Parker class parses the config file.", "Apple released a new iPhone in September.",
    "Amazon Web Services had an outage in Virginia.", "Use Jackson to serialise the JSON.",
    "Ruby on Rails is a web framework.", "Julia is fast for numerical computing.",
    "Victoria Station is closed for repairs.", "Georgia borders Turkey and Russia.",
    "Chelsea won the match on Saturday.", "Paris is lovely in April.",
    "Washington is the capital of the United States.", "Call getUserName() before render().",
    "class Parker(Base): pass", "Mercury is the closest planet to the Sun.",
    "Ford and Tesla both make electric cars.", "Read the Hamilton book on finance.",
    "The Johnson & Johnson vaccine was approved.", "华为发布了新手机。", "苹果公司的股价上涨了。",
    "长江是中国最长的河流。", "我们明天去杭州出差。", "Python 的 pandas 库很好用。",
    "The Lincoln Memorial is on the National Mall.", "Black Friday sales start at midnight.",
    "Grace Hopper Day is a coding event.", "Sterling fell against the dollar.", "Summer is my favourite season.",
]
HARD_NEGATIVES_HELD = [
    "Will it rain in May?", "Can you book flights to Jordan and Egypt?", "Parker.parse(text) returns a tree.",
    "Apple and Microsoft both reported earnings.", "We met at the Hilton near Heathrow.",
    "The Jordan River flows into the Dead Sea.", "Install Flask and Django in the same venv.",
    "Nike opened a store on Oxford Street.", "Austin is the capital of Texas.",
    "The Marshall Plan rebuilt Europe.", "Set DEBUG=True in Django settings.",
    "The Mark Twain House is in Hartford.", "Siri and Alexa are voice assistants.",
    "The Morgan Stanley report came out today.", "Java and Kotlin run on the JVM.",
    "Carnegie Hall hosts concerts every week.", "Dallas beat Houston 24-17.", "April showers bring May flowers.",
    "Hope is not a strategy.", "Grant access to the admin group.", "Bill the customer at the end of the month.",
    "腾讯和阿里巴巴都发布了财报。", "黄山的风景很美。", "长城是世界文化遗产。", "我想去西安看兵马俑。",
    "Rust's borrow checker prevents data races.", "The Victoria Line runs every two minutes.",
    "Jasper National Park is in Alberta.", "Morgan.fit(X, y) trains the model.", "Sydney Harbour Bridge opened in 1932.",
]


class _Values:
    def __init__(self, split: str, seed: int):
        from faker import Faker

        Faker.seed(seed)

        def fakes(*locales: str) -> list:
            return [Faker(loc) for loc in locales]

        self.rng_names = random.Random(f"names:{split}:{seed}")
        if split == "tuning":
            en_people = fakes("en_US", "en_GB")
            self.person_en: Maker = lambda r: (lambda f: f"{f.first_name()} {f.last_name()}")(r.choice(en_people))
            zh = Faker("zh_CN")
            self.person_zh: Maker = lambda r: zh.name()
            addr = fakes("en_US", "en_GB")
            self.address_en: Maker = lambda r: r.choice(addr).address().replace("\n", ", ")
            self.address_zh: Maker = lambda r: zh.address().rsplit(" ", 1)[0]  # without the postcode
            self.dob: Maker = dob_maker(["d_month_y", "month_d_y", "iso", "us_slash"])
            self.dob_zh: Maker = dob_maker(["zh", "zh_padded", "iso"])
            self.health_en = (PREGNANCY_TUNING_EN, MEDS_TUNING_EN, HEALTH_TUNING_EN)
            self.health_zh = (PREGNANCY_TUNING_ZH, MEDS_TUNING_ZH, HEALTH_TUNING_ZH)
        elif split == "blind":
            from bench import pii_blind

            pii_blind.setup(self, seed)
        elif split == "blind2":
            from bench import pii_blind2

            pii_blind2.setup(self, seed)
        elif split == "blind3":
            from bench import pii_blind3

            pii_blind3.setup(self, seed)
        elif split == "blind4":
            from bench import pii_blind4

            pii_blind4.setup(self, seed)
        else:
            others = fakes("en_IN", "yo_NG", "zu_ZA", "pl_PL", "vi_VN", "ga_IE", "en_KE")
            self.person_en = lambda r: r.choice([
                lambda: (lambda f: f"{f.first_name()} {f.last_name()}")(r.choice(others)),
                lambda: invented_name(r)])()
            tw = Faker("zh_TW")
            self.person_zh = lambda r: zh_name_held(r) if r.random() < 0.75 else tw.name()
            addr = fakes("en_AU", "en_CA", "en_NZ")
            self.address_en = lambda r: (r.choice(addr).address().replace("\n", ", ") if r.random() < 0.4
                                         else en_address_held(r))
            self.address_zh = zh_address_held
            self.dob = dob_maker(["ordinal_of", "abbr", "dotted", "eu_slash", "month_ordinal"])
            self.dob_zh = dob_maker(["zh_slash", "zh_hao", "zh_numerals", "dotted"])
            self.health_en = (PREGNANCY_HELD_EN, MEDS_HELD_EN, HEALTH_HELD_EN)
            self.health_zh = (PREGNANCY_HELD_ZH, MEDS_HELD_ZH, HEALTH_HELD_ZH)

    def fill(self, slot: str, lang: str, rng: random.Random) -> tuple[str, str]:
        zh = lang == "zh" or (lang == "mixed" and slot in ("P", "A", "H", "M") and rng.random() < 0.5)
        if slot == "PZ":
            return "PERSON", self.person_zh(rng)
        if slot == "P":
            return "PERSON", (self.person_zh if zh else self.person_en)(rng)
        if slot == "A":
            return "ADDRESS", (self.address_zh if zh else self.address_en)(rng)
        if slot == "D":
            return "DATE_OF_BIRTH", (self.dob_zh if lang == "zh" else self.dob)(rng)
        lists = self.health_zh if zh else self.health_en
        return "HEALTH", rng.choice(lists["GMH".index(slot)])


def generate(n: int = 400, seed: int = 1234, split: str = "tuning") -> list[Sentence]:
    """n sentences: ~85% from the split's templates with every slot filled, the rest clean look-alikes."""
    templates, clean = _templates(split)
    rng = random.Random(f"people:{split}:{seed}")
    values = _Values(split, seed)
    out: list[Sentence] = []
    while len(out) < n:
        if rng.random() < 0.15:
            text = rng.choice(clean)
            out.append(Sentence(text, "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"))
            continue
        lang, template = rng.choice(templates)
        spans: list[tuple[str, str]] = []
        filled: dict[str, str] = {}
        for slot in [f for _, f, _, _ in string.Formatter().parse(template) if f]:
            kind, value = values.fill(slot, lang, rng)
            filled[slot] = value
            spans.append((kind, value))
        text = template.format(**filled)
        if lang == "en" and any("\u4e00" <= c <= "\u9fff" for c in text):
            lang = "mixed"
        out.append(Sentence(text, lang, spans))
    return out


def _templates(split: str) -> tuple[list[tuple[str, str]], list[str]]:
    if split == "blind":
        from bench.pii_blind import BLIND, CLEAN_BLIND

        return BLIND, CLEAN_BLIND
    if split == "blind2":
        from bench.pii_blind2 import BLIND2, CLEAN_BLIND2

        return BLIND2, CLEAN_BLIND2
    if split == "blind3":
        from bench.pii_blind3 import BLIND3, CLEAN_BLIND3

        return BLIND3, CLEAN_BLIND3
    if split == "blind4":
        from bench.pii_blind4 import BLIND4, CLEAN_BLIND4

        return BLIND4, CLEAN_BLIND4
    return (TUNING, CLEAN_TUNING) if split == "tuning" else (HELD_OUT, CLEAN_HELD_OUT)


def hard_negatives(split: str = "held_out") -> list[str]:
    if split == "blind":
        from bench.pii_blind import HARD_NEGATIVES_BLIND

        return list(HARD_NEGATIVES_BLIND)
    if split == "blind2":
        from bench.pii_blind2 import HARD_NEGATIVES_BLIND2

        return list(HARD_NEGATIVES_BLIND2)
    if split == "blind3":
        from bench.pii_blind3 import HARD_NEGATIVES_BLIND3

        return list(HARD_NEGATIVES_BLIND3)
    if split == "blind4":
        from bench.pii_blind4 import HARD_NEGATIVES_BLIND4

        return list(HARD_NEGATIVES_BLIND4)
    return list(HARD_NEGATIVES_TUNING if split == "tuning" else HARD_NEGATIVES_HELD)
