"""绩效自评 scoring (DESIGN §7): 实际完成值 against 年度指标值, by the rules of 财预〔2020〕10号.

Each row is judged on its own: the target and the actual are parsed by the value grammar
(:func:`zhibiao.values.parse_value`), compared in base units and by direction, and scored when a
weight (分值) is known. When the comparison is not sound the answer is 无法判断 and a flag says
why: a confident wrong score is worse than none. The rules, thresholds, words and flag messages are
in ``data/selfeval_rules.tsv``; a province's variant is a named section there or a file of its own.

    >>> j = judge("≥95%", "0.88", weight=8, deviation_reason="年底部分资金未支付")
    >>> (j.achieved, round(j.completion_rate, 4), round(j.score, 2), j.flags)
    ('部分达成', 0.9263, 7.41, ['actual_fraction_as_percent'])
    >>> j = judge("0次", "1次", level3="安全事故发生次数")
    >>> (j.achieved, j.completion_rate, j.flags)
    ('未达成', 0.0, ['reverse_indicator', 'missing_reason'])
    >>> judge("≥1个", "3", weight=15).flags
    ['actual_unit_assumed', 'over_target', 'missing_reason']
    >>> judge("健全", "较健全", weight=2).achieved, judge("健全", "较健全", weight=2).score
    ('部分达成', 1.4)
    >>> judge("≥20个", "已完成").achieved, judge("≥20个", "已完成").flags
    ('无法判断', ['actual_not_numeric'])
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .errors import ZhibiaoError
from .resources import data_file
from .text import normalize_chars
from .values import ParsedValue, parse_value

__all__ = ["selfeval", "selfeval_projects", "report_sheets", "summary", "as_json", "judge", "Judgement", "Rules", "load_rules", "RulesError",
           "ACHIEVED", "OUTPUT_COLUMNS", "PROJECT_COLUMNS"]

ACHIEVED = ("达成", "部分达成", "未达成", "无法判断")
MET, PARTIAL, NOT_MET, UNKNOWN = ACHIEVED
QUANT, QUAL, BUDGET = "定量", "定性", "预算执行率"
OUTPUT_COLUMNS = ["achieved", "completion_rate", "score", "score_min", "score_max", "scoring",
                  "selfeval_flags", "selfeval_messages"]
PROJECT_COLUMNS = ["project_id", "source", "project_name", "n_indicators", "n_judged", "n_unjudged",
                   "weight_total", "score_total", "score_total_min", "score_total_max", "score_pct",
                   "grade", "reported_total", "budget_execution_rate", "budget_score",
                   "n_over_target", "n_missing_reason", "n_score_mismatch", "project_flags"]
# rows-file columns for 预算执行情况 (全年预算数 / 全年执行数), in any of these spellings
BUDGET_TOTAL_COLUMNS = ("budget_total", "全年预算数", "budget_wan")
BUDGET_EXECUTED_COLUMNS = ("budget_executed", "全年执行数")


class RulesError(ZhibiaoError):
    """A rules file that cannot be read, or an unknown variant."""


# --------------------------------------------------------------------------- rules

@dataclass
class Rules:
    """Everything of ``selfeval_rules.tsv`` for one variant."""
    values: dict[str, str]
    bands: dict[str, tuple[float, float, float]]
    grades: list[tuple[str, float]]
    words: dict[str, tuple[str, ...]]
    flags: dict[str, tuple[str, str]]          # code → (severity, message)
    variant: str = ""
    labels: dict[str, str] = field(default_factory=dict)   # column → Chinese heading of the report

    def num(self, key: str) -> float:
        return float(self.values[key])

    def message(self, code: str) -> str:
        return self.flags.get(code, ("", code))[1]


def _read_records(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read the rules file ({type(exc).__name__})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        if len(cols) < 3 or not cols[1]:
            raise RulesError(f"{path}:{n}: expected 'kind<TAB>key<TAB>value', got {line.strip()[:60]!r}")
        out.append(cols + [str(n)])
    return out


@lru_cache(maxsize=16)
def _load(paths: tuple[str, ...], variant: str, _stamp: tuple = ()) -> Rules:   # _stamp: files' mtimes
    values, bands, grades, words, flags, labels = {}, {}, {}, {}, {}, {}
    variants = {""}
    for p in paths:
        for cols in _read_records(Path(p)):
            kind, _, var = cols[0].partition("@")
            variants.add(var)
            if var and var != variant:
                continue
            key, n = cols[1], cols[-1]
            try:
                if kind == "rule":
                    values[key] = cols[2]
                elif kind == "band":
                    bands[key] = (float(cols[2]), float(cols[3]), float(cols[4]))
                elif kind == "grade":
                    grades[key] = float(cols[2])
                elif kind == "word":
                    words[key] = tuple(w.strip() for w in normalize_chars(cols[2]).split("|") if w.strip())
                elif kind == "flag":
                    flags[key] = (cols[2], cols[3] if len(cols) > 4 else "")
                elif kind == "label":
                    labels[key] = cols[2]
                else:
                    raise RulesError(f"{p}:{n}: unknown record kind {kind!r} (rule, band, grade, word, flag, label)")
            except (IndexError, ValueError):
                raise RulesError(f"{p}:{n}: malformed {kind} record for {key!r}") from None
    if variant not in variants:
        raise RulesError(f"unknown rules variant {variant!r}; known: {', '.join(sorted(v for v in variants if v))}")
    missing = {"达成", "部分达成", "未达成"} - bands.keys()
    if missing:
        raise RulesError(f"rules define no band for {', '.join(sorted(missing))}")
    return Rules(values, bands, sorted(grades.items(), key=lambda kv: -kv[1]), words, flags, variant, labels)


def load_rules(rules: str | Path | Rules | None = None, variant: str | None = None) -> Rules:
    """The shipped rules, overlaid by ``rules`` (a file in the same syntax), for ``variant``."""
    if isinstance(rules, Rules):
        return rules
    paths = [str(data_file("selfeval_rules.tsv"))]
    if rules is not None:
        if not Path(rules).is_file():
            raise RulesError(f"{rules}: no such rules file")
        paths.append(str(Path(rules).resolve()))
    stamp = tuple(Path(p).stat().st_mtime_ns for p in paths)   # an edited rules file is read again
    return _load(tuple(paths), variant or "", stamp)


# --------------------------------------------------------------------------- judgement

@dataclass
class Judgement:
    achieved: str = UNKNOWN
    completion_rate: float | None = None
    scoring: str = ""                    # 定量 / 定性 / 预算执行率
    score: float | None = None
    score_min: float | None = None
    score_max: float | None = None
    flags: list[str] = field(default_factory=list)
    over: bool = False

    def flag(self, code: str) -> "Judgement":
        if code not in self.flags:
            self.flags.append(code)
        return self


def _clean(text) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    s = normalize_chars(str(text)).strip()
    s = re.sub(r"(\d{4}-\d{1,2}-\d{1,2})[ T]00:00(?::00)?$", r"\1", s)   # a spreadsheet date with its midnight
    return re.sub(r"[\s。；;，,、!！]+$", "", s)


_PLACEHOLDER = {"", "-", "--", "—", "——", "/", "*", "／", "\\", "无数据", "空", "null", "None", "nan", "NaN", "N/A", "n/a", "#N/A"}


def _none_is_no(pv):
    """无 / 暂无 in a 自评表 is a statement (nothing happened, none was set), where the value grammar,
    reading a target cell, says "no target" (empty): here it is the answer 否."""
    if pv.kind == "empty" and any(w.startswith("no-target") for w in pv.warnings):
        from dataclasses import replace
        return replace(pv, kind="boolean", boolean=False)
    return pv


def _number(text) -> float | None:
    """15, "15分", "15.0" → 15.0; anything else → None."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) else None
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*分?\s*", normalize_chars(str(text)))
    return float(m.group(1)) if m else None


