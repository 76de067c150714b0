"""``tandem demo``: the main job on the embedded default, end to end, then exit.

Starts the device model and the local cloud, serves the gateway on a free loopback port,
asks one question per mode through the OpenAI API (plus one carrying personal data), and
prints each answer with its route trace: mode, who produced the tokens, drafts accepted,
cloud calls, bytes, latency.
"""

from __future__ import annotations

import time

import aiohttp

from gateway.config import TandemConfig
from gateway.runtime import Runtime

QUESTIONS = [
    ("tandem-device", "Write a Python function that checks whether a number is prime.", None),
    ("tandem-cloud", "Write a Python function that checks whether a number is prime.", None),
    ("tandem-speculative", "Write a Python function that checks whether a number is prime.", None),
    ("tandem-cascade", "Explain in two sentences what a hash map is.", None),
    ("tandem-auto", "My email is jane.doe@example.com and my card is 4111 1111 1111 1111. Write a polite "
                    "one-line note asking the bank to block the card.", None),
    ("tandem-auto", "Summarise: my SSN is 123-45-6789.", "private"),
]


async def demo(config: TandemConfig) -> int:
    config.server.port = 0
    print("Starting Tandem (device model + local cloud); first run downloads and verifies the models…",
          flush=True)
    t0 = time.perf_counter()
    async with Runtime(config) as rt:
        c = rt.collaborator
        assert c is not None
        print(f"ready in {time.perf_counter() - t0:.1f}s at {rt.url} — device {c.engine.name}, "
              f"speculative: {c.tokenizers.reason}\n", flush=True)
        degraded = 0
        async with aiohttp.ClientSession() as session:
            for model, question, privacy in QUESTIONS:
                body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 96,
                        "temperature": 0}
                if privacy:
                    body["metadata"] = {"privacy": privacy}
                async with session.post(f"{rt.url}/v1/chat/completions", json=body) as resp:
                    out = await resp.json()
                if resp.status != 200:
                    print(f"{model}: HTTP {resp.status} {out}")
                    return 1
                t = out["tandem"]
                print(f"── {model}{' (privacy=' + privacy + ')' if privacy else ''}: {question}")
                print(out["choices"][0]["message"]["content"].strip())
                acc = t["mean_acceptance_length"]
                print(f"   route: {resp.headers['x-tandem-route']} | reason: {t['reason']} | device "
                      f"{t['device_tokens']} / cloud {t['cloud_tokens']} tokens"
                      f" | cloud calls {t['cloud_calls']}"
                      f"{f' | {acc:.2f} tokens per cloud pass' if acc else ''} | pii {t['pii'] or '-'}"
                      f" | {t['timings_ms'].get('done', 0):.0f} ms", flush=True)
                if t["degraded"]:
                    degraded += 1
                    print(f"   DEGRADED: the device answered alone because {t['degraded_reason']}",
                          flush=True)
                print(flush=True)
    if degraded:
        print(f"{degraded} answer(s) were degraded: the cloud did not take part where it should have.",
              flush=True)
        return 2
    return 0

