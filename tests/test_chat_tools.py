"""The terminal chat's built-in tools, and how it reads and shows a streamed call (no gateway, no model)."""

from __future__ import annotations

import json
import re
import time

import pytest

from device_runtime.tools import Tools
from gateway.chat import add_call_deltas, call_line
from gateway.chat_tools import TOOLS, CalcError, calculate, get_time, run_tool


@pytest.mark.parametrize("expression, value", [
    ("1 + 2", "3"), ("(17 + 5) * 3", "66"), ("(17 + 5) * 3 / 4", "16.5"), ("7 // 2", "3"), ("-7 // 2", "-4"),
    ("7 % 3", "1"), ("2 ** 10", "1024"), ("2 ** -2", "0.25"), ("-(3 - 5)", "2"), ("+4", "4"),
    ("0.1 + 0.2", "0.3"), ("1e3 * 2", "2000"), ("2 ** 0.5", "1.4142135623731"), ("10 ** 4000 // 10 ** 3999", "10"),
    (" 6 * 7 ", "42"),
])
def test_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize("expression, why", [
    ("__import__('os').system('true')", "a function call"),
    ("abs(-1)", "a function call"),
    ("x + 1", "the name 'x'"),
    ("(1).real", "an attribute"),
    ("().__class__", "an attribute"),
    ("'a' * 3", "only numbers"),
    ("True + 1", "only numbers"),
    ("1j * 1j", "only numbers"),
    ("[1, 2]", "List"),
    ("2 ^ 3", r"\^ \(use \*\* for powers\)"),
    ("1 << 64", "<<"),
    ("lambda: 1", "Lambda"),
    ("1 if 1 else 2", "IfExp"),
    ("1 < 2", "Compare"),
    ("import os", "not an arithmetic expression"),
    ("1 +", "not an arithmetic expression"),
    ("", "required"),
    ("1" * 501, "too long"),
])
def test_anything_but_arithmetic_is_refused(expression, why):
    with pytest.raises(CalcError, match=why):
        calculate(expression)


@pytest.mark.parametrize("expression, why", [
    ("9 ** 9 ** 9", "exponent too large"),
    ("2 ** 100000", "exponent too large"),
    ("10 ** 5000", "too large"),
    ("(10 ** 4000) * (10 ** 4000)", "too large"),
    ("(2 ** 9000) ** 2", "too large"),
    ("1e308 * 10", "too large"),
    ("10.0 ** 400", "too large"),
    ("(10 ** 4000) ** 0.5", "too large"),
    ("1 / 0", "division by zero"),
    ("5 % 0", "division by zero"),
    ("(-8) ** 0.5", "not a real number"),
])
def test_huge_or_undefined_results_are_refused_quickly(expression, why):
    start = time.perf_counter()
    with pytest.raises(CalcError, match=why):
        calculate(expression)
    assert time.perf_counter() - start < 0.5


def test_get_time_reads_iana_names():
    assert re.fullmatch(r"\w+day \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\+09:00, Asia/Tokyo\)", get_time("Asia/Tokyo"))
    assert get_time("asia/tokyo").endswith("(UTC+09:00, Asia/Tokyo)")  # a model's lower case is forgiven
    assert get_time("UTC").endswith("(UTC+00:00, UTC)")
    assert "UTC-" in get_time("America/New_York")
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "Paris", ""):
        with pytest.raises(ValueError, match="IANA name"):
            get_time(bad)


def test_run_tool_turns_every_failure_into_text_for_the_model():
    assert run_tool("calculate", '{"expression": "6 * 7"}') == "42"
    assert run_tool("calculate", '{"expression": "__import__(\'os\')"}').startswith("error: not allowed")
    assert run_tool("get_time", '{"timezone": "Nowhere/City"}').startswith("error: unknown time zone 'Nowhere/City'")
    assert run_tool("get_time", "{}") == "error: get_time takes (timezone), got nothing"
    assert run_tool("get_time", '{"tz": "UTC"}') == "error: get_time takes (timezone), got tz"
    assert run_tool("rm_rf", "{}").startswith("error: no tool named 'rm_rf'")
    assert run_tool("calculate", "not json").startswith("error: the arguments are not JSON")
    assert run_tool("calculate", "[1]") == "error: the arguments must be a JSON object"


def test_the_definitions_are_what_the_gateway_accepts():
    tools = Tools.of(TOOLS)
    assert tools is not None and tools.names == ["get_time", "calculate"]


def test_a_call_streamed_in_pieces_is_reassembled_and_shown_on_one_line():
    calls: list[dict] = []
    add_call_deltas(calls, [{"index": 0, "id": "call_1", "type": "function",
                             "function": {"name": "get_time", "arguments": ""}}])
    for piece in ('{"time', 'zone": "Eur', 'ope/Paris"}'):  # as vLLM streams arguments
        add_call_deltas(calls, [{"index": 0, "function": {"arguments": piece}}])
    add_call_deltas(calls, [{"index": 1, "id": "call_2", "type": "function",
                             "function": {"name": "calculate", "arguments": '{"expression":"1+1"}'}}])
    assert calls == [
        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"timezone": "Europe/Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "calculate", "arguments": '{"expression":"1+1"}'}}]
    assert call_line(calls[0]) == '⚙ get_time({"timezone": "Europe/Paris"})'
    assert call_line(calls[1]) == '⚙ calculate({"expression": "1+1"})'
    assert call_line({"function": {"name": "f", "arguments": '{"cut'}}) == '⚙ f({"cut)'
    assert json.loads(calls[0]["function"]["arguments"]) == {"timezone": "Europe/Paris"}