def _has(words, text: str) -> bool:
    return any(w in text for w in words)


@dataclass
class _Q:
    """One quantity for comparison: its value, the unit it is in, and a prefix factor when the
    unit was written with 万/亿 (so a bare number beside it can be read either way)."""
    value: float
    unit: str | None
    written: float            # the number as written
    factor: float = 1.0       # written × factor = value
    op: str | None = None


def _quantity(pv: ParsedValue) -> _Q | None:
    if pv.number is None:
        return None
    if pv.base_value is not None and pv.base_unit:
        factor = pv.base_value / pv.number if pv.number else 1.0
        return _Q(pv.base_value, pv.base_unit, pv.number, factor, pv.op)
    if pv.unit in ("万", "亿", "千", "百万", "千万") and pv.base_value is not None:   # 5万: a count in 万
        return _Q(pv.base_value, None, pv.number, pv.base_value / pv.number if pv.number else 1.0, pv.op)
    return _Q(pv.number, pv.unit, pv.number, 1.0, pv.op)


def _part(number: float, unit: str | None, op: str | None) -> _Q | None:
    from .values import format_value
    return _quantity(parse_value(format_value(op, number, unit)))


def _plausible(ratio: float) -> bool:
    return 0.2 <= ratio <= 5


class _Judge:
    def __init__(self, rules: Rules):
        self.r = rules
        self.w = rules.words

    # ---- direction
    def reverse_name(self, level3: str, level2: str, level1: str) -> bool:
        name = _clean(level3)
        if _has(self.w.get("reverse_name", ()), name) and not _has(self.w.get("reverse_exempt", ()), name):
            return True
        from .taxonomy import canonical_category
        try:
            cat = canonical_category(level2 or None, level1 or None) or ""
        except Exception:  # noqa: BLE001 - a declared label we cannot read is no evidence
            cat = ""
        return "成本" in cat and not _has(self.w.get("reverse_exempt", ()), name)

    # ---- units: actual and target in one unit, or a flag
    def align(self, t: _Q, a: _Q, j: Judgement) -> tuple[float, float] | None:
        if t.unit and a.unit:
            if t.unit != a.unit:
                # 4次/年 against 4次, 190元/人/月 against 190元: one side leaves out the "per";
                # the same numerator compares. Two different "per"s (次/月 against 次/周) do not.
                t_num, _, t_per = t.unit.partition("/")
                a_num, _, a_per = a.unit.partition("/")
                if t_num == a_num and not (t_per and a_per):
                    j.flag("actual_unit_assumed" if t_per else "target_unit_assumed")
                    return t.value, a.value
                j.flag("unit_mismatch_actual")
                return None
            return t.value, a.value
        if t.unit and not a.unit:
            if t.unit == "%" and a.written <= self.r.num("fraction_max") < t.written:
                j.flag("actual_fraction_as_percent")
                return t.value, a.written * 100
            j.flag("actual_unit_assumed")
            return self._either(t.value, [a.written * t.factor, a.written], j, actual=True)
        if a.unit and not t.unit:
            j.flag("target_unit_assumed")
            if a.unit == "%" and t.written <= self.r.num("fraction_max") < a.written:
                return t.written * 100, a.value
            return self._either(a.value, [t.written * a.factor, t.written], j, actual=False)
        return t.value, a.value

    def _either(self, fixed: float, readings: list[float], j: Judgement, actual: bool):
        """A bare number beside 5万人 may be 5.2 (万人) or 52000 (人): take the reading that is
        plausible against the other side; when both or neither are, do not guess."""
        readings = list(dict.fromkeys(readings))
        if len(readings) == 1:
            other = readings[0]
        else:
            ok = [x for x in readings if fixed and x and _plausible(x / fixed)]
            if len(ok) != 1:
                j.flag("unit_mismatch_actual")
                return None
            other = ok[0]
        return (fixed, other) if actual else (other, fixed)

    # ---- numeric
    def numeric(self, t: _Q, a: _Q, j: Judgement, reverse: bool, target_text: str, actual_text: str):
        j.scoring = QUANT
        pair = self.align(t, a, j)
        if pair is None:
            return j
        tv, av = pair
        op = t.op
        if op in (">", "<"):
            j.flag("strict_bound")
            op = ">=" if op == ">" else "<="
        if op in ("<=",) or (op in (None, "=", "~") and (reverse or tv == 0)):
            reverse = True
        elif op == ">=":
            reverse = False
        if reverse:
            j.flag("reverse_indicator")
        if a.op:
            same = _clean(actual_text) == _clean(target_text) or (
                a.op == t.op and a.unit == t.unit and math.isclose(a.value, t.value))
            j.flag("actual_copies_target" if same else "actual_has_operator")
            # an actual written as a bound says something only in the target's direction
            if (a.op in (">=", ">") and reverse) or (a.op in ("<=", "<") and not reverse):
                j.scoring = ""
                return j
        eps = 1e-9 * max(abs(tv), 1.0)
        if tv < 0 or av < 0:
            j.scoring = ""
            j.flag("not_comparable_kinds")
            return j
        if reverse:
            met = av <= tv + eps
            rate = 1.0 if av == 0 else tv / av
        else:
            tol = self.r.num("approx_tolerance") if op == "~" else 0.0
            if op == "~":
                j.flag("approx_target")
            met = av >= tv * (1 - tol) - eps
            if tv == 0:
                rate = 1.0
            else:
                rate = av / tv
            if rate >= self.r.num("over_target_ratio") - 1e-12:
                j.over = True
        return self.quant_result(j, met, rate)

    def quant_result(self, j: Judgement, met: bool, rate: float):
        j.completion_rate = round(rate, 6)
        if met:
            j.achieved = MET
        elif rate >= self.r.num("quant_partial_min"):
            j.achieved = PARTIAL
        else:
            j.achieved = NOT_MET
        return j

    def range_(self, lo: _Q, hi: _Q, a: _Q, j: Judgement):
        j.scoring = QUANT
        j.flag("range_target")
        p1, p2 = self.align(lo, a, Judgement()), self.align(hi, a, j)
        if p1 is None or p2 is None:
            if p1 is None:
                j.flag("unit_mismatch_actual")
            j.scoring = ""
            return j
        (lv, av), (hv, _) = p1, p2
        lv, hv = min(lv, hv), max(lv, hv)
        if lv <= av <= hv:
            return self.quant_result(j, True, 1.0)
        rate = (av / lv if lv else 0.0) if av < lv else (hv / av if av else 1.0)
        return self.quant_result(j, False, rate)

    # ---- deadlines
    @staticmethod
    def _end(pv: ParsedValue) -> tuple[int | None, int, int] | None:
        if pv.date:
            y, m, d = map(int, pv.date.split("-"))
            return y, m, d
        if pv.month:
            return None, pv.month, 31
        if pv.quarter:
            return None, pv.quarter * 3, 31
        return None

    def deadline(self, tv: ParsedValue, av: ParsedValue, a_text: str, j: Judgement):
        j.scoring = QUAL
        if av.kind in ("deadline", "period"):
            te, ae = self._end(tv), self._end(av)
            if te is None or ae is None:
                j.flag("deadline_unclear")
                return j
            if te[0] is not None and ae[0] is not None:
                if ae[0] != te[0] and ae[0] > te[0]:
                    j.flag("year_mismatch")
                met = ae <= te
            else:
                met = ae[1:] <= te[1:]
            if met:
                j.achieved, j.completion_rate = MET, 1.0
            else:
                j.achieved = NOT_MET
            return j
        verdict = self.words_verdict(a_text)
        if verdict is None:
            j.flag("deadline_unclear" if av.kind in ("qualitative", "boolean", "empty") else "not_comparable_kinds")
            j.scoring = ""
            return j
        j.achieved = verdict
        if verdict == MET:
            j.completion_rate = 1.0
        return j

    # ---- words
    def complete_verdict(self, a: str) -> str | None:
        """已完成 / 按时发放 / 基本完成 / 未完成: words about how much of a task was done."""
        a = _plain(a)
        if a in self.w.get("complete", ()):
            return MET
        if a in self.w.get("not_achieved", ()) or a in self.w.get("partial", ()):
            return self.words_verdict(a)
        prefix = next((p for p in sorted(self.w.get("achieved_prefix", ()), key=len, reverse=True)
                       if a.startswith(p)), None)
        if prefix and a[len(prefix):] in self.w.get("complete_verb", ()):
            return MET
        return None

    def words_verdict(self, a: str) -> str | None:
        """A generic verdict from the actual alone: 已完成 / 基本完成 / 未完成 / 已建立 …"""
        if a in self.w.get("not_achieved", ()):
            return NOT_MET
        if a in self.w.get("partial", ()):
            return PARTIAL
        if a in self.w.get("achieved", ()):
            return MET
        prefix = next((p for p in sorted(self.w.get("achieved_prefix", ()), key=len, reverse=True)
                       if a.startswith(p)), None)
        if prefix and 1 <= len(a) - len(prefix) <= 6:
            rest = a[len(prefix):]
            if any(w in rest for w in self.w.get("failure", ())):
                return NOT_MET  # 已取消, 已暂停
            if not any(w in rest for w in self.w.get("partial_prefix", ()) + self.w.get("negation_prefix", ())):
                return MET      # 已建立, 已印发, 均已发放
        return None

    @staticmethod
    def op_verdict(t: str, a: str) -> str | None:
        """不低于上年度水平 against 高于上年度水平: both phrases carry a comparator."""
        t_op, a_op = parse_value(t).op, parse_value(a).op
        if t_op in (">=", ">") and a_op in (">=", ">", "="):
            return MET if a_op != "=" or t_op == ">=" else PARTIAL
        if t_op in ("<=", "<") and a_op in ("<=", "<", "="):
            return MET if a_op != "=" or t_op == "<=" else PARTIAL
        if t_op and a_op and t_op[0] != a_op[0] and "=" not in (a_op,):
            return NOT_MET
        return None

    def _strip_intensity(self, s: str) -> tuple[str, str]:
        """(stem, strength) of a direction phrase: 明显提升 → (提升, strong)."""
        for kind in ("strong_intensity", "weak_intensity"):
            for w in sorted(self.w.get(kind, ()), key=len, reverse=True):
                if s.startswith(w) and len(s) > len(w):
                    return s[len(w):], kind
        return s, ""

    def qualitative(self, t: str, a: str, t_negative: bool, j: Judgement):
        j.scoring = QUAL
        if t_negative:   # 无 / 未发生 / 否: nothing bad should happen
            av = parse_value(a)
            if a in self.w.get("zero", ()) or a == t or (av.kind == "numeric" and av.number == 0):
                j.achieved = MET
            elif a in ("有", "是", "发生", "存在") or av.kind == "numeric" and (av.number or 0) > 0:
                j.achieved = NOT_MET
            else:
                j.flag("qualitative_unclear")
                j.scoring = ""
            return j
        if a == t:
            j.achieved = MET
            return j
        verdict = self.stem_verdict(t, a)
        if verdict is None:
            verdict = self.words_verdict(a)
        if verdict is None and a in self.w.get("zero", ()):
            verdict = NOT_MET          # 健全 against 无
        if verdict is None:
            verdict = self.op_verdict(t, a)
        if verdict is None:
            verdict = self.state_verdict(t, a)
        if verdict is None:
            a_stem, _ = self._strip_intensity(a)
            pos = self.w.get("positive_state", ())
            if a_stem in pos and (self._strip_intensity(t)[0] in pos or t in pos or t.endswith(a_stem)):
                verdict = MET          # 完善 against 健全; 稳定 against 保持稳定
        if verdict is None:
            j.flag("qualitative_unclear")
            j.scoring = ""
            return j
        j.achieved = verdict
        return j

    def stem_verdict(self, t: str, a: str) -> str | None:
        """较健全 / 基本健全 against 健全 → 部分达成; 不健全 → 未达成; 资金使用合规 → 达成."""
        t_stem, t_strength = self._strip_intensity(t)
        a_stem, a_strength = self._strip_intensity(a)
        if t_stem and t_stem == a_stem:
            if t_strength == "strong_intensity" and a_strength == "weak_intensity":
                return PARTIAL
            return MET
        for stem in dict.fromkeys((t, t_stem)):
            if not stem or stem not in a:
                continue
            before = a[:a.index(stem)]
            if any(before.endswith(p) for p in self.w.get("negation_prefix", ())):
                return NOT_MET
            if any(before.endswith(p) for p in self.w.get("partial_prefix", ())):
                return PARTIAL
            rest = a[a.index(stem) + len(stem):].strip()
            if not rest:
                return MET  # 资金使用合规 ends with 合规
            if rest in self.w.get("positive_state", ()) or rest in self.w.get("achieved", ()):
                return MET  # 长期 → 长期有效
        return None

    def state_verdict(self, t: str, a: str) -> str | None:
        """制度健全 against 制度较健全, 保持稳定 against 就业局势总体稳定: the actual ends with a
        state word the target uses; what stands just before it (较, 不) decides."""
        for w in sorted(self.w.get("positive_state", ()), key=len, reverse=True):
            if a.endswith(w) and w in t:
                before = a[:-len(w)]
                if any(before.endswith(p) for p in self.w.get("negation_prefix", ())):
                    return NOT_MET
                if any(before.endswith(p) for p in self.w.get("partial_prefix", ())):
                    return PARTIAL
                return MET
        return None

    def boolean(self, tv: ParsedValue, av: ParsedValue, a: str, j: Judgement):
        j.scoring = QUAL
        if av.kind == "boolean":
            j.achieved = MET if av.boolean == tv.boolean else NOT_MET
            return j
        if tv.boolean is False:
            return self.qualitative("否", a, True, j)
        verdict = self.words_verdict(a)
        if verdict is None:
            j.flag("not_comparable_kinds" if av.kind != "qualitative" else "qualitative_unclear")
            j.scoring = ""
            return j
        j.achieved = verdict
        return j

    # ---- one row
    def judge(self, target, actual, level3="", level2="", level1="", year=None) -> Judgement:
        j = Judgement()
        t_text, a_text = _clean(target), _clean(actual)
        if t_text in _PLACEHOLDER:
            return j.flag("missing_target")
        if a_text in _PLACEHOLDER:
            return j.flag("missing_actual")
        tv, av = _none_is_no(parse_value(t_text, year)), _none_is_no(parse_value(a_text, year))
        if tv.kind == "empty":
            return j.flag("missing_target")
        if av.kind == "empty":
            return j.flag("missing_actual")
        reverse = self.reverse_name(level3, level2, level1)
        if tv.kind == "numeric":
            t = _quantity(tv)
            if av.kind == "numeric":
                return self.numeric(t, _quantity(av), j, reverse, t_text, a_text)
            if av.kind in ("qualitative", "boolean") and t.value == 0 and (
                    a_text in self.w.get("zero", ()) or av.boolean is False):
                j.scoring = QUANT
                j.flag("reverse_indicator")
                return self.quant_result(j, True, 1.0)   # 0次 against 无 / 未发生
            if av.kind == "multi":
                return j.flag("multi_parts_differ")
            if (av.kind in ("qualitative", "boolean") and t.unit == "%" and t.value == 100
                    and t.op in (None, "=", ">=") and not reverse):
                verdict = self.complete_verdict(a_text)
                if verdict is not None:   # 任务完成率 100% against 已完成: all of it is 100 %
                    j.scoring = QUANT
                    j.flag("actual_words_for_full")
                    j.achieved, j.completion_rate = verdict, (1.0 if verdict == MET else None)
                    return j
            return j.flag("actual_not_numeric" if av.kind in ("qualitative", "boolean") else "not_comparable_kinds")
        if tv.kind == "multi":
            return self.multi(tv, av, t_text, j, reverse)
        if tv.kind in ("deadline", "period"):
            return self.deadline(tv, av, a_text, j)
        if tv.kind == "boolean":
            return self.boolean(tv, av, a_text, j)
        # qualitative target
        t_negative = t_text in self.w.get("zero", ()) or bool(re.match(r"^(无|零|未发生|杜绝|不发生|没有)", t_text))
        if t_negative and av.kind == "numeric" and av.number is not None:
            j.scoring = QUANT     # 零 / 无 against 0起: a 0 target written in words
            j.flag("reverse_indicator")
            return self.quant_result(j, av.number == 0, 1.0 if av.number == 0 else 0.0)
        if av.kind in ("numeric", "multi") and not t_negative:
            return j.flag("target_not_numeric")
        if av.kind in ("deadline", "period"):
            return j.flag("not_comparable_kinds")
        return self.qualitative(_plain(t_text), _plain(a_text), t_negative, j)

    def multi(self, tv: ParsedValue, av: ParsedValue, t_text: str, j: Judgement, reverse: bool):
        parts = tv.numbers
        is_range = (len(parts) == 2 and not any(p.label for p in parts)
                    and re.search(r"\d\s*[%‰]?\s*[^\d、;,，；]{0,3}(-|~|至|到|—)", t_text) is not None)
        if is_range:
            if av.kind != "numeric":
                return j.flag("actual_not_numeric" if av.kind in ("qualitative", "boolean") else "multi_parts_differ")
            lo, hi = (_part(p.number, p.unit, None) for p in parts)
            return self.range_(lo, hi, _quantity(av), j)
        if av.kind != "multi" or len(av.numbers) != len(parts):
            return j.flag("actual_not_numeric" if av.kind in ("qualitative", "boolean") else "multi_parts_differ")
        j.flag("multi_part")
        results = []
        for tp, ap in zip(parts, av.numbers):
            sub = Judgement()
            self.numeric(_part(tp.number, tp.unit, tv.op), _part(ap.number, ap.unit, None), sub, reverse,
                         "", "x")
            results.append(sub)
            for f in sub.flags:
                j.flag(f)
        if any(r.achieved == UNKNOWN for r in results):
            j.scoring = ""
            return j
        j.scoring = QUANT
        order = {MET: 0, PARTIAL: 1, NOT_MET: 2}
        j.achieved = max((r.achieved for r in results), key=order.__getitem__)
        j.completion_rate = min(r.completion_rate for r in results)
        j.over = any(r.over for r in results)
        return j


