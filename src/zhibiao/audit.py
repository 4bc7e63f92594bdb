"""Audit report for 绩效目标审核: the problems a finance-bureau reviewer looks for.

``audit(rows, projects)`` takes indicator rows as extracted (DESIGN §4), normalizes
them if they are not already, and lists one finding per problem, a per-project
table with counts and a score, and a per-department summary. ``write_report``
writes them as an .xlsx a clerk can read (one sheet per level) plus a short .html
with a bar chart of the problem counts. ``audit_files`` runs extraction first;
a file that cannot be read is recorded in the report, never fatal.

The problem codes, their severities (高/中/低) and their Chinese messages live in
``zhibiao/data/audit_codes.tsv``; the generic indicator vocabulary that the
copy-paste detector ignores lives in ``zhibiao/data/audit_generic_terms.txt``.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"project_id": ["p1"], "project_name": ["农村环卫保洁"],
    ...                      "level2": ["数量指标"], "level3": ["保洁村数"], "value": ["提高"]})
    >>> report = audit(rows, normalizer=RuleNormalizer())
    >>> sorted(set(report.findings["code"]))
    ['missing_category', 'not_measurable']

Codes (see the data file for the messages):

==================== ====== =====================================================
code                 级别   what
==================== ====== =====================================================
missing_category     高/中  a required group of REQUIRED_GROUPS absent (per project)
template_copy        高     indicator copied from an unrelated project
title_mismatch       高/低  table title names another project (低: wording only)
category_mismatch    中     declared 二级 ≠ the category the row's content shows
unit_mismatch        中     unit of the wrong kind for the indicator
not_measurable       中     qualitative target (提高) where a number is expected
missing_value        中     no target, or only a unit (“个”)
implausible_value    中     a rate > 100% (“292%” → a lost ≥), or a vacuous ≥0
duplicate_indicator  低     the same 三级指标 twice in one project
no_indicators        高     a project with no indicator rows
unmatched_indicator  低     no canonical indicator type found
==================== ====== =====================================================
"""
from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import pandas as pd

from .classify import GROWTH, RATE_NAME, RATE_UNITS
from .recommend import GROUP_OF, REQUIRED_GROUPS
from .resources import data_file
from .tables import as_text_cell
from .text import normalize_chars, tokenize

__all__ = ["AuditReport", "audit", "audit_files", "write_report", "detect_template_copy",
           "RuleNormalizer", "CODES", "FINDING_COLUMNS", "SEVERITIES"]

CODES_FILE = "audit_codes.tsv"
GENERIC_FILE = "audit_generic_terms.txt"

SEVERITIES = ("高", "中", "低")
_NO_DEPARTMENT = "（未注明部门）"
_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}
# Weight of a row's worst problem in the project score.
_SEV_WEIGHT = {"高": 1.0, "中": 0.5, "低": 0.1}

FINDING_COLUMNS = ["department", "project_id", "project_name", "source", "location", "level3",
                   "value", "code", "label", "severity", "message", "suggestion"]

# Row codes in report order (also the per-project count columns).
CODE_ORDER = ["missing_category", "template_copy", "title_mismatch", "no_indicators",
              "category_mismatch", "unit_mismatch", "not_measurable", "missing_value",
              "implausible_value", "duplicate_indicator", "unmatched_indicator"]

# Groups whose targets must be quantities, rates or deadlines (效益 may be qualitative).
_MEASURABLE_GROUPS = {"数量", "质量", "时效", "成本", "满意度"}
_GROUP_EXAMPLES = {
    "数量": "完成数量、覆盖人数", "质量": "验收合格率、达标率", "时效": "完成时限、及时率",
    "成本": "成本控制、单位成本", "效益": "经济、社会、生态效益或可持续影响",
    "满意度": "服务对象满意度",
}
# A rate may exceed 100% when it measures growth.
_LOST_GE = re.compile(r"^2(\d{1,3}(?:\.\d+)?)(%|百分比)$")


# ---------------------------------------------------------------------------------------------
# data files

@dataclass(frozen=True)
class Code:
    key: str
    severity: str
    label: str
    message: str
    suggestion: str


@lru_cache(maxsize=1)
def _codes() -> dict[str, Code]:
    out: dict[str, Code] = {}
    header_seen = False
    for line in data_file(CODES_FILE).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if not header_seen:
            header_seen = True
            if parts[0] == "key":
                continue
        if len(parts) != 5:
            raise ValueError(f"{CODES_FILE}: expected 5 tab-separated fields: {line!r}")
        key, sev, label, msg, sugg = (p.strip() for p in parts)
        if sev not in _SEV_RANK:
            raise ValueError(f"{CODES_FILE}: severity must be 高/中/低: {line!r}")
        out[key] = Code(key, sev, label, msg, sugg)
    return out


class _CodeTable(dict):
    def __missing__(self, key):
        return _codes()[key]


CODES: dict[str, Code] = _CodeTable()  # lazy view: CODES["template_copy"].severity


def code_info(code: str, variant: str | None = None) -> Code:
    table = _codes()
    if variant and f"{code}.{variant}" in table:
        return table[f"{code}.{variant}"]
    return table[code]


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


class _SafeDict(dict):
    def __missing__(self, key):
        return ""


def _render(template: str, ctx: dict) -> str:
    """Fill a message template; an optional field left empty leaves no empty brackets.

    >>> _render("指标“{level3}”（{description}）无关", {"level3": "项目总成本", "description": ""})
    '指标“项目总成本”无关'
    """
    text = template.format_map(_SafeDict({k: ("" if v is None else v) for k, v in ctx.items()}))
    return _EMPTY_BRACKETS.sub("", text)  # an optional field left empty: “保洁成本”（） → “保洁成本”


_EMPTY_BRACKETS = re.compile(r"（\s*）|\(\s*\)")


