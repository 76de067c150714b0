"""A fourth, second blind split of the people suite (bench/pii_people.py, split ``blind2``): templates,
values and hard negatives written on 2026-12-06 by someone who had not read the detectors
(gateway/privacy/**), their tests or any earlier evaluation result, and never used to tune one.

The first blind split (bench/pii_blind.py) stopped being blind when its misses informed the fixes of that
day. This one asks its question again with wording, values and written forms that appear in neither
bench/pii_blind.py nor bench/pii_people.py: chat messages, e-mail headers, forms, notes, support tickets,
data rows to clean, in English, Chinese and mixed English/Chinese.

| type | blind2 values |
|---|---|
| PERSON (en) | Faker ro_RO, sv_SE, da_DK, no_NO, es_ES, es_AR, es_CO, pt_PT, hr_HR, sk_SK, sl_SI, lt_LT, lv_LV, et_EE, is_IS, id_ID, az_AZ, de_AT, de_CH, fr_CA, nl_BE, en_NG, uz_UZ; names written here: Korean, Thai, Ukrainian, Greek, Arabic, Hebrew, Persian, Georgian, Armenian, Tamil, Bengali, Filipino, Maori, Samoan, Irish-language romanised; pinyin and Cantonese romanisations of Chinese names; particles (van der, de la, Mac) and apostrophes |
| PERSON (zh) | surnames on neither earlier list (艾 岳 覃 聂 冼 ..., 呼延 轩辕 澹台 钟离 ...) with given-name characters on neither list, and whole names written here |
| ADDRESS (en) | Faker de_AT, de_CH, fr_CH, pt_PT, sv_SE, da_DK, no_NO, hr_HR, sk_SK, sl_SI, es_AR, es_CO, id_ID; formats written here: German/Austrian (door/stair)/Swiss, French (bis, Bât.), Belgian, Quebec, Spanish (nº, 3º izq.), Brazilian (CEP, Brasília superquadras), Mexican (Col., Fracc.), Argentine (piso, depto.), Italian, Portuguese, Dutch, Danish (2. th.), Swedish, Norwegian, Polish (ul., m.), Russian romanised (d., kv.), Japanese chome-ban-go, Korean -ro/-gil, Hong Kong Flat/12F, Taiwan romanised (Ln., Sec.), UAE villas, Nigerian plots, South African units, Australian Lot/RMB, US grid roads, Ste, military APO, UK floor flats |
| ADDRESS (zh) | provinces on neither earlier list (贵州 广西 山西 吉林 黑龙江 江西 内蒙古 新疆 海南 宁夏 青海 西藏), 幢+单元, 栋-单元-室 written as 3-12-502, 甲/乙 numbers, 号之, 座...房, 村委会/自然村, 屯, 嘎查, dormitories, development zones and factory buildings, Hong Kong and Macau addresses in traditional characters |
| DATE_OF_BIRTH | 14 Mar 87, 14/III/1987, the 14th of March, 1987, 14-03-1987, 3-14-1987, 14.3.1987, Saturday, 14 March 1987, 14 March '87, 19870314, 1987-03-14T00:00:00; 民国76年3月14日, 农历1987年二月初八, 1987-3-14, 1987.03.14, 1987年03月14号 |
| HEALTH | conditions, medicines (generic and brand), treatments, pregnancy and mental-health wordings on no earlier list (fibromyalgia, sleep apnea, Wegovy, dialysis, in the second trimester; 肩周炎, 脂肪肝, 艾司西酞普兰, 立普妥, 有喜了, ...) |

Score it once (``python bench/pii_eval.py --first-run blind2``) before changing a detector; after that it
is no longer blind either.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from bench.pii_blind import MONTHS, ZH_DIGITS, ordinal, seeded_fakers, zh_name, zh_num

Maker = Callable[[random.Random], str]

BLIND2: list[tuple[str, str]] = [
    # English: chat, e-mail, tickets, forms, notes, data rows
    ("en", "Hey {P}, are you still up for the 5k run on Sunday?"),
    ("en", "To: finance team\ncc: {P}\nSubject: Q4 accruals"),
    ("en", "Ticket #48213: {P} reports that the VPN drops every hour."),
    ("en", "Assigned to {P}; due by the end of the next sprint."),
    ("en", "@{P} could you approve the merge request when you get a chance?"),
    ("en", "On Tuesday, {P} wrote:\n> Sounds good, see you then."),
    ("en", "We're throwing a surprise party for {P} on Saturday, don't tell anyone!"),
    ("en", "Cheers,\n{P} | Logistics"),
    ("en", "Please RSVP to {P} by the 20th."),
    ("en", "Incident report: {P} slipped on the wet floor near gate 12."),
    ("en", "Please update the billing address to {A}."),
    ("en", "Return the faulty router to {A} using the prepaid label."),
    ("en", "The Airbnb is at {A}, check-in is after 3pm."),
    ("en", "Customer {P} says the parcel never reached {A}."),
    ("en", "Applicant: {P}\nCurrent address: {A}\nBirthdate: {D}"),
    ("en", "Clean up this row: {P}; {D}; {A}"),
    ("en", "Age check: the card holder's birthdate is {D}."),
    ("en", "Just so HR has it, my birthday is {D}."),
    ("en", "Note to self: {P}'s date of birth is {D}."),
    ("en", "Patient name: {P}\nDate of birth: {D}\nReason for visit: {H}"),
    ("en", "Between us, {P} was admitted last night with {H}."),
    ("en", "I've been seeing a specialist for {H} since my divorce."),
    ("en", "Dear hiring team, I should mention that I have {H} and may need adjustments."),
    ("en", "Translate into French: my neighbour {P} has {H}."),
    ("en", "Dad has been on {M} for two months now and sleeps badly."),
    ("en", "My GP switched me to {M} last Thursday."),
    ("en", "I'm currently on {M}, is it safe to have a glass of wine?"),
    ("en", "Heads up to the team: I'm {G} and will start my leave in spring."),
    ("en", "My partner is {G} and craving pickles all the time."),
    # Chinese: chat, forms, tickets, notes
    ("zh", "@{P} 这个需求今天能上线吗？"),
    ("zh", "抄送：{P}\n主题：第三季度预算"),
    ("zh", "经办人：{P}，联系地址：{A}。"),
    ("zh", "{P}老师您好，孩子今天发烧，请假一天。"),
    ("zh", "工单2039：{P}反映宽带总是掉线。"),
    ("zh", "家属{P}已签署手术同意书。"),
    ("zh", "我们组的{P}下周开始休年假。"),
    ("zh", "退货请寄回{A}，运费由我们承担。"),
    ("zh", "新家的地址是{A}，周六来暖房吧！"),
    ("zh", "收件人：{P}\n收件地址：{A}"),
    ("zh", "姓名：{P}\n出生日期：{D}\n既往病史：{H}"),
    ("zh", "我的生日是{D}，别忘了哦。"),
    ("zh", "{P}的出生年月日是{D}，请核对护照信息。"),
    ("zh", "帮我给{P}写个生日祝福，她是{D}出生的。"),
    ("zh", "我爸上个月查出了{H}，现在还在住院。"),
    ("zh", "同事{P}因为{H}请了长假。"),
    ("zh", "医生让我每天服用{M}，已经吃了半年了。"),
    ("zh", "{P}最近换成了{M}，副作用小一些。"),
    ("zh", "我{G}，公司年会还能去吗？"),
    # mixed English/Chinese
    ("mixed", "@{PZ} 这个 bug 你 fix 一下？"),
    ("mixed", "{P} 今天 WFH，有事 Slack 她。"),
    ("mixed", "Hi {P}，附件是 updated 的 quotation，请查收。"),
    ("mixed", "My manager {PZ} 说 Q4 的 target 要上调。"),
    ("mixed", "麻烦把 contract 寄到 {A}，thanks！"),
    ("mixed", "新 office 地址：{A}，下周一 move in。"),
    ("mixed", "Ship to：{A}（请放门卫）"),
    ("mixed", "他的 birthday 是 {D}，帮我 set 个 reminder。"),
    ("mixed", "Form 上的 DOB 填 {D} 就可以了。"),
    ("mixed", "Applicant {PZ}, DOB {D}, 申请 Hong Kong 签证。"),
    ("mixed", "我老公最近 diagnose 出 {H}，心情很 down。"),
    ("mixed", "我 cousin 有 {H}，can he still join the hiking trip?"),
    ("mixed", "医生 prescribe 了 {M}，说要吃三个月。"),
    ("mixed", "I'm {G}，下个月开始 maternity leave。"),
]

CLEAN_BLIND2 = [
    "The quarterly audit is scheduled for 9 October 2026.", "What is the recommended daily intake of vitamin D?",
    "Rename the column dob to date_of_birth in the schema.", "Our Zürich office closes early on Fridays.",
    "Explain the difference between a virus and a bacterium.", "Refactor this loop into a list comprehension.",
    "Flights to Seoul are cheaper in February.", "How is sleep apnea usually diagnosed?",
    "下个月的团建定在莫干山。", "请把这份表格按出生日期排序。", "骨质疏松的常见原因是什么？",
    "这个接口返回的时间戳是毫秒。", "帮我写一个 Python script 读取 Excel。", "今年国庆节放假七天。",
]

HARD_NEGATIVES_BLIND2 = [
    # capitalised words that are also first names, places named like people, streets without a house
    "Drew the short straw again, so I'm on call this weekend.", "Frank feedback helps the team improve.",
    "Sandy beaches line the coast near Faro.", "Adelaide hosts a fringe festival every March.",
    "Charlotte has a growing banking sector.", "Augusta National hosts the Masters in April.",
    "Tyler, Texas, is known for its rose garden.", "Wellington is windy in spring.",
    "Nathan Road is full of neon signs at night.", "Rue de Rivoli runs past the Louvre.",
    "Calle Mayor is closed for the parade.", "Queen's Road Central is jammed at rush hour.",
    # products and organisations
    "Dr Pepper is a soft drink from Texas.", "Mercedes-Benz recalled 3,000 vans.",
    "Wendy's sells square burgers.", "Ben & Jerry's launched a new flavour.", "Kia and Hyundai share many parts.",
    "Bosch makes dishwashers and drills.", "Harley-Davidson opened a dealership in Lyon.",
    # code identifiers and tools
    "Call Ellis.merge(left, right) to combine the frames.", "Hugo builds static sites quickly.",
    "Jest and Mocha both run JavaScript tests.", "Set MAX_RETRIES=5 before calling Dominic.run().",
    "Heroku deprecated its free tier.",
    # health questions about nobody
    "Is fibromyalgia considered an autoimmune disease?", "What is the usual adult dose of escitalopram?",
    "How common is gestational diabetes?", "透析一般一周做几次？", "艾司西酞普兰和帕罗西汀有什么区别？",
    "孕晚期可以坐飞机吗？",
    # Chinese places, brands and foods that begin with a surname
    "王老吉是一个凉茶品牌。", "陈皮可以泡水喝。", "金华火腿很出名。", "高德地图显示前方拥堵。",
    "我们下个月去呼伦贝尔草原。", "龙井路最近在修地铁。", "周庄古镇周末游客很多。",
]

# -- names ------------------------------------------------------------------------------------------
_LOCALES_BLIND2 = ("ro_RO", "sv_SE", "da_DK", "no_NO", "es_ES", "es_AR", "es_CO", "pt_PT", "hr_HR", "sk_SK", "sl_SI",
                   "lt_LT", "lv_LV", "et_EE", "is_IS", "id_ID", "az_AZ", "de_AT", "de_CH", "fr_CA", "nl_BE", "en_NG",
                   "uz_UZ")

# (given names, family names, family name first?) written here
_WRITTEN_EN = {
    "korean": (["Min-jun", "Seo-yeon", "Ji-hoon", "Ha-eun", "Do-yun", "Yoon-ah", "Jae-won", "Su-bin"],
               ["Kim", "Park", "Choi", "Jung", "Kang", "Yoon", "Jang", "Lim"], True),
    "thai": (["Somchai", "Nattapong", "Kanokwan", "Siriporn", "Thanakrit", "Pimchanok", "Anucha"],
             ["Wongsawat", "Srisuk", "Chaiyaporn", "Rattanakul", "Boonmee", "Kittisak", "Phromphan"], False),
    "ukrainian": (["Oksana", "Taras", "Olena", "Mykola", "Iryna", "Bohdan", "Yuliia", "Andriy"],
                  ["Kovalenko", "Shevchuk", "Bondarenko", "Tkachenko", "Melnyk", "Kravchenko", "Oliynyk"], False),
    "greek": (["Dimitrios", "Eleni", "Konstantinos", "Katerina", "Georgios", "Sofia", "Panagiotis"],
              ["Papadopoulos", "Georgiou", "Nikolaidis", "Karagiannis", "Vlachou", "Antoniou"], False),
    "arabic": (["Layla", "Omar", "Youssef", "Mariam", "Khalid", "Noor", "Tariq", "Huda"],
               ["Al-Haddad", "Farouk", "El Amrani", "Haddad", "Al-Mansouri", "Nasser", "Saleh"], False),
    "hebrew": (["Yael", "Avi", "Noa", "Itai", "Tamar", "Eitan", "Shira"],
               ["Mizrahi", "Ben-David", "Friedman", "Peretz", "Shapira", "Azoulay"], False),
    "persian": (["Dariush", "Shirin", "Kourosh", "Parisa", "Bahram", "Nasrin"],
                ["Karimi", "Ahmadi", "Rostami", "Jafari", "Moradi", "Tehrani"], False),
    "caucasus": (["Giorgi", "Nino", "Levan", "Tamta", "Armen", "Anahit", "Gevorg"],
                 ["Beridze", "Kapanadze", "Lomidze", "Petrosyan", "Hakobyan", "Sargsyan"], False),
    "south_asian": (["Karthik", "Lakshmi", "Anirban", "Priyanka", "Senthil", "Moumita", "Arjun"],
                    ["Subramanian", "Chatterjee", "Venkataraman", "Banerjee", "Ramasamy", "Mukherjee"], False),
    "filipino": (["Maria Clara", "Jose Rizal", "Luzviminda", "Bayani", "Marites", "Crisanto"],
                 ["Dela Cruz", "Bautista", "Macaraeg", "Villanueva", "Santos-Reyes", "Pangilinan"], False),
    "pacific": (["Aroha", "Tane", "Sione", "Mele", "Keoni", "Leilani", "Wiremu"],
                ["Te Whata", "Tuilagi", "Kahananui", "Ngata", "Fonoti", "Tupou"], False),
    "irish": (["Ruairí", "Aoife", "Caoimhe", "Donncha", "Saoirse", "Tadhg"],
              ["Mac Giolla Bhríde", "Ní Bhriain", "Ó Súilleabháin", "O'Dwyer", "McGillicuddy", "Ó Conchúir"], False),
    "particles": (["Lucas", "Inès", "Giovanni", "Femke", "Joaquín", "Annelies"],
                  ["van der Berg", "de la Fontaine", "Di Stefano", "van den Heuvel", "de la Vega", "ter Horst"], False),
    "pinyin": (["Yuxuan", "Haoran", "Shufen", "Zhiqiang", "Meiling", "Jianguo", "Ruoxi"],
               ["Zhang", "Liu", "Wang", "Huang", "Zhou", "Xu", "Guo"], True),
    "cantonese": (["Tai-man", "Ka-yan", "Siu-fung", "Wing-kei", "Chi-keung", "Mei-ling", "Ho-yin"],
                  ["Chan", "Wong", "Cheung", "Lau", "Leung", "Ng", "Tsang"], True),
}


def _written_en(rng: random.Random) -> str:
    given, family, family_first = _WRITTEN_EN[rng.choice(sorted(_WRITTEN_EN))]
    g, f = rng.choice(given), rng.choice(family)
    return f"{f} {g}" if family_first else f"{g} {f}"


def person_en_blind2(seed: int) -> Maker:
    fakes = seeded_fakers(_LOCALES_BLIND2, seed)

    def make(rng: random.Random) -> str:
        if rng.random() < 0.55:
            return _written_en(rng)
        f = rng.choice(fakes)
        return f"{f.first_name()} {f.last_name()}"
    return make


ZH_SURNAMES_BLIND2 = ("艾 岳 阮 蒙 覃 宁 甘 聂 温 关 庞 辛 符 蓝 农 柴 邝 冼 祝 尚 牛 佟 代 屈 谈 景 练 揭 晏 冉 付 栾 臧 迟 鞠 "
                      "闫 申 檀 阚 邸 逄 隋 "
                      "呼延 轩辕 澹台 钟离 公冶 司空 濮阳").split()
ZH_GIVEN_BLIND2 = list("国建明永志秀英海德春兰淑珍贵福成庆胜利民光辉学佳振豪晓燕丹立新")
# whole names written here: common surnames with given names from neither earlier list
ZH_WHOLE_NAMES_BLIND2 = ["王建国", "李秀英", "张德华", "刘淑珍", "陈家豪", "杨振东", "黄晓燕", "赵福生", "周立新",
                         "吴丹阳", "徐永胜", "孙凤兰", "马光辉", "朱学军", "胡玉梅", "郭庆丰", "林佳欣", "何荣生",
                         "高明远", "罗春花", "梁嘉乐", "宋卫国", "郑志明", "谢金凤"]


def zh_name_blind2(rng: random.Random) -> str:
    return zh_name(rng, ZH_SURNAMES_BLIND2, ZH_GIVEN_BLIND2, ZH_WHOLE_NAMES_BLIND2, 0.4)


# -- addresses ----------------------------------------------------------------------------------------
_L = "ABCDEFGHJKLMNPRSTVWXYZ"


def en_address_blind2(rng: random.Random) -> str:
    n, r = rng.randint(1, 240), rng.randint
    return rng.choice([
        # German, Austrian (house/stair/door), Swiss
        lambda: f"{rng.choice(['Lindenstraße', 'Goethestraße', 'Kastanienallee', 'Am Mühlbach', 'Rosenweg'])} "
                f"{n}{rng.choice(['', '', 'a', 'b'])}, {rng.choice(['10437 Berlin', '80331 München', '50667 Köln', '04109 Leipzig', '79098 Freiburg im Breisgau'])}",
        lambda: f"{rng.choice(['Mariahilfer Straße', 'Favoritenstraße', 'Landstraßer Hauptstraße'])} {n}/{r(1, 9)}/"
                f"{r(1, 30)}, {rng.choice(['1070', '1100', '1030'])} Wien",
        lambda: (lambda st, city: f"{st} {n}, {city}")(
            *rng.choice([("Bahnhofstrasse", "8001 Zürich"), ("Seefeldstrasse", "8008 Zürich"),
                         ("Kramgasse", "3011 Bern"), ("Spalenberg", "4051 Basel")])),
        # French, Belgian, Quebec
        lambda: f"{n}{rng.choice(['', '', ' bis', ' ter'])} {rng.choice(['rue des Lilas', 'avenue Jean Jaurès', 'boulevard Voltaire', 'impasse des Tanneurs', 'quai de la Fosse'])}, "
                f"{rng.choice(['75011 Paris', '69003 Lyon', '31000 Toulouse', '33000 Bordeaux', '44000 Nantes'])}",
        lambda: f"Bât. {rng.choice('ABCD')}, Appt {r(1, 60)}, {n} allée des Tilleuls, 67000 Strasbourg",
        lambda: f"{rng.choice(['Rue de la Loi', 'Chaussée de Wavre', 'Avenue Louise'])} {n}, "
                f"{rng.choice(['1000 Bruxelles', '1050 Ixelles', '1040 Etterbeek'])}",
        lambda: f"{r(1000, 9999)}, rue Saint-Denis, Montréal (Québec) H2J {r(1, 9)}{rng.choice(_L)}{r(1, 9)}",
        # Spanish, Argentine, Mexican, Brazilian
        lambda: f"Calle de {rng.choice(['Alcalá', 'Atocha', 'Fuencarral'])} {n}, {r(1, 8)}º "
                f"{rng.choice(['izq.', 'dcha.'])}, 280{r(10, 45)} Madrid",
        lambda: f"C/ {rng.choice(['Mayor', 'de la Paz', 'San Vicente'])} nº {n}, {r(1, 9)}º{rng.choice('ABCD')}, "
                f"460{r(1, 25):02d} Valencia",
        lambda: f"Av. Corrientes {r(100, 6000)}, piso {r(1, 20)}, depto. {rng.choice('ABCDEF')}, C1043 CABA",
        lambda: f"Av. Insurgentes Sur {r(100, 3000)}, Col. {rng.choice(['Del Valle', 'Roma Sur', 'Crédito Constructor'])}, "
                f"0{r(3100, 3999)} Ciudad de México, CDMX",
        lambda: f"Privada de los Pinos {n}, Fracc. Las Lomas, 45{r(100, 199)} Zapopan, Jal.",
        lambda: f"Rua {rng.choice(['Augusta', 'Oscar Freire', 'Haddock Lobo'])}, {r(100, 2000)}, apto {r(11, 184)}, "
                f"{rng.choice(['Consolação', 'Jardins', 'Cerqueira César'])}, São Paulo - SP, 01{r(300, 499)}-{r(0, 999):03d}",
        lambda: f"SQS {rng.choice(['108', '308', '316'])} Bloco {rng.choice('ABCDEFGHIJK')}, apto {r(101, 606)}, "
                f"Asa Sul, Brasília - DF, 70{r(300, 399)}-0{r(10, 99)}",
        # Italian, Portuguese, Dutch, Nordic, Polish, Russian romanised
        lambda: f"Via {rng.choice(['Giuseppe Garibaldi', 'Po', 'Nizza'])} {n}, 101{r(21, 53)} Torino (TO)",
        lambda: f"Viale Monza {n}, int. {r(1, 30)}, 201{r(21, 62)} Milano",
        lambda: f"Rua Garrett {n}, {r(1, 6)}.º {rng.choice(['Esq.', 'Dto.'])}, 1200-{r(100, 299)} Lisboa",
        lambda: f"Prinsengracht {r(100, 999)}-{r(1, 3)}, 10{r(10, 19)} {rng.choice(_L)}{rng.choice(_L)} Amsterdam",
        lambda: f"Nørrebrogade {n}, {r(1, 5)}. {rng.choice(['th.', 'tv.', 'mf.'])}, 2200 København N",
        lambda: f"Drottninggatan {n}, 111 {r(20, 60)} Stockholm",
        lambda: f"Thorvald Meyers gate {n}{rng.choice(['', 'B'])}, 05{r(50, 59)} Oslo",
        lambda: (lambda st, city: f"ul. {st} {n}/{r(1, 40)} m. {r(1, 80)}, {city}")(
            *rng.choice([("Marszałkowska", "00-514 Warszawa"), ("Piotrkowska", "90-106 Łódź"),
                         ("Długa", "80-831 Gdańsk")])),
        lambda: f"ul. Tverskaya, d. {n}, kv. {r(1, 200)}, Moscow 1250{r(10, 99)}",
        # Japan, Korea, Hong Kong, Taiwan romanised
        lambda: f"{r(1, 6)}-{r(1, 30)}-{r(1, 20)} {rng.choice(['Jingumae, Shibuya-ku', 'Nishi-Shinjuku, Shinjuku-ku', 'Kichijoji Honcho, Musashino-shi'])}, "
                f"Tokyo {r(150, 180)}-{r(0, 9999):04d}",
        lambda: f"Room {r(2, 12)}0{r(1, 9)}, {rng.choice(['Maison Hikari', 'Sunny Heights', 'Grand Soleil Namba'])}, "
                f"{r(1, 6)}-{r(1, 20)}-{r(1, 30)} Namba, Chuo-ku, Osaka 542-00{r(70, 99)}",
        lambda: (lambda road, area, code: f"{r(1, 600)} {road}, {area} {code}")(
            *rng.choice([("Teheran-ro 10-gil", "Gangnam-gu, Seoul", f"0{r(6100, 6299)}"),
                         ("Banpo-daero", "Seocho-gu, Seoul", f"0{r(6500, 6799)}"),
                         ("Haeundae-ro 570beon-gil", "Haeundae-gu, Busan", f"48{r(0, 120):03d}")])),
        lambda: f"Apt {r(101, 115)}-{r(1, 25)}0{r(1, 4)}, {r(1, 300)} Banpo-daero, Seocho-gu, Seoul",
        lambda: f"Flat {rng.choice('ABCDEFGH')}, {r(2, 40)}/F, Block {r(1, 8)}, "
                f"{rng.choice(['Kornhill Gardens', 'Taikoo Shing', 'Mei Foo Sun Chuen'])}, {r(1, 1200)} King's Road, "
                f"Quarry Bay, Hong Kong",
        lambda: f"Room {r(2, 30)}0{r(1, 9)}, {r(2, 30)}/F, Wing On Centre, 111 Connaught Road Central, Sheung Wan, "
                f"Hong Kong",
        lambda: f"Flat {r(1, 12)}, {r(1, 9)}/F, Tak Wing House, {n} Sai Yeung Choi Street South, Mong Kok, Kowloon",
        lambda: f"{r(2, 15)}F., No. {n}, Ln. {r(10, 300)}, Sec. {r(1, 4)}, Roosevelt Rd., Da'an Dist., "
                f"Taipei City 106",
        # Middle East, Africa, Oceania
        lambda: f"Villa {r(1, 90)}, Street {r(1, 40)}, Al Barsha {r(1, 3)}, Dubai",
        lambda: f"Plot {r(100, 2000)}, Adeola Odeku Street, Victoria Island, Lagos",
        lambda: f"Unit {r(1, 40)}, Melrose Court, {n} Jan Smuts Avenue, Rosebank, Johannesburg, 2196",
        lambda: f"Lot {r(1, 90)} Bruxner Highway, Casino NSW 2470",
        lambda: f"RMB {r(1000, 9999)}, Kyneton VIC 3444",
        # United States, United Kingdom
        lambda: f"N{r(1000, 9999)} County Road {rng.choice('KMNQ')}, Fond du Lac, WI 549{r(30, 37)}",
        lambda: f"{r(100, 9999)} Old Canton Rd Ste {r(100, 400)}, Jackson, MS 392{r(10, 20)}",
        lambda: f"PSC {r(800, 820)} Box {r(1, 99)}, APO AE 09{r(400, 499)}",
        lambda: f"{rng.choice(['2nd Floor Flat', 'Basement Flat', 'Top Floor Flat'])}, {n} Marchmont Road, "
                f"Edinburgh EH9 {r(1, 3)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
    ])()


def address_en_blind2(seed: int) -> Maker:
    fakes = seeded_fakers(("de_AT", "de_CH", "fr_CH", "pt_PT", "sv_SE", "da_DK", "no_NO", "hr_HR", "sk_SK",
                                    "sl_SI", "es_AR", "es_CO", "id_ID"), seed)
    return lambda r: (r.choice(fakes).address().replace("\n", ", ") if r.random() < 0.3 else en_address_blind2(r))


_ZH_AREAS_BLIND2 = ["贵州省贵阳市观山湖区", "贵州省遵义市汇川区", "广西壮族自治区南宁市青秀区", "广西桂林市七星区",
                    "山西省太原市小店区", "吉林省长春市朝阳区", "黑龙江省哈尔滨市南岗区", "江西省南昌市红谷滩区",
                    "江西省赣州市章贡区", "内蒙古自治区呼和浩特市赛罕区", "包头市昆都仑区",
                    "新疆维吾尔自治区乌鲁木齐市天山区", "海南省海口市美兰区", "三亚市吉阳区",
                    "宁夏回族自治区银川市金凤区", "青海省西宁市城西区", "西藏自治区拉萨市城关区"]
_ZH_ROADS_BLIND2 = ["林城西路", "民族大道", "迎泽大街", "人民大街", "红旗大街", "赣江中路", "新华东街", "友好北路",
                    "国兴大道", "北京中路", "五四西路", "金字塔路", "榕湖北路", "钢铁大街", "红星路"]
_ZH_ESTATES_BLIND2 = ["金地名京", "恒大绿洲", "保利香槟国际", "中海国际社区", "阳光城", "幸福里", "书香门第",
                      "翡翠城", "龙湾一号", "紫薇花园"]


def zh_address_blind2(rng: random.Random) -> str:
    area, road, estate, r = rng.choice(_ZH_AREAS_BLIND2), rng.choice(_ZH_ROADS_BLIND2), rng.choice(_ZH_ESTATES_BLIND2), rng.randint
    no, bld, unit, room = r(1, 888), r(1, 36), r(1, 6), f"{r(1, 32)}0{r(1, 4)}"
    return rng.choice([
        lambda: f"{area}{road}{no}号{estate}{bld}幢{unit}单元{room}室",
        lambda: f"{area}{estate}{r(1, 3)}期{bld}幢{room}室",
        lambda: f"{area}{road}{estate}{bld}-{unit}-{room}",
        lambda: f"{area}{road}{rng.choice('甲乙')}{no}号",
        lambda: f"{area}{road}{no}号之{r(1, 9)}",
        lambda: f"{area}{road}{no}号{estate}{rng.choice('ABCDE')}座{room}房",
        lambda: f"{area}{rng.choice(['丽景街道', '南湖街道', '新城街道'])}{rng.choice(['锦绣社区', '和平社区', '东风社区'])}"
                f"{estate}{bld}号楼{room}",
        lambda: "".join(rng.choice([("贵州省黔东南州雷山县", "西江镇", "羊排村委会", "上寨"),
                                    ("广西百色市田阳区", "那坡镇", "那满村委会", "坡洪屯"),
                                    ("江西省上饶市婺源县", "江湾镇", "晓起村委会", "下晓起")])) + f"自然村{r(1, 120)}号",
        lambda: "".join(rng.choice([("吉林省榆树市", "弓棚子镇"), ("黑龙江省五常市", "拉林镇")]))
                + f"{rng.choice(['友谊村', '红光村'])}{rng.choice(['前屯', '后屯', '三家子屯'])}{r(1, 80)}号",
        lambda: f"内蒙古锡林郭勒盟{''.join(rng.choice([('正蓝旗', '上都镇'), ('阿巴嘎旗', '别力古台镇')]))}"
                f"{rng.choice(['巴音乌拉嘎查', '宝绍岱嘎查'])}{r(1, 60)}号",
        lambda: "".join(rng.choice([("山西省太原市", "山西大学坞城校区"), ("江西省南昌市", "南昌大学前湖校区"),
                                    ("吉林省长春市", "吉林大学南岭校区")])) + f"{r(1, 20)}号宿舍楼{room}室",
        lambda: f"{rng.choice(['贵阳', '南宁', '西宁'])}经济技术开发区{road}{no}号{rng.choice(['标准厂房', '科创园'])}"
                f"{r(1, 12)}号厂房",
        lambda: f"香港九龍旺角彌敦道{r(500, 750)}號{rng.choice(['旺角中心', '信和中心', '好望角大廈'])}"
                f"{r(2, 30)}樓{rng.choice('ABCDEF')}室",
        lambda: "香港新界沙田" + "".join(rng.choice([("瀝源邨", "福海樓"), ("禾輋邨", "豐和樓"), ("新翠邨", "新偉樓")]))
                + f"{r(2, 30)}樓{r(1, 30)}室",
        lambda: f"澳門氹仔{rng.choice(['柯維納馬路', '孫逸仙博士大馬路'])}{r(1, 600)}號"
                f"{rng.choice(['海洋花園', '濠庭都會'])}{r(2, 30)}樓{rng.choice('ABCDEFGH')}座",
    ])()


# -- dates of birth -------------------------------------------------------------------------------------
_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
_LUNAR_MONTHS = ["正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊"]


def lunar_day(d: int) -> str:
    """初八, 十五, 二十, 廿三, 三十."""
    if d <= 10:
        return "初" + zh_num(d)
    if d < 20:
        return zh_num(d)
    if d == 20:
        return "二十"
    return "廿" + ZH_DIGITS[d - 20] if d < 30 else "三十"


def dob_blind2(zh: bool) -> Maker:
    def make(rng: random.Random) -> str:
        y, m, d = rng.randint(1932, 2016), rng.randint(1, 12), rng.randint(1, 28)
        mon = MONTHS[m - 1]
        if zh:
            return rng.choice([
                f"民国{y - 1911}年{m}月{d}日", f"农历{y}年{_LUNAR_MONTHS[m - 1]}月{lunar_day(rng.randint(1, 30))}",
                f"{y}-{m}-{d}", f"{y}.{m:02d}.{d:02d}", f"{y}年{m:02d}月{d:02d}号",
            ])
        weekday = dt.date(y, m, d).strftime("%A")
        return rng.choice([
            f"{d} {mon[:3]} {y % 100:02d}", f"{d}/{_ROMAN[m - 1]}/{y}", f"the {ordinal(d)} of {mon}, {y}",
            f"{d:02d}-{m:02d}-{y}", f"{m}-{d}-{y}", f"{d}.{m}.{y}", f"{weekday}, {d} {mon} {y}",
            f"{d} {mon} '{y % 100:02d}", f"{y}{m:02d}{d:02d}", f"{y}-{m:02d}-{d:02d}T00:00:00",
        ])
    return make


# -- health ---------------------------------------------------------------------------------------------
HEALTH_BLIND2_EN = ["fibromyalgia", "sleep apnea", "irritable bowel syndrome", "vertigo", "rosacea", "vitiligo",
                    "alopecia areata", "carpal tunnel syndrome", "osteoporosis", "osteoarthritis", "a torn ACL",
                    "chronic kidney disease", "cystic fibrosis", "muscular dystrophy", "Bell's palsy",
                    "trigeminal neuralgia", "cluster headaches", "a brain tumour", "ovarian cancer", "lymphoma",
                    "testicular cancer", "gestational diabetes", "preeclampsia", "genital herpes", "gonorrhoea",
                    "measles", "whooping cough", "sepsis", "a pulmonary embolism", "iron-deficiency anaemia",
                    "sarcoidosis", "myasthenia gravis", "Addison's disease", "type 1 diabetes",
                    "social anxiety disorder", "seasonal affective disorder", "agoraphobia", "binge eating disorder",
                    "an alcohol use disorder", "an opioid addiction", "postnatal depression", "Down syndrome",
                    "cerebral palsy", "spina bifida", "stage 3 colon cancer", "a heart murmur", "high cholesterol",
                    "acid reflux", "GERD", "IBS", "a concussion", "frozen shoulder", "tennis elbow"]
MEDS_BLIND2_EN = ["escitalopram", "venlafaxine", "Effexor", "duloxetine", "Cymbalta", "quetiapine", "aripiprazole",
                  "Abilify", "risperidone", "bupropion", "mirtazapine", "trazodone", "zolpidem", "Ambien",
                  "clonazepam", "Klonopin", "diazepam", "Valium", "lorazepam", "pregabalin", "Lyrica", "tramadol",
                  "oxycodone", "methadone", "Vyvanse", "Ritalin", "Concerta", "semaglutide", "Wegovy", "Jardiance",
                  "apixaban", "Xarelto", "clopidogrel", "bisoprolol", "propranolol", "ramipril", "furosemide",
                  "spironolactone", "simvastatin", "Lipitor", "allopurinol", "hydroxychloroquine", "Enbrel",
                  "Keytruda", "Herceptin", "anastrozole", "Truvada", "Biktarvy", "valacyclovir", "isotretinoin",
                  "finasteride", "montelukast", "Dupixent", "dialysis", "radiotherapy", "immunotherapy",
                  "IVF treatment", "electroconvulsive therapy", "testosterone therapy"]
PREGNANCY_BLIND2_EN = ["in the second trimester", "six weeks along", "due in October", "heavily pregnant",
                       "carrying twins", "expecting our first baby", "22 weeks along", "pregnant again"]
HEALTH_BLIND2_ZH = ["肩周炎", "骨质疏松", "脂肪肝", "甲亢", "甲状腺结节", "桥本甲状腺炎", "尿毒症", "脑梗", "心肌梗死",
                    "房颤", "高血脂", "地中海贫血", "慢性胃炎", "幽门螺杆菌感染", "肠易激综合征", "克罗恩病", "直肠癌",
                    "肝癌", "鼻咽癌", "淋巴瘤", "卵巢囊肿", "乳腺增生", "不孕症", "梅毒", "尖锐湿疣", "手足口病",
                    "白癜风", "斑秃", "多动症", "抽动症", "躁郁症", "社交恐惧症", "惊恐障碍", "创伤后应激障碍",
                    "厌食症", "酒精依赖", "唐氏综合征", "脑瘫", "重症肌无力", "渐冻症", "老年痴呆", "腰肌劳损"]
MEDS_BLIND2_ZH = ["艾司西酞普兰", "帕罗西汀", "文拉法辛", "度洛西汀", "喹硫平", "阿立哌唑", "利培酮", "丙戊酸钠",
                  "卡马西平", "左乙拉西坦", "阿普唑仑", "劳拉西泮", "唑吡坦", "美托洛尔", "缬沙坦", "硝苯地平",
                  "阿托伐他汀", "瑞舒伐他汀", "氯吡格雷", "利伐沙班", "格列美脲", "阿卡波糖", "达格列净", "司美格鲁肽",
                  "恩替卡韦", "替诺福韦", "泼尼松", "羟氯喹", "非布司他", "他克莫司", "立普妥", "波立维", "拜新同",
                  "格华止", "赫赛汀", "格列卫", "思瑞康", "百忧解", "黛力新", "六味地黄丸"]
PREGNANCY_BLIND2_ZH = ["有喜了", "怀上了", "怀着双胞胎", "已经孕晚期了", "快生了", "怀孕八周"]


def setup(values, seed: int) -> None:
    """Fills a bench.pii_people._Values with the second blind split's makers."""
    values.person_en = person_en_blind2(seed)
    values.person_zh = zh_name_blind2
    values.address_en = address_en_blind2(seed)
    values.address_zh = zh_address_blind2
    values.dob = dob_blind2(zh=False)
    values.dob_zh = dob_blind2(zh=True)
    values.health_en = (PREGNANCY_BLIND2_EN, MEDS_BLIND2_EN, HEALTH_BLIND2_EN)
    values.health_zh = (PREGNANCY_BLIND2_ZH, MEDS_BLIND2_ZH, HEALTH_BLIND2_ZH)