def _plain(s: str) -> str:
    return re.sub(r"[\s\"'“”‘’()（）【】\[\]]", "", s)


# --------------------------------------------------------------------------- scoring

def _score(j: Judgement, weight: float | None, rules: Rules, budget: bool, target_number: float | None,
           execution: float | None) -> None:
    if weight is None or j.achieved == UNKNOWN:
        return
    if budget:
        j.scoring = BUDGET
        method = rules.values.get("budget_method", "proportional")
        if method == "step" and execution is not None:
            full = target_number / 100 if target_number else rules.num("budget_full_rate")
            short = max(0.0, full - execution)
            steps = math.ceil(round(short / rules.num("budget_step_rate"), 9))
            s = max(0.0, weight - steps * rules.num("budget_step_points"))
            j.score = j.score_min = j.score_max = round(s, 4)
            return
        if target_number is None and execution is not None:
            s = weight * min(execution, 1.0)
            j.score = j.score_min = j.score_max = round(s, 4)
            return
    if j.scoring == QUAL:
        low, high, point = rules.bands[j.achieved]
        j.score, j.score_min, j.score_max = (round(weight * x, 4) for x in (point, low, high))
        return
    # 定量 (and a 预算执行率 row with a target, under the proportional rule)
    if j.achieved == MET:
        s = weight * rules.num("quant_met_fraction")
        j.score = j.score_max = round(s, 4)
        j.score_min = round(weight * rules.num("over_target_score_floor"), 4) if j.over else j.score
    else:
        s = weight * min(max(j.completion_rate or 0.0, 0.0), 1.0)
        j.score = j.score_min = j.score_max = round(s, 4)


