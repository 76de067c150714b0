"""Streaming detokenization and stop sequences — model-free."""

from device_runtime.text import IncrementalDetokenizer, StopMatcher, TokenTextStream


def byte_tokens(s: str) -> tuple[list[int], callable]:
    data = s.encode()
    return list(range(len(data))), lambda i: data[i:i + 1]


def test_split_utf8_characters_wait_for_their_tail():
    ids, to_bytes = byte_tokens("你好🎉")
    d = IncrementalDetokenizer(to_bytes)
    pieces = [d.push(i) for i in ids]
    assert pieces[0] == "" and pieces[1] == "" and pieces[2] == "你"
    assert "".join(pieces) + d.flush() == "你好🎉"
    assert all("\ufffd" not in p for p in pieces)


def test_stop_sequence_across_pieces_is_cut_and_never_shown():
    m = StopMatcher(["###"])
    shown = m.push("hello #") + m.push("#") + m.push("# world")
    assert shown == "hello " and m.stopped
    assert m.push("more") == ""


def test_partial_stop_prefix_is_released_when_it_cannot_match():
    m = StopMatcher(["STOP"])
    assert m.push("ST") == ""
    assert m.push("ART") == "START"
    assert m.flush() == ""


def test_earliest_of_several_stops_wins():
    m = StopMatcher(["b", "a"])
    assert m.push("xxab") == "xx"


def test_token_text_stream_combines_both():
    ids, to_bytes = byte_tokens("答案是42。结束")
    s = TokenTextStream(to_bytes, ["结束"])
    out = "".join(s.push(i) for i in ids) + s.flush()
    assert out == "答案是42。" and s.stopped
