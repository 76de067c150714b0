"""The wire format refuses what Tandem cannot honour: a 400 naming the field, never a silent drop.

A dropped ``tools`` list makes the model invent the tool's answer (issue 25); a dropped
``response_format`` returns prose to a client that parses JSON; a dropped ``echo`` returns a
completion without the prompt the client asked to see again.
"""

from __future__ import annotations

import openai
import pytest
from pydantic import ValidationError

from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.testing.live import LiveGateway

CHAT = {"model": "tandem-device", "messages": [{"role": "user", "content": "What's the weather in Paris?"}]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

REFUSED_CHAT = {
    "functions": [TOOL["function"]],
    "function_call": {"name": "get_weather"},
    "response_format": {"type": "json_schema"},  # without its schema
    "logit_bias": {"42": 5},
    "presence_penalty": 0.5,
    "frequency_penalty": 1.0,
    "audio": {"voice": "alloy", "format": "wav"},
    "prediction": {"type": "content", "content": "x"},
    "modalities": ["text", "audio"],
}
NEUTRAL_CHAT = {"tools": [], "tool_choice": "none", "response_format": {"type": "text"}, "logit_bias": {},
                "presence_penalty": 0, "frequency_penalty": 0.0, "modalities": ["text"], "parallel_tool_calls": True}
REFUSED_COMPLETION = {"echo": True, "suffix": "\n}", "best_of": 3}


@pytest.mark.parametrize("field", sorted(REFUSED_CHAT))
def test_a_chat_field_tandem_cannot_honour_is_refused_by_name(field):
    with pytest.raises(ValidationError) as err:
        ChatCompletionRequest.model_validate({**CHAT, field: REFUSED_CHAT[field]})
    assert err.value.errors()[0]["loc"] == (field,)


def test_neutral_values_of_those_fields_pass():
    assert ChatCompletionRequest.model_validate({**CHAT, **NEUTRAL_CHAT}).tools == []


def test_tools_are_honoured_where_they_can_be_and_refused_by_name_where_not():
    ok = ChatCompletionRequest.model_validate({**CHAT, "tools": [TOOL], "tool_choice": "required"})
    assert ok.tools == [TOOL] and ok.tool_choice == "required"
    with pytest.raises(ValidationError, match="logprobs together with tools"):
        ChatCompletionRequest.model_validate({**CHAT, "tools": [TOOL], "logprobs": True})
    with pytest.raises(ValidationError) as err:
        CompletionRequest.model_validate({"model": "tandem-device", "prompt": "x", "tools": [TOOL]})
    assert err.value.errors()[0]["loc"] == ("tools",) and "chat/completions" in str(err.value)
    with pytest.raises(ValidationError, match="tool_call_id"):
        ChatCompletionRequest.model_validate({**CHAT, "messages": [{"role": "tool", "content": "22 C"}]})


@pytest.mark.parametrize("field", sorted(REFUSED_COMPLETION))
def test_a_completion_field_tandem_cannot_honour_is_refused_by_name(field):
    with pytest.raises(ValidationError) as err:
        CompletionRequest.model_validate({"model": "tandem-device", "prompt": "def f():", field: REFUSED_COMPLETION[field]})
    assert err.value.errors()[0]["loc"] == (field,)


@pytest.mark.integration
def test_the_openai_client_gets_a_400_naming_tools(smol_engine):
    with LiveGateway(smol_engine, []) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        # SmolLM2's chat template lists no tools: the model could not see them, so they are refused by name
        for field, value, says in (("tools", [TOOL], "no tool support in its chat template"),
                                   ("tool_choice", {"type": "function", "function": {"name": "nope"}}, "needs tools"),
                                   ("response_format", REFUSED_CHAT["response_format"], "needs 'json_schema'")):
            with pytest.raises(openai.BadRequestError) as err:
                client.chat.completions.create(**CHAT, **{field: value})
            assert err.value.status_code == 400 and err.value.body["param"] == field
            assert says in err.value.body["message"]
        ok = client.chat.completions.create(**CHAT, max_tokens=4, tools=[], tool_choice="none")
        assert ok.choices[0].message.content is not None