# ---------------------------------------------------------------------------------------------
# text helpers

_CJK_ALNUM = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_NAME_NOISE = {"经费", "资金", "项目", "专项", "工作", "补助", "补贴", "支出", "费用", "绩效", "目标"}


def _s(x) -> str:
    if x is None:
        return ""
    try:
        if pd.isna(x):
            return ""
    except (TypeError, ValueError):
        pass
    return str(x)


def _chars(text: str) -> str:
    return "".join(_CJK_ALNUM.findall(normalize_chars(_s(text))))


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


def _title_closeness(a: str, b: str) -> float:
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
    try:
        from .classify import clean_name
        return clean_name(_s(text))
    except Exception:  # noqa: BLE001 - classify is optional for the rule-only audit
        return normalize_chars(_s(text)).strip()


def topic_terms(text: str, fine: bool = False) -> list[str]:
    """Words of an indicator that say what it is about (not how it is measured).

    >>> topic_terms("群众满意度；群众满意数量占总数的比例。")
    []
    >>> "计划生育" in topic_terms("对符合条件的农村计划生育家庭发放奖励扶助金")
    True
    """
    return list(_topic_terms(_s(text), fine))


@lru_cache(maxsize=131072)
def _topic_terms(text: str, fine: bool) -> tuple[str, ...]:
    out = []
    words = tokenize(_s(text))
    if fine:  # also the shorter words inside long ones: 高新中学 → 高新, 中学
        from .text import tokenizer
        words = tokenizer().lcut_for_search(normalize_chars(_s(text)))
    for w in words:
        w = "".join(_CJK_ALNUM.findall(w))
        if len(w) < 2 or not re.search(r"[\u4e00-\u9fff]", w) or is_generic(w) or re.search(r"\d", w):
            continue
        if w not in out:
            out.append(w)
    return tuple(out)


def _term_related(term: str, context: str, context_bigrams: set[str]) -> bool:
    if term in context:
        return True
    for family in related_families():
        if any(m in term for m in family) and any(m in context for m in family):
            return True
    if len(term) < 3:
        return False
    generic = generic_terms()
    return any(term[i:i + 2] in context_bigrams and term[i:i + 2] not in generic
               for i in range(len(term) - 1))


# ---------------------------------------------------------------------------------------------
# normalization

class RuleNormalizer:
    """Stand-in for :class:`zhibiao.Normalizer` when no trained model is available.

    The category is the declared one (so category_mismatch is never raised), no
    canonical type is matched (so unmatched_indicator is never raised); values are
    parsed with the value grammar as usual.
    """

    fingerprint = "rules"

    def normalize(self, df: pd.DataFrame) -> pd.DataFrame:
        from .classify import OUTPUT_COLUMNS
        from .taxonomy import canonical_category, level1_of
        from .values import parse_value

        out = df.copy()
        recs = []
        for l1, l2, value in zip(_col(df, "level1"), _col(df, "level2"), _col(df, "value")):
            declared = canonical_category(l2, l1) if (l2 or l1) else None
            pv = parse_value(value)
            flags = []
            if pv.kind == "empty":
                flags.append("missing_value")
            if pv.kind == "qualitative" and GROUP_OF.get(declared or "") in ("数量", "质量"):
                flags.append("not_measurable")
            if pv.unit == "%" and pv.number is not None and pv.number > 100:
                flags.append("implausible_value")
            recs.append({"category": declared or "", "category_confidence": 0.0,
                         "level1_canonical": level1_of(declared) if declared else "",
                         "declared_category": declared or "", "indicator_id": "", "indicator_name": "",
                         "indicator_confidence": 0.0, "value_kind": pv.kind, "op": pv.op,
                         "number": pv.number, "unit": pv.unit, "base_value": pv.base_value,
                         "base_unit": pv.base_unit, "date": pv.date, "flags": ";".join(flags)})
        added = pd.DataFrame.from_records(recs, index=df.index, columns=OUTPUT_COLUMNS)
        for c in OUTPUT_COLUMNS:
            out[c] = added[c]
        return out


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name].map(_s)
    return pd.Series([""] * len(df), index=df.index, dtype=object)


_NORMALIZE_MARKERS = ("category", "declared_category", "value_kind", "flags")


def _normalized(rows: pd.DataFrame, normalizer, notes: list[str]) -> pd.DataFrame:
    if all(c in rows.columns for c in _NORMALIZE_MARKERS):
        return rows
    if normalizer is None:
        from .classify import Normalizer
        from .errors import ModelNotFound
        try:
            normalizer = Normalizer.load()
        except ModelNotFound as exc:
            notes.append(f"未找到训练好的模型（{exc}），按申报的二级指标判断类别；"
                         "未检查“指标类别不符”和“未匹配标准指标”。")
            normalizer = RuleNormalizer()
    if isinstance(normalizer, RuleNormalizer) and not any("申报的二级指标" in n for n in notes):
        notes.append("未使用分类模型：按申报的二级指标判断类别；未检查“指标类别不符”和“未匹配标准指标”。")
    from .classify import Normalizer
    if isinstance(normalizer, Normalizer):  # the copy check runs below, with its evidence
        return normalizer.normalize(rows, context=False)
    return normalizer.normalize(rows)


# ---------------------------------------------------------------------------------------------
# the report

