"""Template-copy detection: indicators copied from an unrelated project's table.

An indicator's *topic* is what remains of its name and description once the generic
vocabulary of indicators (满意度, 完成率, 资金 …, ``zhibiao/data/audit_generic_terms.txt``)
is removed. A row is a copy when its topic has nothing to do with its own project and the
same block recurs in dissimilar projects (:func:`detect_template_copy`).

It needs the rows of whole projects (and, better, the projects table with purpose and goals),
so it runs in the pipeline after normalization, and in the audit with its evidence; the
normalizer alone tags rows one by one.

    >>> name_similarity("党组织活动经费", "社区党组织活动经费")
    1.0
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache

import pandas as pd

from .classify import clean_name
from .resources import data_file
from .text import as_text, normalize_chars, tokenize

__all__ = ["detect_template_copy", "flag_template_copies", "check_copies", "name_similarity", "topic_terms",
           "generic_terms", "is_generic", "related_families", "prepare_rows", "project_table",
           "as_text", "BASE_ROW_COLUMNS"]

GENERIC_FILE = "audit_generic_terms.txt"

@lru_cache(maxsize=1)
def _vocabulary() -> tuple[frozenset[str], tuple[frozenset[str], ...]]:
    words: set[str] = set()
    families: list[frozenset[str]] = []
    for line in data_file(GENERIC_FILE).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("="):
            families.append(frozenset(line[1:].split()))
        else:
            words.update(line.split())
    return frozenset(words), tuple(families)


def generic_terms() -> frozenset[str]:
    """Words that say how an indicator is measured, not what it is about."""
    return _vocabulary()[0]


@lru_cache(maxsize=65536)
def is_generic(word: str) -> bool:
    """A listed generic word, or one made only of listed words (拨付及时率 = 拨付 + 及时率).

    >>> is_generic("拨付及时率"), is_generic("计划生育")
    (True, False)
    """
    generic = generic_terms()
    if word in generic:
        return True
    n = len(word)
    ok = [True] + [False] * n   # ok[i]: word[:i] splits into generic words
    for i in range(1, n + 1):
        ok[i] = any(ok[j] and word[j:i] in generic for j in range(max(0, i - 8), i))
    return ok[n]


def related_families() -> tuple[frozenset[str], ...]:
    """Families of words of one field (教育: 学校 中学 教学 …)."""
    return _vocabulary()[1]


_CJK_ALNUM = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_NAME_NOISE = {"经费", "资金", "项目", "专项", "工作", "补助", "补贴", "支出", "费用", "绩效", "目标"}


def _chars(text: str) -> str:
    return "".join(_CJK_ALNUM.findall(normalize_chars(as_text(text))))


def _bigrams(text: str) -> set[str]:
    c = _chars(text)
    return {c[i:i + 2] for i in range(len(c) - 1)}


@lru_cache(maxsize=262144)
def name_similarity(a: str, b: str) -> float:
    """Overlap of two project names: shared character bigrams over the shorter name's.

    Words every project name has (经费, 资金, 项目 …) do not count.

    >>> name_similarity("党组织活动经费", "社区党组织活动经费")
    1.0
    >>> name_similarity("电厂路绿化占地", "社区人员经费")
    0.0
    """
    A, B = _bigrams(a) - _NAME_NOISE, _bigrams(b) - _NAME_NOISE
    if not A or not B:
        return 0.0
    return len(A & B) / min(len(A), len(B))


def title_closeness(a: str, b: str) -> float:
    """How much two names overlap, by bigrams or by characters, whichever is higher."""
    ca, cb = _chars(a), _chars(b)
    if not ca or not cb:
        return 0.0
    short, long_ = (ca, cb) if len(ca) <= len(cb) else (cb, ca)
    char_share = sum(ch in long_ for ch in short) / len(short)
    A, B = _bigrams(short), _bigrams(long_)
    bigram_share = len(A & B) / len(A) if A else char_share
    return max(char_share, bigram_share)


def _clean_name(text) -> str:
    return clean_name(as_text(text))


def topic_terms(text: str, fine: bool = False) -> list[str]:
    """Words of an indicator that say what it is about (not how it is measured).

    >>> topic_terms("群众满意度；群众满意数量占总数的比例。")
    []
    >>> "计划生育" in topic_terms("对符合条件的农村计划生育家庭发放奖励扶助金")
    True
    """
    return list(_topic_terms(as_text(text), fine))


@lru_cache(maxsize=131072)
def _topic_terms(text: str, fine: bool) -> tuple[str, ...]:
    out = []
    words = tokenize(as_text(text))
    if fine:  # also the shorter words inside long ones: 高新中学 → 高新, 中学
        from .text import tokenizer
        words = tokenizer().lcut_for_search(normalize_chars(as_text(text)))
    for w in words:
        w = "".join(_CJK_ALNUM.findall(w))
        if len(w) < 2 or not re.search(r"[\u4e00-\u9fff]", w) or is_generic(w) or re.search(r"\d", w):
            continue
        if w not in out:
            out.append(w)
    return tuple(out)


@lru_cache(maxsize=65536)
def _families_in(text: str) -> frozenset[int]:
    """Which of :func:`related_families` have a word in ``text`` (their positions)."""
    return frozenset(i for i, family in enumerate(related_families()) if any(m in text for m in family))


def _term_related(term: str, context: str, context_bigrams: set[str]) -> bool:
    if term in context:
        return True
    if _families_in(term) & _families_in(context):
        return True
    if len(term) < 3:
        return False
    generic = generic_terms()
    return any(term[i:i + 2] in context_bigrams and term[i:i + 2] not in generic
               for i in range(len(term) - 1))


BASE_ROW_COLUMNS = ["source", "location", "project_id", "project_name", "table_title", "department",
                     "level1", "level2", "level3", "description", "value", "basis", "warnings"]


def prepare_rows(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.reset_index(drop=True).copy()
    for c in BASE_ROW_COLUMNS:
        if c not in rows.columns:
            rows[c] = ""
        rows[c] = rows[c].map(as_text)
    missing_id = rows["project_id"] == ""
    rows.loc[missing_id, "project_id"] = rows.loc[missing_id, "source"] + "#" + rows.loc[missing_id, "project_name"]
    return rows


def project_table(rows: pd.DataFrame, projects: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["project_id", "source", "project_name", "table_title", "department", "budget_wan",
            "purpose", "goals", "n_indicators"]
    first = (rows.groupby("project_id", sort=False)
             .agg(source=("source", "first"), project_name=("project_name", "first"),
                  table_title=("table_title", "first"), department=("department", "first"),
                  n_indicators=("level3", "size"))
             .reset_index())
    if projects is None or not len(projects):
        out = first
    else:
        p = projects.reset_index(drop=True).copy()
        for c in cols:
            if c not in p.columns:
                p[c] = None
        if (p["project_id"].map(as_text) == "").any():
            blank = p["project_id"].map(as_text) == ""
            p.loc[blank, "project_id"] = p.loc[blank, "source"].map(as_text) + "#" + p.loc[blank, "project_name"].map(as_text)
        # projects seen only in the rows are added
        extra = first[~first["project_id"].isin(set(p["project_id"]))]
        out = pd.concat([p[cols], extra], ignore_index=True)
        n_rows = rows.groupby("project_id").size()
        out["n_indicators"] = out["project_id"].map(n_rows).fillna(0).astype(int)
        # the rows' department fills a blank project department
        dep_rows = first.set_index("project_id")["department"]
        blank = out["department"].map(as_text) == ""
        out.loc[blank, "department"] = out.loc[blank, "project_id"].map(dep_rows)
    for c in cols:
        if c not in out.columns:
            out[c] = None
    for c in ("source", "project_name", "table_title", "department", "purpose", "goals"):
        out[c] = out[c].map(as_text)
    return out[cols].drop_duplicates("project_id").reset_index(drop=True)


def _context(p: pd.Series) -> str:
    """What a project says it does: name, title, purpose and goals."""
    return normalize_chars("。".join(as_text(p.get(c)) for c in ("project_name", "table_title", "purpose", "goals")))


def detect_template_copy(rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                         embedder=None, max_relatedness: float = 0.34,
                         single_max_relatedness: float = 0.0, dissimilar_below: float = 0.34,
                         min_copies_for_single: int = 1, word_similarity: float = 0.5,
                         evidence: bool = True) -> pd.DataFrame:
    """Flag indicators copied from unrelated projects.

    An indicator's *topic* is what remains of its name and description once the
    generic vocabulary of indicators (满意度, 完成率, 资金, 比例 …) is removed: 计划生育,
    公益电影, 外宣品. A row is a template copy when

    * it has a topic, and at most a share ``max_relatedness`` of its topic words are related to
      its project's name, title, purpose or goals, AND
    * the same block — 三级指标 and 指标描述 verbatim (三级指标 and 指标值 when there is no
      description) — recurs in at least one other project whose name is dissimilar
      (``name_similarity < dissimilar_below``);

    or, without the recurrence, when its topic is unrelated (``single_max_relatedness``) and at
    least ``min_copies_for_single`` other rows of the same project are copies by the first rule
    (a project filled from a template is filled from it throughout).

    A topic word is *related* to a project when it occurs in the project's text, shares a
    non-generic character bigram with it, belongs to a family of words of one field that the
    project's text also uses (教学 ~ 高新中学, see the data file), or (with an ``embedder``: a
    name for :func:`zhibiao.embed.get_embedder`, an Embedder; None, the default, for the
    lexical test alone) has a cosine of at least ``word_similarity`` with one of the project's
    words. A topic word of three characters or more that the project's name or title contains
    makes the whole row related (the project is named after it: 计划生育奖扶 …).

    Returns a frame aligned with ``rows`` with the evidence: copy_topic, copy_related,
    copy_recurs (number of dissimilar projects with the same block), copy_others (up to five of their
    names), copy_rule ("recurring", "single" or "") and template_copy (bool). With ``evidence=False``
    only the rows that can be copies are examined (a block that recurs in another project, and the other
    rows of a project holding one); the rest keep empty evidence. ``template_copy`` is the same.
    """
    rows = prepare_rows(rows) if "project_id" not in rows.columns else rows
    projects = project_table(prepare_rows(rows), projects)
    proj = projects.set_index("project_id")
    contexts = {pid: _context(p) for pid, p in proj.iterrows()}
    ctx_bigrams = {pid: _bigrams(c) for pid, c in contexts.items()}
    names = {pid: as_text(p["project_name"]) or as_text(p["table_title"]) for pid, p in proj.iterrows()}
    titles = {pid: normalize_chars(as_text(p["project_name"]) + "。" + as_text(p["table_title"])) for pid, p in proj.iterrows()}

    level3 = rows["level3"].map(_clean_name)
    value = rows["value"].map(lambda v: re.sub(r"\s+", "", normalize_chars(as_text(v))))
    desc = rows["description"].map(as_text) if "description" in rows.columns else pd.Series("", index=rows.index)
    desc_key = desc.map(lambda v: re.sub(r"[\s。.；;]+", "", normalize_chars(as_text(v))))
    # the block that recurs verbatim: name + description, or name + value when there is no description
    keys = [(n, d) if d else (n, "=" + v) for n, d, v in zip(level3, desc_key, value)]
    where: dict[tuple, set] = defaultdict(set)
    for k, pid in zip(keys, rows["project_id"]):
        if k[0]:
            where[k].add(pid)

    pids = list(rows["project_id"])
    n = len(rows)
    topics, related, recurs, others = [""] * n, [1.0] * n, [0] * n, [""] * n

    def examine(idx: list[int]) -> None:
        # name and description apart: jieba never joins words across the ；, and a description
        # shared by many rows (or many names of one description) is segmented once
        row_terms = [list(dict.fromkeys(_topic_terms(level3[i], False) + _topic_terms(desc[i], False)))
                     for i in idx]
        semantic = _semantic_relation(row_terms, [pids[i] for i in idx], contexts, embedder, word_similarity)
        for i, terms in zip(idx, row_terms):
            pid = pids[i]
            ctx = contexts.get(pid, "")
            rel = (sum(_term_related(t, ctx, ctx_bigrams.get(pid, set())) or (t, pid) in semantic
                       for t in terms) / len(terms)) if terms else 1.0
            if any(len(t) >= 3 and t in titles.get(pid, "") for t in terms):
                rel = 1.0   # the project is named after it: 计划生育奖扶 … carries 计划生育 indicators
            dis = []
            if terms and rel <= max(max_relatedness, single_max_relatedness):  # only candidates need it
                dis = sorted(q for q in where.get(keys[i], ()) if q != pid
                             and name_similarity(names.get(pid, ""), names.get(q, "")) < dissimilar_below)
            topics[i], related[i], recurs[i] = "、".join(terms), round(rel, 3), len(dis)
            others[i] = "、".join(list(dict.fromkeys(names.get(q, q) for q in dis))[:5])

    def rules():
        out = pd.DataFrame({"copy_topic": topics, "copy_related": related, "copy_recurs": recurs,
                            "copy_others": others}, index=rows.index)
        has_topic = out["copy_topic"] != ""
        recurring = has_topic & (out["copy_related"] <= max_relatedness) & (out["copy_recurs"] >= 1)
        per_project = recurring.groupby(rows["project_id"]).transform("sum")
        single = (has_topic & ~recurring & (out["copy_related"] <= single_max_relatedness)
                  & (per_project >= min_copies_for_single))
        return out, recurring, single

    level3, desc = list(level3), list(desc)
    if evidence or min_copies_for_single <= 0:
        examine(list(range(n)))
        out, recurring, single = rules()
    else:
        # Only a block found in another project can be a copy by the first rule, and only the rows of
        # a project holding such a copy by the second: the rest are not examined.
        first = [i for i in range(n) if len(where.get(keys[i], ())) > 1]
        examine(first)
        out, recurring, single = rules()
        holding = set(rows["project_id"][recurring])
        seen = set(first)
        examine([i for i in range(n) if pids[i] in holding and i not in seen])
        out, recurring, single = rules()
    out["copy_rule"] = ""
    out.loc[recurring, "copy_rule"] = "recurring"
    out.loc[single, "copy_rule"] = "single"
    out["template_copy"] = recurring | single
    return out


def flag_template_copies(rows: pd.DataFrame, projects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``template_copy`` to the ``flags`` of normalized rows found by :func:`detect_template_copy`.

    The rows must carry their project (``project_id``); returns them, flags updated in place.
    """
    copied = detect_template_copy(rows, projects, evidence=False)["template_copy"].astype(bool)
    if copied.any():
        rows.loc[copied, "flags"] = [";".join(filter(None, [as_text(f), "template_copy"]))
                                     for f in rows.loc[copied, "flags"]]
    return rows