def _execution_rate(actual: str) -> float | None:
    pv = parse_value(_clean(actual))
    if pv.kind != "numeric" or pv.number is None:
        return None
    if pv.unit == "%":
        return pv.number / 100
    if pv.unit is None:
        return pv.number if pv.number <= 1.0 else pv.number / 100
    return None


def judge(target, actual, *, level3: str = "", level2: str = "", level1: str = "", year: int | None = None,
          weight=None, reported_score=None, deviation_reason=None,
          rules: str | Path | Rules | None = None, variant: str | None = None) -> Judgement:
    """Judge one indicator: target (年度指标值) against actual (实际完成值), scored when a weight is known."""
    r = load_rules(rules, variant)
    j = _Judge(r).judge(target, actual, level3, level2, level1, year)
    budget = _has(r.words.get("budget_execution", ()), _clean(level3))
    w = _number(weight)
    if w is None and _clean(weight) not in _PLACEHOLDER:
        j.flag("weight_not_numeric")
    execution = None
    if budget:
        j.flag("budget_execution")
        execution = _execution_rate(actual)
        if j.achieved == UNKNOWN and execution is not None and _clean(target) in _PLACEHOLDER:
            # the 10号 form's 预算执行率 has no target: 执行率 itself is the completion
            j.flags = [f for f in j.flags if f != "missing_target"]
            j.scoring = QUANT
            _Judge(r).quant_result(j, execution >= 1.0 - 1e-9, execution)
    if j.achieved == UNKNOWN:
        j.scoring = ""            # no rule applies to a row we could not judge
    tnum = parse_value(_clean(target)).number if budget else None
    _score(j, w, r, budget, tnum, execution)
    if budget and j.achieved != UNKNOWN:
        j.scoring = BUDGET
    if j.over and j.achieved == MET:
        j.flag("over_target")
    reason = _clean(deviation_reason)
    if (j.achieved in (PARTIAL, NOT_MET) or "over_target" in j.flags) and reason in _PLACEHOLDER | {"无"}:
        j.flag("missing_reason")
    reported = _number(reported_score)
    if reported is not None and j.score is not None:
        # 定量 scores are rounded in the tables (8.8 → 9); a band's edges are the rule itself
        tol = r.num("score_tolerance") if j.scoring != QUAL else 0.01
        if not (j.score_min - tol <= reported <= j.score_max + tol):
            j.flag("score_mismatch")
    return j