@dataclass
class AuditReport:
    """What :func:`audit` returns. All tables are pandas DataFrames.

    findings     one row per problem (FINDING_COLUMNS)
    projects     one row per project: counts per code, groups present/missing, score, grade
    departments  one row per (source, department)
    failures     files that could not be read (source, error)
    rows         the normalized indicator rows, with the copy-paste detector's evidence
    notes        remarks on how the audit was run (Chinese)
    """
    findings: pd.DataFrame
    projects: pd.DataFrame
    departments: pd.DataFrame
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "error"]))
    rows: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per code, in report order (codes with no finding are left out)."""
        c = Counter(self.findings["code"]) if len(self.findings) else Counter()
        return {k: c[k] for k in CODE_ORDER if c[k]} | {k: v for k, v in c.items() if k not in CODE_ORDER}

    def summary(self) -> str:
        """A few lines of Chinese for the terminal."""
        sev = Counter(self.findings["severity"]) if len(self.findings) else Counter()
        lines = [f"文件 {self.projects['source'].nunique() if len(self.projects) else 0} 个，"
                 f"项目 {len(self.projects)} 个，指标 {0 if self.rows is None else len(self.rows)} 条；"
                 f"问题 {len(self.findings)} 个（高 {sev['高']}，中 {sev['中']}，低 {sev['低']}）"]
        for code, n in self.counts().items():
            lines.append(f"  {code_info(code).label}（{code}）：{n}")
        if len(self.failures):
            lines.append(f"未能读取的文件：{len(self.failures)} 个")
        return "\n".join(lines)


def _finding(code: str, base: dict, ctx: dict, variant: str | None = None) -> dict:
    info = code_info(code, variant)
    full = {**base, **ctx}
    return {
        "department": base.get("department", ""), "project_id": base.get("project_id", ""),
        "project_name": base.get("project_name", ""), "source": base.get("source", ""),
        "location": base.get("location", ""), "level3": base.get("level3", ""),
        "value": base.get("value", ""), "code": code, "label": info.label, "severity": info.severity,
        "message": _render(info.message, full), "suggestion": _render(info.suggestion, full),
    }


def _short(text: str, n: int = 30) -> str:
    text = normalize_chars(_s(text)).strip().rstrip("。.")
    return text if len(text) <= n else text[:n] + "…"


_BASE_ROW_COLUMNS = ["source", "location", "project_id", "project_name", "table_title", "department",
                     "level1", "level2", "level3", "description", "value", "basis", "warnings"]


def _prepare_rows(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.reset_index(drop=True).copy()
    for c in _BASE_ROW_COLUMNS:
        if c not in rows.columns:
            rows[c] = ""
        rows[c] = rows[c].map(_s)
    missing_id = rows["project_id"] == ""
    rows.loc[missing_id, "project_id"] = rows.loc[missing_id, "source"] + "#" + rows.loc[missing_id, "project_name"]
    return rows


def _project_table(rows: pd.DataFrame, projects: pd.DataFrame | None) -> pd.DataFrame:
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
        if (p["project_id"].map(_s) == "").any():
            blank = p["project_id"].map(_s) == ""
            p.loc[blank, "project_id"] = p.loc[blank, "source"].map(_s) + "#" + p.loc[blank, "project_name"].map(_s)
        # projects seen only in the rows are added
        extra = first[~first["project_id"].isin(set(p["project_id"]))]
        out = pd.concat([p[cols], extra], ignore_index=True)
        n_rows = rows.groupby("project_id").size()
        out["n_indicators"] = out["project_id"].map(n_rows).fillna(0).astype(int)
        # the rows' department fills a blank project department
        dep_rows = first.set_index("project_id")["department"]
        blank = out["department"].map(_s) == ""
        out.loc[blank, "department"] = out.loc[blank, "project_id"].map(dep_rows)
    for c in cols:
        if c not in out.columns:
            out[c] = None
    for c in ("source", "project_name", "table_title", "department", "purpose", "goals"):
        out[c] = out[c].map(_s)
    return out[cols].drop_duplicates("project_id").reset_index(drop=True)


def _context(p: pd.Series) -> str:
    """What a project says it does: name, title, purpose and goals."""
    return normalize_chars("。".join(_s(p.get(c)) for c in ("project_name", "table_title", "purpose", "goals")))


# ---------------------------------------------------------------------------------------------
# the copy-paste detector

def detect_template_copy(rows: pd.DataFrame, projects: pd.DataFrame | None = None, *,
                         embedder=None, max_relatedness: float = 0.34,
                         single_max_relatedness: float = 0.0, dissimilar_below: float = 0.34,
                         min_copies_for_single: int = 1, word_similarity: float = 0.5) -> pd.DataFrame:
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
    names), copy_rule ("recurring", "single" or "") and template_copy (bool).
    """
    rows = _prepare_rows(rows) if "project_id" not in rows.columns else rows
    projects = _project_table(_prepare_rows(rows), projects)
    proj = projects.set_index("project_id")
    contexts = {pid: _context(p) for pid, p in proj.iterrows()}
    ctx_bigrams = {pid: _bigrams(c) for pid, c in contexts.items()}
    names = {pid: _s(p["project_name"]) or _s(p["table_title"]) for pid, p in proj.iterrows()}
    titles = {pid: normalize_chars(_s(p["project_name"]) + "。" + _s(p["table_title"])) for pid, p in proj.iterrows()}

    level3 = rows["level3"].map(_clean_name)
    value = rows["value"].map(lambda v: re.sub(r"\s+", "", normalize_chars(_s(v))))
    desc = rows["description"].map(_s) if "description" in rows.columns else pd.Series("", index=rows.index)
    desc_key = desc.map(lambda v: re.sub(r"[\s。.；;]+", "", normalize_chars(_s(v))))
    # the block that recurs verbatim: name + description, or name + value when there is no description
    keys = [(n, d) if d else (n, "=" + v) for n, d, v in zip(level3, desc_key, value)]
    where: dict[tuple, set] = defaultdict(set)
    for k, pid in zip(keys, rows["project_id"]):
        if k[0]:
            where[k].add(pid)

    row_terms = [topic_terms(f"{n}；{d}") for n, d in zip(level3, desc)]
    semantic = _semantic_relation(row_terms, list(rows["project_id"]), contexts, embedder, word_similarity)

    topics, related, recurs, others = [], [], [], []
    for terms, k, pid in zip(row_terms, keys, rows["project_id"]):
        ctx = contexts.get(pid, "")
        rel = (sum(_term_related(t, ctx, ctx_bigrams.get(pid, set())) or (t, pid) in semantic
                   for t in terms) / len(terms)) if terms else 1.0
        if any(len(t) >= 3 and t in titles.get(pid, "") for t in terms):
            rel = 1.0   # the project is named after it: 计划生育奖扶 … carries 计划生育 indicators
        dis = []
        if terms and rel <= max(max_relatedness, single_max_relatedness):  # only candidates need it
            dis = sorted(q for q in where.get(k, ()) if q != pid
                         and name_similarity(names.get(pid, ""), names.get(q, "")) < dissimilar_below)
        topics.append("、".join(terms))
        related.append(round(rel, 3))
        recurs.append(len(dis))
        others.append("、".join(list(dict.fromkeys(names.get(q, q) for q in dis))[:5]))
    out = pd.DataFrame({"copy_topic": topics, "copy_related": related, "copy_recurs": recurs,
                        "copy_others": others}, index=rows.index)
    has_topic = out["copy_topic"] != ""
    recurring = has_topic & (out["copy_related"] <= max_relatedness) & (out["copy_recurs"] >= 1)
    per_project = recurring.groupby(rows["project_id"]).transform("sum")
    single = (has_topic & ~recurring & (out["copy_related"] <= single_max_relatedness)
              & (per_project >= min_copies_for_single))
    out["copy_rule"] = ""
    out.loc[recurring, "copy_rule"] = "recurring"
    out.loc[single, "copy_rule"] = "single"
    out["template_copy"] = recurring | single
    return out


