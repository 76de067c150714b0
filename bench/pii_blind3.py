"""A fifth, third blind split of the people suite (bench/pii_people.py, split ``blind3``): templates,
values and hard negatives written on 2026-12-06 by someone who had not read the detectors
(gateway/privacy/**), their tests or any evaluation result, and never used to tune one.

The second blind split (bench/pii_blind2.py) stops being blind once its misses inform a fix. This one asks
the same question a third time, with genres, wording, values and written forms that appear in none of
bench/pii_people.py, bench/pii_blind.py and bench/pii_blind2.py: calendar invites, SMS, voicemail and
voice-note transcripts, HR and school forms, insurance claims, pharmacy refills, delivery notes, CRM notes,
meeting minutes, introductions, WeChat group messages, discharge summaries, legal letters, obituaries,
JSON/CSV/markdown rows and log lines, in English, Chinese and mixed English/Chinese. Names sit in hard
places: at the start of a sentence with no cue, after 的, in pairs, in parentheses, before 's, in ALL CAPS
or with the family name in capitals, with middle initials, hyphens, apostrophes and particles.

| type | blind3 values |
|---|---|
| PERSON (en) | Faker en_IE, en_TH, es_CA, es_CL, fr_BE, fr_DZ; names written here (1) |
| PERSON (zh) | surnames and given-name characters on no earlier list; whole names written here (2) |
| ADDRESS (en) | Faker en_MS, en_BD, es_CL; formats written here (3) |
| ADDRESS (zh) | provinces and cities on no earlier list; formats written here (4) |
| DATE_OF_BIRTH | written forms on no earlier list (5) |
| HEALTH | conditions, medicines and pregnancy wordings on no earlier list (6) |

(1) Vietnamese (family name first, diacritics), Ethiopian, Somali, Hawaiian (Ka'ai), Sámi, Basque, Catalan
(Puig i Ferrer), Welsh (ap, ab), Scottish Gaelic (Mac, Nic, Mac an t-), Yoruba, Swahili, Nepali (KC),
Native American modern (Two Bulls), Jamaican, apostrophes (N'Diaye, Dell'Acqua, D'Mello); whole names:
Kazakh, Malay (bin, binti), Sinhala with initials (K. M. ...), Mongolian (B. Enkhjargal). A middle initial
now and then; about one name in ten as "Given SURNAME" or all in capitals.
(2) 查 麦 詹 卓 敖 鄢 匡 仇 郦 向 原 初 ..., 百里 西门 申屠 万俟 闾丘 东郭 拓跋 ...; two-character names that
read as words (向东, 原野), four-character names, traditional characters (詹韻儀, 陳麥綺雯).
(3) Welsh-language, Glasgow tenement (0/2), Belfast BT, US fractional (742½), Queens hyphenated, Salt Lake
grid, PMB, highway contract routes, Puerto Rico urbanizaciones, Canadian unit-dash, Australian 2/17, NZ
rural delivery (RD), Irish townlands, Kenyan P.O. Box with postcode, Ghana digital address, Addis Ababa
sub-city/woreda, Islamabad sectors, Colombo No. 45/2, Kathmandu ward, Malaysian Jalan SS, Vietnamese
số/ngõ, Bangkok Moo/Soi, Ulaanbaatar khoroo, Almaty, Tel Aviv, Istanbul No:/D:, Athens, Reykjavík,
Helsinki stairway, Prague double numbers, Budapest floor/door (III/2), Chinese addresses in pinyin.
(4) 郑州 宁波 无锡 济南 泉州 佛山 株洲 宝鸡 兰州 沈阳 石家庄 芜湖 宜昌 绵阳 温州, 上海徐汇/静安, 北京朝阳,
天津南开, 高雄, 臺中, 新北; # for 号楼 (5#1302), a postcode first, spaced 省 市 区, crossroads
(与...交叉口东北角), 新村, 支弄, Tianjin 门, 18F-1805, 县/镇/街, 西园三区, Taiwan 樓之 and 臺.
(5) 14 MAR 1987, 14MAR1987, March 14th 1987, Mar-14-1987, Sat 14 Mar 1987, the fourteenth of March 1987,
March fourteenth, nineteen eighty-seven, 1987 March 14, 14.III.1987, 03.14.1987, 14/03/87, 1987/03/14;
八七年三月十四日, 1987年三月十四日, 民國七十六年三月十四日, 87.3.14, 1987/03/14, full-width
１９８７年３月１４日, 公历1987年3月14日.
(6) plantar fasciitis, Ménière's disease, POTS, Entresto, Paxlovid, seven months gone; 强直性脊柱炎,
IgA肾病, 拉莫三嗪, 倍他乐克, 刚验出两道杠, ...

Score it once before changing a detector; after that it is no longer blind either.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from bench.pii_blind import MONTHS, ZH_DIGITS, ordinal, seeded_fakers, zh_name, zh_num

Maker = Callable[[random.Random], str]

BLIND3: list[tuple[str, str]] = [
    # English: invites, texts, transcripts, forms, claims, notes, minutes, letters, data rows, logs
    ("en", "Invitation: 1:1 with {P}\nThu 10:30 - 11:00 (GMT)\nJoin with Google Meet"),
    ("en", "hey its me, can u grab {P} from swim practice at 6? thx"),
    ("en", "[Voicemail, 0:42] Hi, this is {P} calling about the quote for the new fence, ring me back."),
    ("en", "Transcript: \"...yeah so my date of birth, um, it's {D}, and the policy number is on file.\""),
    ("en", "EMPLOYEE NAME: {P}\nSTART DATE: 02/01/2027\nDEPARTMENT: Facilities"),
    ("en", "{P} never answered my text about the rota."),
    ("en", "{P}'s flight lands at 6:40, can someone meet them at arrivals?"),
    ("en", "Claim no. CLM-20931-B\nPolicyholder: {P}\nInsured property: {A}\nCause of loss: burst pipe"),
    ("en", "The claimant was diagnosed with {H} in 2021 and asks us to reimburse the specialist visits."),
    ("en", "Refill request: {M}, 90-day supply, for {P}. Collect at the Harbour Road branch."),
    ("en", "Hello, I'd like to renew my prescription for {M}; my date of birth is {D}."),
    ("en", "Deliver to {A}. Leave it by the side gate, the dog is friendly."),
    ("en", "Driver note: the buzzer is broken, call {P} when you reach {A}."),
    ("en", "CRM note: spoke with {P}'s assistant, renewal likely in Q1, follow up after the holidays."),
    ("en", "Minutes of 4 March. Present: the chair, the treasurer and {P}. Apologies: none."),
    ("en", "Action: {P} to circulate the revised budget before the next committee meeting."),
    ("en", "Happy to introduce {P} (cc'd), who ran platform engineering at a fintech in Nairobi."),
    ("en", "I'm thrilled to share that {P} has joined our design team as a senior researcher!"),
    ("en", "DISCHARGE SUMMARY\nPatient: {P}\nBorn: {D}\nPrincipal diagnosis: {H}"),
    ("en", "Discharged home on {M}, with a review in the fracture clinic in two weeks."),
    ("en", "Re: Tenancy of {A}\nWe act for your landlord in connection with the arrears set out below."),
    ("en", "Our client, {P}, denies each and every allegation in your letter of 2 May."),
    ("en", "{{\"name\": \"{P}\", \"dob\": \"{D}\", \"tier\": \"gold\"}}"),
    ("en", "id,full_name,mailing_address\n1042,{P},\"{A}\""),
    ("en", "| Name | Born |\n|---|---|\n| {P} | {D} |"),
    ("en", "2026-11-30T08:14:22Z INFO profile.update user=\"{P}\" field=address new=\"{A}\""),
    ("en", "Prayer request: please keep {P} in your thoughts, treatment for {H} starts on Monday."),
    ("en", "Fit note: {P} was not fit for work from 3 to 7 November because of {H}."),
    ("en", "Coach, heads up: {P} has {H} and may need to sit out the long runs."),
    ("en", "School nurse log: {P} (Year 9) takes {M} at lunch, the box is kept in the office."),
    ("en", "Voice memo to self: ask the GP whether I can stop {M} before the trip."),
    ("en", "Out of office: I'm {G} and on reduced hours until March; {P} is covering my accounts."),
    ("en", "Gym intake. Member: {P}. Notes: {G}, no high-impact classes."),
    ("en", "{P}, born {D}, passed away peacefully at home surrounded by family."),
    ("en", "Dependant's name: {P}\nDependant's date of birth: {D}"),
    ("en", "Class notes: {P} ('09) and family have moved to {A}."),
    ("en", "Lost property: a wallet belonging to {P} was handed in at the front desk."),
    ("en", "Reference: I managed {P} for three years at the council and would hire them again."),
    ("en", "Carpool this week: {P} on Monday and Wednesday, {PZ} on Friday."),
    ("en", "Seating plan, table 6: {PZ} and guest."),
    # Chinese: invites, SMS, transcripts, forms, claims, pharmacy, delivery, CRM, minutes, WeChat, letters
    ("zh", "日程邀请：周会\n参与人：{P}、{PZ}\n时间：周四上午十点"),
    ("zh", "【快递】您的包裹已由{P}代收，如有疑问请联系派件员。"),
    ("zh", "语音转文字：喂，我是{P}啊，房子的事你先看一下微信。"),
    ("zh", "入职登记表\n姓名：{P}　性别：女　出生年月：{D}"),
    ("zh", "隔壁班的{P}这次数学考了满分，家长群里都在夸。"),
    ("zh", "理赔申请人：{P}\n被保险人住址：{A}\n出险原因：暴雨导致车辆进水"),
    ("zh", "您好，帮我预订两盒{M}，取药人是{P}。"),
    ("zh", "外卖备注：送到{A}，放门口就行，别敲门，孩子在睡觉。"),
    ("zh", "客户{P}的合同下周到期，续约意向比较高。"),
    ("zh", "会议纪要（11月28日）\n出席：{P}\n记录：{PZ}"),
    ("zh", "@所有人 今晚聚餐改到七点，{P}请客！"),
    ("zh", "出院记录：患者{P}，因{H}入院，经治疗后好转出院。"),
    ("zh", "致{P}先生：本所受委托人之托，就房屋租赁纠纷一事函告如下。"),
    ("zh", "身份证上的出生日期写的是{D}，和户口本对不上。"),
    ("zh", "我家老大是{D}出生的，帮我算算他今年几岁。"),
    ("zh", "我婆婆查出{H}以后，饭量小了很多。"),
    ("zh", "姐妹们，我{G}，有没有推荐的产检医院？"),
    ("zh", "本人因{H}需住院治疗，特请假两周，望批准。"),
    ("zh", "{P}这段时间一直在吃{M}，记得提醒一下别漏服。"),
    ("zh", "这是{P}的新地址：{A}，以后寄东西寄这里。"),
    ("zh", "本次获奖名单：一等奖（{P}），二等奖（{PZ}）。"),
    ("zh", "您好，我是{A}的业主，楼上漏水了，麻烦物业来看一下。"),
    ("zh", "给大家介绍一下，这位是{P}，之前在一家大厂做推荐算法。"),
    ("zh", "员工{P}因{H}申请调岗，附医院证明。"),
    ("zh", "{P}{G}，从这个月起不给她排夜班。"),
    ("zh", "讣告：{P}先生生于{D}，于本月十二日安详辞世。"),
    # mixed English/Chinese
    ("mixed", "Meeting invite：{P} 邀请你参加 Q1 planning，周四 3pm。"),
    ("mixed", "您的 order 已由 {P} 签收，thanks for shopping with us。"),
    ("mixed", "Voice note 转文字：喂 {P}，我到楼下了，你 come down 一下。"),
    ("mixed", "HR 系统里 {PZ} 的 DOB 写成了 {D}，需要 update 一下。"),
    ("mixed", "Insurance claim 已提交，claimant 是 {P}，地址 {A}。"),
    ("mixed", "帮我 refill 一下 {M}，prescription 在 {P} 那里。"),
    ("mixed", "Delivery note：请送到 {A}，到了 call 我。"),
    ("mixed", "CRM 更新：{P} 已经 sign 了合同，next step 是 onboarding。"),
    ("mixed", "Minutes：{P}、{PZ} 负责 vendor review，下周五前交 draft。"),
    ("mixed", "LinkedIn 上看到 {P} 换工作了，去了一家 AI startup。"),
    ("mixed", "{PZ} 在群里说 she's {G}，所以 offsite 不去了。"),
    ("mixed", "Discharge summary：患者 {P}，diagnosis 是 {H}，两周后 follow up。"),
    ("mixed", "律师 letter 寄到 {A}，收件人写 {PZ}。"),
    ("mixed", "JSON 里加一条：{{\"name\": \"{PZ}\", \"birthday\": \"{D}\"}}"),
    ("mixed", "Log 里有一行 user={P} action=change_address addr=\"{A}\"，帮我查下是不是 bug。"),
    ("mixed", "我 boss 的 wife 有 {H}，所以他最近经常 WFH。"),
    ("mixed", "{P} 的 flight 晚点了，pick up 改到十点。"),
    ("mixed", "School 发通知说 {P} 这周要自己带 lunch box。"),
    ("mixed", "我妈一直在吃 {M}，can she take it with grapefruit juice?"),
    ("mixed", "Please translate：我外公 {PZ} 生于 {D}，一辈子都在种地。"),
    ("mixed", "帮我把这行加到表里：| {P} | {A} | shipped |"),
    ("mixed", "Hi all，介绍一下 {P}（our new PM），以后 roadmap 的事找她。"),
]

CLEAN_BLIND3 = ["Invitation: Q1 planning, Thursday 10:30 - 11:00, Room 4B.",
                "Refill the printer paper before the board meeting.",
                "Discharge summaries should be sent to the GP within 24 hours.",
                "The claim form asks for a policy number.", '{"status": "ok", "count": 42}',
                "id,sku,qty\n1042,AB-77,3", "Log format: timestamp, level, module, message.",
                "Which vaccines are recommended during pregnancy?",
                "The sprint review moved to 3 December 2026.", "会议纪要请在周五前发到群里。",
                "出院以后饮食上要注意什么？", "这个药一天最多能吃几次？", "快递柜满了，明天再来取。",
                "请在表格里填写入职日期和部门。", "Q1 的 roadmap 下周 review 一下。"]

HARD_NEGATIVES_BLIND3 = [
    # eponymous laws, diseases and tools used generically, about nobody
    "Parkinson's law says work expands to fill the time available.",
    "Murphy's law struck again: the deploy failed.",
    "Alzheimer's research received more funding this year.", "Lyme disease is spread by tick bites.",
    "The Hubble telescope photographed a distant galaxy.", "Is Ménière's disease hereditary?",
    # capitalised common words at the start of a sentence
    "Pat the dough flat and fold it in thirds.", "Jack the car up before loosening the wheel nuts.",
    "Ivy covers the old brewery wall.", "Penny stocks are risky for beginners.",
    "Rose gold is back in fashion.",
    "Holly and mistletoe decorate the hall in December.", "Dawn broke over the harbour at six.",
    "Sue only as a last resort; mediation is cheaper.", "Faith and reason is the seminar topic this term.",
    # places that look like people
    "Eugene, Oregon, hosts a track meet every summer.", "Lake Louise freezes over in November.",
    "St Helena is one of the most remote islands.", "Darwin gets monsoon rains from December.",
    "Mount Kenya is the second-highest peak in Africa.", "Santiago is surrounded by the Andes.",
    # brands, products and titles
    "Dyson makes a cordless vacuum with a laser.", "Boeing delayed the 777X again.",
    "Cadbury eggs are back in the shops.", "Heinz ketchup is on offer this week.",
    "Pride and Prejudice is on the reading list.", "War and Peace is long but rewarding.",
    "Breaking Bad was filmed in Albuquerque.",
    # code identifiers and snippets
    "Use Harper.resolve(path) to find the config.", "kubectl get pods -n emerson",
    "dijkstra(graph, source) returns a dict of distances.", "Set BAILEY_TIMEOUT=30 in the env file.",
    "SELECT id FROM stores WHERE city = 'Madison';", "git checkout feature/lucas-kanade-tracker",
    # Chinese places, brands, titles and herbs that begin with a surname
    "石家庄的地铁开通了好几条线。", "周黑鸭在机场开了新店。", "何首乌是一种中药材。",
    "钱塘江大潮每年八月最壮观。", "宋体和黑体是常用字体。", "《平凡的世界》是一部长篇小说。",
    "马鞍山是安徽的一个城市。", "武夷山的岩茶很有名。",
    "在 Python 里调用 Harper.parse() 就行。",
]

# -- names ------------------------------------------------------------------------------------------
_LOCALES_BLIND3 = ("en_IE", "en_TH", "es_CA", "es_CL", "fr_BE", "fr_DZ")

# (given names, family names, family name first?) written here
_PAIRS_EN = {
    "vietnamese": (["Thị Hương", "Văn Đức", "Minh Châu", "Quốc Bảo", "Ngọc Lan", "Thanh Tùng", "Bích Ngọc"],
                   ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi"], True),
    "ethiopian": (["Abebe", "Tigist", "Meseret", "Dawit", "Selamawit", "Yohannes", "Hirut", "Bereket"],
                  ["Bekele", "Tesfaye", "Gebremedhin", "Alemu", "Wolde-Mariam", "Girma", "Assefa"], False),
    "somali": (["Abdirahman", "Hodan", "Faadumo", "Abdiweli", "Sahra", "Mukhtar", "Liban", "Ifrah"],
               ["Warsame", "Farah", "Jama", "Abdullahi", "Aden", "Yusuf", "Abdi-Warsame"], False),
    "hawaiian": (["Kalani", "Makana", "Noelani", "Kawika", "Pualani", "Ikaika", "Kaimana"],
                 ["Kealoha", "Kahale", "Akana", "Ka'ai", "Keawe", "Palakiko", "Ho'omana"], False),
    "sami": (["Áile", "Máret", "Niillas", "Ánde", "Risten", "Biret", "Jovnna"],
             ["Somby", "Gaup", "Sara", "Eira", "Utsi", "Bals", "Porsanger"], False),
    "basque": (["Iñaki", "Maialen", "Aitor", "Nerea", "Unai", "Garazi", "Ander", "Itziar"],
               ["Etxeberria", "Agirre", "Goikoetxea", "Arrizabalaga", "Uriarte", "Olaizola", "Elizondo"],
               False),
    "catalan": (["Montserrat", "Oriol", "Meritxell", "Arnau", "Laia", "Jordi", "Núria"],
                ["Puig i Ferrer", "Vilanova", "Serra", "Soler", "Batlle", "Riera", "Font i Mas"], False),
    "welsh": (["Rhys", "Angharad", "Gwenllian", "Dafydd", "Bethan", "Iwan", "Siân", "Llinos"],
              ["ap Rhisiart", "Prydderch", "Llywelyn", "Pritchard", "Vaughan-Jones", "ab Ifan", "Gruffydd"],
              False),
    "gaelic": (["Mòrag", "Eilidh", "Calum", "Ruairidh", "Catrìona", "Seumas", "Ailsa"],
               ["MacLeòid", "NicDhòmhnaill", "MacAoidh", "Mac an t-Saoir", "Caimbeul", "NicIllinnein"],
               False),
    "yoruba": (["Oluwaseun", "Adebayo", "Folasade", "Temitope", "Olumide", "Yetunde", "Babatunde"],
               ["Adeyemi", "Ogunleye", "Oyelaran", "Akinwande", "Olatunji", "Ogunbiyi", "Adebisi"], False),
    "swahili": (["Baraka", "Neema", "Juma", "Zawadi", "Amani", "Rehema", "Bahati", "Imani"],
                ["Mbwana", "Salim", "Mfinanga", "Kombo", "Massawe", "Mwakilema", "Said"], False),
    "nepali": (["Sushila", "Bikash", "Pratiksha", "Sagar", "Anjali", "Roshan", "Srijana"],
               ["Shrestha", "Gurung", "Tamang", "Adhikari", "Thapa Magar", "KC", "Bhattarai"], False),
    "native_american": (["Jolene", "Marcus", "Shandiin", "Kiona", "Dezbah", "Tyrell", "Nizhoni", "Lorena"],
                        ["Runningwater", "Two Bulls", "Yellowhorse", "Begay", "Tsosie", "Many Goats",
                         "Iron Cloud", "Red Shirt"], False),
    "jamaican": (["Shanice", "Delroy", "Kemoy", "Tashania", "Everton", "Marcia", "Oneil", "Jodi-Ann"],
                 ["McKenzie-Bailey", "Whyte", "Thwaites", "Bogle", "Gayle", "Lloyd-Ebanks", "Morrison"],
                 False),
    "apostrophe": (["Fatou", "Chiara", "Rohan", "Yannick", "Léonie", "Aurelio"],
                   ["N'Diaye", "Dell'Acqua", "D'Mello", "D'Amato", "O'Halloran", "Dall'Ara"], False),
}
# whole names written here
_WHOLE_EN = {
    "kazakh": ["Aigerim Nurpeisova", "Nurlan Abenov", "Zhanar Ospanova", "Yerlan Sarsenbayev",
               "Madina Kassymova", "Dauren Zhaksylykov", "Askar Seitkali", "Dana Bolatkyzy",
               "Timur Serikuly"],
    "malay": ["Nur Aisyah binti Hassan", "Ahmad Faiz bin Osman", "Siti Hajar binti Mokhtar",
              "Muhammad Hafiz bin Rahim", "Nurul Ain binti Kamaruddin", "Mohd Syafiq bin Zainal"],
    "sinhala": ["K. M. Tharindu Herath", "W. A. Chamari Ekanayake", "H. P. Nirosha Gunasekara",
                "R. D. Kasun Wickramasinghe", "A. G. Sanduni Jayawardena", "D. M. Dinuka Perera"],
    "mongolian": ["B. Enkhjargal", "Ts. Ganbold", "Oyunchimeg Dashdorj", "Temuulen Gansükh",
                  "Saruul Purevdorj", "D. Batbayar", "Bolormaa Lkhagvasüren"],
}


def _written_en(rng: random.Random) -> tuple[str, str]:
    """(name, family name) from the lists written here."""
    if rng.random() < 0.25:
        name = rng.choice(_WHOLE_EN[rng.choice(sorted(_WHOLE_EN))])
        return name, name.rsplit(" ", 1)[-1]
    given, family, family_first = _PAIRS_EN[rng.choice(sorted(_PAIRS_EN))]
    g, f = rng.choice(given), rng.choice(family)
    if family_first:
        return f"{f} {g}", f
    if rng.random() < 0.1:
        g = f"{g} {rng.choice('ABCDEFGHJKLMNPRSTW')}."
    return f"{g} {f}", f


def person_en_blind3(seed: int) -> Maker:
    fakes = seeded_fakers(_LOCALES_BLIND3, seed)

    def make(rng: random.Random) -> str:
        if rng.random() < 0.6:
            name, family = _written_en(rng)
        else:
            f = rng.choice(fakes)
            first, family = f.first_name(), f.last_name()
            middle = f" {rng.choice('ABCDEFGHJKLMNPRSTVW')}." if rng.random() < 0.15 else ""
            name = f"{first}{middle} {family}"
        r = rng.random()
        if r < 0.07 and name.endswith(family) and not name.startswith(family):
            # the family name in capitals, as on many international forms ("Aitor ETXEBERRIA")
            return name[: -len(family)] + family.upper()
        if r < 0.1:
            return name.upper()
        return name
    return make


ZH_SURNAMES_BLIND3 = ("查 麦 游 涂 詹 粟 卓 敖 巩 鄢 匡 仇 郦 权 满 桑 幸 向 庄 卿 母 银 "
                      "苟 豆 赫 那 肖 欧 饶 谌 眭 缑 亓 仝 佘 麻 邰 琚 原 信 战 初 门 郇 厍 "
                      "百里 西门 申屠 万俟 闾丘 东郭 拓跋 太史 第五 梁丘 左丘 公羊 乐正 巫马").split()
ZH_GIVEN_BLIND3 = list("翠莲芬琴蓉艺彤悦萌璇瑜皓睿轩旭晖栋昭隽逸恒楷峻崇岩斐蔚黛柔淼钧铮"
                       "锋翔航硕诚瑞祥禄寿喜根柱巧娥娣荷菊蕊茜蓓露霏雯冰亮波川墨朵宸韵琬蔓宛舟")
# whole names written here: two-character names that read as words, four-character names (compound
# surnames, a married woman's two surnames), traditional characters
ZH_WHOLE_NAMES_BLIND3 = ["向东", "原野", "初晴", "门铮", "战旭", "麦翠莲", "詹根柱", "卓巧娥", "肖睿轩",
                         "游蕊", "百里逸舟", "申屠柔琬", "万俟铮", "闾丘蔓", "东郭皓轩", "拓跋韵", "西门冰雯",
                         "詹韻儀", "卓瑋倫", "游詠晴", "塗冠廷", "麥綺雯", "區詠芝", "簡柏翰", "莊宥蓁",
                         "饒承恩", "陳麥綺雯", "歐陽靖雯"]


def zh_name_blind3(rng: random.Random) -> str:
    return zh_name(rng, ZH_SURNAMES_BLIND3, ZH_GIVEN_BLIND3, ZH_WHOLE_NAMES_BLIND3, 0.35)


# -- addresses ----------------------------------------------------------------------------------------
_UK = "ABDEFGHJLNPQRSTUWXYZ"


def _uk_inward(rng: random.Random) -> str:
    return f"{rng.randint(1, 9)}{rng.choice(_UK)}{rng.choice(_UK)}"


def en_address_blind3(rng: random.Random) -> str:
    n, r, c = rng.randint(1, 240), rng.randint, rng.choice
    return c([
        # Wales, Scotland, Northern Ireland, Ireland
        lambda: f"{n} {c(['Heol y Deri', 'Ffordd yr Afon', 'Stryd y Castell'])}, "
                f"{c(['Rhiwbina, Caerdydd CF14', 'Treganna, Caerdydd CF5', 'Bangor LL57'])} "
                f"{_uk_inward(rng)}",
        lambda: f"Flat {r(0, 3)}/{r(1, 3)}, {n} "
                f"{c(['Hyndland Road', 'Dumbarton Road', 'Great Western Road'])}, Glasgow G{r(11, 14)} "
                f"{_uk_inward(rng)}",
        lambda: f"{n} {c(['Malone Avenue', 'Lisburn Road', 'Ormeau Road'])}, Belfast BT{r(6, 9)} "
                f"{_uk_inward(rng)}",
        lambda: f"{c(['Cloonfad', 'Carrowkeel', 'Knockroe'])}, {c(['Ballyhaunis', 'Ballymote'])}, "
                f"Co. {c(['Mayo', 'Sligo', 'Roscommon'])}",
        # United States, Puerto Rico, Canada
        lambda: f"{r(100, 999)}½ {c(['Alvarado Street', 'Echo Park Avenue', 'Sunset Boulevard'])}, "
                f"Los Angeles, CA 900{r(12, 57)}",
        lambda: f"{r(20, 45)}-{r(10, 99)} {c(['Steinway Street', '31st Avenue', 'Ditmars Boulevard'])}, "
                f"Astoria, NY 111{r(2, 6):02d}",
        lambda: f"{r(1, 19) * 100 + 55} E {r(1, 9) * 100} S, Salt Lake City, UT 841{r(1, 21):02d}",
        lambda: f"PMB {r(100, 999)}, {r(1000, 9999)} Ocean Park Blvd, Santa Monica, CA 9040{r(1, 5)}",
        lambda: f"HC {r(60, 80)} Box {r(100, 9999)}, Tok, AK 99780",
        lambda: f"Urb. {c(['Las Gladiolas', 'Villa Carolina', 'Santa Rosa'])}, Calle {r(1, 40)} "
                f"#{r(1, 300)}, {c(['San Juan', 'Carolina', 'Bayamón'])}, PR 00{r(900, 987)}",
        lambda: f"{r(101, 3809)}-{r(10, 400)} {c(['Harbour Street', 'Queens Quay West', 'Bay Street'])}, "
                f"Toronto ON M5J {r(0, 9)}{c('ABCEGHJ')}{r(1, 9)}",
        # Australia, New Zealand
        lambda: f"{r(1, 12)}/{n} {c(['Carrington Road', 'Belmore Road', 'Avoca Street'])}, Randwick NSW 2031",
        lambda: f"{r(100, 3000)} {c(['Ngatira Road', 'Kaimai Road', 'Te Poi Road'])}, RD {r(1, 5)}, "
                f"Putaruru 34{r(80, 89)}",
        # Africa
        lambda: f"P.O. Box {r(100, 99999)}-00{c(['100', '200', '606'])}, Nairobi",
        lambda: f"House No. {r(1, 200)}, {c(['Kileleshwa', 'Lavington', 'Kilimani'])}, Nairobi",
        lambda: f"GA-{r(100, 599)}-{r(1000, 9999)}, {c(['East Legon', 'Osu', 'Dzorwulu'])}, Accra",
        lambda: f"{c(['Bole', 'Yeka', 'Kirkos'])} Sub-City, Woreda {r(1, 14):02d}, House No. {r(100, 2999)}, "
                f"Addis Ababa",
        # South and Southeast Asia
        lambda: f"House {r(1, 80)}, Street {r(1, 60)}, {c(['F-7/2', 'G-9/4', 'E-11/3'])}, Islamabad",
        lambda: f"No. {r(1, 400)}/{r(1, 9)}, {c(['Galle Road', 'Havelock Road', 'Duplication Road'])}, "
                f"Colombo 0{r(3, 6)}",
        lambda: f"Ward No. {r(1, 29)}, "
                f"{c(['Jhamsikhel, Lalitpur', 'Baluwatar, Kathmandu', 'Lakeside, Pokhara'])}",
        lambda: f"No. {r(1, 80)}, Jalan SS {r(1, 22)}/{r(1, 40)}, 47{r(300, 500)} Petaling Jaya, Selangor",
        lambda: f"Số {r(1, 99)}, ngõ {r(1, 200)}, phố {c(['Huế', 'Kim Mã', 'Láng Hạ'])}, "
                f"quận {c(['Hai Bà Trưng', 'Ba Đình', 'Đống Đa'])}, Hà Nội",
        lambda: f"{r(1, 199)}/{r(1, 300)} Moo {r(1, 12)}, Soi Sukhumvit {r(1, 107)}, Bang Chak, "
                f"Phra Khanong, Bangkok 10260",
        # Central Asia, Middle East, Europe
        lambda: f"Apartment {r(1, 90)}, Building {r(1, 80)}, {r(1, 20)}th khoroo, Sükhbaatar district, "
                f"Ulaanbaatar",
        lambda: f"{c(['Abay Avenue', 'Dostyk Avenue', 'Tole Bi Street'])} {n}, apt. {r(1, 150)}, "
                f"Almaty 0500{r(0, 99):02d}",
        lambda: f"Dizengoff St {n}, Apt {r(1, 30)}, Tel Aviv {r(6100000, 6999999)}",
        lambda: f"Bağdat Cad. No:{n} D:{r(1, 30)}, Kadıköy/İstanbul",
        lambda: f"Odos {c(['Ermou', 'Asklipiou', 'Solonos'])} {n}, 10{r(5, 6)} {r(10, 99)} Athina",
        lambda: f"{c(['Laugavegur', 'Hverfisgata', 'Skólavörðustígur'])} {n}, 101 Reykjavík",
        lambda: f"{c(['Mannerheimintie', 'Fredrikinkatu', 'Hämeentie'])} {n} {c('ABCD')} {r(1, 60)}, "
                f"00{r(10, 99)}0 Helsinki",
        lambda: f"{c(['Vinohradská', 'Korunní', 'Francouzská'])} {r(100, 2999)}/{n}, 120 00 Praha 2",
        lambda: f"{c(['Andrássy út', 'Király utca', 'Üllői út'])} {n}. {c(['I', 'II', 'III', 'IV'])}/"
                f"{r(1, 9)}, 10{r(5, 9)}{r(1, 9)} Budapest",
        # China, in pinyin
        lambda: f"Room {r(2, 30)}0{r(1, 8)}, Building {r(1, 20)}, No. {r(1, 999)} Zhangjiang Road, "
                f"Pudong New District, Shanghai 2012{r(0, 9)}{r(0, 9)}",
    ])()


def address_en_blind3(seed: int) -> Maker:
    fakes = seeded_fakers(("en_MS", "en_BD", "es_CL"), seed)
    return lambda r: (r.choice(fakes).address().replace("\n", ", ") if r.random() < 0.25
                      else en_address_blind3(r))


# (province, city, district, postcode): no province or city of an earlier list
_ZH_AREAS_BLIND3 = [("河南省", "郑州市", "金水区", "450000"), ("浙江省", "宁波市", "鄞州区", "315100"),
                    ("江苏省", "无锡市", "梁溪区", "214000"), ("山东省", "济南市", "历下区", "250000"),
                    ("福建省", "泉州市", "丰泽区", "362000"), ("广东省", "佛山市", "顺德区", "528300"),
                    ("湖南省", "株洲市", "芦淞区", "412000"), ("陕西省", "宝鸡市", "渭滨区", "721000"),
                    ("甘肃省", "兰州市", "城关区", "730000"), ("辽宁省", "沈阳市", "沈河区", "110000"),
                    ("河北省", "石家庄市", "长安区", "050000"), ("安徽省", "芜湖市", "镜湖区", "241000"),
                    ("湖北省", "宜昌市", "西陵区", "443000"), ("四川省", "绵阳市", "涪城区", "621000"),
                    ("浙江省", "温州市", "鹿城区", "325000")]
_ZH_ROADS_BLIND3 = ["花园路", "天童南路", "经十路", "泉秀路", "新桂路", "芦淞大道", "经二路", "天水南路",
                    "青年大街", "中华北大街", "九华中路", "夷陵大道", "临园路", "车站大道", "人民东路"]
_ZH_ESTATES_BLIND3 = ["香榭里", "水岸名都", "御景湾", "春风里", "都市华庭", "龙湖春江郦城", "蓝光COCO时代",
                      "美的君兰江山", "金色港湾", "东湖印象"]


def zh_address_blind3(rng: random.Random) -> str:
    (prov, city, dist, postcode), r, c = rng.choice(_ZH_AREAS_BLIND3), rng.randint, rng.choice
    area, road, estate = prov + city + dist, c(_ZH_ROADS_BLIND3), c(_ZH_ESTATES_BLIND3)
    no, bld, unit, floor = r(1, 666), r(1, 28), r(1, 5), r(2, 33)
    room = f"{floor}{r(1, 6):02d}"
    return c([
        lambda: f"{area}{road}{no}号{estate}{bld}#{room}",
        lambda: f"{postcode} {area}{road}{no}号{estate}{bld}栋{room}",
        lambda: f"{prov} {city} {dist} {road}{no}号 {estate}{bld}栋{unit}单元{room}室",
        lambda: f"{city}{dist}{road}与{c(_ZH_ROADS_BLIND3)}交叉口{c(['东北角', '西南角'])}"
                f"{estate}{bld}号楼{unit}单元{room}",
        lambda: f"上海市徐汇区{c(['田林', '康健', '长桥'])}新村{r(1, 120)}号{r(1, 6)}0{r(1, 4)}室",
        lambda: f"上海市静安区{c(['愚园路', '新闸路', '康定路'])}{r(100, 1200)}弄{r(1, 30)}支弄"
                f"{r(1, 40)}号",
        lambda: f"天津市南开区{c(['华苑', '王顶堤', '鞍山西道'])}{c(['碧华里', '居华里', '雅士道'])}"
                f"{bld}号楼{unit}门{room}",
        lambda: f"{area}{road}{no}号{c(['泰和国际大厦', '万象城写字楼', '财富中心'])}{floor}F-{room}",
        lambda: f"{c(['湖南省郴州市汝城县热水镇', '山东省临沂市沂南县界湖街道', '安徽省黄山市歙县徽城镇'])}"
                f"{c(['解放街', '人民街', '河滨街'])}{no}号",
        lambda: f"北京市朝阳区望京{c(['西园三区', '花家地西里', '南湖东园'])}{bld}号楼{unit}单元{room}",
        lambda: f"高雄市苓雅區四維三路{no}號{floor}樓之{r(1, 9)}",
        lambda: f"臺中市西屯區臺灣大道三段{no}號{floor}樓",
        lambda: f"新北市板橋區文化路一段{no}號{r(2, 20)}樓",
    ])()


# -- dates of birth -------------------------------------------------------------------------------------
_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
_ONES = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORD_ONES = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
             "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
             "seventeenth", "eighteenth", "nineteenth"]
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _number_words(n: int) -> str:
    """1-99 in words: seven, fourteen, eighty-seven."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def ordinal_words(d: int) -> str:
    """1-31 in words: first, fourteenth, twenty-third, thirtieth."""
    if d < 20:
        return _ORD_ONES[d]
    tens, ones = divmod(d, 10)
    return f"{_TENS[tens]}-{_ORD_ONES[ones]}" if ones else _TENS[tens][:-1] + "ieth"


