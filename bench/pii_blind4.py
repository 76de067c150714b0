"""A sixth, fourth blind split of the people suite (bench/pii_people.py, split ``blind4``): templates,
values and hard negatives written on 2026-12-06 by someone who had not read the detectors
(gateway/privacy/**), their tests or any evaluation result, and never used to tune one.

The third blind split (bench/pii_blind3.py) stops being blind once its misses inform a fix. This one asks
the same question a fourth time, with genres, wording, values and written forms that appear in none of
bench/pii_people.py, bench/pii_blind.py, bench/pii_blind2.py and bench/pii_blind3.py: support-chat
transcripts, travel and hotel bookings, visa forms, bank KYC notes, clinic reminders, prescription labels,
wedding invitations, alumni news, team rosters, tenancy agreements, police and incident reports, school
intake, volunteer sign-ups, app-store replies, commit messages, code review and TODO comments, tab-separated
sheets, e-mail signatures with titles, forum posts, birth announcements, fundraisers, vet and library
notices, lab reports; 12306 texts, 族谱 entries, 寻人启事, 满月酒, 公示 and Cantonese code-switching; in
English, Chinese and mixed English/Chinese. Values sit at the start, in the middle, at the end, after a
colon or a tab, in quotes and brackets and in pairs.

| type | blind4 values |
|---|---|
| PERSON (en) | Faker de_LI, de_LU (first names by sex, not "John/Jane"); names written here (1) |
| PERSON (zh) | surnames, given-name characters and whole names on no earlier list (2) |
| ADDRESS (en) | formats written here, no Faker (3) |
| ADDRESS (zh) | cities and counties on no earlier list; formats written here (4) |
| DATE_OF_BIRTH | written forms on no earlier list (5) |
| HEALTH | conditions, medicines and pregnancy wordings on no earlier list, in either language (6) |

(1) Korean romanised family-first without hyphens (Baek Seungho), Japanese family-first (Nishimura Sota),
Khmer family-first, Filipino (middle names, "Jr.", a nickname in quotes), Fijian, Tahitian, Albanian,
Bosnian, Serbian, Georgian, Hebrew, Afrikaans (van der Westhuizen, du Toit), Malagasy, Pashto, Bhutanese,
Ewe and Ga (Ghana), Ibibio (Nigeria); whole names: Kyrgyz, Tajik, Turkmen, Dagestani, Lithuanian
(feminine and masculine forms) and Latvian, Andean given names and double surnames (Nayra Huamán Ccori), Gulf
Arabic with bin/bint/ibn and Al, Indian regional (Telugu, Punjabi, Assamese, Marathi, Malayali, Odia,
Kannada), Burmese (no family name, some with U/Daw).
Each given and family name was checked against the earlier splits' lists and the name lists of every
Faker locale they used (a few particles and Al/bin aside).
(2) 矫 綦 鄂 蒯 乜 仉 笪 禚 佴 殳 贝 暴 訾 寿 巢 ..., 鲜于 赫连 宗政 仲孙 段干 漆雕 夹谷 谷梁 公良 羊舌;
whole names: Tibetan, Mongolian, Uyghur (with the middle dot), Dai and Yi names in Chinese,
traditional characters with these surnames (鮮于驥, 譙曄). No surname is on Faker zh_CN's or zh_TW's list.
(3) Philippine Lot/Block/Phase/Brgy., Peruvian jirón, Costa Rican directions from a landmark, Montevideo
apto, Havana e/ (entre), Guatemala zonas, Saudi national short address, Doha zones, Kuwait blocks, Cairo,
Beirut building names and floors, Tehran alleys, Moroccan Imm./Appt, Dakar villas, Harare stands, Douala
B.P., Bucharest bl./sc./et./ap., Sofia zh.k./vh., Belgrade floor numerals, Kyiv vul., Vilnius LT-,
Riga LV-, Maltese Triq, Luxembourg L-, Jakarta RT/RW, Phnom Penh Sangkat/Khan, Yangon townships, Karachi
blocks, Hyderabad H.No., Mumbai CHS/Opp., Malé house names, Thimphu, Vientiane Ban, Suva, Port Moresby
Section/Allotment, Portmore, Trinidad LP, Barbados BB, Canadian General Delivery, Nuuk B-numbers.
(4) 东莞/中山 with no district, 县级市 under a 地级市, 首层 shops (号铺), 家属院 with 东户/西户, 兵团 团/连,
Sichuan 社, Japanese addresses in kanji (丁目/番/号), 臺南 里/鄰, 新竹 N之M號, Hong Kong Island 字樓,
别墅, 延边, a landmark in brackets, 人才公寓 A3栋.
(5) 14 March, 1987; Mar 14 '87; 14-MAR-87; 1987-Mar-14; Saturday, March 14, 1987; 1987. 3. 14.;
14.03.87; 87-03-14; March the 14th, 1987; the 14th day of March, 1987; 14/Mar/1987; MAR 14, 1987;
公元1987年3月14日, 农历丁卯年二月初八, 1987年3月14日星期六, 1987年3月14號, 阳历1987年3月14日,
西元1987年3月14日, 1987年3月14, 壹玖捌柒年叁月拾肆日.
(6) Cushing's syndrome, Barrett's oesophagus, tirzepatide, Cosentyx, sixteen weeks and three days
pregnant; 乳腺结节, 白塞病, 坦度螺酮, 逍遥丸, 身怀六甲, ...

Score it once before changing a detector; after that it is no longer blind either.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from bench.pii_blind import MONTHS, ZH_DIGITS, ordinal, seeded_fakers, zh_name, zh_num

Maker = Callable[[random.Random], str]

BLIND4: list[tuple[str, str]] = [
    # English: support chat, travel, visa, KYC, clinic, pharmacy, invitations, newsletters, rosters,
    # tenancy, police, school, volunteering, app reviews, git, sheets, signatures, forums, notices
    ("en", "[14:02] Agent: Thanks for holding. Am I speaking with {P}?\n[14:02] Customer: yes, that's me"),
    ("en", "Chat summary: the customer ({P}) could not move the delivery slot and accepted a $10 voucher."),
    ("en", "Booking ref K7QZ2M | Lead passenger: {P} | 2 adults | Porto -> Funchal, 14 Aug"),
    ("en", "Room held for {P}: one king bed, late arrival, quiet room away from the lift if possible."),
    ("en", "Place and date of birth: Tbilisi, {D}"),
    ("en", "During the visit the applicant will stay with a friend at {A}."),
    ("en", "KYC review - utility bill shows {A}; proof of address accepted, no further action."),
    ("en", "Source of funds verified. The date of birth the customer gave ({D}) matches the ID card."),
    ("en", "Reminder for {P}: endocrinology clinic, Tuesday 9:15. Reply C to confirm or R to rebook."),
    ("en", "Rx #5530127\n{P}\n{M} - take as directed\nMay cause drowsiness"),
    ("en", "Together with their families\n{P}\nand\n{PZ}\nrequest the pleasure of your company"),
    ("en", "Alumni news: after twenty years in Rotterdam, {P} has retired to {A} and would love to hear from "
           "old classmates."),
    ("en", "U14 squad for Saturday: in goal, {P}. Bring shin pads and a full water bottle."),
    ("en", "Roster update - our point guard is out for the season with {H}."),
    ("en", "This agreement is made between the Landlord and {P} (\"the Tenant\") in respect of the premises "
           "known as {A}."),
    ("en", "At approx. 22:40 officers attended {A} after a noise complaint. The occupant was cooperative."),
    ("en", "Witness: {P}, a nurse at the Royal Infirmary, gave a statement at the scene."),
    ("en", "Kindergarten intake: {P}, born {D}, starts in the Koala room in September."),
    ("en", "Volunteer sign-ups for Thursday's food bank shift so far: {P}, plus two from the rotary club."),
    ("en", "Thanks for the review, {P}! Sorry the app kept crashing on your Pixel; version 4.2.1 fixes it."),
    ("en", "fix(auth): handle expired refresh tokens\n\nReported by {P}, who hit it on the staging cluster."),
    ("en", "nit: as {P} pointed out on the last PR, keep the old endpoint until the mobile apps migrate."),
    ("en", "# TODO({P}): drop this shim once billing is on the v3 API"),
    ("en", "Name\tBirthday\tTeam\n{P}\t{D}\tNorth"),
    ("en", "--\n{P}\nSenior Counsel, Regulatory Affairs\nDirect line: ext. 4417"),
    ("en", "Posted by throwaway_2291: my brother got diagnosed with {H} at 34 and the waiting lists here are "
           "insane, any advice?"),
    ("en", "Re: side effects - I'm three weeks into {M} and the nausea is finally settling down."),
    ("en", "It's a girl! Our daughter arrived on {D} weighing 3.4 kg, and mum and baby are doing well."),
    ("en", "We're raising money so {P} can afford treatment for {H} after the insurer refused the claim."),
    ("en", "\"We're only getting started,\" said {P}, co-founder of the Kigali-based logistics startup."),
    ("en", "Owner: {P}\nPet: Biscuit (beagle, 6 yrs)\nAddress on file: {A}"),
    ("en", "A hold for {P} is ready to collect at the Eastside branch and will be kept for seven days."),
    ("en", "Specimen received 07:12. DOB on request form: {D}. Clinical details: known {H}, please "
           "expedite."),
    ("en", "The dentist postponed my X-rays because I'm {G}."),
    ("en", "Standup notes: {P} is {G}, so she'll work from home on Fridays from now on."),
    ("en", "Emergency card: I take {M} every day. If I cannot answer, call my sister."),
    ("en", "We couldn't fit your parcel in the locker, so it's with your neighbour at {A}."),
    # Chinese: 12306, visas, banks, clinics, pharmacy bags, invitations, alumni, rosters, leases, police,
    # school, volunteers, app replies, code review, sheets, signatures, forums, notices, family trees
    ("zh", "【铁路12306】订单E38291已出票，乘车人{P}，5车12F号，请提前到站检票。"),
    ("zh", "签证申请表第三栏：出生日期及地点——{D}，黑龙江哈尔滨。"),
    ("zh", "客户经理备注：本次开户填写的居住地址为{A}，与证件地址不一致，已要求补充材料。"),
    ("zh", "【市一院】{P}您好，您预约的口腔科号在明天上午8:30，请提前十五分钟到二楼分诊台。"),
    ("zh", "药袋：{P}　{M}　每日两次，每次一片，饭后服用"),
    ("zh", "谨定于公历二〇二七年五月二十日为{P}先生与{PZ}女士举行结婚典礼，敬备喜宴，恭请光临。"),
    ("zh", "校友动态：八八届的{P}学长近日调回母校任教，欢迎大家回来看看。"),
    ("zh", "周六友谊赛首发门将是{P}，其余名单赛前公布。"),
    ("zh", "出租方（甲方）：{P}\n承租方（乙方）：{PZ}\n房屋坐落：{A}"),
    ("zh", "接警记录：报警人称位于{A}的住处门锁被撬，现场无人员受伤。"),
    ("zh", "新生入学登记：{P}，{D}生，户籍在本市。"),
    ("zh", "社区义诊缺两个登记员，目前报名的只有{P}一个人。"),
    ("zh", "开发者回复：感谢{P}的反馈，闪退问题已在2.3.5版本修复，更新后再试试。"),
    ("zh", "评审意见：这里的重试逻辑按{P}上次说的改成指数退避吧。"),
    ("zh", "序号\t姓名\t出生日期\t科室\n7\t{P}\t{D}\t放射科"),
    ("zh", "——\n{P}\n华东区销售总监\n分机：8012"),
    ("zh", "楼主别太担心，我表姐前年查出{H}，按时复查，现在挺好的。"),
    ("zh", "谢邀。本人确诊{H}五年了，说说真实感受。"),
    ("zh", "寻人启事：{P}，男，{D}出生，本月三日从{A}走失，至今未归。"),
    ("zh", "小女于{D}顺利出生，定于下月初八设满月酒，敬请光临。"),
    ("zh", "体检结论　姓名：{P}　主要异常：{H}，建议专科随诊。"),
    ("zh", "宝宝们，我{G}，谢谢大家这段时间的照顾～"),
    ("zh", "我爸每天早上空腹吃{M}，说是医生特意交代的。"),
    ("zh", "拟录用人员公示：{P}，女，{D}生，硕士研究生。"),
    ("zh", "献血登记：近半年服用过{M}，本次暂缓献血。"),
    ("zh", "族谱第十八世：{P}，字子远，生于{D}，配{PZ}。"),
    ("zh", "搬家公司周六上午九点到，新家在{A}，别跑错了。"),
    ("zh", "{P}因{H}在我院住院治疗，需家属陪护。"),
    # mixed English/Chinese, Cantonese included
    ("mixed", "Hi {P}，你的 booking 已经 confirm 了，check-in 是下午三点以后。"),
    ("mixed", "签证 form 要填 place and date of birth：上海，{D}。"),
    ("mixed", "KYC 备注：client {P} 提供的 proof of address 是 {A}，已 verify。"),
    ("mixed", "Clinic 短信：{P} 你好，你的 dental appointment 改到周三 10am。"),
    ("mixed", "药房 label：{M}，一日三次，patient {P}。"),
    ("mixed", "Wedding 请帖的 wording 帮我看下：{P} & {PZ} 诚邀您出席我们的婚礼。"),
    ("mixed", "球队 roster 更新：{P} 因为 {H} 这个 season 都不能上场。"),
    ("mixed", "Tenancy agreement 里的 premises 写的是 {A}，landlord 那一栏是 {PZ}。"),
    ("mixed", "Police report 上写 {P} 昨晚十一点在便利店门口被抢了手机。"),
    ("mixed", "School enrolment 要 birth cert，我女儿是 {D} 出生的。"),
    ("mixed", "Volunteer 名单加上 {P}，她 weekend 都 available。"),
    ("mixed", "Code review：{P} 说这个 function 没有 unit test 就不 approve。"),
    ("mixed", "Commit message 就写 \"fix typo, thanks {P}\" 吧。"),
    ("mixed", "Email signature 改成：{P} | 亚太区 Marketing Director"),
    ("mixed", "我 aunt 有 {H}，坐 long-haul flight 要注意啲乜？"),
    ("mixed", "我 roommate is {G}，所以周末 party 改成 no alcohol 了。"),
    ("mixed", "我最近在 take {M}，happy hour 我就不喝了哈。"),
    ("mixed", "帮我把 shipping address 改成 {A}，唔该。"),
    ("mixed", "{PZ} 的 baby 是 {D} 出生的，我们 plan 一下满月 party？"),
    ("mixed", "App review 回复：Hi {P}，sorry 让你久等了，refund 已经处理好。"),
    ("mixed", "Travel booking：passenger {PZ}，flight CX 451，seat 32A，已出票。"),
    ("mixed", "我老豆 diagnosed 咗 {H}，有冇人识好啲嘅 specialist？"),
]

CLEAN_BLIND4 = ["Booking ref QX7L2P is confirmed for two adults and one infant.",
                "Reply C to confirm your appointment or R to rebook.",
                "The visa form asks for your place of birth as it appears in your passport.",
                "Proof of address must be dated within the last three months.",
                "Kindergarten intake opens on 1 February 2027.",
                "fix(ci): pin the Node version to 20.11 in the build image",
                "Name\tQty\tPrice\nWidget\t3\t4.50", "Which blood tests check for thyroid problems?",
                "Is it normal to feel tired in the first trimester?",
                "【铁路12306】您的候补订单已兑现，请及时支付。", "满月酒一般在宝宝出生后多少天办？",
                "租房合同到期前一个月要通知房东吗？", "体检前一天晚上十点以后不要吃东西。",
                "Wedding 的 RSVP deadline 是五月一号。", "这个 PR 的 CI 挂了，帮我 rerun 一下。"]

HARD_NEGATIVES_BLIND4 = [
    # eponymous laws, units, effects and conditions, used generically about nobody
    "Ohm's law still holds when the wire warms up.", "The kettle draws about 2,000 watts.",
    "Occam's razor favours the simpler explanation.", "Moore's law has slowed over the last decade.",
    "The Doppler effect is why the siren drops in pitch as it passes.",
    "Hodgkin lymphoma is one of the more curable cancers.",
    "Asperger syndrome is no longer a separate diagnosis in the DSM-5.",
    "The Heimlich manoeuvre can clear a blocked airway.",
    "Braille signs are required next to the lift buttons.",
    # places that look like people
    "Alice Springs sits almost in the middle of Australia.",
    "Regina grew up around a rail yard on the prairie.",
    "Prince Edward Island grows a lot of potatoes.", "Fort Collins has dozens of craft breweries.",
    "Kitty Hawk is where the first powered flight took off.", "Martha's Vineyard fills up every August.",
    "São Tomé and Príncipe uses the dobra.",
    # brands, products and organisations, some with a name inside
    "Tim Hortons opened its first cafe in Shanghai.", "Johnnie Walker Black Label is a blended whisky.",
    "Ferrari builds its road cars in Maranello.", "Levi's jeans shrink a little in a hot wash.",
    "Marks & Spencer sells sandwiches at the station.", "Papa John's delivers until midnight.",
    # titles of works with no person in them
    "Things Fall Apart is set in a Nigerian village.", "The Grapes of Wrath won the Pulitzer Prize.",
    "We watched Spirited Away on the flight to Osaka.",
    # code identifiers and commands
    "Call KarenRepository.findAll() to list every record.", "kruskal(edges) returns a minimum spanning tree.",
    "pip install python-levenshtein", "Set BAXTER_MAX_CONN=64 before starting the worker.",
    "git cherry-pick origin/hotfix/gaussian-blur",
    # Chinese places, brands, foods and words that begin with a surname character
    "蔡林记的热干面是武汉的招牌。", "张裕葡萄酒的酒庄在烟台。", "沙县小吃几乎开遍了全国。",
    "杨枝甘露是一道港式甜品。",
    "曹县最近在网上很火。", "胡辣汤是河南人常吃的早餐。", "冷面在延边很常见。", "燕京啤酒是北京的老牌子。",
    "荆州古城墙保存得很完整。", "程序员节定在每年的10月24日。", "钱包落在出租车上了怎么办？",
    "盖浇饭十五块一份。",
    "《史记》是一部纪传体史书。",
    # mixed
    "Spring Festival 期间高铁票很难抢。",
]

# -- names ------------------------------------------------------------------------------------------
_LOCALES_BLIND4 = ("de_LI", "de_LU")

# (given names, family names, family name first?) written here
_PAIRS_EN = {
    "korean": (["Seungho", "Boram", "Dahye", "Hyunwoo", "Eunbi", "Taeyang", "Sooyoung", "Gyuri", "Minseo"],
               ["Baek", "Hwang", "Seo", "Nam", "Oh", "Shin", "Kwon", "Ryu", "Chae", "Son", "Ahn", "Jeon",
                "Byun"], True),
    "japanese": (["Sota", "Yui", "Haruto", "Mei", "Ren", "Aoi", "Kaito", "Hinata", "Tsumugi"],
                 ["Nishimura", "Kuroda", "Matsuda", "Fujimoto", "Okada", "Hayashi", "Ishikawa", "Takeuchi"],
                 True),
    "khmer": (["Sreymom", "Pisey", "Vannak", "Sophea", "Rithy", "Bopha", "Chanthou"],
              ["Keo", "Heng", "Chea", "Meas", "Chhim", "Ouk", "Prak"], True),
    "filipino": (["Marilou", "Jericho", "Analyn", "Rodelio", "Ma. Luningning", "Marivic", "Joselito",
                  "Lovely"],
                 ["Dimaculangan", "Panganiban", "Lacsamana", "Magsino", "Sumulong", "Catacutan",
                  "Batungbakal"], False),
    "fijian": (["Litia", "Sitiveni", "Mereoni", "Jone", "Akosita", "Viliame", "Salote"],
               ["Vakaloloma", "Naivalu", "Tuisawau", "Koroivulaono", "Rabuka-Ledua", "Waqanivalu"], False),
    "tahitian": (["Teiki", "Hinatea", "Manarii", "Vaimiti", "Heimana", "Tehani", "Raiarii"],
                 ["Tetuanui", "Teriitahi", "Temauri", "Tehaamatai", "Teriierooiterai", "Mou-Sang"], False),
    "albanian": (["Arbër", "Dritan", "Valbona", "Fatjon", "Rudina", "Ilirjana", "Gjergj"],
                 ["Krasniqi", "Hoxha", "Berisha", "Kelmendi", "Rexhepi", "Bajraktari", "Dervishi", "Zeqiri"],
                 False),
    "bosnian_serbian": (["Dragoljub", "Snežana", "Amila", "Dženan", "Vukašin"],
                        ["Mujanović", "Begović", "Đorđević", "Stojanović", "Mehmedović", "Radosavljević"],
                        False),
    "georgian": (["Ketevan", "Zurab", "Lasha", "Tornike", "Irakli", "Nestan", "Gvantsa", "Nodar", "Tamaz"],
                 ["Tsiklauri", "Javakhishvili", "Gogoladze", "Chkheidze", "Abashidze", "Kvirikashvili"],
                 False),
    "hebrew": (["Hadas", "Oren", "Hodaya", "Neta", "Elisheva", "Moshe", "Tzvi", "Liora"],
               ["Biton", "Dahan", "Ohayon", "Katzir", "Shalev", "Ben-Haim", "Elbaz"], False),
    "afrikaans": (["Elmarie", "Jan-Hendrik", "Riaan", "Anri", "Lientjie", "Christo", "Marike", "Tiaan",
                   "Liezl"],
                  ["van der Westhuizen", "du Toit", "de Villiers", "le Grange", "du Plessis", "Steenkamp",
                   "Bezuidenhout", "Swanepoel", "Oosthuizen", "Nieuwoudt"], False),
    "malagasy": (["Fanja", "Tojo", "Voahangy", "Hery", "Mialy", "Haja", "Lalaina"],
                 ["Randriamanantena", "Rakotondrabe", "Rasoarimanana", "Andrianjafy", "Razafindrakoto",
                  "Ravelojaona"], False),
    "pashto": (["Zarghuna", "Mirwais", "Shabnam", "Habibullah", "Palwasha", "Rahmatullah", "Malalai"],
               ["Wardak", "Popal", "Stanikzai", "Ahmadzai", "Zadran", "Durrani", "Sherzad"], False),
    "bhutanese": (["Jigme", "Sonam", "Kinley", "Pema", "Ugyen", "Tshering", "Dechen"],
                  ["Choden", "Yangzom", "Dema", "Wangmo", "Lhamo", "Dorji", "Norbu"], False),
    "ewe_ga": (["Dzifa", "Selasi", "Edem", "Elikem", "Senyo", "Nii Armah", "Naa Dedei"],
               ["Agbenyega", "Dzokoto", "Kpodo", "Amegashie", "Tsikata", "Quaye", "Lamptey", "Ankrah"],
               False),
    "ibibio": (["Uduak", "Aniekan", "Idara", "Ekemini", "Ini"],
               ["Udoh", "Etuk", "Ekpenyong", "Umoh", "Udofia", "Ekanem", "Inyang", "Essien"], False),
}
# whole names written here (their given and family names agree in sex)
_WHOLE_EN = {
    "central_asian": ["Aibek Toktogulov", "Cholpon Asanbekova", "Farrukh Rahmonzoda", "Firuza Sharipova",
                      "Parviz Qodirov", "Merdan Orazov", "Ogulgerek Atayeva", "Magomed Gadzhiev",
                      "Patimat Omarova", "Shamil Abdulkadyrov"],
    "baltic": ["Aistė Vaitkevičiūtė", "Vytautė Žemaitytė", "Laimutė Kazlauskienė", "Žydrūnas Grybauskas",
               "Vilmantas Sniečkus", "Zeltīte Ozoliņa"],
    "andean": ["Nayra Huamán Ccori", "Inti Condori Huillca", "Killa Mayta Apaza", "Wayra Cusihuamán Sullca",
               "Sumaq Ticona Layme", "Inti Huanca Chambi", "Nayra Yupanqui Ccahuana"],
    "gulf_arabic": ["Abdulaziz bin Fahad Al Qahtani", "Sultan bin Humaid Al Nuaimi",
                    "Hessa bint Khalifa Al Suwaidi", "Faisal ibn Turki al-Otaibi",
                    "Shamma Abdulrahman Al Marzooqi", "Nouf bint Mubarak Al Dosari",
                    "Rashed bin Saeed Al Ketbi", "Moza bint Hamdan Al Mansoori"],
    "indian_regional": ["Venkata Naga Sravani Pasupuleti", "Bhargav Kodali", "Harpreet Bhullar",
                        "Ritupurna Gogoi", "Manasi Bhide", "Chinmay Paranjpe",
                        "Tintu Kuriakose Chittilappilly", "Jomon Puthenpurackal", "Ananya Mohapatra",
                        "Chetan Gowda"],
    "burmese": ["Aung Ko Ko Htwe", "Thiri Khin", "Myo Min Thant", "Daw Nilar Win", "Htet Aung Lwin",
                "Su Myat Mon", "U Zaw Min Tun"],
}


def _written_en(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(_WHOLE_EN[rng.choice(sorted(_WHOLE_EN))])
    group = rng.choice(sorted(_PAIRS_EN))
    given, family, family_first = _PAIRS_EN[group]
    g, f = rng.choice(given), rng.choice(family)
    if family_first:
        return f"{f} {g}"
    r = rng.random()
    if group == "filipino" and r < 0.25:
        # a middle name (the mother's family name); for men also "Jr." or a nickname in quotes
        forms = [f"{g} {rng.choice(family)} {f}"]
        if g in ("Jericho", "Rodelio", "Joselito"):
            forms += [f"{g} {f} Jr.", f"{g} \"Jun\" {f}"]
        return rng.choice(forms)
    return f"{g} {f}"


def person_en_blind4(seed: int) -> Maker:
    fakes = seeded_fakers(_LOCALES_BLIND4, seed)

    def make(rng: random.Random) -> str:
        if rng.random() < 0.72:
            return _written_en(rng)
        f = rng.choice(fakes)
        first = f.first_name_female() if rng.random() < 0.5 else f.first_name_male()
        return f"{first} {f.last_name()}"
    return make


ZH_SURNAMES_BLIND4 = ("矫 綦 鄂 蒯 乜 仉 笪 禚 佴 殳 贝 暴 訾 寿 巢 从 咸 苍 双 莘 贡 扶 堵 "
                      "宰 璩 濮 郏 宦 鱼 慎 庾 暨 步 禄 蔚 竺 钭 墨 谯 过 刀 寸 操 "
                      "鲜于 赫连 宗政 仲孙 段干 漆雕 夹谷 谷梁 公良 羊舌").split()
ZH_GIVEN_BLIND4 = list("沛澈湘琦筠珏玟珺滢渝溪熙焕烁琼笙箫竹桦杉槿棠榕柠芊茵苒蕙茗菁毓聿彦钊铎"
                       "锴霆霄馨骞麟鹤卉岱崧嵩巍徵怿恺悠憬昀昶晔暄曜朔栩椿樾沅泓洵浔涓淇湛潇澍灏"
                       "砚岫璋琛瑗珩琮璞瑄骥驰彧翎蘅荞绮缨绾纾煦焱熠")
# whole names written here: Tibetan, Mongolian, Uyghur, Dai and Yi names as written in Chinese, and
# traditional characters with this list's surnames
ZH_WHOLE_NAMES_BLIND4 = ["扎西次仁", "央金拉姆", "格桑卓嘎", "巴特尔", "乌兰其其格", "阿依古丽·吐尔逊",
                         "努尔江·卡德尔", "热依拉·买买提", "阿不都热合曼·艾力", "刀玉罕", "岩温香",
                         "阿硕伍呷", "鮮于驥", "赫連綰", "譙曄", "雙綺蘅", "魚瀟", "濮騫", "鄂瀅瑄", "蒯鐸",
                         "庾綺", "竺曄馨", "宗政紓", "鈄愷"]


def zh_name_blind4(rng: random.Random) -> str:
    return zh_name(rng, ZH_SURNAMES_BLIND4, ZH_GIVEN_BLIND4, ZH_WHOLE_NAMES_BLIND4, 0.3)


# -- addresses ----------------------------------------------------------------------------------------
def en_address_blind4(rng: random.Random) -> str:
    n, r, c = rng.randint(1, 240), rng.randint, rng.choice
    return c([
        # Philippines, Latin America, Caribbean
        lambda: f"Lot {r(1, 40)} Block {r(1, 30)}, Phase {r(1, 4)}, "
                f"{c(['Camella Homes', 'Villa de Primarosa', 'Greenwoods Executive Village'])}, "
                f"Brgy. {c(['Molino III', 'Salitran II', 'Pasong Buaya I'])}, "
                f"{c(['Bacoor', 'Dasmariñas', 'Imus'])}, Cavite {r(4100, 4118)}",
        lambda: f"Jr. {c(['Huallaga', 'Ucayali', 'Junín'])} {r(100, 999)}, Int. {r(101, 1204)}, "
                f"Cercado de Lima 15001",
        lambda: c(["Del Más x Menos de San Pedro", "De la iglesia de Moravia", "Del antiguo cine Magaly"])
                + f", {r(1, 4) * 100} m al {c(['norte', 'sur'])} y {r(1, 3) * 25} m al "
                f"{c(['este', 'oeste'])}, casa {c(['esquinera', 'de portón negro', 'color verde'])}, "
                f"San José",
        lambda: f"Bulevar Artigas {r(1000, 4000)} apto {r(1, 12)}0{r(1, 4)}, "
                f"{c(['11300', '11600', '11200'])} Montevideo",
        lambda: f"Calle {c(['23', 'L', 'G', 'Línea'])} No. {r(100, 1200)} "
                f"e/ {c(['10 y 12', 'J y K', 'M y N'])}, Vedado, La Habana",
        lambda: f"{r(1, 15)}a. Avenida {r(1, 20)}-{r(10, 99)}, Zona {c(['1', '10', '14'])}, "
                f"Ciudad de Guatemala",
        lambda: f"Lot {r(1, 999)}, {c(['Greater Portmore', 'Passage Fort', 'Ensom City'])}, "
                f"St. Catherine, Jamaica",
        lambda: f"LP {r(1, 200)} {c(['Pasea Main Road', 'Eastern Main Road', 'Southern Main Road'])}, "
                f"{c(['Tunapuna', 'Arima', 'Couva'])}",
        lambda: f"#{r(1, 60)} {c(['Rockley Terrace', 'Worthing View', 'Wotton Heights'])}, Christ Church "
                f"BB{r(15000, 17999)}",
        # Middle East and North Africa
        lambda: (lambda dist, city, code: f"{c(['RHMA', 'JESA', 'DRRA'])}{r(1000, 9999)}, {r(1000, 9999)} "
                 f"{c(['Prince Sultan Rd', 'Tahlia St', 'Al Madinah Rd'])}, {dist} Dist., {city} {code}")(
            *c([("Al Rawdah", "Jeddah", r(23431, 23439)), ("Al Olaya", "Riyadh", r(12211, 12244)),
                ("Al Khobar Al Shamalia", "Al Khobar", r(34426, 34429))])),
        lambda: f"Zone {r(20, 70)}, Street {r(800, 990)}, Building {r(1, 90)}, "
                f"{c(['Al Sadd', 'Bin Mahmoud', 'Al Waab'])}, Doha",
        lambda: f"Block {r(1, 12)}, Street {r(1, 120)}, House {r(1, 60)}, "
                f"{c(['Salmiya', 'Jabriya', 'Rumaithiya'])}, Kuwait",
        lambda: f"{n} {c(['Shagaret El Dorr St.', '26th of July St.', 'Mohamed Mazhar St.'])}, "
                f"{c(['Zamalek', 'Heliopolis', 'Dokki'])}, Cairo",
        lambda: f"{c(['Sabbagh', 'Azar', 'Khoury'])} Bldg, {ordinal(r(1, 9))} floor, "
                f"{c(['Bliss Street, Hamra', 'Makdessi Street, Ras Beirut', 'Rue Gouraud, Gemmayzeh'])}, "
                f"Beirut",
        lambda: f"Unit {r(1, 20)}, No. {r(1, 90)}, {c(['Golestan', 'Yas', 'Nastaran'])} Alley, "
                f"{c(['Vali-e Asr St', 'Shariati St', 'Mirdamad Blvd'])}, Tehran {r(1000000000, 1999999999)}",
        lambda: f"Appt {r(1, 20)}, Imm. {r(1, 60)}, Rue {c(['de la Liberté', 'Sebou', 'Oued Fès'])}, "
                f"{c(['Guéliz, 40000 Marrakech', 'Maârif, 20330 Casablanca', 'Agdal, 10080 Rabat'])}",
        # Sub-Saharan Africa
        lambda: f"Villa n° {r(1, 9999)}, {c(['Sacré-Cœur 3', 'Liberté 6', 'Mermoz Pyrotechnie'])}, Dakar",
        lambda: f"Stand {r(100, 9999)}, {c(['Borrowdale', 'Avondale', 'Mabelreign'])}, Harare",
        lambda: f"B.P. {r(1000, 9999)}, {c(['Bonapriso', 'Akwa', 'Bonanjo'])}, Douala",
        # Central, Eastern and Southern Europe
        lambda: f"Str. {c(['Dorobanților', 'Frumoasă', 'Polonă'])} nr. {n}, bl. {c(['A3', 'M12', 'C4'])}, "
                f"sc. {r(1, 4)}, et. {r(1, 10)}, ap. {r(1, 80)}, sector {r(1, 6)}, București",
        lambda: f"zh.k. {c(['Mladost 1', 'Lyulin 5', 'Nadezhda 2'])}, bl. {r(1, 300)}, "
                f"vh. {c(['A', 'B', 'V'])}, et. {r(1, 12)}, ap. {r(1, 80)}, {r(1000, 1799)} Sofia",
        lambda: f"{c(['Bulevar oslobođenja', 'Makedonska', 'Resavska'])} {n}/{c(['I', 'II', 'III', 'IV'])}, "
                f"11000 Beograd",
        lambda: f"vul. {c(['Khreshchatyk', 'Velyka Vasylkivska', 'Yaroslaviv Val'])} {n}, kv. {r(1, 200)}, "
                f"Kyiv {r(1001, 4999):05d}",
        lambda: f"{c(['Pylimo g.', 'Savanorių pr.', 'Žalgirio g.'])} {n}-{r(1, 80)}, "
                f"LT-{r(1000, 9999):05d} Vilnius",
        lambda: f"{c(['Brīvības iela', 'Tērbatas iela', 'Lāčplēša iela'])} {n}-{r(1, 60)}, "
                f"Rīga, LV-10{r(10, 99)}",
        lambda: f"Flat {r(1, 12)}, {c(['Triq il-Kbira', 'Triq San Pawl', 'Triq il-Wied'])}, "
                f"{c(['Ħal Qormi QRM', 'Birkirkara BKR', 'Ħaż-Żebbuġ ZBG'])} {r(1000, 9999)}",
        lambda: f"{n}, rue {c(['du Fossé', 'de Hollerich', 'des Romains'])}, L-{r(1110, 2999)} Luxembourg",
        # South, Southeast Asia and the Himalaya
        lambda: f"Jl. {c(['Kemang Raya', 'Tebet Timur Dalam', 'Cikini Raya'])} No. {n}, "
                f"RT {r(1, 15):03d}/RW {r(1, 12):03d}, "
                f"{c(['Bangka, Mampang Prapatan', 'Tebet Timur, Tebet', 'Cikini, Menteng'])}, "
                f"Jakarta {r(10110, 12990)}",
        lambda: f"#{r(1, 200)}{c(['', 'E0', 'Eo'])}, St. {r(1, 600)}, "
                f"Sangkat {c(['Tonle Bassac', 'Boeung Keng Kang I', 'Toul Tom Poung'])}, "
                f"Khan {c(['Chamkarmon', 'Doun Penh'])}, Phnom Penh",
        lambda: f"No. {r(1, 300)}, {c(['Pyay Road', 'Inya Road', 'Kabar Aye Pagoda Road'])}, "
                f"{c(['Kamayut', 'Bahan', 'Mayangon'])} Township, Yangon",
        lambda: f"House {c('ABCDR')}-{r(1, 300)}, Block {r(1, 19)}, "
                f"{c(['Gulshan-e-Iqbal', 'North Nazimabad', 'Gulistan-e-Jauhar'])}, Karachi",
        lambda: f"H.No. {r(1, 16)}-{r(1, 11)}-{r(1, 999)}/{r(1, 40)}, "
                f"{c(['Banjara Hills', 'Ameerpet', 'Kukatpally'])}, Hyderabad, Telangana {r(500001, 500090)}",
        lambda: f"{c('ABCD')}/{r(1, 12)}0{r(1, 8)}, "
                f"{c(['Shanti Niwas CHS', 'Sea Breeze CHS', 'Gulmohar CHS'])}, "
                f"Opp. {c(['Irla Market', 'Andheri Sports Complex', 'Dahisar Check Naka'])}, "
                f"{c(['Andheri (W)', 'Vile Parle (E)', 'Borivali (W)'])}, Mumbai {r(400050, 400104)}",
        lambda: f"H. {c(['Maaz', 'Fehi Villa', 'Sosunge'])}, "
                f"{c(['Majeedhee Magu', 'Ameenee Magu', 'Chandhanee Magu'])}, Malé {r(20000, 20300)}",
        lambda: f"Flat {r(1, 12)}, Bldg No. {r(1, 200)}, {c(['Changzamtog', 'Motithang', 'Babesa'])}, "
                f"Thimphu",
        lambda: f"Ban {c(['Sisavath', 'Phonxay', 'Nongbone'])}, {c(['Chanthabouly', 'Saysettha'])} District, "
                f"Vientiane",
        # Pacific, Arctic, Canada
        lambda: f"Lot {r(1, 90)}, {c(['Waimanu Road', 'Princes Road', 'Grantham Road'])}, "
                f"{c(['Nasese', 'Samabula', 'Tamavua'])}, Suva",
        lambda: f"Section {r(1, 200)}, Allotment {r(1, 40)}, {c(['Boroko', 'Hohola', 'Waigani'])}, "
                f"Port Moresby, NCD",
        lambda: "General Delivery, " + c(["Iqaluit NU X0A 0H0", "Inuvik NT X0E 0T0",
                                          "Dawson City YT Y0B 1G0"]),
        lambda: f"B-{r(100, 1999)}, 3900 Nuuk",
    ])()


# (city and district): no city of an earlier list
_ZH_CITIES_BLIND4 = ["珠海市香洲区", "汕头市金平区", "惠州市惠城区", "常州市天宁区", "扬州市广陵区",
                     "南通市崇川区", "绍兴市越城区", "嘉兴市南湖区", "烟台市芝罘区", "潍坊市奎文区",
                     "威海市环翠区", "九江市浔阳区", "柳州市城中区", "大同市平城区", "唐山市路北区",
                     "襄阳市樊城区", "岳阳市岳阳楼区", "常德市武陵区", "漳州市芗城区", "莆田市城厢区",
                     "蚌埠市蚌山区", "秦皇岛市海港区", "鞍山市铁东区", "大庆市萨尔图区"]
_ZH_ROADS_BLIND4 = ["迎宾大道", "凤凰路", "海滨路", "建国路", "滨河路", "站前路", "工农路", "光华路",
                    "环城南路", "府前街", "长城路", "金桥路", "新开路", "白塔路"]
_ZH_ESTATES_BLIND4 = ["丽都花园", "翰林苑", "星河湾", "南国桃园", "江南名府", "紫金城", "康乐园", "橄榄城",
                      "观澜府", "银湖湾"]


def zh_address_blind4(rng: random.Random) -> str:
    r, c = rng.randint, rng.choice
    city, road, estate = c(_ZH_CITIES_BLIND4), c(_ZH_ROADS_BLIND4), c(_ZH_ESTATES_BLIND4)
    no, bld, unit, floor = r(1, 588), r(1, 26), r(1, 4), r(2, 28)
    room = f"{floor}{r(1, 8):02d}"
    return c([
        lambda: f"广东省{c(['东莞市长安镇', '东莞市虎门镇', '中山市小榄镇', '中山市石岐街道'])}"
                f"{road}{no}号{estate}{bld}栋{room}房",
        lambda: f"{c(['浙江省绍兴市诸暨市', '江苏省常州市溧阳市', '湖南省岳阳市汨罗市'])}"
                f"{road}{no}号{estate}{bld}号{room}",
        lambda: f"{city}{road}{no}号{c(['万象汇', '吾悦广场', '天虹购物中心'])}"
                f"首层{c('ABL')}{r(1, 3)}-{r(1, 60):02d}号铺",
        lambda: f"河南省开封市鼓楼区{road}{no}号{c(['化肥厂', '纺织厂', '粮食局'])}家属院{bld}号楼{unit}单元"
                f"{r(1, 7)}楼{c(['东户', '西户', '中户'])}",
        lambda: f"新疆生产建设兵团第八师{c(['一四九团', '一二一团', '一三三团'])}{r(1, 20)}连{r(1, 80)}号",
        lambda: f"四川省{c(['南充市仪陇县', '乐山市井研县', '宜宾市江安县'])}"
                f"{c(['马鞍镇', '千佛镇', '红桥镇'])}{c(['石梁村', '桂花村', '新民村'])}"
                f"{r(1, 12)}社{r(1, 90)}号",
        lambda: f"日本东京都{c(['世田谷区北泽', '杉并区高圆寺南', '文京区本乡'])}"
                f"{r(1, 5)}丁目{r(1, 30)}番{r(1, 20)}号{r(1, 4)}0{r(1, 9)}室",
        lambda: f"臺南市{c(['東區東門里', '北區大道里', '安平區平通里'])}{r(1, 30)}鄰"
                f"{c(['東門路二段', '公園路', '安平路'])}{no}號{r(2, 15)}樓",
        lambda: f"新竹縣竹北市{c(['光明六路', '縣政九路', '文興路'])}{no}之{r(1, 5)}號{r(2, 20)}樓",
        lambda: f"香港{c(['北角英皇道', '北角渣華道', '筲箕灣東大街'])}{r(1, 900)}號"
                f"{c(['海景大廈', '僑輝大廈', '華發大廈'])}{r(2, 30)}字樓{c('ABCDEFGH')}室",
        lambda: f"广东省惠州市{c(['惠阳区', '大亚湾经济技术开发区'])}{estate}{no}号别墅",
        lambda: f"吉林省延边朝鲜族自治州{c(['延吉市', '珲春市'])}"
                f"{road}{no}号{estate}{bld}号楼{unit}单元{room}",
        lambda: f"{c(['山东省烟台市莱阳市', '江西省九江市都昌县', '河北省唐山市滦南县'])}"
                f"{c(['东门街', '胜利街', '文化街'])}{no}号"
                f"（{c(['农商银行对面', '邮政所旁边', '中心小学后门'])}）",
        lambda: f"{city}{c(['高新区', '经开区'])}{c(['人才公寓', '青年公寓'])}{c('ABCD')}{r(1, 9)}栋{room}",
        lambda: f"{city}{road}{no}号{estate}{bld}栋{unit}单元{room}",
    ])()


# -- dates of birth -------------------------------------------------------------------------------------
_STEMS, _BRANCHES = "甲乙丙丁戊己庚辛壬癸", "子丑寅卯辰巳午未申酉戌亥"
_LUNAR_MONTH_NAMES = ["正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊"]
_WEEKDAYS_ZH = "一二三四五六日"
_CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def ganzhi(y: int) -> str:
    """The sexagenary name of a year: 1987 -> 丁卯."""
    return _STEMS[(y - 4) % 10] + _BRANCHES[(y - 4) % 12]


def _lunar_day(d: int) -> str:
    """初八, 十五, 廿三, 三十."""
    if d <= 10:
        return "初" + zh_num(d)
    if d < 20:
        return zh_num(d)
    if d in (20, 30):
        return zh_num(d)
    return "廿" + ZH_DIGITS[d - 20]


def _capital_number(n: int) -> str:
    """1-31 in financial numerals: 叁, 拾肆, 贰拾, 叁拾壹."""
    return zh_num(n, _CAPITAL_DIGITS, "拾")


def dob_blind4(zh: bool) -> Maker:
    def make(rng: random.Random) -> str:
        y, m, d = rng.randint(1932, 2016), rng.randint(1, 12), rng.randint(1, 28)
        mon, yy = MONTHS[m - 1], y % 100
        if zh:
            weekday = _WEEKDAYS_ZH[dt.date(y, m, d).weekday()]
            return rng.choice([
                f"公元{y}年{m}月{d}日",
                f"农历{ganzhi(y)}年{_LUNAR_MONTH_NAMES[m - 1]}月{_lunar_day(rng.randint(1, 30))}",
                f"{y}年{m}月{d}日星期{weekday}", f"{y}年{m}月{d}號", f"阳历{y}年{m}月{d}日",
                f"西元{y}年{m}月{d}日", f"{y}年{m}月{d}",
                "".join(_CAPITAL_DIGITS[int(ch)] for ch in str(y))
                + f"年{_capital_number(m)}月{_capital_number(d)}日",
            ])
        weekday = dt.date(y, m, d).strftime("%A")
        return rng.choice([
            f"{d} {mon}, {y}", f"{mon[:3]} {d} '{yy:02d}", f"{d:02d}-{mon[:3].upper()}-{yy:02d}",
            f"{y}-{mon[:3]}-{d:02d}", f"{weekday}, {mon} {d}, {y}", f"{y}. {m}. {d}.",
            f"{d:02d}.{m:02d}.{yy:02d}", f"{yy:02d}-{m:02d}-{d:02d}", f"{mon} the {ordinal(d)}, {y}",
            f"the {ordinal(d)} day of {mon}, {y}", f"{d:02d}/{mon[:3]}/{y}", f"{mon[:3].upper()} {d}, {y}",
        ])
    return make


# -- health ---------------------------------------------------------------------------------------------
HEALTH_BLIND4_EN = ["Cushing's syndrome", "Barrett's oesophagus", "restless legs syndrome", "labyrinthitis",
                    "prediabetes", "hyperthyroidism", "hyperemesis gravidarum", "placenta previa",
                    "multiple myeloma", "glioblastoma", "a pituitary adenoma", "renal cell carcinoma",
                    "basal cell carcinoma", "atopic dermatitis", "cellulitis", "a stress fracture",
                    "costochondritis", "pleurisy", "dengue fever", "malaria", "typhoid", "hepatitis A",
                    "MRSA", "trigger finger", "Dupuytren's contracture", "essential tremor", "Pick's disease",
                    "Creutzfeldt-Jakob disease", "misophonia", "ARFID", "schizoaffective disorder",
                    "cyclothymia", "an adjustment disorder", "polycythemia vera", "von Willebrand disease",
                    "hereditary angioedema", "Fragile X syndrome", "Prader-Willi syndrome", "Turner syndrome",
                    "Klinefelter syndrome", "achondroplasia", "idiopathic hypersomnia", "uveitis",
                    "amblyopia", "otosclerosis", "a deviated septum", "nasal polyps", "TMJ disorder",
                    "periodontitis", "bacterial vaginosis", "trichomoniasis", "erectile dysfunction",
                    "adenomyosis", "uterine fibroids", "an overactive bladder", "polycystic kidney disease",
                    "an ectopic pregnancy", "a rotator cuff tear", "lichen sclerosus",
                    "alpha-1 antitrypsin deficiency"]
MEDS_BLIND4_EN = ["tirzepatide", "Zepbound", "liraglutide", "Saxenda", "dapagliflozin", "Farxiga", "Rybelsus",
                  "Tresiba", "Lantus", "Celexa", "desvenlafaxine", "Pristiq", "Lamictal", "olanzapine",
                  "ziprasidone", "brexpiprazole", "Rexulti", "cariprazine", "Vraylar", "haloperidol",
                  "clonidine", "lisdexamfetamine", "modafinil", "temazepam", "eszopiclone", "naproxen",
                  "meloxicam", "Celebrex", "hydrocodone", "fentanyl patches", "olmesartan", "hydralazine",
                  "isosorbide mononitrate", "nitroglycerin", "Repatha", "fenofibrate", "pravastatin",
                  "amiodarone", "flecainide", "Xeljanz", "Rinvoq", "Stelara", "Skyrizi", "Otezla", "Cosentyx",
                  "Entyvio", "Tecfidera", "Kesimpta", "Copaxone", "Nurtec", "Aimovig", "rizatriptan",
                  "Dovato", "Cabenuva", "Ibrance", "Xtandi", "Opdivo", "capecitabine", "mifepristone",
                  "Clomid", "nitrofurantoin", "metronidazole", "fluconazole", "acamprosate"]
PREGNANCY_BLIND4_EN = ["five months along", "in the first trimester", "due any day now",
                       "sixteen weeks and three days pregnant", "expecting a boy in the spring",
                       "on bed rest with a high-risk pregnancy", "pregnant after two rounds of IVF",
                       "a mum-to-be", "past the due date"]
HEALTH_BLIND4_ZH = ["乳腺结节", "白塞病", "腰椎管狭窄", "颈动脉斑块", "脑膜瘤", "垂体瘤", "肾囊肿",
                    "肝血管瘤", "胆囊息肉", "盆腔炎", "前列腺炎", "肾盂肾炎", "慢性咽炎", "中耳炎",
                    "突发性耳聋", "飞蚊症", "干眼症", "牙周炎", "胃息肉", "十二指肠溃疡", "反流性食管炎",
                    "静脉曲张", "血小板减少症", "半月板损伤", "神经衰弱", "躯体化障碍", "梦游症", "登革热",
                    "疟疾", "伤寒", "子宫内膜癌", "肾癌", "骨肉瘤", "胶质瘤", "多发性骨髓瘤", "硬皮病",
                    "皮肌炎", "脂溢性皮炎", "鱼鳞病", "二尖瓣脱垂", "室间隔缺损", "窦性心动过速",
                    "短暂性脑缺血发作", "小脑萎缩", "特发性震颤", "肾积水", "库欣综合征", "甲状旁腺功能亢进",
                    "高尿酸血症", "偏执型人格障碍", "安眠药依赖"]
MEDS_BLIND4_ZH = ["氟伏沙明", "阿戈美拉汀", "坦度螺酮", "右佐匹克隆", "艾司唑仑", "帕利哌酮", "齐拉西酮",
                  "培哚普利", "贝那普利", "替米沙坦", "吲达帕胺", "单硝酸异山梨酯", "速效救心丸",
                  "复方丹参滴丸", "匹伐他汀", "曲美他嗪", "格列齐特", "吡格列酮", "利格列汀", "伏格列波糖",
                  "甲钴胺", "来氟米特", "柳氮磺吡啶", "艾拉莫德", "司库奇尤单抗", "利福平", "异烟肼",
                  "多替拉韦", "卡培他滨", "替吉奥", "安罗替尼", "仑伐替尼", "紫杉醇", "奥沙利铂",
                  "熊去氧胆酸", "雅施达", "达美康", "逍遥丸", "安宫牛黄丸", "靶向药"]
PREGNANCY_BLIND4_ZH = ["身怀六甲了", "有孕在身", "快临盆了", "挺着七个月的孕肚", "怀了头胎", "正在待产",
                       "胎停了", "怀孕二十六周加三天"]


def setup(values, seed: int) -> None:
    """Fills a bench.pii_people._Values with the fourth blind split's makers."""
    values.person_en = person_en_blind4(seed)
    values.person_zh = zh_name_blind4
    values.address_en = en_address_blind4
    values.address_zh = zh_address_blind4
    values.dob = dob_blind4(zh=False)
    values.dob_zh = dob_blind4(zh=True)
    values.health_en = (PREGNANCY_BLIND4_EN, MEDS_BLIND4_EN, HEALTH_BLIND4_EN)
    values.health_zh = (PREGNANCY_BLIND4_ZH, MEDS_BLIND4_ZH, HEALTH_BLIND4_ZH)