# --------------------------------------------------------------------------- tables

def _col(df: pd.DataFrame, *names: str) -> pd.Series:
    for n in names:
        if n in df.columns:
            return df[n]
    return pd.Series([""] * len(df), index=df.index, dtype=object)


def _year(v) -> int | None:
    n = _number(v)
    return int(n) if n is not None and 1990 <= n <= 2100 else None


def _target_series(df: pd.DataFrame) -> pd.Series:
    """`value`, or the recombined 符号/值/单位 columns when `value` is empty."""
    value = _col(df, "value").fillna("").astype(str)
    if not {"value_op_raw", "value_number_raw"} & set(df.columns):
        return value
    from .values import recombine_split
    split = [recombine_split(o, n, u) if not v.strip() and (str(n).strip() or str(o).strip()) else v
             for v, o, n, u in zip(value, _col(df, "value_op_raw").fillna(""),
                                   _col(df, "value_number_raw").fillna(""), _col(df, "value_unit_raw").fillna(""))]
    return pd.Series(split, index=df.index)


def _as_frame(df) -> pd.DataFrame:
    if isinstance(df, pd.DataFrame):
        return df
    from .ingest import extract
    return extract(df)


def selfeval(df, rules: str | Path | Rules | None = None, variant: str | None = None) -> pd.DataFrame:
    """Score a 绩效自评表: rows with ``level3``, ``value`` and ``actual_value`` (documents are
    extracted first). Returns a copy with :data:`OUTPUT_COLUMNS` added; no row is dropped.

    Optional columns: ``weight`` (分值), ``reported_score`` (表内得分), ``deviation_reason``
    (偏差原因), ``level1``, ``level2``, ``year``, the split ``value_op_raw``/``value_number_raw``/
    ``value_unit_raw``; ``set_target`` (the target the 绩效目标表 set, e.g. found in the corpus
    store, with ``set_target_source``): a row without its own target is judged against it
    (``target_as_set``), and one whose target differs from it is flagged ``target_changed``.
    """
    df = _as_frame(df)
    if "level3" not in df.columns:
        raise RulesError("selfeval needs a level3 column (三级指标)")
    r = load_rules(rules, variant)
    out = df.copy()
    targets = _target_series(df)
    cols = [_col(df, c) for c in ("actual_value", "level3", "level2", "level1", "year", "weight",
                                  "reported_score", "deviation_reason", "set_target")]
    results = []
    for t, a, l3, l2, l1, y, w, rs, dr, st in zip(targets, *cols):
        own, as_set = _clean(t) not in _PLACEHOLDER, _clean(st) not in _PLACEHOLDER
        try:
            j = judge(t if own or not as_set else st, a, level3=_clean(l3), level2=_clean(l2), level1=_clean(l1),
                      year=_year(y), weight=w, reported_score=rs, deviation_reason=dr, rules=r)
        except RulesError:
            raise
        except Exception:  # noqa: BLE001 - a row we cannot judge is kept and says so
            j = Judgement(flags=["qualitative_unclear"])
        if as_set and not own:
            j.flag("target_as_set")
        elif as_set and not same_target(t, st):
            j.flag("target_changed")
        results.append(j)
    out["achieved"] = [j.achieved for j in results]
    out["completion_rate"] = pd.array([j.completion_rate for j in results], dtype="Float64").astype(float)
    for c in ("score", "score_min", "score_max"):
        out[c] = pd.array([getattr(j, c) for j in results], dtype="Float64").astype(float)
    out["scoring"] = [j.scoring for j in results]
    out["selfeval_flags"] = [";".join(j.flags) for j in results]
    out["selfeval_messages"] = ["；".join(r.message(f) for f in j.flags) for j in results]
    return out


