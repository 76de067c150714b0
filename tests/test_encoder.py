"""The one encoder (gateway/api/encoder.py): OpenAI's shapes from chunks, logprobs in both forms. No model."""

from __future__ import annotations

import json

from device_runtime.fake import FakeEngine
from gateway.api.encoder import Encoder, Vocab
from gateway.api.responses import usage
from gateway.api.sse import event

ENGINE = FakeEngine()  # token id = byte
A, B = ord("a"), ord("b")


def test_chat_logprobs_keep_a_missing_logprob_null_and_give_bytes():
    enc = Encoder(True, "m", Vocab.of(ENGINE), logprobs=True)
    out = enc.response("ab", "stop", usage(3, 2), [([(A, -0.5, [(A, -0.5), (B, -1.5)])], None),
                                                   ([(B, None, [])], None)])
    content = out["choices"][0]["logprobs"]["content"]
    assert content[0] == {"token": "a", "logprob": -0.5, "bytes": [A], "top_logprobs": [
        {"token": "a", "logprob": -0.5, "bytes": [A]}, {"token": "b", "logprob": -1.5, "bytes": [B]}]}
    assert content[1]["logprob"] is None and content[1]["top_logprobs"] == []
    assert out["object"] == "chat.completion" and out["choices"][0]["message"] == {"role": "assistant",
                                                                                   "content": "ab"}
    assert out["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_completion_logprobs_pass_the_clouds_own_entries_on_in_order():
    enc = Encoder(False, "m", Vocab.of(ENGINE), logprobs=True)
    raw = {"tokens": ["x"], "token_logprobs": [-0.1], "top_logprobs": [{"x": -0.1}]}
    lp = enc.format_logprobs([([], raw), ([(A, -0.2, [(A, -0.2)])], None)])
    assert lp == {"tokens": ["x", "a"], "token_logprobs": [-0.1, -0.2],
                  "top_logprobs": [{"x": -0.1}, {"a": -0.2}], "text_offset": []}
    chat = Encoder(True, "m", Vocab.of(ENGINE), logprobs=True)
    assert chat.format_logprobs([([], {"content": [{"token": "x"}]})]) == {"content": [{"token": "x"}]}


def test_no_logprobs_asked_is_null_on_an_answer_and_absent_on_a_chunk():
    enc = Encoder(False, "m", Vocab.of(ENGINE))
    whole = enc.response("a", "length", usage(1, 1), [([(A, -0.1, [])], None)])
    assert whole["choices"][0]["logprobs"] is None
    assert "logprobs" not in enc.delta("a", [(A, -0.1, [])])["choices"][0]


def test_a_stream_is_role_deltas_final_and_usage_under_one_id():
    enc = Encoder(True, "tandem-device", Vocab.of(ENGINE), logprobs=True)
    frames = [enc.role(), enc.delta("a", [(A, -0.1, [])], origin="device"), enc.delta("b", origin="cloud"),
              enc.final("stop", tandem={"mode": "speculative"}), enc.usage_chunk(usage(4, 2))]
    assert {f["id"] for f in frames} == {enc.id} and enc.id.startswith("chatcmpl-")
    assert {f["object"] for f in frames} == {"chat.completion.chunk"}
    assert len({f["created"] for f in frames}) == 1
    assert frames[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "finish_reason": None}]
    assert frames[1]["tandem_origin"] == "device" and frames[1]["choices"][0]["delta"] == {"content": "a"}
    assert frames[1]["choices"][0]["logprobs"]["content"][0]["token"] == "a"
    assert frames[2]["tandem_origin"] == "cloud" and frames[2]["choices"][0]["logprobs"] == {"content": []}
    assert frames[3]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert frames[3]["tandem"] == {"mode": "speculative"} and "tandem_origin" not in frames[3]
    assert frames[4]["choices"] == [] and frames[4]["usage"]["total_tokens"] == 6


def test_text_stream_chunks_and_vllm_token_ids():
    enc = Encoder(False, "cloud", Vocab.of(ENGINE))
    chunk = enc.delta("a", finish_reason="length", token_ids=[A])
    assert chunk["object"] == "text_completion" and enc.id.startswith("cmpl-")
    assert chunk["choices"] == [{"index": 0, "text": "a", "finish_reason": "length", "token_ids": [A]}]
    assert "tandem_origin" not in chunk
    assert enc.final("stop")["choices"] == [{"index": 0, "text": "", "finish_reason": "stop"}]


def test_vllm_token_id_strings_and_prompt_logprobs():
    enc = Encoder(False, "cloud", Vocab.of(ENGINE, as_ids=True), logprobs=True)
    lp = enc.format_logprobs([([(A, -0.3, [(B, -0.2)])], None)])
    assert lp is not None and lp["tokens"] == [f"token_id:{A}"]
    assert lp["top_logprobs"] == [{f"token_id:{B}": -0.2}]
    entries = enc.prompt_logprobs([1, A], [(-2.0, 3, [(B, -0.5)])])
    assert entries == [None, {str(B): {"logprob": -0.5, "rank": 1, "decoded_token": f"token_id:{B}"},
                              str(A): {"logprob": -2.0, "rank": 3, "decoded_token": f"token_id:{A}"}}]


def test_sse_event_is_openai_framing_with_utf8_as_is():
    frame = event({"choices": [{"delta": {"content": "é ✓"}}]})
    assert frame.startswith(b"data: {") and frame.endswith(b"}\n\n")
    assert "é ✓".encode() in frame and json.loads(frame[6:]) == {"choices": [{"delta": {"content": "é ✓"}}]}
