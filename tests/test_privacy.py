"""Privacy tags, redaction and streamed restoration."""

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