def year_words(y: int) -> str:
    """As a year is said: nineteen eighty-seven, nineteen oh five, two thousand and three, twenty twelve."""
    if y == 2000:
        return "two thousand"
    if 2000 < y < 2010:
        return f"two thousand and {_ONES[y - 2000]}"
    hi, lo = divmod(y, 100)
    return f"{_number_words(hi)} " + (f"oh {_ONES[lo]}" if lo < 10 else _number_words(lo))


def dob_blind3(zh: bool) -> Maker:
    def make(rng: random.Random) -> str:
        y, m, d = rng.randint(1932, 2016), rng.randint(1, 12), rng.randint(1, 28)
        mon = MONTHS[m - 1]
        if zh:
            return rng.choice([
                "".join(ZH_DIGITS[int(c)] for c in f"{y % 100:02d}") + f"年{zh_num(m)}月{zh_num(d)}日",
                f"{y}年{zh_num(m)}月{zh_num(d)}日",
                f"民國{_zh_year_number(y - 1911)}年{zh_num(m)}月{zh_num(d)}日",
                f"{y % 100:02d}.{m}.{d}", f"{y}/{m:02d}/{d:02d}", f"{y}年{m}月{d}日".translate(_FULL_WIDTH),
                f"公历{y}年{m}月{d}日",
            ])
        weekday = dt.date(y, m, d).strftime("%a")
        return rng.choice([
            f"{d:02d} {mon[:3].upper()} {y}", f"{d:02d}{mon[:3].upper()}{y}", f"{mon} {ordinal(d)} {y}",
            f"{mon[:3]}-{d:02d}-{y}", f"{weekday} {d} {mon[:3]} {y}", f"the {ordinal_words(d)} of {mon} {y}",
            f"{mon} {ordinal_words(d)}, {year_words(y)}", f"{y} {mon} {d}", f"{d}.{_ROMAN[m - 1]}.{y}",
            f"{m:02d}.{d:02d}.{y}", f"{d:02d}/{m:02d}/{y % 100:02d}", f"{y}/{m:02d}/{d:02d}",
        ])
    return make