def flag_template_copies(rows: pd.DataFrame, projects: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``template_copy`` to the ``flags`` of normalized rows found by :func:`detect_template_copy`.

    The rows must carry their project (``project_id``); returns them, flags updated in place.
    """
    copied = detect_template_copy(rows, projects)["template_copy"].astype(bool)
    if copied.any():
        rows.loc[copied, "flags"] = [";".join(filter(None, [_s(f), "template_copy"]))
                                     for f in rows.loc[copied, "flags"]]
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


# ---------------------------------------------------------------------------------------------
# the checks

def _row_base(r) -> dict:
    return {"department": r.department, "project_id": r.project_id, "project_name": r.project_name,
            "source": r.source, "location": r.location, "level3": normalize_chars(r.level3),
            "value": normalize_chars(r.value), "description": _short(r.description),
            "table_title": r.table_title}


def _number(x) -> float | None:
    try:
        if x is None or pd.isna(x):
            return None
        return float(x)
    except (TypeError, ValueError):
        return None


def _expected_unit(indicator_id: str, library) -> str:
    if library is None or not indicator_id or indicator_id not in library.index:
        return ""
    return _s(library.loc[indicator_id].get("unit"))


def _row_findings(rows: pd.DataFrame, library) -> list[dict]:
    out = []
    for r in rows.itertuples(index=False):
        flags = set(f for f in _s(r.flags).split(";") if f)
        base = _row_base(r)
        cat, declared = _s(r.category), _s(r.declared_category)
        kind = _s(r.value_kind)
        unit = _s(r.unit)
        number = _number(r.number)
        name = _clean_name(r.level3)
        value_text = normalize_chars(r.value).replace(" ", "")

        if "category_mismatch" in flags and declared and cat and declared != cat:
            out.append(_finding("category_mismatch", base, {"category": cat, "declared": declared}))

        # not measurable: a qualitative target where the category needs a quantity or a deadline
        group = GROUP_OF.get(declared) if GROUP_OF.get(declared) in _MEASURABLE_GROUPS else GROUP_OF.get(cat)
        measurable_cat = declared if GROUP_OF.get(declared) in _MEASURABLE_GROUPS else cat
        if kind == "qualitative" and ("not_measurable" in flags or group in _MEASURABLE_GROUPS):
            out.append(_finding("not_measurable", base, {"category": measurable_cat or "该类指标"}))

        if kind == "empty" or "missing_value" in flags:
            out.append(_finding("missing_value", base, {}, "unit_only" if value_text else None))

        # units
        expected = ""
        if "unit_mismatch" in flags:
            expected = _expected_unit(_s(r.indicator_id), library) or "其他单位"
        elif unit and RATE_NAME.search(name) and unit not in RATE_UNITS:
            expected = "%"
        if expected:
            kind_of = f"“{_s(r.indicator_name)}”" if _s(r.indicator_name) else "该类指标"
            out.append(_finding("unit_mismatch", base, {"unit": unit, "expected": expected, "name": kind_of}))

        # implausible values
        if number is not None:
            rate_like = unit == "%" or (not unit and RATE_NAME.search(name) and kind == "numeric")
            if rate_like and number > 100 and not GROWTH.search(name):
                m = _LOST_GE.match(value_text)
                if m and 0 < float(m.group(1)) <= 100:
                    out.append(_finding("implausible_value", base,
                                        {"suggested_value": f"≥{m.group(1)}%"}, "lost_ge"))
                else:
                    out.append(_finding("implausible_value", base, {}))
            elif number == 0 and _s(r.op) == ">=":
                out.append(_finding("implausible_value", base, {}, "zero"))

        if "unmatched_indicator" in flags:
            out.append(_finding("unmatched_indicator", base, {}))
    return out


def _duplicate_findings(rows: pd.DataFrame) -> list[dict]:
    names = rows["level3"].map(lambda s: re.sub(r"\s+", "", _clean_name(s)))
    key = rows["project_id"].astype(str) + "\x00" + names
    n_of = key.value_counts()
    second = key.duplicated(keep="first") & (names != "")
    second &= ~key.where(second).duplicated(keep="first") | ~second
    out = []
    for r, k in zip(rows[second].itertuples(index=False), key[second]):
        out.append(_finding("duplicate_indicator", _row_base(r), {"n": int(n_of[k])}))
    return out


_TITLE_SAYS = re.compile(r"title_mismatch:\s*title says\s*([^;]*)")


def _title_findings(rows: pd.DataFrame, projects: pd.DataFrame) -> list[dict]:
    out = []
    warn_by_project = rows.groupby("project_id")["warnings"].apply(lambda s: ";".join(set(s)))
    for p in projects.itertuples(index=False):
        warnings = _s(warn_by_project.get(p.project_id, "")) + ";" + _s(getattr(p, "warnings", ""))
        if "title_mismatch" not in warnings:
            continue
        m = _TITLE_SAYS.search(warnings)
        name_in_title = m.group(1).strip() if m else _s(p.table_title)
        minor = _title_closeness(name_in_title, p.project_name) >= 0.6
        base = {"department": p.department, "project_id": p.project_id, "project_name": p.project_name,
                "source": p.source, "location": "", "level3": "", "value": "",
                "table_title": p.table_title or name_in_title}
        out.append(_finding("title_mismatch", base, {"name_in_title": name_in_title},
                            "minor" if minor else None))
    return out


def _project_groups(rows: pd.DataFrame) -> dict[str, set]:
    covered: dict[str, set] = defaultdict(set)
    for pid, cat, declared in zip(rows["project_id"], rows["category"].map(_s), rows["declared_category"].map(_s)):
        for c in (cat, declared):
            if GROUP_OF.get(c):
                covered[pid].add(GROUP_OF[c])
    return covered


def _missing_category_findings(rows: pd.DataFrame, projects: pd.DataFrame, covered: dict) -> list[dict]:
    out = []
    for p in projects.itertuples(index=False):
        if not p.n_indicators:
            out.append(_finding("no_indicators", _project_base(p), {}))
            continue
        for group in REQUIRED_GROUPS:
            if group not in covered.get(p.project_id, set()):
                out.append(_finding("missing_category", _project_base(p),
                                    {"group": group, "examples": _GROUP_EXAMPLES[group]}, group))
    return out


def _project_base(p) -> dict:
    return {"department": p.department, "project_id": p.project_id, "project_name": p.project_name,
            "source": p.source, "location": "", "level3": "", "value": "", "table_title": p.table_title}


def _copy_findings(rows: pd.DataFrame, copies: pd.DataFrame) -> list[dict]:
    out = []
    hit = copies["template_copy"].to_numpy(dtype=bool)
    sub = copies[hit]
    for r, others, n, rule in zip(rows[hit].itertuples(index=False), sub["copy_others"],
                                  sub["copy_recurs"], sub["copy_rule"]):
        others = others.split("、")
        shown = "、".join(others[:3]) + ("等" if n > 3 else "")
        out.append(_finding("template_copy", _row_base(r), {"n": int(n), "others": shown},
                            "single" if rule == "single" else None))
    return out


# ---------------------------------------------------------------------------------------------
# the public API

def audit(rows: pd.DataFrame, projects: pd.DataFrame | None = None, normalizer=None, *,
          embedder=None) -> AuditReport:
    """Audit extracted indicator rows (DESIGN §4 columns; only level3 is required).

    ``rows`` are normalized with ``normalizer`` (default ``Normalizer.load()``, or the
    declared-label :class:`RuleNormalizer` when no model is installed) unless they
    already carry the normalize columns. ``projects`` (as from extraction) adds the
    purpose and goals the copy-paste detector compares with, and projects without rows.
    ``embedder`` is passed to :func:`detect_template_copy` (None: lexical test only).
    """
    notes: list[str] = []
    rows = _prepare_rows(rows)
    norm = _normalized(rows, normalizer, notes)
    for c in ("category", "declared_category", "indicator_id", "value_kind", "op", "unit", "flags"):
        if c not in norm.columns:
            norm[c] = ""
    if "number" not in norm.columns:
        norm["number"] = None
    projects_t = _project_table(norm, projects)

    library = None
    if normalizer is not None and hasattr(normalizer, "library"):
        try:
            library = normalizer.library
        except Exception:  # noqa: BLE001
            library = None
    if library is None and (norm["flags"].map(_s).str.contains("unit_mismatch")).any():
        try:
            from .taxonomy import load_library
            library = load_library().set_index("indicator_id", drop=False)
        except Exception:  # noqa: BLE001
            library = None

    copies = detect_template_copy(norm, projects_t, embedder=embedder)
    norm = norm.join(copies)
    covered = _project_groups(norm)

    # A copied row is to be deleted, not corrected: its other row problems are not listed.
    own = ~copies["template_copy"].to_numpy(dtype=bool)
    found = (_missing_category_findings(norm, projects_t, covered) + _copy_findings(norm, copies)
             + _title_findings(norm, projects_t) + _row_findings(norm[own], library)
             + _duplicate_findings(norm))
    findings = pd.DataFrame(found, columns=FINDING_COLUMNS)
    if len(findings):
        order = {k: i for i, k in enumerate(CODE_ORDER)}
        findings = (findings.assign(_s=findings["severity"].map(_SEV_RANK), _c=findings["code"].map(order),
                                    _p=findings["project_id"].map({p: i for i, p in enumerate(projects_t["project_id"])}))
                    .sort_values(["_p", "_s", "_c"], kind="stable")
                    .drop(columns=["_s", "_c", "_p"]).reset_index(drop=True))

    project_report = _project_report(norm, projects_t, findings, covered)
    departments = _department_report(project_report, findings)
    return AuditReport(findings=findings, projects=project_report, departments=departments,
                       rows=norm, notes=notes)


def _worst_weight(findings: pd.DataFrame) -> pd.Series:
    """Per (project_id, location) of row-level findings: weight of the worst severity."""
    rowf = findings[findings["location"] != ""]
    if not len(rowf):
        return pd.Series(dtype=float)
    w = rowf.assign(_w=rowf["severity"].map(_SEV_WEIGHT))
    return w.groupby(["project_id", "location"])["_w"].max().groupby(level=0).sum()


def _grade(score: float) -> str:
    return "优" if score >= 90 else "良" if score >= 75 else "中" if score >= 60 else "差"


def _project_report(rows: pd.DataFrame, projects: pd.DataFrame, findings: pd.DataFrame,
                    covered: dict) -> pd.DataFrame:
    """Per project: counts per code and severity, groups present/missing, a 0–100 score.

    score = 40 × (required groups covered / 6) + 60 × (1 − Σ worst-severity weight of the
    rows / number of rows), minus 10 for a 高 project-level problem (wrong title, no rows);
    weights 高 1, 中 0.5, 低 0.1.
    """
    bad = _worst_weight(findings)
    ids = list(projects["project_id"])
    if len(findings):
        per_code = findings.groupby(["project_id", "code"]).size().unstack(fill_value=0)
        per_sev = findings.groupby(["project_id", "severity"]).size().unstack(fill_value=0)
    else:
        per_code = per_sev = pd.DataFrame(index=pd.Index([], name="project_id"))
    per_code = per_code.reindex(index=ids, columns=CODE_ORDER, fill_value=0)
    per_sev = per_sev.reindex(index=ids, columns=list(SEVERITIES), fill_value=0)
    proj_high = set(findings.loc[(findings["location"] == "") & (findings["severity"] == "高")
                                 & (findings["code"] != "missing_category"), "project_id"]) if len(findings) else set()
    bad_of = bad.to_dict()
    recs = []
    for i, p in enumerate(projects.itertuples(index=False)):
        groups = covered.get(p.project_id, set())
        n = int(p.n_indicators or 0)
        row_quality = 1 - min(1.0, float(bad_of.get(p.project_id, 0.0)) / n) if n else 0.0
        score = 40 * len(groups) / len(REQUIRED_GROUPS) + 60 * row_quality - (10 if p.project_id in proj_high else 0)
        score = max(0.0, round(score, 1))
        sev = per_sev.iloc[i]
        rec = {"source": p.source, "department": p.department, "project_id": p.project_id,
               "project_name": p.project_name, "budget_wan": p.budget_wan, "n_indicators": n,
               "categories_present": "、".join(g for g in REQUIRED_GROUPS if g in groups),
               "categories_missing": "、".join(g for g in REQUIRED_GROUPS if g not in groups),
               "n_findings": int(sev.sum())}
        for s_ in SEVERITIES:
            rec[f"n_{s_}"] = int(sev[s_])
        rec.update({c: int(v) for c, v in per_code.iloc[i].items()})
        rec["score"] = score
        rec["grade"] = _grade(score)
        recs.append(rec)
    cols = (["source", "department", "project_id", "project_name", "budget_wan", "n_indicators",
             "categories_present", "categories_missing", "n_findings"] + [f"n_{s}" for s in SEVERITIES]
            + CODE_ORDER + ["score", "grade"])
    return pd.DataFrame(recs, columns=cols)


def _department_report(projects: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    cols = (["source", "department", "n_projects", "n_indicators", "n_findings"]
            + [f"n_{s}" for s in SEVERITIES] + CODE_ORDER
            + ["projects_with_high", "mean_score", "min_score", "top_problem", "worst_projects"])
    if not len(projects):
        return pd.DataFrame(columns=cols)
    p = projects.assign(department=projects["department"].replace("", _NO_DEPARTMENT))
    recs = []
    for (source, dep), g in p.groupby(["source", "department"], sort=False):
        rec = {"source": source, "department": dep, "n_projects": len(g),
               "n_indicators": int(g["n_indicators"].sum()), "n_findings": int(g["n_findings"].sum())}
        for s in SEVERITIES:
            rec[f"n_{s}"] = int(g[f"n_{s}"].sum())
        for c in CODE_ORDER:
            rec[c] = int(g[c].sum())
        rec["projects_with_high"] = int((g["n_高"] > 0).sum())
        rec["mean_score"] = round(float(g["score"].mean()), 1)
        rec["min_score"] = float(g["score"].min())
        top = max(CODE_ORDER, key=lambda c: rec[c])
        rec["top_problem"] = f"{code_info(top).label}（{rec[top]}）" if rec[top] else ""
        worst = g.sort_values("score").head(3)
        rec["worst_projects"] = "；".join(f"{n}（{s:g}分）" for n, s in zip(worst["project_name"], worst["score"]))
        recs.append(rec)
    return pd.DataFrame(recs, columns=cols)


def _failures_frame(failures) -> pd.DataFrame:
    if failures is None:
        return pd.DataFrame(columns=["source", "error"])
    if isinstance(failures, pd.DataFrame):
        df = failures.copy()
        if "source" not in df.columns:
            for alt in ("path", "file"):
                if alt in df.columns:
                    df["source"] = df[alt]
                    break
        if "error" not in df.columns:
            for alt in ("reason", "message", "exception"):
                if alt in df.columns:
                    df["error"] = df[alt]
                    break
        for c in ("source", "error"):
            if c not in df.columns:
                df[c] = ""
        return df[["source", "error"]].map(_s).reset_index(drop=True)
    recs = []
    items = failures.items() if isinstance(failures, dict) else failures
    for f in items:
        if isinstance(f, tuple) and len(f) >= 2:
            recs.append({"source": _s(f[0]), "error": _s(f[1])})
        elif isinstance(f, dict):
            recs.append({"source": _s(f.get("source") or f.get("path") or f.get("file")),
                         "error": _s(f.get("error") or f.get("reason") or f.get("message"))})
        elif isinstance(f, BaseException):
            recs.append({"source": _s(getattr(f, "path", "")), "error": _s(getattr(f, "reason", None) or f)})
        else:
            recs.append({"source": _s(getattr(f, "path", getattr(f, "source", ""))),
                         "error": _s(getattr(f, "error", getattr(f, "reason", f)))})
    return pd.DataFrame(recs, columns=["source", "error"])


def audit_files(paths: Iterable, normalizer=None, *, embedder=None) -> AuditReport:
    """Extract the documents at ``paths`` and audit them; unreadable files are listed in
    ``report.failures`` (and on the report's 说明 sheet), never raised."""
    from .ingest import extract_all

    paths = [Path(p) for p in paths]
    result = extract_all(paths, errors="collect")
    failures = _failures_frame(getattr(result, "failures", None))
    rows = getattr(result, "rows", None)
    projects = getattr(result, "projects", None)
    if rows is None or not len(rows):
        rows = pd.DataFrame(columns=_BASE_ROW_COLUMNS)
    report = audit(rows, projects, normalizer=normalizer, embedder=embedder)
    report.failures = failures
    report.notes.extend(getattr(result, "notes", []))
    return report


# ---------------------------------------------------------------------------------------------
# writing

_FINDING_HEADERS = {
    "severity": "严重程度", "label": "问题类型", "department": "部门", "project_name": "项目名称",
    "level3": "三级指标", "value": "指标值", "message": "问题说明", "suggestion": "修改建议",
    "source": "来源文件", "location": "位置", "project_id": "项目标识", "code": "问题代码",
}
_PROJECT_HEADERS = {
    "source": "来源文件", "department": "部门", "project_name": "项目名称", "budget_wan": "预算（万元）",
    "n_indicators": "指标数", "categories_present": "已设指标类别", "categories_missing": "缺少的指标类别",
    "n_findings": "问题数", "n_高": "高", "n_中": "中", "n_低": "低", "score": "得分", "grade": "等级",
    "project_id": "项目标识",
}
_DEPARTMENT_HEADERS = {
    "source": "来源文件", "department": "部门", "n_projects": "项目数", "n_indicators": "指标数",
    "n_findings": "问题数", "n_高": "高", "n_中": "中", "n_低": "低", "projects_with_high": "有高级问题的项目数",
    "mean_score": "平均得分", "min_score": "最低得分", "top_problem": "最多的问题", "worst_projects": "得分最低的项目",
}
_SEV_FILL = {"高": "F8CBAD", "中": "FFE699", "低": "DDEBF7"}
_SEV_SVG = {"高": "#c0504d", "中": "#e6a23c", "低": "#5b9bd5"}


def _code_headers() -> dict[str, str]:
    return {c: code_info(c).label for c in CODE_ORDER}


def _sheet_frames(report: AuditReport) -> dict[str, pd.DataFrame]:
    f = report.findings
    f_cols = ["severity", "label", "department", "project_name", "level3", "value", "message",
              "suggestion", "source", "location", "project_id", "code"]
    findings = f[f_cols].assign(department=f["department"].replace("", _NO_DEPARTMENT)).rename(columns=_FINDING_HEADERS)
    p_cols = (["source", "department", "project_name", "budget_wan", "score", "grade", "n_indicators",
               "categories_present", "categories_missing", "n_findings", "n_高", "n_中", "n_低"]
              + CODE_ORDER + ["project_id"])
    projects = report.projects[p_cols].sort_values(["source", "score"], kind="stable")
    projects = projects.assign(department=projects["department"].replace("", _NO_DEPARTMENT))
    projects = projects.rename(columns={**_PROJECT_HEADERS, **_code_headers()})
    d_cols = (["source", "department", "n_projects", "n_indicators", "mean_score", "min_score",
               "projects_with_high", "n_findings", "n_高", "n_中", "n_低"] + CODE_ORDER
              + ["top_problem", "worst_projects"])
    departments = report.departments[d_cols].rename(columns={**_DEPARTMENT_HEADERS, **_code_headers()})
    # a code's label is shared by its variants; keep the columns unique
    projects = projects.loc[:, ~projects.columns.duplicated()]
    departments = departments.loc[:, ~departments.columns.duplicated()]
    legend = pd.DataFrame([{"问题代码": key, "问题类型": info.label, "严重程度": info.severity,
                            "说明": re.sub(r"\{[a-z_0-9]+\}", "…", info.message)}
                           for key, info in _codes().items()])
    return {"问题明细": findings, "项目": projects, "部门": departments, "说明": legend}


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(text))


def write_report(report: AuditReport, path) -> Path:
    """Write ``report`` to ``path`` (.xlsx) and a short .html beside it (same stem).

    Sheets: 问题明细 (one row per problem), 项目, 部门, and 说明 (the codes, unreadable
    files, notes). Chinese headers, frozen header row, autofilter, fitted widths.
    Returns the xlsx path.
    """
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        path = path.with_suffix(".xlsx")
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = _sheet_frames(report)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in frames.items():
            df.to_excel(xw, sheet_name=name, index=False)
            for row in xw.sheets[name].iter_rows(min_row=2):
                for cell in row:
                    as_text_cell(cell)
        ws_info = xw.sheets["说明"]
        r = len(frames["说明"]) + 3
        extra = []
        if len(report.failures):
            extra.append(["未能读取的文件", "原因"])
            extra += [[s, e] for s, e in zip(report.failures["source"], report.failures["error"])]
            extra.append([])
        for note in report.notes:
            extra.append(["注", note])
        extra.append(["得分", "40×已设必设类别数/6 + 60×(1−问题指标加权数/指标数)；高=1、中=0.5、低=0.1；"
                             "标题与项目不符或无指标另扣10分。等级：优≥90，良≥75，中≥60，差<60。"])
        for i, line in enumerate(extra):
            for j, v in enumerate(line):
                ws_info.cell(row=r + i, column=1 + j, value=v)

        wide = {"问题说明": 60, "修改建议": 40, "得分最低的项目": 50, "说明": 70}
        for name, df in frames.items():
            ws = xw.sheets[name]
            ws.freeze_panes = "A2"
            if len(df.columns):
                ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(1, len(df) + 1)}"
            for j, col in enumerate(df.columns, start=1):
                cells = [col] + [v for v in df[col].head(500).tolist()]
                width = max(_display_width(_s(v)) for v in cells) + 2
                width = min(max(width, 6), wide.get(col, 30))
                ws.column_dimensions[get_column_letter(j)].width = width
                head = ws.cell(row=1, column=j)
                head.font = Font(bold=True)
                head.fill = PatternFill("solid", fgColor="D9D9D9")
                head.alignment = Alignment(wrap_text=True, vertical="center")
                if col in wide:
                    for row in ws.iter_rows(min_row=2, max_row=len(df) + 1, min_col=j, max_col=j):
                        for c in row:
                            c.alignment = Alignment(wrap_text=True, vertical="top")
            if "严重程度" in df.columns:
                j = list(df.columns).index("严重程度") + 1
                for row in ws.iter_rows(min_row=2, max_row=len(df) + 1, min_col=j, max_col=j):
                    for c in row:
                        if c.value in _SEV_FILL:
                            c.fill = PatternFill("solid", fgColor=_SEV_FILL[c.value])
    path.with_suffix(".html").write_text(report_html(report), encoding="utf-8")
    return path


