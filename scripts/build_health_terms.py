"""Builds gateway/privacy/people/data/health_en.txt: English terms for health conditions and medicines.

    .venv/bin/python scripts/build_health_terms.py

Sources (downloaded with pip, never installed; pinned by version and sha256):
- conditions: the ICD-10-CM tabular list (CMS, public domain; April 2026 release, shipped in
  simple-icd-10-cm 1.5.0): titles and inclusion terms of the categories and subcategories of the
  disease chapters (A-Q), cut to the condition's name ("Type 2 diabetes mellitus without
  complications" -> "type 2 diabetes mellitus", "type 2 diabetes");
- medicines: the generic and brand names that MedlinePlus describes, from the dictionary of
  drug-named-entity-recognition 2.0.9 (MIT; DrugBank open data and MedlinePlus). Its pickle is
  read only after checking it holds plain data (no globals, no reduce), with pickletools.
Terms that are everyday English words (the wamerican list: `apt-get install wamerican`) are left
out unless they are medical in themselves (insulin, aspirin, ...: those stay).
"""

from __future__ import annotations

import bz2
import io
import pickle
import pickletools
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from device_runtime.models import WheelPart, cache_dir, pip_download  # noqa: E402

ICD = (WheelPart("simple-icd-10-cm", "1.5.0", "simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml"),
       "6d461d71dc26aedc530ae65f02cfb578a154e49507c32e8241e75f701d4b7e42")
DRUGS = (WheelPart("drug-named-entity-recognition", "2.0.9",
                   "drug_named_entity_recognition/drug_ner_dictionary.pkl.bz2"),
         "dc0c9cb4487b4cd31c123f941cd9d5edfc55facdb280ab65e7b2cd08d3fd391c")
OUT = Path(__file__).resolve().parent.parent / "gateway" / "privacy" / "people" / "data" / "health_en.txt"

_CUT = re.compile(r",|;|:| without | with | due to | in diseases classified | of unspecified| unspecified"
                  r"| not elsewhere classified| complicating | in pregnancy| affecting | of other | nos\b"
                  r"| in remission| of (?:right|left|bilateral|unspecified)|, initial| following ")
_GENERIC = {"disease", "diseases", "disorder", "disorders", "syndrome", "infection", "infections", "failure",
            "pain", "shock", "fall", "cold", "stress", "delivery", "care", "complications", "conditions",
            "problems", "abnormal", "injury", "history", "status", "effects", "deformity", "lesion", "mass",
            "contact", "exposure", "examination", "screening", "encounter", "observation", "other", "carrier",
            "anomalies", "malformation", "growth", "neoplasm", "neoplasms", "tumor", "cyst", "ulcer", "block",
            "arrest", "crisis", "attack", "reaction", "deficiency", "intoxication", "dependence", "abuse", "use",
            "retention", "discharge", "obstruction", "stricture", "disruption", "rupture", "palsy", "sprain"}
_KEEP_COMMON = {"acetaminophen", "amphetamine", "aspirin", "codeine", "estrogen", "fentanyl", "ibuprofen",
                "lithium", "methadone", "morphine", "nitroglycerin", "phenobarbital", "quinine", "insulin"}


def _wheel_member(spec: tuple[WheelPart, str]) -> bytes:
    import hashlib

    part, sha = spec
    wheel = pip_download(part, cache_dir() / "downloads" / "health-terms")
    got = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if got != sha:
        raise SystemExit(f"{wheel.name}: sha256 {got}, expected {sha}")
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(part.member)


def _clean(desc: str) -> str | None:
    s = re.sub(r"\s*[\[(][^\])]*[\])]", "", desc.lower()).strip()
    s = _CUT.split(s, maxsplit=1)[0].strip(" .-")
    for prefix in ("other and unspecified ", "other specified ", "other ", "unspecified ", "acute and chronic "):
        if s.startswith(prefix):
            return None
    words = s.split()
    if not 1 <= len(words) <= 5 or len(s) < 4 or s in _GENERIC or not re.fullmatch(r"[a-z0-9' -]+", s):
        return None
    if words[0] in ("personal", "family", "encounter", "history", "presence", "absence", "contact", "exposure"):
        return None
    return s


def conditions() -> set[str]:
    root = ET.fromstring(_wheel_member(ICD))
    terms: set[str] = set()
    for diag in root.iter("diag"):
        code = diag.findtext("name") or ""
        if not code or code[0] > "Q" and not code.startswith(("Z33", "Z87")):
            continue
        texts = [diag.findtext("desc") or ""] if len(code.replace(".", "")) <= 4 or code[0] == "Z" else []
        for inc in diag.findall("inclusionTerm/note") + diag.findall("includes/note"):  # every synonym
            texts.append(inc.text or "")
        # "Personal history of kidney stones" names the condition after "of"
        texts = [re.sub(r"^(?:personal|family) history of ", "", t, flags=re.I) for t in texts]
        for text in texts:
            term = _clean(text)
            if term:
                terms.add(term)
                if " and " in term:  # "atrial fibrillation and flutter" -> "atrial fibrillation"
                    head = term.split(" and ")[0]
                    if len(head.split()) >= 2 and head.split()[-1] not in _GENERIC:
                        terms.add(head)
                if "-" in term:  # "sickle-cell anemia" is also written "sickle cell anemia"
                    terms.add(term.replace("-", " "))
                if term.endswith(" mellitus"):
                    terms.add(term[: -len(" mellitus")])
                if "'s " in term:
                    terms.add(term.replace("'s ", " "))
                elif re.match(r"^[a-z]+ (?:disease|syndrome)$", term):
                    terms.add(term.replace(" ", "'s ", 1))
    return terms


def medicines(common: set[str]) -> set[str]:
    blob = bz2.decompress(_wheel_member(DRUGS))
    for op, _, _ in pickletools.genops(io.BytesIO(blob)):
        if op.name in ("GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"):
            raise SystemExit(f"the drug dictionary is not plain data ({op.name})")
    data = pickle.loads(blob)  # plain dicts, lists and strings, checked above
    canon = data["drug_canonical_to_data"]
    out = set()
    for variant, names in data["drug_variant_to_canonical"].items():
        if not any("medline_plus_id" in canon.get(c, {}) for c in names):
            continue
        v = variant.lower().strip()
        if (len(v) < 5 or "," in v or " and " in v or not re.fullmatch(r"[a-z0-9' -]+", v)
                or len(v.split()) > 3 or (v in common and v not in _KEEP_COMMON)):
            continue
        out.add(v)
    return out


def main() -> int:
    common = {w.strip() for w in open("/usr/share/dict/words", encoding="utf-8") if w.strip().islower()}
    cond, meds = conditions(), medicines(common)
    cond = {t for t in cond if not (" " not in t and t in common and t not in _KEEP_COMMON and len(t) < 7)}
    terms = sorted(cond | meds)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = ("# English health terms, one per line, lower case. Generated by scripts/build_health_terms.py from\n"
              "# ICD-10-CM 2026 (CMS; via simple-icd-10-cm 1.5.0) and MedlinePlus drug names\n"
              "# (via drug-named-entity-recognition 2.0.9). Do not edit by hand.\n")
    OUT.write_text(header + "\n".join(terms) + "\n", encoding="utf-8")
    print(f"{len(cond)} conditions, {len(meds)} medicines -> {len(terms)} terms in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