def _zh_year_number(n: int) -> str:
    """1-105 as a year of the Republic is written: 七十六, 一百零五."""
    if n < 100:
        return zh_num(n)
    return "一百" + ("" if n == 100 else ("零" + ZH_DIGITS[n - 100] if n < 110 else zh_num(n - 100)))


# -- health ---------------------------------------------------------------------------------------------
HEALTH_BLIND3_EN = ["plantar fasciitis", "hidradenitis suppurativa", "Ménière's disease",
                    "ankylosing spondylitis", "interstitial cystitis", "Raynaud's phenomenon",
                    "hyperhidrosis", "pernicious anaemia", "thalassemia", "polymyalgia rheumatica",
                    "a detached retina", "keratoconus", "Guillain-Barré syndrome", "Huntington's disease",
                    "dissociative identity disorder", "body dysmorphic disorder", "trichotillomania",
                    "pancreatic cancer", "bladder cancer", "thyroid cancer", "a brain aneurysm", "cirrhosis",
                    "mumps", "scarlet fever", "a peptic ulcer", "hemochromatosis", "Marfan syndrome",
                    "Ehlers-Danlos syndrome", "POTS", "chronic fatigue syndrome", "a hiatal hernia",
                    "bronchiectasis", "emphysema", "selective mutism", "postpartum psychosis", "appendicitis",
                    "tonsillitis", "dysthymia", "hoarding disorder", "a gambling addiction",
                    "Sjögren's syndrome", "Kawasaki disease", "spinal muscular atrophy",
                    "retinitis pigmentosa", "mesothelioma", "aortic stenosis", "endocarditis",
                    "osteomyelitis", "myocarditis", "scabies"]