def same_target(a, b) -> bool:
    """Two spellings of one target: equal after normalisation, or the same operator and number in
    the same base unit (≥95% and 95%以上).

    >>> same_target("≥95%", "95%以上"), same_target("≥95%", "≥90%"), same_target("健全", "健全 ")
    (True, False, True)
    """
    x, y = _clean(a), _clean(b)
    if x == y:
        return True
    px, py = parse_value(x), parse_value(y)
    return (px.kind == py.kind == "numeric" and (px.op or "=") == (py.op or "=") and px.base_unit == py.base_unit
            and px.base_value is not None and px.base_value == py.base_value)


def _project_keys(df: pd.DataFrame) -> pd.Series:
    """project_id; else source#project_name; else one project for the rows that have neither."""
    text = lambda c: _col(df, c).map(_clean)
    pid, source, name = text("project_id"), text("source"), text("project_name")
    fallback = (source + "#" + name).where((source != "") | (name != ""), "#1")
    return pid.where(pid != "", fallback)


def _first(s: pd.Series):
    for v in s:
        if _clean(v) not in _PLACEHOLDER:
            return v
    return None


def _grade(pct: float, rules: Rules) -> str:
    for name, minimum in rules.grades:
        if pct >= minimum - 1e-9:
            return name
    return rules.grades[-1][0] if rules.grades else ""


