"""The device model's embedding of a prompt: features a query router has before any generation.

    embedder = PromptEmbedder.load("qwen2.5-coder-0.5b", max_tokens=32)
    vector = embedder.embed("What's the capital of Australia?")   # unit-length float32, n_embd wide

A second llama.cpp context over the same GGUF file, in embedding mode (mean-pooled last hidden
states), kept apart from the generating context so that embedding a prompt never disturbs the
device's KV cache. It costs one prefill of at most ``max_tokens`` tokens of the prompt's text
(the head of a prompt says what kind of request it is; a long one's tail adds little to that).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device_runtime.engine import default_threads
from device_runtime.models import ModelStore


class PromptEmbedder:
    def __init__(self, model_path: str | Path, max_tokens: int, n_threads: int | None = None):
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

        threads = n_threads or default_threads()
        self.max_tokens = max_tokens
        self.model_path = Path(model_path)
        self._llm = Llama(
            model_path=str(model_path),
            n_ctx=max_tokens,
            n_batch=max_tokens,
            n_ubatch=max_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            embedding=True,
            pooling_type=LLAMA_POOLING_TYPE_MEAN,
            verbose=False,
        )
        self.dim = self._llm.n_embd()

    @classmethod
    def load(cls, model: str, store: ModelStore | None = None, **kwargs) -> PromptEmbedder:
        """A registry name (verified, as the engine loads it) or a GGUF path."""
        path = model if Path(model).is_file() else (store or ModelStore()).resolve(model)
        return cls(path, **kwargs)

    def embed(self, text: str) -> np.ndarray:
        """The mean-pooled, unit-length embedding of the text's first ``max_tokens`` tokens."""
        vector = np.asarray(self._llm.embed(text, truncate=True), dtype=np.float32)  # truncate: to n_batch
        if vector.ndim == 2:  # a pooling-less build returns one row per token
            vector = vector.mean(axis=0)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

