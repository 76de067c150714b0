"""The answer must be what the client asked for: JSON that follows its ``response_format`` schema.

The device decodes under the schema's grammar, so its answer fails this only when it was cut
(``max_tokens``) or the grammar is looser than the schema (llguidance ignores a few keywords,
such as ``format``); then the cloud takes over, as for any failed check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema

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