MEDS_BLIND3_EN = ["vortioxetine", "Trintellix", "paroxetine", "nortriptyline", "amitriptyline", "buspirone",
                  "hydroxyzine", "Zyprexa", "lurasidone", "Depakote", "topiramate", "Keppra", "sumatriptan",
                  "Plavix", "Pradaxa", "carvedilol", "diltiazem", "digoxin", "Entresto", "sitagliptin",
                  "Januvia", "glipizide", "Trulicity", "Synthroid", "methimazole", "prednisolone",
                  "Symbicort", "an albuterol inhaler", "mesalamine", "Remicade", "Ocrevus", "donepezil",
                  "Aricept", "levodopa", "exemestane", "Lupron", "Descovy", "Paxlovid", "Vivitrol",
                  "disulfiram", "Chantix", "Accutane", "Nexium", "pantoprazole", "ondansetron", "Spravato",
                  "Strattera", "guanfacine", "baclofen", "colchicine"]
PREGNANCY_BLIND3_EN = ["in the third trimester", "nine weeks pregnant", "pregnant with triplets",
                       "expecting a little girl", "thirty-four weeks along", "newly pregnant",
                       "pregnant for the third time", "seven months gone"]
HEALTH_BLIND3_ZH = ["强直性脊柱炎", "干燥综合征", "过敏性紫癜", "支气管扩张", "慢阻肺", "肺气肿", "胰腺癌",
                    "胃癌", "食管癌", "膀胱癌", "甲状腺癌", "肝硬化", "丙肝", "腮腺炎", "水痘", "猩红热",
                    "梅尼埃病", "面瘫", "再生障碍性贫血", "进食障碍", "疑病症", "腱鞘炎", "股骨头坏死",
                    "肾病综合征", "IgA肾病", "胃食管反流", "心肌炎", "脑出血", "主动脉夹层", "结肠息肉",
                    "更年期综合征", "弱精症", "血管性痴呆"]
