"""The terminal chat's built-in tools (``/tools on``): run here, on this machine, never by the model.

    TOOLS                       # their OpenAI definitions, sent with each request while tools are on
    run_tool(name, arguments)   # the result as text for the ``tool`` message (an error is text too)

``get_time(timezone)`` reads the IANA time-zone database (zoneinfo). ``calculate(expression)`` is
arithmetic only: numbers, ``+ - * / // % **`` and parentheses, read with ``ast`` and evaluated node
by node (never ``eval``); powers and intermediate results are bounded so no expression can stall
the chat or fill its memory.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "get_time",
        "description": "The current date and time in a time zone.",
        "parameters": {"type": "object", "properties": {"timezone": {
            "type": "string", "description": "An IANA time zone name, such as Europe/Paris or Asia/Tokyo"}},
            "required": ["timezone"]}}},
    {"type": "function", "function": {
        "name": "calculate",
        "description": "Evaluate an arithmetic expression exactly: numbers, + - * / // % ** and parentheses.",
        "parameters": {"type": "object", "properties": {"expression": {
            "type": "string", "description": "For example (17 + 5) * 3 / 4"}},
            "required": ["expression"]}}},
]

MAX_EXPRESSION = 500  # characters
MAX_EXPONENT = 10_000
MAX_BITS = 14_000  # the largest integer any step may produce (about 4,200 digits: Python prints up to 4,300)


class CalcError(ValueError):
    """Why an expression was refused or could not be evaluated (the text goes back to the model)."""


def get_time(timezone: str) -> str:
    """``Wednesday 2025-06-04 14:03:12 (UTC+02:00, Europe/Paris)``."""
    zone = _zone(timezone)
    now = datetime.now(zone)
    offset = now.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{now:%A %Y-%m-%d %H:%M:%S} (UTC{sign}{hours:02d}:{mins:02d}, {zone.key})"


def _zone(name: Any) -> zoneinfo.ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("timezone is required: an IANA name such as Europe/Paris or America/New_York")
    name = name.strip()
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    match = _zones_by_lower_name().get(name.lower().replace(" ", "_"))  # asia/tokyo, new york...
    if match:
        return zoneinfo.ZoneInfo(match)
    raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or America/New_York")


@cache
def _zones_by_lower_name() -> dict[str, str]:
    return {z.lower(): z for z in zoneinfo.available_timezones()}


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def calculate(expression: str) -> str:
    """The value of an arithmetic expression, as text: ``calculate("(17 + 5) * 3")`` -> ``"66"``."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalcError("expression is required, for example (17 + 5) * 3")
    if len(expression) > MAX_EXPRESSION:
        raise CalcError(f"expression too long (over {MAX_EXPRESSION} characters)")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CalcError(f"not an arithmetic expression: {getattr(exc, 'msg', None) or exc}") from None
    value = _eval(tree.body)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CalcError("the result is too large")
        return f"{value:.15g}"
    return str(value)


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise CalcError(f"only numbers are allowed, not {node.value!r}")
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalcError("division by zero") from None
        except OverflowError:
            raise CalcError("the result is too large") from None
    raise CalcError(f"not allowed in an arithmetic expression: {_describe(node)}")


def _check_power(base: int | float, exponent: int | float) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise CalcError(f"exponent too large (over {MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 \
            and exponent * math.log2(abs(base)) > MAX_BITS:
        raise CalcError("the result is too large")
    if base < 0 and isinstance(exponent, float) and not exponent.is_integer():
        raise CalcError("a negative number to a fractional power is not a real number")


def _bounded(value: Any) -> int | float:
    if isinstance(value, complex):
        raise CalcError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise CalcError("the result is too large")
    return value


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Attribute):
        return "an attribute"
    op = getattr(node, "op", None)
    if isinstance(op, ast.BitXor):
        return "^ (use ** for powers)"
    return _SYMBOLS.get(type(op), type(op).__name__) if op is not None else type(node).__name__


_SYMBOLS = {ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.MatMult: "@",
            ast.Invert: "~", ast.Not: "not", ast.And: "and", ast.Or: "or"}


_RUNNERS: dict[str, Callable[..., str]] = {"get_time": get_time, "calculate": calculate}


def run_tool(name: str, arguments: str) -> str:
    """Run a call as the model asked for it; whatever goes wrong comes back as ``error: ...`` text, so the
    model can say so (or try again) instead of the chat failing."""
    runner = _RUNNERS.get(name)
    if runner is None:
        return f"error: no tool named {name!r} (there are {', '.join(_RUNNERS)})"
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return f"error: the arguments are not JSON: {arguments!r}"
    if not isinstance(args, dict):
        return "error: the arguments must be a JSON object"
    try:
        return runner(**args)
    except TypeError:
        want = ", ".join(next(t["function"]["parameters"]["properties"] for t in TOOLS
                              if t["function"]["name"] == name))
        return f"error: {name} takes ({want}), got {', '.join(args) or 'nothing'}"
    except ValueError as exc:  # CalcError and a bad time zone
        return f"error: {exc}"
