"""Privacy tags, redaction and streamed restoration."""

import json

import pytest

from gateway.privacy.policy import PrivacyRouter, PrivacyRule, Redactor, StreamRestorer, strictest


def test_strictest_wins():
    assert strictest(["public", "redact", None]) == "redact"
    assert strictest(["redact", "private", "public"]) == "private"
    with pytest.raises(ValueError):
        strictest(["secret"])


def test_tags_from_metadata_header_rules_and_detection():
    router = PrivacyRouter(pii_action="redact", rules=[PrivacyRule("private", api_key="hr"),
                                                       PrivacyRule("private", pattern="(?i)confidential")])
    assert router.decide(["hello"]).level == "public"
    assert router.decide(["hello"], metadata_level="private").level == "private"
    assert router.decide(["hello"], header_level="REDACT").level == "redact"
    assert router.decide(["hello"], api_key="hr").level == "private"
    assert router.decide(["CONFIDENTIAL plan"]).level == "private"
    d = router.decide(["mail a@b.io"], metadata_level="public")
    assert d.level == "redact" and d.pii == {"EMAIL": 1} and "pii" in d.sources
    assert PrivacyRouter(pii_action="private").decide(["mail a@b.io"]).level == "private"


def test_redaction_is_consistent_and_restorable():
    router = PrivacyRouter()
    d = router.decide(["x"])
    texts = router.redact(["mail a@b.io or a@b.io; card 4111111111111111", "again a@b.io"], d)
    assert texts[0] == "mail [EMAIL_1] or [EMAIL_1]; card [CREDIT_CARD_1]"
    assert texts[1] == "again [EMAIL_1]"
    assert d.redactor.restore("to [EMAIL_1], card [CREDIT_CARD_1]") == "to a@b.io, card 4111111111111111"


def test_unknown_placeholders_are_left_alone():
    r = Redactor()
    r.placeholder("EMAIL", "a@b.io")
    assert r.restore("[EMAIL_2] and [EMAIL_1] and [x]") == "[EMAIL_2] and a@b.io and [x]"


@pytest.mark.parametrize("cut", range(1, 30))
def test_stream_restorer_handles_placeholders_split_anywhere(cut):
    r = Redactor()
    r.placeholder("EMAIL", "jane@example.com")
    r.placeholder("PHONE_NUMBER", "13812345678")
    answer = "Write to [EMAIL_1] or call [PHONE_NUMBER_1] (not [EMAIL_1]!)"
    s = StreamRestorer(r)
    out = "".join(s.push(answer[i:i + cut]) for i in range(0, len(answer), cut)) + s.flush()
    assert out == "Write to jane@example.com or call 13812345678 (not jane@example.com!)"


def test_stream_restorer_tolerates_case_changes_and_reordering():
    r = Redactor()
    r.placeholder("EMAIL", "x@y.io")
    r.placeholder("EMAIL", "z@y.io")
    s = StreamRestorer(r)
    out = s.push("[email_2] then [EMAIL") + s.push("_1]") + s.flush()
    assert out == "z@y.io then x@y.io"


def test_stream_restorer_does_not_hold_ordinary_brackets_forever():
    s = StreamRestorer(Redactor())
    assert s.push("a[0] = x[i_1] + [") == "a[0] = x[i_1] + "
    assert s.flush() == "["


# -- issue 27: people, by type ---------------------------------------------------------------------------------
ISSUE = "Patient Margarethe Oyelaran, born 14 March 1987, presents with type 2 diabetes; summarise the care plan"


def test_health_makes_a_request_private_by_default():
    d = PrivacyRouter().decide([ISSUE])
    assert d.level == "private" and d.pii == {"PERSON": 1, "DATE_OF_BIRTH": 1, "HEALTH": 1}


def test_names_addresses_and_birth_dates_are_redacted_and_restored():
    router = PrivacyRouter()
    texts = ["Dear Aiyana Whitfield, born 2 May 1990, your parcel for 12 Baker Street, London NW1 6XE is late.",
             "Whitfield signs on Monday."]
    d = router.decide(texts, metadata_level=None)
    assert d.level == "redact" and d.pii == {"PERSON": 1, "DATE_OF_BIRTH": 1, "ADDRESS": 1}
    out = router.redact(texts, d)
    assert out[0] == "Dear [PERSON_1], born [DATE_OF_BIRTH_1], your parcel for [ADDRESS_1] is late."
    assert out[1] == "[PERSON_2] signs on Monday."  # her surname on its own, found through the full name
    assert d.redactor.restore("Hi [PERSON_1] ([PERSON_2]) at [ADDRESS_1]") == \
        "Hi Aiyana Whitfield (Whitfield) at 12 Baker Street, London NW1 6XE"


