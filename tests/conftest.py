"""Shared fixtures. Unit tests need no model; integration tests load real GGUF models.

Models come from ``tandem models pull`` (``.ci/run`` pulls them). A missing model skips
its tests locally but fails them in CI (``CI=true``), so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

from device_runtime.models import REGISTRY, ModelStore

SMOL = "smollm2-135m"
QWEN_DEVICE = "qwen2.5-coder-0.5b"
QWEN_CLOUD = "qwen2.5-coder-1.5b"


def model_path(name: str, required_in_ci: bool = True):
    store = ModelStore(progress=False)
    if store.is_verified(REGISTRY[name]):
        return store.path_for(REGISTRY[name])
    message = f"model {name} not pulled (run `tandem models pull {name}`)"
    if os.environ.get("CI") and required_in_ci:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def smol_path():
    return model_path(SMOL)


@pytest.fixture(scope="session")
def smol_engine(smol_path):
    from device_runtime.engine import LlamaEngine

    return LlamaEngine(smol_path, n_ctx=2048, name=SMOL)


@pytest.fixture(scope="session")
def qwen_device_engine():
    from device_runtime.engine import LlamaEngine

    return LlamaEngine(model_path(QWEN_DEVICE, required_in_ci=False), n_ctx=2048, name=QWEN_DEVICE)


@pytest.fixture(scope="session")
def qwen_cloud_engine():
    from device_runtime.engine import LlamaEngine

    return LlamaEngine(model_path(QWEN_CLOUD, required_in_ci=False), n_ctx=2048, name=QWEN_CLOUD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
