"""The answer must be what the client asked for: JSON that follows its ``response_format`` schema,
or tool calls that name the request's functions with arguments that follow their parameter schemas.

The device decodes under the schema's grammar, so its answer fails this only when it was cut
(``max_tokens``) or the grammar is looser than the schema (llguidance ignores a few keywords,
such as ``format``); then the cloud takes over, as for any failed check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from device_runtime.tools import Tools, parse
from gateway.core.verifiers.base import DeviceAnswer, Verdict


@dataclass
class Schema:
    schema: dict[str, Any]
    name: str = "schema"
    _validator: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._validator = jsonschema.Draft202012Validator(self.schema)

    async def check(self, answer: DeviceAnswer) -> Verdict:
        try:
            value = json.loads(answer.text)
        except ValueError as exc:
            return Verdict(self.name, "fail", 0.0, f"not JSON ({exc})")
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the top level"
            return Verdict(self.name, "fail", 0.0, f"breaks the schema at {where}: {error.validator}")
        return Verdict(self.name, "pass", 1.0)


@dataclass
class ToolCalls:
    """A call the client could not run (an unknown function, arguments off their schema), a call cut off
    by ``max_tokens``, or prose where the client required a call, escalates."""

    tools: Tools
    name: str = "tool_calls"

    async def check(self, answer: DeviceAnswer) -> Verdict:
        content, calls = parse(answer.text, self.tools)
        if content is not None and "<tool_call>" in content:
            return Verdict(self.name, "fail", 0.0, "a tool call that does not parse")
        if self.tools.enforced and not calls:
            return Verdict(self.name, "fail", 0.0, f"tool_choice {self.tools.choice} but no call")
        for call in calls:
            problem = self.tools.check(call)
            if problem is not None:
                return Verdict(self.name, "fail", 0.0, problem)
        return Verdict(self.name, "pass", 1.0, f"{len(calls)} call(s)" if calls else "no call")