def selfeval_projects(scored: pd.DataFrame, rules: str | Path | Rules | None = None,
                      variant: str | None = None) -> pd.DataFrame:
    """Project totals and grade from :func:`selfeval` rows (scored first if they are not).

    The total counts each judged row's score (a 定性 row at its band's point); ``score_total_min``/
    ``max`` span the bands, and a row 无法判断 adds 0 to the min and its full weight to the max.
    With every row judged the grade is that of the total (``grade_depends_on_bands`` when the band
    span crosses a cut-off); with rows unjudged a grade is given only when both ends agree. A project
    with 全年预算数/全年执行数 columns and no 预算执行率 row gets the budget rule's score added.
    """
    r = load_rules(rules, variant)
    if "achieved" not in scored.columns:
        scored = selfeval(scored, r)
    keys = _project_keys(scored)
    weights = _col(scored, "weight").map(_number)
    reported = _col(scored, "reported_score").map(_number)
    budget_rows = scored["level3"].map(lambda s: _has(r.words.get("budget_execution", ()), _clean(s)))
    has_cost = scored.apply(lambda row: _is_cost(row), axis=1) if len(scored) else pd.Series(dtype=bool)
    records = []
    for key, idx in scored.groupby(keys, sort=False).groups.items():
        g = scored.loc[idx]
        w = weights.loc[idx]
        flags = g["selfeval_flags"].fillna("").astype(str)
        judged = g["achieved"] != UNKNOWN
        scored_w = w.notna()
        total = float(g["score"].where(judged & scored_w).sum(skipna=True))
        total_min = float(g["score_min"].where(judged & scored_w).sum(skipna=True))
        total_max = float(g["score_max"].where(judged & scored_w).sum(skipna=True) + w.where(~judged).sum(skipna=True))
        weight_total = float(w.sum(skipna=True))
        project_flags = []
        rate = budget_score = None
        b_total = _number(_first(_col(g, *BUDGET_TOTAL_COLUMNS)))
        b_exec = _number(_first(_col(g, *BUDGET_EXECUTED_COLUMNS)))
        if b_total and b_exec is not None:
            rate = b_exec / b_total
            if not budget_rows.loc[idx].any():
                bw = r.num("budget_weight")
                j = Judgement(achieved=MET if rate >= 1 - 1e-9 else PARTIAL, completion_rate=rate, scoring=QUANT)
                _score(j, bw, r, True, None, rate)
                budget_score = j.score
                total, total_min, total_max = total + j.score, total_min + j.score, total_max + j.score
                weight_total += bw
        if not has_cost.loc[idx].any() and (deduct := r.num("no_cost_indicator_deduct")):
            project_flags.append("no_cost_indicator")
            total, total_min, total_max = (max(0.0, x - deduct) for x in (total, total_min, total_max))
        pct = grade = None
        if weight_total > 0:
            pct = round(total / weight_total * 100, 2)
            lo, hi = _grade(total_min / weight_total * 100, r), _grade(total_max / weight_total * 100, r)
            if (~judged).any():
                # unjudged rows could go either way: a grade only when both ends agree
                grade = lo if lo == hi else ""
                if lo != hi:
                    project_flags.append("grade_uncertain")
            else:
                grade = _grade(pct, r)
                if lo != hi:
                    project_flags.append("grade_depends_on_bands")
        if (~judged).any():
            project_flags.append("rows_unjudged")
        if w.isna().any() and weight_total > 0:
            project_flags.append("weights_missing")
        rep = reported.loc[idx]
        records.append({
            "project_id": _first(_col(g, "project_id")) or key, "source": _first(_col(g, "source")) or "", "project_name": _first(_col(g, "project_name")) or "",
            "n_indicators": len(g), "n_judged": int(judged.sum()), "n_unjudged": int((~judged).sum()),
            "weight_total": weight_total if weight_total else None,
            "score_total": round(total, 4) if weight_total else None,
            "score_total_min": round(total_min, 4) if weight_total else None,
            "score_total_max": round(total_max, 4) if weight_total else None,
            "score_pct": pct, "grade": grade or "",
            "reported_total": float(rep.sum()) if rep.notna().any() else None,
            "budget_execution_rate": round(rate, 6) if rate is not None else None, "budget_score": budget_score,
            "n_over_target": int(flags.str.contains("over_target").sum()),
            "n_missing_reason": int(flags.str.contains("missing_reason").sum()),
            "n_score_mismatch": int(flags.str.contains("score_mismatch").sum()),
            "project_flags": ";".join(project_flags)})
    return pd.DataFrame(records, columns=PROJECT_COLUMNS)