def svg_bar_chart(counts: list[tuple[str, int, str]], *, width: int = 640, bar_height: int = 22) -> str:
    """A horizontal bar chart as inline SVG: ``counts`` = [(label, count, colour)].

    >>> svg_bar_chart([("缺少必设指标", 3, "#c0504d")]).startswith("<svg")
    True
    """
    label_w, pad, gap = 170, 10, 6
    top = max([c for _, c, _ in counts], default=0) or 1
    height = pad * 2 + max(1, len(counts)) * (bar_height + gap)
    bar_w = width - label_w - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="问题数量" '
             f'font-family="sans-serif" font-size="13">']
    for i, (label, n, colour) in enumerate(counts):
        y = pad + i * (bar_height + gap)
        w = max(1, round(bar_w * n / top)) if n else 0
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_height * 0.7:.0f}" text-anchor="end">'
                     f'{html.escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_height}" fill="{colour}">'
                     f'<title>{html.escape(label)}：{n}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + bar_height * 0.7:.0f}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_html(report: AuditReport) -> str:
    """The short HTML version: summary, a bar chart of problem counts, departments, worst projects."""
    esc = html.escape
    f = report.findings
    sev = Counter(f["severity"]) if len(f) else Counter()
    counts = report.counts()
    chart = svg_bar_chart([(code_info(c).label, n, _SEV_SVG[code_info(c).severity]) for c, n in counts.items()])
    n_rows = 0 if report.rows is None else len(report.rows)
    n_files = report.projects["source"].nunique() if len(report.projects) else 0
    dep_rows = "".join(
        f"<tr><td>{esc(_s(d.source))}</td><td>{esc(_s(d.department))}</td><td>{d.n_projects}</td>"
        f"<td>{d.n_indicators}</td><td>{d.mean_score:g}</td><td>{d.n_findings}</td><td>{d.n_高}</td>"
        f"<td>{esc(_s(d.top_problem))}</td></tr>" for d in report.departments.itertuples(index=False))
    worst = report.projects.sort_values("score").head(10)
    worst_rows = "".join(
        f"<tr><td>{esc(_s(p.project_name))}</td><td>{esc(_s(p.source))}</td><td>{p.score:g}</td>"
        f"<td>{esc(_s(p.grade))}</td><td>{esc(_s(p.categories_missing))}</td><td>{p.n_findings}</td></tr>"
        for p in worst.itertuples(index=False))
    failures = ""
    if len(report.failures):
        failures = "<h2>未能读取的文件</h2><ul>" + "".join(
            f"<li>{esc(s)}：{esc(e)}</li>" for s, e in zip(report.failures["source"], report.failures["error"])) + "</ul>"
    notes = "".join(f"<p class=note>注：{esc(n)}</p>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>绩效目标审核报告</title>
<style>
body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
th{{background:#eee}}.note{{color:#666}}.kpi span{{display:inline-block;margin-right:2em}}
</style></head><body>
<h1>绩效目标审核报告</h1>
<p class=kpi><span>文件 <b>{n_files}</b></span><span>项目 <b>{len(report.projects)}</b></span>
<span>指标 <b>{n_rows}</b></span><span>问题 <b>{len(f)}</b>（高 {sev['高']}，中 {sev['中']}，低 {sev['低']}）</span></p>
{notes}
<h2>各类问题数量</h2>
{chart}
<h2>部门汇总</h2>
<table><tr><th>来源文件</th><th>部门</th><th>项目数</th><th>指标数</th><th>平均得分</th><th>问题数</th><th>高</th><th>最多的问题</th></tr>
{dep_rows}</table>
<h2>得分最低的项目</h2>
<table><tr><th>项目名称</th><th>来源文件</th><th>得分</th><th>等级</th><th>缺少的指标类别</th><th>问题数</th></tr>
{worst_rows}</table>
{failures}
<p class=note>问题明细见同名 Excel 文件的“问题明细”工作表。</p>
</body></html>
"""
