"""The examples check: a code answer, run in the sandbox on the examples its own question states.

    verifier = Examples(Sandbox(Limits(cpu_s=5, wall_s=5)))
    verdict = await verifier.check(answer)   # pass: every example holds; fail: one does not

The question (the chat's last user message, or the completion prompt) names a function and
gives examples of it: doctest lines (``>>> inc(1)`` then ``2``) or lines like ``inc(1) ==> 2``,
``sign(-2) ➞ -1``, ``f(x) should return 'a'`` — calls with literal arguments and a literal
result only. The answer's code (its first fenced block, or the whole answer) must define that
function, or be its body, as a HumanEval completion is (it then completes the question's stub);
the question's code comes first, so its imports and helpers exist. All examples run in one
program, in the sandbox (``gateway.core.verifiers.sandbox``), off the event loop. The verdict:

* ``pass`` — every example gives its stated result (score 1.0);
* ``fail`` — one gives another, raises, or the program does not compile or times out (score:
  the share of examples that held);
* ``unknown`` — the question states no examples of a function, or the answer has no code.

It runs generated code on the user's machine, so it is opt-in (``cascade.verifiers: [examples]``)
and only ever in the full namespace sandbox (no network, read-only files, a process limit):
``Collaborator.check_sandbox`` leaves it out where that cannot be made. The benchmark's
self-test (``bench.cascade_tasks.HumanEval.self_test``) is this check's parsing, program and
sandbox, so its numbers are the gateway's.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import doctest
import json
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.core.verifiers.base import DeviceAnswer, Verdict
from gateway.core.verifiers.sandbox import RunResult, Sandbox

SELF_TEST_VERSION = 2  # bump when the examples' parsing or checking changes: cached self-tests are redone
_SELF_TEST_MARK = "@@tandem-selftest@@ "
_SEPARATORS = re.compile(r"^\s*(?:#\s*)?(?:==>|=>|➞|->|==|=|returns|should return|# returns|# =>)\s*")
_SELF_TEST = """
import ast as _ast, contextlib as _contextlib, io as _io, json as _json, math as _math, signal as _signal

def _alarm(*_):
    raise TimeoutError

def _same(got, want):
    try:
        expected = _ast.literal_eval(want)
    except Exception:
        return " ".join(repr(got).split()) == " ".join(want.split())
    if isinstance(expected, float) or isinstance(got, float):
        try:
            return _math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)
        except TypeError:
            return False
    return got == expected

_signal.signal(_signal.SIGALRM, _alarm)
_passed = 0
for _call, _want in _EXAMPLES:
    _signal.alarm(2)  # one example that loops must not cost the others
    try:
        with _contextlib.redirect_stdout(_io.StringIO()):  # what the answer prints is not the report
            _passed += bool(_same(eval(_call), _want))
    except BaseException:
        pass
    finally:
        _signal.alarm(0)
print()
print(_MARK + _json.dumps({"passed": _passed}))
"""

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_FENCE_LINE = re.compile(r"^[ \t]*```.*$", re.MULTILINE)
_TOP_LEVEL_DEF = re.compile(r"^def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)
# what ast raises on bad input
_UNREADABLE = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


# -- the answer's code --------------------------------------------------------------------------------
def extract_code(answer: str) -> str:
    """The first fenced block (an unterminated one runs to the end), else the whole answer;
    a ``if __name__ == "__main__":`` tail is dropped (it would run demos or read stdin)."""
    m = _FENCE.search(answer)
    code = m.group(1) if m else answer
    main = re.search(r"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:", code, re.MULTILINE)
    return (code[: main.start()] if main else code).rstrip() + "\n"


def defines(code: str, entry_point: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE) is not None


def solution(prompt: str, entry_point: str, answer: str) -> str:
    """The problem's code (its imports and helpers) followed by the answer's code; an answer that
    does not define ``entry_point`` is a bare body and completes the prompt's stub."""
    code = extract_code(answer)
    if not defines(code, entry_point):
        code = textwrap.indent(textwrap.dedent(code), "    ")  # a bare body: it completes the stub
    return f"{prompt}\n{code}\n"


def has_code(answer: str) -> bool:
    """A fenced block, or an answer that is Python as it stands (a completion's body included)."""
    if _FENCE.search(answer):
        return True
    try:
        ast.parse(textwrap.dedent(extract_code(answer)))
    except _UNREADABLE:
        return False
    return bool(answer.strip())


# -- the question's examples ----------------------------------------------------------------------------
def prompt_examples(prompt: str, entry_point: str) -> list[tuple[str, str]]:
    """(call, expected) pairs the problem's docstring states: doctest ``>>>`` examples, and lines like
    ``f(1, 2) ==> 3`` / ``f(x) ➞ True`` / ``f(x) should return 'a'``. Only what parses is kept: the call
    must call ``entry_point`` with literal arguments and the expected value must be a Python literal."""
    out: list[tuple[str, str]] = []
    try:
        doctested = doctest.DocTestParser().get_examples(prompt)
    except ValueError:  # inconsistent indentation in the docstring: read its lines instead
        doctested = []
    for ex in doctested:
        call = ex.source.strip()
        want = re.split(r"\"\"\"|'''", ex.want)[0].strip()  # a want runs on to the docstring's end
        if want and _is_literal_call(call, entry_point):
            out.append((call, want))
    if out:
        return out
    call_at = re.compile(rf"(?<![\w.]){re.escape(entry_point)}\(")  # not is_max( for max(
    for line in prompt.splitlines():
        m = call_at.search(line)
        if m is None or line.lstrip().startswith("def "):
            continue
        start = m.start()
        end = _closing_paren(line, start + len(entry_point))
        if end is None:
            continue
        call, rest = line[start : end + 1], line[end + 1 :]
        m = _SEPARATORS.match(rest)
        want = rest[m.end() :].split("#")[0].strip().rstrip(".") if m else ""
        if _is_literal_call(call, entry_point) and _is_literal(want):
            out.append((call, want))
    return out