def test_a_value_found_in_one_text_is_redacted_in_the_others():
    router = PrivacyRouter()
    texts = ["My colleague 欧阳子涵 asked for the Q3 numbers.", "欧阳子涵"]  # a message and a stop string
    d = router.decide(texts)
    assert router.redact(texts, d) == ["My colleague [PERSON_1] asked for the Q3 numbers.", "[PERSON_1]"]


def test_types_are_configurable_per_kind():
    assert PrivacyRouter(types={"HEALTH": "redact"}).decide([ISSUE]).level == "redact"
    assert PrivacyRouter(types={"PERSON": "private"}).decide(["Dear Tomasz, see you."]).level == "private"
    off = PrivacyRouter(types={"HEALTH": "off", "PERSON": "off", "DATE_OF_BIRTH": "off"}).decide([ISSUE])
    assert off.level == "public" and off.pii == {}
    assert PrivacyRouter(pii_action="private").decide(["Dear Tomasz, see you."]).level == "private"
    with pytest.raises(ValueError):
        PrivacyRouter(types={"PERSON": "hide"})


def test_config_reads_types_and_a_bare_yaml_off():
    from gateway.config import load_config

    assert load_config().privacy.types == {"HEALTH": "private"}
    assert load_config(overrides=["privacy.types={PERSON: off, HEALTH: redact}"]).privacy.types == \
        {"PERSON": "off", "HEALTH": "redact"}


def test_a_text_seen_before_is_not_scanned_again_and_decides_the_same():
    router = PrivacyRouter()
    scanned: list[str] = []
    real_find = router.detector.find
    router.detector.find = lambda text: scanned.append(text) or real_find(text)  # type: ignore[method-assign]
    system, question = "You are a careful assistant.", "Mail Ada Obi at ada@example.com about the 3pm call."
    first = router.decide([system, question])
    again = router.decide([system, question + " Thanks!", question])  # a chat resends its earlier turns
    assert scanned == [system, question, question + " Thanks!"]
    assert again.spans[2] == first.spans[1] and again.pii["EMAIL"] == 2
    assert router.redact([question], again) == router.redact([question], first)


def test_the_scan_memo_holds_digests_and_offsets_never_text_or_values():
    from gateway.privacy.policy import ScanMemo

    router = PrivacyRouter()
    router._seen = memo = ScanMemo(size=2)
    for text in ("mail a@b.io", "call +1 415 555 0100", "mail c@d.io"):
        router.decide([text])
    assert len(memo._spans) == 2  # the least recently used went first
    for key, found in memo._spans.items():
        assert isinstance(key, bytes) and len(key) == 16
        assert all(isinstance(kind, str) and isinstance(a, int) and isinstance(b, int) for kind, a, b in found)
    assert "a@b.io" not in repr(memo._spans) and "c@d.io" not in repr(memo._spans)
    assert memo.get("mail c@d.io")[0].value == "c@d.io"  # the value is read back from the text asked about


def test_tool_arguments_and_results_hide_a_value_found_anywhere_even_with_tools_listed():
    """decide() reads the messages, arguments, stops and the tools' text; redact() gets fewer texts (no
    tools): every value found still goes wherever it appears, a bare one ("to": the date) included."""
    r = PrivacyRouter()
    args = json.dumps({"to": "21st of May 1951", "body": "She was born on 21st of May 1951 in Lagos."})
    texts = ["Send it.", "Sent to 21st of May 1951: done.", args]
    decision = r.decide(texts + ['{"name": "send_message"}'])
    out = r.redact(texts, decision)
    assert all("1951" not in t for t in out), out
    assert json.loads(out[2])["to"] == "[DATE_OF_BIRTH_1]"


def test_escaped_json_arguments_are_read_as_their_reader_reads_them():
    """json.dumps escapes Chinese by default ("\\u5f20..."): the scan reads the strings inside, and the
    redacted arguments are JSON again with the values replaced."""
    r = PrivacyRouter()
    args = json.dumps({"to": "欧阳子涵", "body": "请给欧阳子涵写一封邮件，说明发货延迟。她生于2002年10月16号。"})
    assert "\\u" in args
    decision = r.decide(["Send it.", args])
    assert decision.level == "redact" and {"PERSON", "DATE_OF_BIRTH"} <= set(decision.pii)
    out = json.loads(r.redact(["Send it.", args], decision)[1])
    assert "欧阳子涵" not in json.dumps(out, ensure_ascii=False) and "2002" not in out["body"]
    assert out["to"].startswith("[PERSON_")
    assert decision.redactor is not None and decision.redactor.restore(out["to"]) == "欧阳子涵"


def test_escaped_health_terms_in_arguments_keep_the_request_private():
    args = json.dumps({"note": "我妈妈每天都要吃二甲双胍。"})
    assert PrivacyRouter().decide([args]).level == "private"
