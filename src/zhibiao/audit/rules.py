"""How the audit gets normalized rows: the trained Normalizer, or declared labels when there is none."""
from __future__ import annotations

import pandas as pd

from ..classify import OUTPUT_COLUMNS, Normalizer
from ..copies import as_text
from ..errors import ModelNotFound
from ..taxonomy import canonical_category, level1_of, state_judged
from ..taxonomy.groups import GROUP_OF, NUMBER_GROUPS
from ..values import parse_value


class RuleNormalizer:
    """Stand-in for :class:`zhibiao.Normalizer` when no trained model is available.

    The category is the declared one (so category_mismatch is never raised), no
    canonical type is matched (so unmatched_indicator is never raised); values are
    parsed with the value grammar as usual.
    """

    fingerprint = "rules"

    def normalize(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        recs = []
        for l1, l2, value, name in zip(_col(df, "level1"), _col(df, "level2"), _col(df, "value"), _col(df, "level3")):
            declared = canonical_category(l2, l1) if (l2 or l1) else None
            pv = parse_value(value)
            flags = []
            if pv.kind == "empty":
                flags.append("missing_value")
            if pv.kind == "qualitative" and GROUP_OF.get(declared or "") in NUMBER_GROUPS and not state_judged(name):
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
        return df[name].map(as_text)
    return pd.Series([""] * len(df), index=df.index, dtype=object)


_NORMALIZE_MARKERS = ("category", "declared_category", "value_kind", "flags")


def normalized(rows: pd.DataFrame, normalizer, notes: list[str]) -> pd.DataFrame:
    """``rows`` with the normalize columns (as given when they already carry them); how it was
    done goes to ``notes``."""
    if all(c in rows.columns for c in _NORMALIZE_MARKERS):
        return rows
    if normalizer is None:
        try:
            normalizer = Normalizer.load()
        except ModelNotFound as exc:
            notes.append(f"未找到训练好的模型（{exc}），按申报的二级指标判断类别；"
                         "未检查“指标类别不符”和“未匹配标准指标”。")
            normalizer = RuleNormalizer()
    if isinstance(normalizer, RuleNormalizer) and not any("申报的二级指标" in n for n in notes):
        notes.append("未使用分类模型：按申报的二级指标判断类别；未检查“指标类别不符”和“未匹配标准指标”。")
    if isinstance(normalizer, Normalizer):  # the copy check runs below, with its evidence
        return normalizer.normalize(rows, context=False)
    return normalizer.normalize(rows)
