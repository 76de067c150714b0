"""Tool calls in the model's own format: the chat template's ``<tool_call>`` blocks, parsed and enforced.

    tools = Tools.of(request_tools, tool_choice, parallel)       # validated; ToolError names what is wrong
    prompt = engine.chat_tokens(template_messages(messages), tools.for_template)
    grammar = tools.grammar(engine)                              # tool_choice required / named: enforced
    parser = ToolCallParser(tools)                               # streaming: text in, content / calls out
    for event in parser.feed(text): ...; parser.close()

Qwen2.5's template (and Hermes-style models') asks for each call as
``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``, the format vLLM's ``hermes``
tool parser reads. One parser serves every producer of an answer (the device, the speculative and
cascade paths, the local cloud stand-in; the gateway turns a cloud's parsed ``tool_calls`` back into
this form), so a call looks the same whoever wrote it. ``tool_choice: required`` or a named function
is a grammar (llguidance: the call's JSON follows the function's parameter schema), so the device
cannot answer in prose instead; ``auto`` leaves the choice to the model, and a small model that
answers with the call's JSON alone (bare or in a ```json fence) naming a known tool is read as a call.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from device_runtime.grammar import COMPACT, Grammar, GrammarError

OPEN, CLOSE = "<tool_call>", "</tool_call>"


class ToolError(ValueError):
    """A tool definition or tool_choice that cannot be honoured; ``param`` names the request field."""

    def __init__(self, message: str, param: str = "tools"):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolCall:
    index: int
    name: str
    arguments: str  # JSON text, as OpenAI sends it
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:24]}")

    def as_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Vocab(Protocol):
    def tokenize(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]: ...
    def token_bytes(self, token_id: int) -> bytes: ...


@dataclass(frozen=True)
class Tools:
    tools: tuple[Tool, ...]
    choice: str = "auto"  # auto | none | required | a function's name
    # parallel_tool_calls as the client sent it: None (OpenAI's default: several calls may come back), True,
    # or False (the first call only). An enforced grammar repeats calls only for an explicit True: a small
    # model allowed "one or more" repeats its call until max_tokens.
    parallel: bool | None = None

    @classmethod
    def of(
        cls, tools: Sequence[dict[str, Any]] | None, choice: Any = None, parallel: bool | None = None
    ) -> Tools | None:
        """The request's ``tools``/``tool_choice``/``parallel_tool_calls``, checked; None without tools.
        Checking compiles each schema (tens of ms for a large one): an agent resending the same tools each
        turn pays it once (``_checked``)."""
        if not tools:
            if choice not in (None, "none", "auto"):
                raise ToolError("tool_choice needs tools", "tool_choice")
            return None
        try:
            key = json.dumps([tools, choice], sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ToolError(f"tools must be JSON: {exc}") from exc
        checked = _checked(key)
        return cls(checked.tools, checked.choice, parallel)

    @classmethod
    def _check(cls, tools: Sequence[dict[str, Any]], choice: Any) -> Tools:
        parsed: list[Tool] = []
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(t, dict) or t.get("type", "function") != "function" or not isinstance(fn, dict):
                raise ToolError(f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}")
            name = fn.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
                raise ToolError(f"tools[{i}].function.name must be 1-64 letters, digits, _ or -")
            params = fn.get("parameters") or {"type": "object", "properties": {}}
            _check_schema(params, f"tools[{i}].function.parameters")
            if fn.get("strict") and choice in (None, "auto"):  # strict: the schema is guaranteed
                raise ToolError(f"tools[{i}].function.strict needs tool_choice required or this function: "
                                "under auto nothing holds the arguments to the schema",
                                f"tools[{i}].function.strict")
            parsed.append(Tool(name, str(fn.get("description") or ""), params))
        names = [t.name for t in parsed]
        if len(set(names)) != len(names):
            raise ToolError("tools: each function name must be unique")
        return cls(tuple(parsed), _choice(choice, names))

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]

    def get(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    @property
    def for_template(self) -> list[dict[str, Any]] | None:
        """What the chat template lists (none when the client said ``tool_choice: none``)."""
        return None if self.choice == "none" else [t.as_openai() for t in self.tools]

    @property
    def enforced(self) -> bool:
        return self.choice not in ("auto", "none")

    def grammar(self, vocab: Vocab) -> Grammar | None:
        """``required`` or a named function: the answer is one call (several if parallel), nothing else."""
        if not self.enforced:
            return None
        chosen = self.tools if self.choice == "required" else (self.get(self.choice),)
        objects = [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "arguments"],
                "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            }
            for t in chosen
            if t is not None
        ]
        call: dict[str, Any] = dict(objects[0]) if len(objects) == 1 else {"anyOf": objects}
        call["x-guidance"] = COMPACT
        more = ' ("\\n" call)*' if self.parallel is True and self.choice == "required" else ""
        source = (
            f'start: call{more}\ncall: {_marker(vocab, OPEN)} "\\n" body "\\n" '
            f"{_marker(vocab, CLOSE)}\nbody: %json {json.dumps(call)}"
        )
        return Grammar.lark(source, "tool_calls")

    def check(self, call: ToolCall) -> str | None:
        """Why a call cannot be run (unknown function, arguments not JSON or off their schema), or None."""
        import jsonschema

        tool = self.get(call.name)
        if tool is None:
            return f"unknown function {call.name!r}"
        try:
            args = json.loads(call.arguments)
        except ValueError:
            return f"{call.name}: arguments are not JSON"
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(tool.parameters).iter_errors(args)
        )
        return None if error is None else f"{call.name}: {error.message}"


@functools.lru_cache(maxsize=64)
def _checked(key: str) -> Tools:
    tools, choice = json.loads(key)
    return Tools._check(tools, choice)


def _choice(choice: Any, names: list[str]) -> str:
    if choice in (None, "auto", "none", "required"):
        return choice or "auto"
    fn = choice.get("function") if isinstance(choice, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise ToolError(
            "tool_choice must be auto, none, required or {'type': 'function', 'function': {'name': ...}}",
            "tool_choice",
        )
    if name not in names:
        raise ToolError(f"tool_choice names {name!r}, which is not among the tools", "tool_choice")
    return name


def _check_schema(schema: Any, where: str) -> None:
    import jsonschema

    if not isinstance(schema, dict):
        raise ToolError(f"{where} must be a JSON schema object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        Grammar.json_schema(schema)
    except (jsonschema.exceptions.SchemaError, GrammarError) as exc:
        raise ToolError(f"{where}: {str(exc).splitlines()[0]}") from exc


def _marker(vocab: Vocab, text: str) -> str:
    """The grammar's spelling of ``<tool_call>``: the special token where the model has one, else the text."""
    ids = vocab.tokenize(text, add_bos=False, special=True)
    if len(ids) == 1:  # one token of its own (llguidance reads added tokens as special, whatever their text)
        return f"<[{ids[0]}]>"
    return json.dumps(text)


