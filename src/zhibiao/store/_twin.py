"""A simulated earlier-year twin of a document, and what having it in the store is worth.

:func:`make_twin` rewrites a seed document's text dump as last year's version of the same
tables: every year one earlier, most targets re-valued (another threshold, a scaled
quantity), some indicators re-worded the way a clerk does (data/twin_rewordings.tsv).
It is deterministic for a seed. The twin is SIMULATED: the project ships no real pair of
consecutive years' tables, so the README reports the figures as such.

:func:`evaluate_twin` measures, leave one document out, how much the held-out document's
twin in the store helps: suggestion recall@k (canonical ids, and the soft name yardstick
of DESIGN §6) and canonical-type coverage, with the twin missing versus present, plus how
often ``previous_year`` finds the twin's project.
"""
from __future__ import annotations

import hashlib
import random
import re
import tempfile
from pathlib import Path

import pandas as pd

from ..resources import data_file
from ._names import dice

_YEAR = re.compile(r"(?<![\d.])(20[0-3]\d)(?!\d)")   # a year, wherever it stands (2020-2021取暖季, 【2020】)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SOFT_DROP = re.compile(r"[（(][^）)]*[）)]|[\d.%％≥≤><=＞＜＝]+")
_PERCENT_STEPS = (80, 85, 90, 95, 98, 100)


