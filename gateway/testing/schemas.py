"""JSON-schema requests of varied shape, the same for the tests and ``bench/structured.py``.

    for case in schema_cases(50):
        case.messages, case.response_format, case.schema

Drawn with a fixed seed from building blocks an assistant's clients ask for: nested objects,
arrays (with item bounds), enums, required and optional fields, numbers and integers with
bounds, booleans, strings with a length bound. Each case asks a question its schema fits.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import jsonschema

TOPICS = [("a city's weather", ["city", "temp_c", "sky", "wind_kmh"]),
          ("a book", ["title", "author", "year", "genres"]),
          ("a person's contact card", ["name", "age", "email", "tags"]),
          ("a product", ["name", "price", "in_stock", "colors"]),
          ("a recipe", ["dish", "minutes", "servings", "steps"]),
          ("a bug report", ["title", "severity", "component", "reproducible"]),
          ("a meeting", ["topic", "duration_min", "attendees", "room"]),
          ("a planet", ["name", "moons", "mass_earths", "has_rings"])]


@dataclass(frozen=True)
class SchemaCase:
    name: str
    question: str
    schema: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.question}]

    @property
    def response_format(self) -> dict[str, Any]:
        schema = {"name": self.name, "schema": self.schema, "strict": True}
        return {"type": "json_schema", "json_schema": schema}


def _leaf(rng: random.Random, field: str, depth: int) -> dict[str, Any]:
    kind = rng.choice(["string", "integer", "number", "boolean", "enum", "array"]
                      + (["object"] if depth < 2 else []))
    if kind == "string":
        return {"type": "string", "maxLength": rng.choice([12, 24, 40])}
    if kind == "integer":
        lo = rng.choice([0, 1, -10])
        return {"type": "integer", "minimum": lo, "maximum": lo + rng.choice([10, 100, 1000])}
    if kind == "number":
        return {"type": "number", "minimum": rng.choice([-50, 0]), "maximum": rng.choice([60, 100, 5000])}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "enum":
        return {"enum": rng.sample(["low", "medium", "high", "red", "green", "blue", "yes", "no"], 3)}
    if kind == "array":
        return {"type": "array", "items": _leaf(rng, field, depth + 1) if depth < 1 else {"type": "string",
                                                                                           "maxLength": 16},
                "minItems": 1, "maxItems": rng.choice([2, 3, 4])}
    return _object(rng, [f"{field}_{s}" for s in ("a", "b", "c")][: rng.randint(1, 3)], depth + 1)


def _object(rng: random.Random, fields: list[str], depth: int) -> dict[str, Any]:
    props = {f: _leaf(rng, f, depth) for f in fields}
    required = [f for f in fields if rng.random() < 0.8] or fields[:1]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def schema_cases(n: int = 50, seed: int = 25) -> list[SchemaCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        topic, fields = TOPICS[i % len(TOPICS)]
        chosen = rng.sample(fields, rng.randint(2, len(fields)))
        schema = _object(rng, chosen, 0)
        cases.append(SchemaCase(f"case_{i}", f"Describe {topic} as JSON with the fields {', '.join(chosen)}.",
                                schema))
    return cases


def valid(text: str, schema: dict[str, Any]) -> bool:
    """Does the answer parse as JSON and follow the schema?"""
    try:
        jsonschema.validate(json.loads(text), schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True
