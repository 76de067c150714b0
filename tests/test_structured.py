"""Structured outputs (``response_format``): a grammar the device decodes under, in every mode.

The device masks its logits with llguidance (device_runtime/grammar.py); speculative decoding
takes the cloud's verdict over the tokens the grammar allows; the cloud gets the format and
enforces it itself (the local stand-in with the same grammar, vLLM with its own). Every answer
must parse and validate (``jsonschema``).
"""

from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
import openai
import pytest

from device_runtime.engine import LlamaEngine, SamplingParams
from device_runtime.grammar import Grammar, GrammarError
from gateway.core.acceptance import VerifyResult, grammatical_rows, greedy_over
from gateway.testing.live import LiveGateway
from gateway.testing.schemas import schema_cases, valid
from tests.conftest import SMOL

MODES = ["tandem-device", "tandem-speculative", "tandem-cascade"]
CASES = schema_cases(50)


def test_a_schema_the_grammar_cannot_use_is_an_error():
    with pytest.raises(GrammarError):
        Grammar.json_schema({"type": "strnig"})
    with pytest.raises(GrammarError):
        Grammar.json_schema({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})
    assert Grammar.json_object().kind == "json_schema"


def test_the_schema_cases_are_varied_and_well_formed():
    kinds = json.dumps([c.schema for c in CASES])
    for word in ('"enum"', '"minimum"', '"maxItems"', '"required"', '"boolean"', '"properties": {"'):
        assert word in kinds
    assert any('"type": "object", "properties"' in json.dumps(c.schema["properties"]) for c in CASES), "nesting"
    for c in CASES:
        jsonschema.Draft202012Validator.check_schema(c.schema)


@pytest.mark.parametrize("seed", range(100))
def test_greedy_over_grammatical_rows_keeps_the_cloud_choice_among_allowed_tokens(seed):
    rng = random.Random(seed)
    draft = [rng.randrange(8) for _ in range(rng.randint(0, 6))]
    rows = [[(t, -0.1 * j) for j, t in enumerate(rng.sample(range(8), rng.randint(0, 3)))]
            for _ in range(len(draft) + 1)]
    fixed, fallbacks = grammatical_rows(draft, rows)
    assert fallbacks == sum(1 for r in rows[: len(draft)] if not r)
    accepted, tokens = greedy_over(draft, fixed)
    assert tokens[:accepted] == draft[:accepted]
    for i in range(accepted):
        assert fixed[i][0][0] == draft[i]
    if accepted < len(draft):
        assert tokens[-1] == fixed[accepted][0][0] != draft[accepted]
    else:
        assert tokens[accepted:] == ([fixed[-1][0][0]] if fixed[-1] else [])
    # without any filtering it is exactly greedy acceptance
    full = [[(t, 0.0)] for t in (rng.randrange(8) for _ in range(len(draft) + 1))]
    from gateway.core.acceptance import greedy_accept
    assert greedy_over(draft, full) == greedy_accept(draft, [r[0][0] for r in full])
    assert VerifyResult(0, [1]).draft_logprob(0) is None


@pytest.mark.integration
def test_text_a_grammar_forces_may_be_spelt_in_any_of_its_tokenizations(smol_engine):
    """Where the grammar forces text (the key and '":{"' after '{"age'), llguidance lists one tokenization,
    vLLM's xgrammar allows every one, and the model picks: vLLM wrote '":' then '{"' where the device could
    only draft '":{"', and from there the two answers read different tokens and parted (18 against 25)."""
    case = next(c for c in CASES if c.name == "case_2")
    c = smol_engine.constraint(Grammar.json_schema(case.schema))
    c.advance(smol_engine.tokenize('{"age', add_bos=False, special=False))
    forced = bytes(c._matcher.compute_ff_bytes())
    allowed = [int(t) for t in np.flatnonzero(c.allowed())]
    assert forced.startswith(b'":{"') and len(allowed) > 1
    assert all(forced.startswith(smol_engine.token_bytes(t)) for t in allowed), "each spells a prefix of it"
    spelt = smol_engine.tokenize('":', add_bos=False, special=False)
    assert spelt[0] in allowed and c.fork().advance(spelt) is None


@pytest.mark.integration
def test_the_device_decodes_every_schema_case_into_valid_json(smol_engine):
    for case in CASES:
        c = smol_engine.constraint(Grammar.json_schema(case.schema))
        prompt = smol_engine.chat_tokens(case.messages)
        events = list(smol_engine.generate(prompt, SamplingParams(max_tokens=160), constraint=c))
        text = smol_engine.detokenize([e.token_id for e in events if not smol_engine.is_eos(e.token_id)])
        assert valid(text, case.schema), (case.name, text)
        assert events[-1].finish_reason == "stop", "the grammar ends the answer before max_tokens"


