"""The audit's problem codes: severities, labels and Chinese messages from ``data/audit_codes.tsv``."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..resources import data_file

CODES_FILE = "audit_codes.tsv"

SEVERITIES = ("高", "中", "低")
_NO_DEPARTMENT = "（未注明部门）"
_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}

FINDING_COLUMNS = ["department", "project_id", "project_name", "source", "location", "level3",
                   "value", "code", "label", "severity", "message", "suggestion"]

# Row codes in report order (also the per-project count columns).
CODE_ORDER = ["missing_category", "template_copy", "title_mismatch", "no_indicators",
              "category_mismatch", "unit_mismatch", "not_measurable", "missing_value",
              "implausible_value", "missing_core", "out_of_range", "cost_over_budget", "deadline_after_year",
              "target_below_last_year", "missing_unit", "weights_sum",
              "duplicate_indicator", "unmatched_indicator"]


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



def legend() -> list[dict]:
    """One line per code for the report's 说明 sheet."""
    return [{"问题代码": key, "问题类型": info.label, "严重程度": info.severity,
             "说明": re.sub(r"\{[a-z_0-9]+\}", "…", info.message)} for key, info in _codes().items()]