def _closing_paren(text: str, open_at: int) -> int | None:
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return None


def _is_literal_call(source: str, entry_point: str) -> bool:
    try:
        node = ast.parse(source, mode="eval").body
    except _UNREADABLE:
        return False
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
        and all(_is_literal(arg) for arg in [*node.args, *(k.value for k in node.keywords)])
    )


def _is_literal(source: str | ast.expr) -> bool:
    """A Python literal (an empty source is not)."""
    try:
        ast.literal_eval(source)
    except _UNREADABLE:
        return False
    return True


@dataclass(frozen=True)
class StatedFunction:
    name: str
    stub: str  # the question's code that defines it; "" where the question only names it
    examples: list[tuple[str, str]]


def stated_function(question: str, answer_code: str = "") -> StatedFunction | None:
    """The function the question gives examples of: the last one its code defines (each fenced block,
    or the whole question where it has none), else one the answer defines that the prose names."""
    blocks = [m.group(1) for m in _FENCE.finditer(question)] or [question]
    for block in reversed(blocks):
        for name in reversed(_TOP_LEVEL_DEF.findall(block)):
            examples = prompt_examples(block, name)
            if examples:
                return StatedFunction(name, block, examples)
    prose = _FENCE_LINE.sub("", question)
    for name in dict.fromkeys(_TOP_LEVEL_DEF.findall(answer_code)):
        examples = prompt_examples(prose, name)
        if examples:
            return StatedFunction(name, "", examples)
    return None


# -- running them ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExamplesRun:
    passed: int
    of: int
    result: RunResult


def self_test_program(source: str, examples: list[tuple[str, str]]) -> str:
    """``source`` (a solution), then a check that evaluates each example under its own 2 s alarm
    and prints how many held after a marker line."""
    checks = f"_EXAMPLES = {examples!r}\n_MARK = {_SELF_TEST_MARK!r}\n{_SELF_TEST}"
    return f"{source}\n{checks}"


def run_examples(sandbox: Sandbox, source: str, examples: list[tuple[str, str]]) -> ExamplesRun:
    """Blocking: one sandbox run of ``source`` on ``examples``."""
    r = sandbox.run(self_test_program(source, examples))
    passed = 0
    if r.passed:
        reports = [line for line in r.stdout.splitlines() if line.startswith(_SELF_TEST_MARK)]
        with contextlib.suppress(ValueError, IndexError, KeyError, TypeError):
            passed = int(json.loads(reports[-1].removeprefix(_SELF_TEST_MARK))["passed"])
    return ExamplesRun(passed, len(examples), r)


# -- the verifier -----------------------------------------------------------------------------------------
@dataclass
class Examples:
    sandbox: Sandbox  # with namespace isolation (Collaborator.check_sandbox makes sure)
    detokenize: Callable[[Sequence[int]], str] | None = None  # the completion prompt from its tokens
    name: str = "examples"

    def question(self, answer: DeviceAnswer) -> str:
        if answer.messages is not None:
            users = [m.get("content") for m in answer.messages if m.get("role") == "user"]
            return users[-1] if users and isinstance(users[-1], str) else ""
        return self.detokenize(answer.prompt_tokens) if self.detokenize else ""

    async def check(self, answer: DeviceAnswer) -> Verdict:
        """Reading the question and the answer, and the run, happen off the event loop."""
        return await asyncio.to_thread(self.judge, self.question(answer), answer.text)

    def judge(self, question: str, text: str) -> Verdict:
        """Blocking: the verdict on answer ``text`` to ``question``."""
        if not has_code(text):
            return Verdict(self.name, "unknown", reason="no code in the answer")
        code = extract_code(text)
        stated = stated_function(question, code)
        if stated is None:
            return Verdict(self.name, "unknown", reason="the question states no examples of a function")
        stub = stated.stub if _parses(stated.stub) else ""  # a sketch in prose: the answer must stand alone
        if not stub and not defines(code, stated.name):
            return Verdict(self.name, "unknown", reason=f"the answer does not define {stated.name}")
        run = run_examples(self.sandbox, solution(stub, stated.name, text), stated.examples)
        held = f"{run.passed} of {run.of} examples of {stated.name} hold"
        if run.passed == run.of:
            return Verdict(self.name, "pass", 1.0, held)
        if run.result.status == "timeout":
            held += f"; timed out after {self.sandbox.limits.wall_s:g} s"
        elif not run.result.passed:  # the program failed: name the exception, never the answer's text
            m = _EXCEPTION.match((run.result.stderr.strip().splitlines() or [""])[-1])
            held += f"; {m.group(1)}" if m else f"; exit status {run.result.returncode}"
        return Verdict(self.name, "fail", run.passed / run.of, held)


_EXCEPTION = re.compile(r"^(\w+(?:Error|Exception|Exit|Interrupt))\b")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except _UNREADABLE:
        return False
    return True
