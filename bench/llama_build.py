"""Is the portable llama.cpp build as fast as the native one? Decode tok/s, interleaved runs.

    python bench/llama_build.py --other /path/to/venv-native/bin/python --label-other native

The portable build (``GGML_NATIVE=OFF`` + the CPU's instruction sets by name, see
device_runtime/cpu.py) is what bootstrap installs; ``--other`` is any other Python whose
llama-cpp-python was built differently (e.g. ``CMAKE_ARGS=-DGGML_NATIVE=ON``). Each trial
runs in a fresh child process per build, alternating builds, so load on the machine
affects both alike; the median of the trials is reported. Goal: portable within 10% of native.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, write_results  # noqa: E402
from device_runtime.models import REGISTRY, ModelStore  # noqa: E402

CHILD = r"""
import json, sys, time
import llama_cpp
path, n_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=threads, n_threads_batch=threads, verbose=False)
prompt = llm.tokenize(b"def quicksort(items):", add_bos=True)
t0 = time.perf_counter(); llm.eval(prompt); prefill = time.perf_counter() - t0
tok = llm.sample(temp=0.0)
t0 = time.perf_counter()
for _ in range(n_tokens):
    llm.eval([tok]); tok = llm.sample(temp=0.0)
decode = time.perf_counter() - t0
print(json.dumps({"decode_tok_s": n_tokens / decode, "prompt_tok_s": len(prompt) / prefill,
                  "system_info": llama_cpp.llama_print_system_info().decode().strip()}))
"""


def trial(python: str, model: Path, n_tokens: int, threads: int) -> dict:
    out = subprocess.run([python, "-c", CHILD, str(model), str(n_tokens), str(threads)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", required=True, help="python of the build to compare against")
    ap.add_argument("--label-other", default="native")
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    store = ModelStore(progress=False)
    builds = {"portable": sys.executable, args.label_other: args.other}
    rows = {}
    for name in args.models:
        path = store.path_for(REGISTRY[name])
        runs: dict[str, list[dict]] = {b: [] for b in builds}
        for i in range(args.trials):
            for build, python in (builds.items() if i % 2 == 0 else reversed(builds.items())):
                runs[build].append(trial(python, path, args.tokens, args.threads))
        rows[name] = {b: {"decode_tok_s": round(statistics.median(r["decode_tok_s"] for r in rs), 2),
                          "prompt_tok_s": round(statistics.median(r["prompt_tok_s"] for r in rs), 1),
                          "system_info": rs[0]["system_info"]} for b, rs in runs.items()}
        ratio = rows[name]["portable"]["decode_tok_s"] / rows[name][args.label_other]["decode_tok_s"]
        rows[name]["portable_over_other"] = round(ratio, 3)
        print(f"{name}: portable {rows[name]['portable']['decode_tok_s']} tok/s, {args.label_other} "
              f"{rows[name][args.label_other]['decode_tok_s']} tok/s, ratio {ratio:.3f}", flush=True)
    result = {"summary": {m: r["portable_over_other"] for m, r in rows.items()}, "by_model": rows,
              "settings": {"trials": args.trials, "tokens": args.tokens, "threads": args.threads},
              "goal": "portable decode tok/s >= 0.90 x the other build's", "machine": machine(),
              "date": now_iso()}
    md = ["# Portable vs native llama.cpp build", "", f"Machine: {result['machine']['cpu']}, "
          f"{result['machine']['cores']} cores; {args.trials} interleaved trials, median; "
          f"{args.tokens} tokens, {args.threads} threads.", "",
          f"| model | portable tok/s | {args.label_other} tok/s | ratio |",
          "|---|---|---|---|"]
    md += [f"| {m} | {r['portable']['decode_tok_s']} | {r[args.label_other]['decode_tok_s']} | "
           f"{r['portable_over_other']} |" for m, r in rows.items()]
    write_results("llama_build", result, "\n".join(md) + "\n")
    _plot(rows, args.label_other).savefig(RESULTS / "llama_build.png", dpi=120)


def _plot(rows: dict, other: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(rows)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [rows[n]["portable"]["decode_tok_s"] for n in names], 0.4, label="portable")
    ax.bar([i + 0.2 for i in x], [rows[n][other]["decode_tok_s"] for n in names], 0.4, label=other)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("decode tok/s")
    ax.legend()
    ax.set_title("llama.cpp build: portable vs native")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