def summary(scored: pd.DataFrame, projects: pd.DataFrame) -> list[str]:
    """Lines for a console or a demo: the verdict counts, then each scored project's total and grade.

    >>> rows = selfeval(pd.DataFrame({"level3": ["培训人数"], "value": ["≥500人"], "actual_value": ["520人"],
    ...                                "weight": [100]}))
    >>> summary(rows, selfeval_projects(rows))
    ['1 indicators in 1 projects: 达成 1，部分达成 0，未达成 0，无法判断 0; over_target 0', '#1: 100.00 / 100 优']
    """
    counts = scored["achieved"].value_counts() if len(scored) else {}
    flags = scored["selfeval_flags"].fillna("").astype(str) if len(scored) else pd.Series(dtype=str)
    lines = [f"{len(scored)} indicators in {len(projects)} projects: "
             + "，".join(f"{k} {int(counts.get(k, 0))}" for k in ACHIEVED)
             + f"; over_target {int(flags.str.contains('over_target').sum())}"]
    for p in projects.itertuples():
        if p.score_total is not None and p.score_total == p.score_total:
            name = p.project_name or p.project_id
            lines.append(f"{name}: {p.score_total:.2f} / {p.weight_total:g} {p.grade}".rstrip())
    return lines


def as_json(scored: pd.DataFrame, projects: pd.DataFrame) -> dict:
    """``{"rows": [...], "projects": [...]}`` with NaN as null: the body of ``POST /selfeval``, so
    the service answers exactly what the CLI writes."""
    from .tables import cell_value

    def records(df: pd.DataFrame) -> list[dict]:
        return [{k: cell_value(v) for k, v in zip(df.columns, row)} for row in df.itertuples(index=False, name=None)]
    return {"rows": records(scored), "projects": records(projects)}


_SEVERITY_ORDER = ("高", "中", "低", "提示")


def report_sheets(scored: pd.DataFrame, projects: pd.DataFrame | None = None,
                  rules: str | Path | Rules | None = None, variant: str | None = None) -> dict[str, pd.DataFrame]:
    """The 自评 sheets of a review report, headed in Chinese: ``{"自评": rows, "自评汇总": projects}``.

    Each row carries its most severe flag's level (问题级别) so a reviewer can sort on it; the
    headings are the ``label`` records of the rules file.
    """
    r = load_rules(rules, variant)
    if "achieved" not in scored.columns:
        scored = selfeval(scored, r)
    if projects is None:
        projects = selfeval_projects(scored, r)
    rows = scored.copy()

    def worst(flags: str) -> str:
        levels = [r.flags.get(f, ("", ""))[0] for f in str(flags or "").split(";") if f]
        return next((lv for lv in _SEVERITY_ORDER[:3] if lv in levels), "")

    rows["severity"] = rows["selfeval_flags"].map(worst)
    row_cols = [c for c in ("project_name", "location", "level1", "level2", "level3", "value", "actual_value",
                            "weight", "reported_score", "achieved", "completion_rate", "score", "score_min",
                            "score_max", "severity", "selfeval_messages", "deviation_reason", "selfeval_flags",
                            "source") if c in rows.columns]
    name = lambda c: r.labels.get(c, c)
    return {"自评": rows[row_cols].rename(columns=name),
            "自评汇总": projects.rename(columns=name)}


def _is_cost(row) -> bool:
    from .taxonomy import canonical_category
    try:
        cat = canonical_category(_clean(row.get("level2", "")) or None, _clean(row.get("level1", "")) or None) or ""
    except Exception:  # noqa: BLE001
        cat = ""
    return "成本" in cat or "成本" in _clean(row.get("level1", ""))


class _CallableModule(__import__("types").ModuleType):
    """``zhibiao.selfeval`` is this module once it is imported; calling it scores a table, so
    ``zhibiao.selfeval(df)`` (DESIGN §2) works whichever way the name was reached."""

    def __call__(self, *args, **kwargs):
        return selfeval(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