def template_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for the chat template: a call's arguments as an object (the template writes them with
    ``tojson``; a JSON string would come out quoted twice), ``content`` never None."""
    out = []
    for m in messages:
        m = {**m, "content": m.get("content") or ""}
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {**c, "function": {**c["function"], "arguments": _as_object(c["function"].get("arguments"))}}
                for c in m["tool_calls"]
            ]
        out.append(m)
    return out


def _as_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def call_text(name: str, arguments: str) -> str:
    """A call in the model's format: how a cloud's parsed call rejoins an answer (and a held-over one)."""
    return f'{OPEN}\n{{"name": {json.dumps(name)}, "arguments": {arguments or "{}"}}}\n{CLOSE}'


# -- reading answers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Content:
    text: str


Event = Content | ToolCall


class ToolCallParser:
    """Turns an answer's text, as it streams, into content and tool calls.

    Content streams through until a ``<tool_call>`` could be starting (a held-back tail that may be
    the opening of one); each call is released when its block closes. ``close`` releases what is
    held, reading an unclosed block or a bare/fenced call JSON (``auto`` answers of small models) as a
    call where it parses as one naming a known tool, and as content otherwise.
    """

    def __init__(self, tools: Tools):
        self.tools = tools
        self.buffer = ""
        self.calls: list[ToolCall] = []
        self.content_seen = False

    def feed(self, text: str) -> Iterator[Event]:
        if self.tools.choice == "none":  # no calls asked for: whatever the model writes is content, as vLLM
            yield from self._content(text)
            return
        self.buffer += text
        while True:
            start = self.buffer.find(OPEN)
            if start < 0:
                keep = _partial_suffix(self.buffer, OPEN)
                if self._maybe_bare_call():
                    return
                released, self.buffer = (
                    self.buffer[: len(self.buffer) - keep],
                    self.buffer[len(self.buffer) - keep :],
                )
                yield from self._content(released)
                return
            yield from self._content(self.buffer[:start])
            end = self.buffer.find(CLOSE, start)
            if end < 0:
                self.buffer = self.buffer[start:]
                return
            block = self.buffer[start : end + len(CLOSE)]
            self.buffer = self.buffer[end + len(CLOSE) :]
            call = self._call(block[len(OPEN) : -len(CLOSE)])
            if call is None:  # not a call after all (unknown name, not JSON): its text is content
                yield from self._content(block)
            elif self._wanted(call):
                yield call

    def close(self) -> Iterator[Event]:
        rest, self.buffer = self.buffer, ""
        if rest.startswith(OPEN):
            call = self._call(rest[len(OPEN) :].removesuffix(CLOSE))
            if call is not None:
                if self._wanted(call):
                    yield call
                return
        if not self.calls and not self.content_seen:
            call = self._bare(rest)
            if call is not None:
                yield call
                return
        yield from self._content(rest)

    def _wanted(self, call: ToolCall) -> bool:
        """``parallel_tool_calls: false``: the first call only, whoever wrote more (vLLM keeps index 0)."""
        return self.tools.parallel is not False or call.index == 0

    def _maybe_bare_call(self) -> bool:
        """Hold everything while the answer so far could be a bare or fenced call's JSON (``auto`` only)."""
        if self.tools.enforced or self.calls or self.content_seen:
            return False
        head = self.buffer.lstrip()
        return not head or head[0] == "{" or "```json".startswith(head[:7]) or head.startswith("```json")

    def _bare(self, text: str) -> ToolCall | None:
        m = re.fullmatch(r"\s*(?:```(?:json)?\s*)?(\{.*\})\s*(?:```)?\s*", text, re.DOTALL)
        return self._call(m.group(1), bare=True) if m else None

    def _call(self, body: str, bare: bool = False) -> ToolCall | None:
        try:  # strict=False: a restored value with a newline (an address) inside a string still reads
            obj = json.loads(body, strict=False)
        except ValueError:
            return None
        if bare and not ("arguments" in obj or "parameters" in obj if isinstance(obj, dict) else False):
            return None  # bare JSON is a call only when it says so: {"name": "get_time", "x": 1} is an answer
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("name"), str)
            or self.tools.get(obj["name"]) is None
        ):
            return None
        args = obj.get("arguments", obj.get("parameters", {}))
        call = ToolCall(
            len(self.calls),
            obj["name"],
            args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
        )
        self.calls.append(call)
        return call

    def _content(self, text: str) -> Iterator[Content]:
        if not text:
            return
        if not self.calls and not self.content_seen and not text.strip():
            return  # whitespace before anything else (the template's newline before a call) is not content
        self.content_seen = True
        yield Content(text)


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of ``marker``."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


def finish_reason(reason: str | None, called: bool) -> str:
    """OpenAI's ``tool_calls`` when an answer that ended by itself called tools; else its own reason."""
    reason = reason or "stop"
    return "tool_calls" if called and reason == "stop" else reason


def parse(text: str, tools: Tools) -> tuple[str | None, list[ToolCall]]:
    """A whole answer: its content (None when it is calls only) and its calls."""
    parser = ToolCallParser(tools)
    events = [*parser.feed(text), *parser.close()]
    content = "".join(e.text for e in events if isinstance(e, Content))
    calls = [e for e in events if isinstance(e, ToolCall)]
    return (content if content.strip() or not calls else None), calls