@pytest.fixture(scope="module")
def gw(smol_engine, smol_path):
    with LiveGateway(smol_engine, ["speculative.adaptive=false", "speculative.k=4", "cascade.policy=gate",
                                   "cascade.threshold=1000"],  # every cascade answer escalates
                     cloud_engine=LlamaEngine(smol_path, n_ctx=2048, name=SMOL)) as g:
        yield g


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def ask(client, model, case, stream=False, **kw):
    args = {"model": model, "messages": case.messages, "response_format": case.response_format,
            "max_tokens": 160, "temperature": 0, **kw}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **args))
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].model_extra["tandem"]
    r = client.chat.completions.create(**args)
    return r.choices[0].message.content, r.model_extra["tandem"]


@pytest.mark.integration
@pytest.mark.parametrize("model", MODES + ["tandem-cloud"])
def test_every_mode_answers_in_the_schema(client, model):
    for case in CASES[:8]:  # all 50 in every mode: bench/structured.py
        text, trace = ask(client, model, case, stream=case.name.endswith(("1", "3", "5")))
        assert valid(text, case.schema), (model, case.name, text)
    if model == "tandem-cascade":
        assert trace["escalated"] and trace["drafts_proposed"] > 0, "the cloud verified the device's JSON"


@pytest.mark.integration
def test_speculative_under_a_grammar_is_the_clouds_constrained_greedy_answer_up_to_near_ties(client, smol_engine):
    """Same model on both sides. Walk the speculative answer's own tokens: each must be the cloud's greedy
    choice under the grammar (decoding one token at a time), or within NEAR_TIE logits of it (verifying k
    tokens in one batch rounds logits apart from decoding one at a time); after such a near-tie the answers
    may part. Where the grammar allowed none of the cloud's top tokens, the cloud is asked for its best
    allowed token (``grammar_probes``): before it was, the device's draft stood there unasked, and against a
    larger cloud the answer carried the device's values (here both sides are one model, so the draft happens
    to be the cloud's choice: the probe count is what tells; tests/test_vllm.py has two models)."""
    by_bytes = {smol_engine.token_bytes(t): t for t in range(smol_engine.n_vocab)}
    probes = 0
    for case in CASES[:12]:
        r = client.chat.completions.create(model="tandem-speculative", messages=case.messages, temperature=0,
                                           max_tokens=160, response_format=case.response_format, logprobs=True)
        trace = r.model_extra["tandem"]
        assert trace["grammar_fallbacks"] == 0, "every position without an allowed top token was asked"
        probes += trace["grammar_probes"]
        tokens = [by_bytes[bytes(t.bytes)] for t in r.choices[0].logprobs.content]
        assert near_tie_or_equal(smol_engine, case, tokens) < NEAR_TIE, case.name
    assert probes > 0, "the schema cases include positions where the cloud's top tokens were all forbidden"


NEAR_TIE = 0.6


def near_tie_or_equal(engine, case, tokens: list[int]) -> float:
    """Along ``tokens``, the first place where the cloud's constrained greedy choice is another token: the logit
    gap between the two (0.0 where every token is the cloud's own choice)."""
    constraint = engine.constraint(Grammar.json_schema(case.schema))
    prompt = engine.chat_tokens(case.messages)
    for j, token in enumerate(tokens):
        logits = constraint.mask(engine.sync(prompt + tokens[:j]))
        best = int(logits.argmax())
        if best != token:
            return float(logits[best] - logits[token])
        constraint.advance([token])
    return 0.0


@pytest.mark.integration
def test_json_object_and_a_bad_schema(client):
    r = client.chat.completions.create(model="tandem-device", messages=[{"role": "user", "content": "A cat as JSON."}],
                                       response_format={"type": "json_object"}, max_tokens=300, temperature=0)
    text = r.choices[0].message.content
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)
    else:  # an object's strings have no bound: a small model may still be writing one at max_tokens
        assert text.startswith("{") and r.choices[0].finish_reason == "length"
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tandem-device", messages=[{"role": "user", "content": "x"}],
                                       response_format={"type": "json_schema",
                                                        "json_schema": {"name": "x", "schema": {"type": "strnig"}}})
    assert err.value.body["param"] == "response_format"