MEDS_BLIND3_ZH = ["米氮平", "曲唑酮", "丁螺环酮", "拉莫三嗪", "托吡酯", "奥卡西平", "多奈哌齐", "美金刚",
                  "多巴丝肼", "甲巯咪唑", "丙硫氧嘧啶", "恩格列净", "西格列汀", "利拉鲁肽", "坎地沙坦",
                  "厄贝沙坦", "比索洛尔", "地高辛", "螺内酯", "呋塞米", "替格瑞洛", "达比加群", "依折麦布",
                  "雷贝拉唑", "美沙拉嗪", "甲泼尼龙", "布地奈德", "沙丁胺醇", "奥希替尼", "吉非替尼",
                  "索磷布韦", "倍他乐克", "络活喜", "诺和灵", "德巴金", "秋水仙碱"]
PREGNANCY_BLIND3_ZH = ["正在孕早期", "已经孕中期了", "怀三胎了", "预产期在下个月", "在家保胎", "孕吐很严重",
                       "怀着龙凤胎", "刚验出两道杠"]


def setup(values, seed: int) -> None:
    """Fills a bench.pii_people._Values with the third blind split's makers."""
    values.person_en = person_en_blind3(seed)
    values.person_zh = zh_name_blind3
    values.address_en = address_en_blind3(seed)
    values.address_zh = zh_address_blind3
    values.dob = dob_blind3(zh=False)
    values.dob_zh = dob_blind3(zh=True)
    values.health_en = (PREGNANCY_BLIND3_EN, MEDS_BLIND3_EN, HEALTH_BLIND3_EN)
    values.health_zh = (PREGNANCY_BLIND3_ZH, MEDS_BLIND3_ZH, HEALTH_BLIND3_ZH)
