"""Tool calls: definitions checked, calls read from the model's ``<tool_call>`` blocks however the text is cut,
enforced by a grammar where the client requires one, a cloud's parsed calls folded back into the same form,
checked by the cascade, and the calls and results of earlier turns scanned and redacted before the cloud."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from device_runtime.fake import FakeEngine
from device_runtime.tools import Content, ToolCall, ToolCallParser, ToolError, Tools, call_text, parse
from device_runtime.tools import template_messages
from gateway.core.modes.cloud import CloudCalls
from gateway.core.verifiers.base import DeviceAnswer
from gateway.core.verifiers.schema import ToolCalls

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                   "required": ["city"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
TOOLS = Tools.of([WEATHER, TIME])
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def events_of(text: str, cuts: list[int], tools: Tools = TOOLS) -> list:
    parser = ToolCallParser(tools)
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return [e for piece in pieces for e in parser.feed(piece)] + list(parser.close())


@pytest.mark.parametrize("seed", range(20))
def test_calls_and_content_are_read_the_same_however_the_stream_is_cut(seed):
    text = "Let me check." + CALL + "\n" + CALL.replace("get_weather", "get_time").replace('"city": "Paris"',
                                                                                           '"zone": "CET"')
    rng = np.random.default_rng(seed)
    cuts = sorted(set(rng.integers(1, len(text), size=rng.integers(1, 12)).tolist()))
    events = events_of(text, cuts)
    content = "".join(e.text for e in events if isinstance(e, Content))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert content.strip() == "Let me check."
    assert [(c.index, c.name, json.loads(c.arguments)) for c in calls] == [
        (0, "get_weather", {"city": "Paris"}), (1, "get_time", {"zone": "CET"})]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)


def test_what_is_not_a_call_stays_content():
    assert parse("The weather is sunny.", TOOLS) == ("The weather is sunny.", [])
    unknown = CALL.replace("get_weather", "launch_rockets")
    content, calls = parse(unknown, TOOLS)
    assert calls == [] and content == unknown  # an unknown function is not run: the text is shown
    content, calls = parse("use <tool_call>{not json}</tool_call> here", TOOLS)
    assert calls == [] and "<tool_call>" in content


def test_a_small_models_bare_or_fenced_call_json_is_a_call_under_auto_only():
    fenced = '```json\n{\n  "name": "get_weather",\n  "arguments": {"city": "Paris"}\n}\n```'
    content, calls = parse(fenced, TOOLS)
    assert content is None and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Paris"}
    assert parse('{"name": "get_weather", "arguments": {"city": "Oslo"}}', TOOLS)[1][0].name == "get_weather"
    assert parse('{"answer": 42}', TOOLS) == ('{"answer": 42}', [])  # JSON, but no call
    # after prose it is an example in an explanation, not a call
    assert parse('Call it like this: {"name": "get_weather", "arguments": {}}', TOOLS)[1] == []


def test_definitions_and_choices_are_checked_and_named():
    with pytest.raises(ToolError, match=r"tools\[0\]\.function\.name"):
        Tools.of([{"type": "function", "function": {"name": "has space"}}])
    with pytest.raises(ToolError, match="unique"):
        Tools.of([WEATHER, WEATHER])
    with pytest.raises(ToolError, match=r"parameters") as err:
        Tools.of([{"type": "function", "function": {"name": "f", "parameters": {"type": "no-such-type"}}}])
    assert err.value.param == "tools"
    with pytest.raises(ToolError, match="not among the tools") as err:
        Tools.of([WEATHER], {"type": "function", "function": {"name": "get_time"}})
    assert err.value.param == "tool_choice"
    with pytest.raises(ToolError, match="needs tools"):
        Tools.of(None, "required")
    assert Tools.of(None, "none") is None and Tools.of([], None) is None
    named = Tools.of([WEATHER, TIME], {"type": "function", "function": {"name": "get_time"}})
    assert named.choice == "get_time" and named.enforced
    assert Tools.of([WEATHER], "none").for_template is None  # "none": the model is not shown them


def test_an_enforced_choice_is_a_grammar_over_the_functions_schemas():
    engine = FakeEngine()
    assert TOOLS.grammar(engine) is None  # auto: the model decides
    required = Tools.of([WEATHER, TIME], "required").grammar(engine)
    assert required is not None and "get_weather" in required.source and "get_time" in required.source
    one = Tools.of([WEATHER, TIME], {"type": "function", "function": {"name": "get_time"}}).grammar(engine)
    assert "get_time" in one.source and "get_weather" not in one.source
    assert '"<tool_call>"' in one.source  # the fake's bytes: the marker as text (Qwen's is a token, <[id]>)
    assert 'call ("\\n" call)*' not in required.source  # one call unless the client allows parallel ones
    parallel = Tools.of([WEATHER, TIME], "required", parallel=True).grammar(engine)
    assert 'call ("\\n" call)*' in parallel.source


def test_earlier_calls_reach_the_template_as_objects():
    messages = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "22 C"}]
    out = template_messages(messages)
    assert out[0]["content"] == "" and out[0]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'  # not mutated


def test_a_clouds_parsed_calls_rejoin_the_answer_in_the_models_format():
    calls = CloudCalls()
    text = calls.add([{"index": 0, "id": "x", "type": "function", "function": {"name": "get_weather", "arguments": ""}}])
    text += calls.add([{"index": 0, "function": {"arguments": '{"city": '}}])
    text += calls.add([{"index": 0, "function": {"arguments": '"Paris"}'}}])
    assert text == ""  # nothing until the call is complete
    text += calls.add([{"index": 1, "id": "y", "function": {"name": "get_time", "arguments": '{"zone": "CET"}'}}])
    text += calls.flush()
    content, parsed = parse(text, TOOLS)
    assert content is None and [(c.name, json.loads(c.arguments)) for c in parsed] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    assert call_text("get_weather", "") == '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>'


def answer(text: str) -> DeviceAnswer:
    return DeviceAnswer([1], [], text, "stop")


@pytest.mark.parametrize("text, outcome, says", [
    (CALL, "pass", "1 call"),
    ("It is sunny in Paris.", "pass", "no call"),
    (CALL.replace('"city": "Paris"', '"town": "Paris"'), "fail", "get_weather"),  # off its schema
    (CALL.replace("get_weather", "get_wether"), "fail", "does not parse"),  # unknown: stays text, a broken call
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par', "fail", "does not parse"),  # cut off
])
def test_the_cascade_escalates_a_call_the_client_could_not_run(text, outcome, says):
    verdict = asyncio.run(ToolCalls(TOOLS).check(answer(text)))
    assert verdict.outcome == outcome and says in verdict.reason


def test_prose_where_a_call_was_required_escalates():
    verdict = asyncio.run(ToolCalls(Tools.of([WEATHER], "required")).check(answer("It is sunny.")))
    assert verdict.failed and "required" in verdict.reason


# -- privacy: earlier calls' arguments and tool results are scanned and redacted like messages ---------------
EMAIL, PHONE = "anna.schmidt@example.com", "+49 30 12345678"
SEND = {"type": "function", "function": {"name": "send_email", "parameters": {
    "type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}, "required": ["to"]}}}
AGENT_TURNS = [
    {"role": "user", "content": "Tell my colleague the meeting moved."},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
        "name": "send_email", "arguments": json.dumps({"to": EMAIL, "body": "Meeting moved to 3pm"})}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": f"Delivered to {EMAIL}; she may call back on {PHONE}."},
]


@pytest.mark.integration
@pytest.mark.parametrize("model", ["tandem-cloud", "tandem-speculative", "tandem-cascade"])
def test_tool_arguments_and_results_leave_the_device_only_redacted(model, qwen_device_engine):
    import openai

    from gateway.testing.live import LiveGateway
    from gateway.testing.recording_cloud import RecordingCloud

    cloud = RecordingCloud(qwen_device_engine)  # the device's tokenizer: token-id payloads decode to text
    with LiveGateway(qwen_device_engine, ["privacy.pii_action=redact", "cascade.threshold=1000", "cascade.policy=gate"],
                     cloud_server=cloud) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        r = client.chat.completions.create(model=model, messages=AGENT_TURNS, tools=[SEND], max_tokens=8,
                                           temperature=0)
        assert cloud.calls > 0 and r.model_extra["tandem"]["pii"]
        seen = cloud.seen_text()
        for value in (EMAIL, PHONE, PHONE.replace(" ", "")):
            assert value not in seen, f"{value} reached the cloud in {model}"
        assert "[EMAIL_1]" in seen  # the arguments went, with the placeholder in the value's place
        private = client.chat.completions.create(model=model, messages=AGENT_TURNS, tools=[SEND], max_tokens=8,
                                                 temperature=0, metadata={"privacy": "private"})
        assert private.model_extra["tandem"]["mode"] == "device"
        before = cloud.calls
        client.chat.completions.create(model=model, messages=AGENT_TURNS, tools=[SEND], max_tokens=8,
                                       metadata={"privacy": "private"})
        assert cloud.calls == before  # a private request's calls and results never leave


def test_none_reads_no_calls_and_false_keeps_the_first_only():
    two = CALL + "\n" + CALL.replace("Paris", "Oslo")
    assert parse(two, Tools.of([WEATHER, TIME], "none")) == (two, [])  # content, as vLLM gives it
    assert len(parse(two, Tools.of([WEATHER, TIME], None, parallel=False))[1]) == 1
    assert len(parse(two, Tools.of([WEATHER, TIME]))[1]) == 2  # OpenAI's default: several


def test_a_restored_value_with_a_newline_still_reads_as_a_call():
    restored = CALL.replace('"Paris"', '"221B Baker Street\nLondon"')  # a placeholder put back, raw
    assert json.loads(parse(restored, TOOLS)[1][0].arguments) == {"city": "221B Baker Street\nLondon"}


def test_bare_json_is_a_call_only_when_it_carries_arguments():
    assert parse('{"name": "get_time", "x": 1}', TOOLS)[1] == []


def test_strict_under_auto_is_refused_by_name():
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}
    with pytest.raises(ToolError) as err:
        Tools.of([strict])
    assert err.value.param == "tools[0].function.strict"
    assert Tools.of([strict], "required").enforced  # enforced by the grammar: strict holds
