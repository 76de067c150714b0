"""Do device and cloud share one tokenizer? Speculation and the cascade's drafts need it.

    check = await compare_tokenizers(engine, cloud)
    check.compatible, check.reason, check.checked   # checked=False: the cloud did not answer

Compared: vocabulary size and end-of-generation ids (Tandem's local cloud says them on
``/v1/tandem/info``; stock vLLM has no such route), then the token ids of a few samples
(code, Chinese, chat specials, accents) through the cloud's ``/tokenize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError

SAMPLES = [
    "Hello, world!",
    "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)",
    "你好，世界。",
    "<|im_start|>user\nhi<|im_end|>",
    " 12345 naïve café",
]


@dataclass
class TokenizerCheck:
    compatible: bool
    reason: str
    checked: bool = True  # False: the cloud could not be asked; ask again once it is back


async def compare_tokenizers(engine: Any, cloud: CloudClient | None) -> TokenizerCheck:
    if cloud is None:
        return TokenizerCheck(False, "no cloud configured")
    try:
        info = await cloud.info()  # None: stock vLLM has no info route; the samples below still decide
        if info is not None:
            if int(info["n_vocab"]) != engine.n_vocab:
                return TokenizerCheck(
                    False, f"vocab size differs: device {engine.n_vocab}, cloud {info['n_vocab']}"
                )
            if set(info["eos_token_ids"]) != set(engine.eos_token_ids):
                return TokenizerCheck(False, "end-of-generation tokens differ")
        for text in SAMPLES:
            if engine.tokenize(text, add_bos=False, special=True) != await cloud.tokenize(text):
                return TokenizerCheck(False, f"token ids differ on sample {text!r}")
    except CloudError as exc:
        return TokenizerCheck(
            False, f"cloud unreachable during the tokenizer check: {exc.public}", checked=False
        )
    return TokenizerCheck(True, "device and cloud tokenizers match")