def check_copies(rows: pd.DataFrame, projects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``template_copy`` to the flags of normalized rows that carry their project.

    The one place the check runs after normalization (the pipeline, the batch engine for a
    document, the service); rows without ``project_id`` (a hand-typed draft, a rows file cut
    into chunks that may split a project) are left as they are.
    """
    if len(rows) and "project_id" in rows.columns and "flags" in rows.columns:
        flag_template_copies(rows, projects if projects is not None and len(projects) else None)
    return rows


def _get_embedder(embedder):
    if embedder is None or not isinstance(embedder, str):
        return embedder
    try:
        from .embed import get_embedder
        return get_embedder(embedder)
    except Exception:  # noqa: BLE001 - the lexical test still works without embeddings
        return None


def _semantic_relation(row_terms: list[list[str]], pids: list[str], contexts: dict, embedder,
                       threshold: float) -> set[tuple[str, str]]:
    """(topic word, project) pairs whose word is close in meaning to one of the project's words."""
    embedder = _get_embedder(embedder)
    if embedder is None:
        return set()
    needed: dict[str, set[str]] = defaultdict(set)
    for terms, pid in zip(row_terms, pids):
        needed[pid].update(terms)
    ctx_words = {pid: topic_terms(contexts.get(pid, ""), fine=True) for pid in needed}
    vocab = sorted({t for ts in needed.values() for t in ts} | {w for ws in ctx_words.values() for w in ws})
    if not vocab:
        return set()
    try:
        vectors = embedder.encode(vocab)
    except Exception:  # noqa: BLE001
        return set()
    pos = {w: i for i, w in enumerate(vocab)}
    out = set()
    for pid, terms in needed.items():
        words = ctx_words.get(pid) or []
        if not words or not terms:
            continue
        T, W = sorted(terms), vectors[[pos[w] for w in words]]
        sims = vectors[[pos[t] for t in T]] @ W.T
        out.update((t, pid) for t, s in zip(T, sims.max(axis=1)) if s >= threshold)
    return out
