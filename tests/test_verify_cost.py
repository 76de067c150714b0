"""bench/verify_cost.py without vLLM: its pure parts, and one whole run against the scripted vLLM 0.32."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from bench import verify_cost as vc
from gateway.testing.vllm032_cloud import BLOCK, Vllm032
from tests.test_cloud import ScriptedCloud

ROOT = Path(__file__).resolve().parent.parent


def test_help_runs_without_vllm():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "verify_cost.py"), "--help"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert "--url" in out.stdout and "1.3" in out.stdout


def test_slope_and_verdict():
    assert vc.slope_ms_per_1k([(128, 100.0), (2048, 100.0)]) == 0
    assert vc.slope_ms_per_1k([(0, 10.0), (1000, 30.0), (2000, 50.0)]) == 20.0
    assert vc.slope_ms_per_1k([(512, 1.0)]) is None

    def cell(ms):
        return {"4": {"median_ms": ms}}

    cells = {"scale-out": {"128": cell(140), "512": cell(141), "1024": cell(152), "2048": cell(165)},
             "stock": {"128": cell(900), "512": cell(3000), "1024": cell(6000), "2048": cell(12500)}}
    v = vc.verdict(cells, [4], [128, 512, 1024, 2048])
    assert v["k=4"]["scale_out_goal_met"] is True and v["k=4"]["scale-out_ratio_2048_to_128"] == round(165 / 140, 3)
    assert v["k=4"]["stock_grows"] is True and v["k=4"]["stock_slope_ms_per_1k"] > 5000
    cells["scale-out"]["2048"] = cell(400)
    assert vc.verdict(cells, [4], [128, 512, 1024, 2048])["k=4"]["scale_out_goal_met"] is False


def test_summarize_counts_computed_tokens_per_output_token():
    samples = [{"ms": 10.0, "context": 100, "produced": 3, "computed": 20, "fallbacks": 0},
               {"ms": 30.0, "context": 103, "produced": 1, "computed": 20, "fallbacks": 1},
               {"ms": 20.0, "context": 104, "produced": 2, "computed": 20, "fallbacks": 0}]
    s = vc.summarize(samples)
    assert s["median_ms"] == 20.0 and s["computed_per_verification"] == 20 and s["computed_per_output_token"] == 10
    assert s["fallbacks"] == 1 and s["tokens_per_round"] == 2
    assert vc.summarize([{**x, "computed": None} for x in samples])["computed_per_output_token"] is None


def test_a_whole_run_against_the_scripted_vllm(tmp_path):
    """Every route, context and k is measured; scale-out computes a bounded tail, stock the whole prompt."""
    server = Vllm032(runner="v1")
    args = vc.parse_args(["--contexts", "64", "256", "--ks", "2", "4", "--repeats", "2", "--url", "x"])

    async def main():
        async with ScriptedCloud(server.routes()) as url:
            return await vc.run(args, url)

    data = asyncio.run(main())
    cells = data["cells"]
    assert set(cells) == {"scale-out", "stock"} and data["setup"]["cached_tokens_reported"] is True
    for n in ("64", "256"):
        for k in ("2", "4"):
            stock, scale = cells["stock"][n][k], cells["scale-out"][n][k]
            assert stock["computed_per_verification"] >= int(n)  # the whole prompt, every time
            assert scale["computed_per_verification"] < BLOCK + int(k) + 2 * 5  # the uncached tail only
            assert scale["fallbacks"] == 0 and scale["repeats"] == 2
    assert "k=4" in data["summary"]
    md = vc.markdown(data)
    assert "| scale-out | 256 | 4 |" in md and "goal ≤ 1.3×" in md
    vc.plot(data, tmp_path / "verify_cost.png")
    assert (tmp_path / "verify_cost.png").stat().st_size > 10_000