def _rewordings() -> list[tuple[str, str]]:
    rules = []
    for line in data_file("twin_rewordings.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        rules.append((parts[0].strip(), parts[1].strip() if len(parts) > 1 else ""))
    return rules


def reword(name: str, rng: random.Random) -> str:
    rules = [r for r in _rewordings() if r[0] in name]
    rng.shuffle(rules)
    for old, new in rules:
        out = name.replace(old, new, 1)
        if len(out) >= 2 and out != name:
            return out
    return name


def revalue(value: str, rng: random.Random, shift: int) -> str:
    """Another year's target: percentages move between usual thresholds, quantities scale."""
    value = _YEAR.sub(lambda m: str(int(m.group(1)) + shift), value)
    if "%" in value or "％" in value:
        def pct(m):
            n = float(m.group(0))
            if n < 50 or n > 100:
                return m.group(0)
            # one usual threshold up or down (95% → 90% or 98%), as targets drift
            near = min(range(len(_PERCENT_STEPS)), key=lambda i: abs(_PERCENT_STEPS[i] - n))
            choices = [_PERCENT_STEPS[i] for i in (near - 1, near + 1) if 0 <= i < len(_PERCENT_STEPS)]
            return str(rng.choice([c for c in choices if c != n] or [n]))
        return _NUMBER.sub(pct, value, count=1)

    def qty(m):
        text = m.group(0)
        n = float(text)
        if n == 0 or (1900 < n < 2100 and "." not in text):   # a year or nothing to scale
            return text
        out = n * rng.choice((0.8, 0.9, 1.1, 1.2, 1.25))
        return str(max(1, round(out))) if "." not in text else f"{out:.{len(text.split('.')[1])}f}"
    return _NUMBER.sub(qty, value, count=1)


def make_twin(source: str | Path, out: str | Path, *, seed: int = 0, shift: int = -1,
              rename_share: float = 0.25, revalue_share: float = 0.8) -> dict:
    """Write the earlier-year twin of a text-dump document to ``out``; returns a summary."""
    from ..ingest.api import extract_all
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise ValueError("the twin must not overwrite its seed")
    rng = random.Random(int(hashlib.sha256(f"{seed}:{source.name}".encode()).hexdigest()[:12], 16))
    lines = source.read_text(encoding="utf-8").split("\n")
    rows = extract_all([source], errors="raise").rows
    renamed = revalued = 0
    for loc, level3, value in zip(rows["location"], rows["level3"], rows["value"]):
        if not str(loc).startswith("L"):
            continue
        start = int(str(loc)[1:]) - 1
        window = range(start, min(start + 12, len(lines)))
        if level3 and rng.random() < rename_share:
            new = reword(level3, rng)
            for i in window:
                if lines[i].strip() == level3 and new != level3:
                    lines[i] = lines[i].replace(level3, new, 1)
                    renamed += 1
                    break
        if value and rng.random() < revalue_share:
            new = revalue(value, rng, shift)
            for i in window:
                if lines[i].strip() == value and new != value:
                    lines[i] = lines[i].replace(value, new, 1)
                    revalued += 1
                    break
    text = _YEAR.sub(lambda m: str(int(m.group(1)) + shift), "\n".join(lines))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return {"source": source.name, "twin": out.name, "rows": len(rows), "renamed": renamed, "revalued": revalued}


def _soft(name) -> str:
    return _SOFT_DROP.sub("", str(name or ""))


def _project_scores(held_rows: pd.DataFrame, held_projects: pd.DataFrame, ks, suggest) -> list[dict]:
    """Per held-out project: recall@k of its canonical ids and soft recall@k of its 三级 names."""
    out = []
    purpose = dict(zip(held_projects["project_id"], held_projects.get("purpose", pd.Series(dtype=str)).fillna("")))
    for pid, rows in held_rows.groupby("project_id", sort=False):
        ids = {i for i in rows.get("indicator_id", pd.Series(dtype=str)).fillna("") if i}
        names = [n for n in rows["level3"].fillna("") if n]
        if not names:
            continue
        result = {"project_id": pid}
        for k in ks:
            sugg = suggest(rows["project_name"].iloc[0], purpose.get(pid, ""), k)
            got_ids = {s.get("indicator_id") for s in sugg if s.get("indicator_id")}
            got_names = [_soft(n) for s in sugg for n in [s.get("suggested_level3"), *s.get("examples", [])] if n]
            result[f"recall@{k}"] = len(ids & got_ids) / len(ids) if ids else None
            result[f"soft_recall@{k}"] = sum(any(dice(_soft(n), g) >= 0.5 for g in got_names) for n in names) / len(names)
        out.append(result)
    return out


def _index_suggester(held: Path, index):
    """suggest(name, purpose, k) by the store's own retrieval."""
    return lambda name, purpose, k: index.suggest(f"{name} {purpose}".strip(), k=k)["suggestions"]


def _recommender_suggester(recommender):
    """suggest(name, purpose, k) as `zhibiao suggest --db` answers, the held-out document hidden."""
    def make(held: Path, index):
        hidden = (recommender.projects_["source"] == held.name).to_numpy()
        return lambda name, purpose, k: recommender.suggest(name, description=purpose, k=k, store=index,
                                                            exclude=hidden)["suggestions"]
    return make


def evaluate_twin(seeds=None, process=None, *, ks=(5, 10), recommender=None, seed: int = 0,
                  workdir: str | Path | None = None) -> dict:
    """Leave one document out: figures with the held-out document's twin missing vs present.

    Two suggesters are measured, each with the store lacking, then holding, the held-out
    document's twin: ``index``, the store's own retrieval (:meth:`CorpusIndex.suggest`; the store
    also holds the other seeds), and, with ``recommender`` (a :class:`zhibiao.recommend.Recommender`),
    ``recommender``: what ``zhibiao suggest --db`` answers, the shipped recommender with the
    held-out document's projects hidden from its corpus (the other seeds are in it already),
    merging what the store holds. Canonical-type coverage: the share of the held-out rows whose
    type some other seed or the twin used. ``process`` normalizes a file (default
    ``ExtractNormalize()``). The twin is simulated (:func:`make_twin`).
    """
    from ..resources import training_data_dir
    from ._store import CorpusStore, ExtractNormalize
    seeds = [Path(s) for s in (seeds or sorted((training_data_dir() / "raw").glob("*.txt")))]
    process = process or ExtractNormalize()
    work = Path(workdir or tempfile.mkdtemp(prefix="zb_twin_"))
    twins, frames = {}, {}
    for s in seeds:
        twin = work / f"{s.stem}_twin.txt"
        twins[s] = make_twin(s, twin, seed=seed)
        frames[s], frames[twin] = process(s), process(twin)
    ids = lambda rows: set(rows.get("indicator_id", pd.Series(dtype=str)).dropna()) - {""}
    suggesters = {"index": _index_suggester}
    if recommender is not None:
        suggesters["recommender"] = _recommender_suggester(recommender)
    per_doc = []
    for held in seeds:
        held_rows, held_projects = frames[held]
        twin = work / f"{held.stem}_twin.txt"
        others = [o for o in seeds if o != held]
        figures = {"document": held.name, **{f"twin_{k}": v for k, v in twins[held].items() if k != "source"}}
        held_ids = held_rows.get("indicator_id", pd.Series(dtype=str)).fillna("")
        held_ids = held_ids[held_ids != ""]
        for label, with_twin in (("without", False), ("with", True)):
            evidence = set().union(*(ids(frames[o][0]) for o in others + ([twin] if with_twin else [])))
            figures[f"{label}_type_coverage"] = round(float(held_ids.isin(evidence).mean()), 4) if len(held_ids) else None
            for name, make in suggesters.items():
                # the index learns only from the store; the recommender has the other seeds already
                stored = (others if name == "index" else []) + ([twin] if with_twin else [])
                db = work / f"{held.stem}_{name}_{label}.sqlite"
                for old in work.glob(db.name + "*"):
                    old.unlink()
                store = CorpusStore(db)
                for path in stored:
                    store.add_frame(path.name, *frames[path])
                suggest = make(held, store.neighbours_corpus())
                scores = pd.DataFrame(_project_scores(held_rows, held_projects, ks, suggest))
                for k in ks:
                    figures[f"{name}_{label}_recall@{k}"] = round(float(scores[f"recall@{k}"].mean()), 4)
                    figures[f"{name}_{label}_soft_recall@{k}"] = round(float(scores[f"soft_recall@{k}"].mean()), 4)
                if with_twin and name == "index":
                    dated = held_projects[held_projects["year"].astype(str).str.fullmatch(r"\d{4}")]
                    found = store.match_previous(dated[["project_name", "department", "year"]]) if len(dated) else None
                    figures["previous_year_found"] = (round(float((found["prev_source"] == twin.name).mean()), 4)
                                                      if found is not None else None)
                store.close()
        per_doc.append(figures)
    table = pd.DataFrame(per_doc)
    mean = table.select_dtypes("number").mean().round(4).to_dict()
    return {"per_document": per_doc, "mean": mean, "ks": list(ks), "suggesters": list(suggesters),
            "simulated_twin": True}


def format_twin(report: dict) -> str:
    """The twin section of ``zhibiao evaluate``: one line per suggester and condition."""
    ks, mean = report["ks"], report["mean"]
    lines = ["earlier-year twin (SIMULATED: each seed re-worded and re-valued a year back), leave one document out, "
             f"mean of {len(report['per_document'])} documents"]
    head = "".join(f"  recall@{k}  soft@{k}" for k in ks)
    lines.append(f"  {'suggester':<12}{'twin':<9}{head}  type coverage")
    for name in report["suggesters"]:
        for label in ("without", "with"):
            cells = "".join(f"  {mean.get(f'{name}_{label}_recall@{k}', float('nan')):>8.3f}"
                            f"  {mean.get(f'{name}_{label}_soft_recall@{k}', float('nan')):>6.3f}" for k in ks)
            lines.append(f"  {name:<12}{label:<9}{cells}  {mean.get(f'{label}_type_coverage', float('nan')):>13.3f}")
    if "previous_year_found" in mean:
        lines.append(f"  previous_year finds the twin's project for {mean['previous_year_found']:.0%} of the dated "
                     "projects (documents with a year)")
    for doc in report["per_document"]:
        name = report["suggesters"][-1]
        lines.append(f"  {doc['document']}: {name} recall@{ks[-1]} {doc[f'{name}_without_recall@{ks[-1]}']:.2f} → "
                     f"{doc[f'{name}_with_recall@{ks[-1]}']:.2f}, coverage {doc['without_type_coverage']:.2f} → "
                     f"{doc['with_type_coverage']:.2f}")
    return "\n".join(lines)
