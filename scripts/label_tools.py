"""Build, review and check training_data/labels.csv (one label per row of training_data/rows.csv).

    python scripts/label_tools.py build          # labels.csv from rows.csv + the reviewed decisions below
    python scripts/label_tools.py show [SOURCE]  # print rows with their labels, one line each, for review
    python scripts/label_tools.py check          # the same checks as tests/test_labels.py

How the labels were made
------------------------
1. ``indicator_id`` is pre-filled by exact match of the normalised ``level3`` against the names and
   aliases of training_data/indicator_library.csv.
2. Every row was then read by hand (level3, description, value, project).  The decisions are the
   ``REVIEW`` table below, keyed by (document prefix, location).  A decision may change the
   indicator_id, correct the category (with a reason) and mark ``template_copy``.
3. Rows of rows.csv that are not covered by an existing labels.csv row are written with
   ``reviewed=0``; tests/test_labels.py fails until somebody reviews them and sets ``reviewed=1``.

Labelling principles
--------------------
* ``declared_category`` is ``canonical_category(level2, level1)``: the declared label, cleaned, never
  judged.  ``category`` is the corrected canonical 二级.
* Correct only clear violations of the framework (DESIGN.md §1), and keep the declared category
  wherever it is defensible (minimal correction).  Clear violations are:
  - a count (人, 个, 户) filed under 质量/成本, or a rate/ratio (率, 比例, %) filed under 数量;
  - money (元, 万元, 元/月 standards) filed under 数量 → 成本指标;
  - timeliness (及时, 拖欠天数, 进度) filed under 成本/质量/效益 → 时效指标;
  - a completion rate with no time element (完成率 of a task) filed under 时效 → 质量指标;
  - a satisfaction survey filed elsewhere → 服务对象满意度指标, and a non-survey under 满意度;
  - an outcome (air quality, PM10, petitions going down, R&D intensity) filed as output 质量;
  - the wrong 效益 kind: traffic safety as 经济, public security as 生态, publicity as 经济,
    air quality / greening effects as 社会 → 生态效益指标.
* ``level3`` is the name of record.  When the description or value contradicts it (a 发放标准 with
  "≥90%", a 人数 with "≥5次"), the label follows the name and the contradiction is left to the
  audit flags (unit_mismatch).  Only when the name is ambiguous does the description decide.
* ``indicator_id`` and ``category`` describe what the row says, whatever the project.
  ``template_copy=1`` marks rows whose text was copied from an unrelated project (定州: 计划生育,
  公益电影, 科研结项, 外宣品 indicators under 党组织/绿化/危桥/伙食 projects).  A generic row that fits
  any project (群众满意度 "群众满意数量占总数的比例") is not a template copy.
"""
from __future__ import annotations

import argparse
import sys
import unicodedata
import re
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from zhibiao.taxonomy import CATEGORIES, alias_index, canonical_category, load_library  # noqa: E402

ROWS = ROOT / "training_data" / "rows.csv"
LABELS = ROOT / "training_data" / "labels.csv"
LABEL_COLUMNS = ["source", "location", "level3", "declared_category", "category", "indicator_id",
                 "reason", "template_copy", "reviewed"]

# ---------------------------------------------------------------------------------------------
# Reviewed decisions.  Keys: (first 3 characters of source, location).  Values: dict with any of
# id (indicator_id), cat (corrected category), why (reason), copy (template_copy=1).
# ---------------------------------------------------------------------------------------------
WHY = {
    "count_not_quality": "headcount/count of units is an output quantity, not a quality attribute → 数量指标",
    "rate_not_quantity": "a rate/ratio (%) is not a count of outputs: completion/coverage/pass rates are 质量指标",
    "standard_is_cost": "per-person subsidy standard in 元/月·年 is a cost standard, not a quantity → 成本指标",
    "money_is_cost": "a budget amount in 万元 is a cost, not a quantity → 成本指标",
    "activities_count": "名称为活动数量 (a count of activities), not a cost → 数量指标; the % value is a unit mismatch",
    "timely_handling": "及时办理 is about timeliness, not quality → 时效指标",
    "timely_payment": "timeliness of payment (及时支付/拖欠天数) → 时效指标, not 成本/效益",
    "pm_outcome": "air-pollutant concentration falling is an ecological outcome, not output quality → 生态效益指标",
    "air_outcome": "air-quality improvement is an ecological outcome → 生态效益指标",
    "greening_outcome": "greening/ecological-environment improvement is an ecological effect → 生态效益指标",
    "progress_is_time": "工程进度 (share of work done by a date) is a schedule measure → 时效指标, not a count",
    "traffic_social": "traffic safety / travel conditions are a social benefit, not an economic one → 社会效益指标",
    "security_social": "public security (治安) is a social benefit, not an ecological one → 社会效益指标",
    "survey_satisfaction": "measured as the share of residents satisfied (满意人数占比): a satisfaction survey → 服务对象满意度指标",
    "satisfaction_misfiled": "受益人口满意度 is a satisfaction survey filed under 生态效益 → 服务对象满意度指标",
    "not_survey": "conformity of plans to the 管委会's requirements is not a satisfaction survey → 质量指标",
    "qualitative_not_count": "qualitative conformity (满足) is not a count → 质量指标",
    "rd_outcome": "enterprises' R&D intensity rising is an economic effect, not output quality → 经济效益指标",
    "petition_outcome": "petition events going down is a social effect, not output quality → 社会效益指标",
    "completion_not_time": "a task completion rate with no time element is 质量指标, not 时效 (copy-pasted 公益电影/科研 indicator)",
    "publicity_social": "publicity-material usage rate is not an economic benefit → 社会效益指标 (copy-pasted 计划生育 indicator)",
    "beneficiaries_count": "受益人数 is a headcount, not a quality attribute → 数量指标",
    "eco_index": "ecological-environment index compliance is an ecological effect → 生态效益指标",
}

REVIEW: dict[tuple[str, str], dict] = {}


def _r(src: str, locs: str, **kw) -> None:
    for loc in locs.split():
        key = (src, loc)
        if key in REVIEW:
            REVIEW[key].update(kw)
        else:
            REVIEW[key] = dict(kw)


# 000 唐山高新区 ---------------------------------------------------------------------------------
_r("000", "L67", cat="数量指标", why=WHY["count_not_quality"])
_r("000", "L373", cat="质量指标", why=WHY["rate_not_quantity"])
_r("000", "L396", cat="数量指标", why=WHY["activities_count"])
_r("000", "L489", cat="时效指标", why=WHY["timely_handling"])
_r("000", "L820", cat="质量指标", why=WHY["rate_not_quantity"])
_r("000", "L829", cat="生态效益指标", why=WHY["pm_outcome"])
_r("000", "L927", id="timeliness.construction_progress", cat="时效指标", why=WHY["progress_is_time"])
_r("000", "L1034 L1253", cat="质量指标", why=WHY["rate_not_quantity"])
_r("000", "L1064", id="econ.business_environment")
_r("000", "L1283 L1707 L1812 L1919", cat="社会效益指标", why=WHY["traffic_social"])
_r("000", "L1570", id="quantity.pipeline_length")
_r("000", "L2643 L2733", id="satisfaction.beneficiary", cat="服务对象满意度指标", why=WHY["survey_satisfaction"])
_r("000", "L3220", cat="质量指标", why=WHY["rate_not_quantity"])
_r("000", "L3466 L3473 L3480 L3487 L3568 L3575 L3582 L3664 L3671", cat="成本指标", why=WHY["standard_is_cost"])
_r("000", "L4012", cat="经济效益指标", why=WHY["rd_outcome"])
_r("000", "L4224", id="quantity.tasks_completed")
_r("000", "L4469", id="satisfaction.beneficiary")
_r("000", "L4560", cat="时效指标", why=WHY["timely_payment"])
_r("000", "L4854", cat="生态效益指标", why=WHY["eco_index"])
_r("000", "L5156", id="eco.environment_improvement", copy=1)
_r("000", "L5231", id="quality.payment_completion_rate", cat="质量指标", why=WHY["rate_not_quantity"])
_r("000", "L5345", id="quantity.video_surveillance")
_r("000", "L5373", cat="社会效益指标", why=WHY["security_social"])
_r("000", "L5478", cat="质量指标", why=WHY["rate_not_quantity"])
_r("000", "L5494", cat="时效指标", why=WHY["timely_payment"])
_r("000", "L5501", id="timeliness.construction_progress")
_r("000", "L5578", cat="质量指标", why=WHY["qualitative_not_count"])
_r("000", "L5587", id="quality.acceptance_rate")
_r("000", "L5617", cat="质量指标", why=WHY["not_survey"])

# 001 街道办事处 ---------------------------------------------------------------------------------
_r("001", "L877", cat="质量指标", why=WHY["rate_not_quantity"])
_r("001", "L1172 L1268", id="satisfaction.beneficiary")

# 002 永清经开区 ---------------------------------------------------------------------------------
_r("002", "L419", cat="成本指标", why=WHY["money_is_cost"])
_r("002", "L426", cat="数量指标", why=WHY["count_not_quality"])
_r("002", "L1247", cat="生态效益指标", why=WHY["air_outcome"])
_r("002", "L1268 L1331 L2222", cat="生态效益指标", why=WHY["air_outcome"])
_r("002", "L1393 L1455", cat="生态效益指标", why=WHY["greening_outcome"])
_r("002", "L1561", cat="质量指标", why=WHY["rate_not_quantity"])
_r("002", "L1568", cat="社会效益指标", why=WHY["petition_outcome"])
_r("002", "L2194", id="quantity.tasks_completed")

# 004 定州西城区: indicators copy-pasted across unrelated projects --------------------------------
_FP_COPY = ("L81 L88 L95 L102 L161 L168 L227 L234 L241 L248 L255 L262 L314 L321 L380 L387 L637 L644 "
            "L703 L710 L717 L724 L731 L783 L790 L797 L804 L863 L870 L877 L936 L943 L1002 L1009 L1016 "
            "L1023 L1082 L1089 L1148 L1155 L1214 L1221")
_r("004", _FP_COPY, copy=1)
_r("004", "L161 L314 L710 L790 L870 L1009 L1082", cat="质量指标", why=WHY["completion_not_time"])
_r("004", "L95 L241 L321 L387 L644 L717 L797 L877 L943 L1016", cat="社会效益指标", why=WHY["publicity_social"])
_r("004", "L248", id="social.public_opinion")
_r("004", "L501", cat="数量指标", why=WHY["beneficiaries_count"])
_r("004", "L557", cat="服务对象满意度指标", why=WHY["satisfaction_misfiled"])


# ---------------------------------------------------------------------------------------------

def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", str(s))
    return re.sub(r"\s+", "", s)


def read_rows(path: Path = ROWS) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def read_labels(path: Path = LABELS) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def build(rows: pd.DataFrame, previous: pd.DataFrame | None = None, mark_reviewed: bool = False) -> pd.DataFrame:
    """Labels for every row.  A reviewed label in ``previous`` whose key and level3 still match is
    kept as is; any other row is pre-filled (aliases + REVIEW) with ``reviewed=0``, or ``1`` when
    ``mark_reviewed`` says the person running this has just read every pre-filled row."""
    aliases = {_norm(k): v for k, v in alias_index().items()}
    prev = {}
    if previous is not None:
        for rec in previous.to_dict("records"):
            prev[(rec["source"], rec["location"])] = rec
    out = []
    for r in rows.to_dict("records"):
        key = (r["source"], r["location"])
        declared = canonical_category(r["level2"], r["level1"]) or ""
        old = prev.get(key)
        if old is not None and old["level3"] == r["level3"] and old.get("reviewed") == "1":
            rec = {c: old.get(c, "") for c in LABEL_COLUMNS}
            rec["declared_category"] = declared
            out.append(rec)
            continue
        dec = REVIEW.get((r["source"][:3], r["location"]), {})
        iid = dec.get("id") or aliases.get(_norm(r["level3"]), "")
        cat = dec.get("cat") or declared
        out.append({
            "source": r["source"], "location": r["location"], "level3": r["level3"],
            "declared_category": declared, "category": cat, "indicator_id": iid,
            "reason": dec.get("why", "") if cat != declared else "",
            "template_copy": str(dec.get("copy", 0)),
            "reviewed": "1" if mark_reviewed else "0",
        })
    return pd.DataFrame(out, columns=LABEL_COLUMNS)


def check(rows: pd.DataFrame, labels: pd.DataFrame) -> list[str]:
    """Problems with labels against rows and the library (empty list = fine)."""
    problems: list[str] = []
    missing_cols = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing_cols:
        return [f"labels.csv lacks columns {missing_cols}"]
    dup = labels[labels.duplicated(["source", "location"], keep=False)]
    if len(dup):
        problems.append(f"{len(dup)} duplicated label keys, e.g. {dup.iloc[0][['source', 'location']].tolist()}")
    m = rows.merge(labels, on=["source", "location"], how="outer", suffixes=("_row", "_lab"), indicator=True)
    no_label = m[m["_merge"] == "left_only"]
    stale = m[m["_merge"] == "right_only"]
    if len(no_label):
        problems.append(f"{len(no_label)} rows of rows.csv have no label, e.g. "
                        f"{no_label.iloc[0][['source', 'location', 'level3_row']].tolist()}")
    if len(stale):
        problems.append(f"{len(stale)} labels match no row of rows.csv (keys shifted?), e.g. "
                        f"{stale.iloc[0][['source', 'location', 'level3_lab']].tolist()}")
    both = m[m["_merge"] == "both"]
    bad_l3 = both[both["level3_row"] != both["level3_lab"]]
    if len(bad_l3):
        problems.append(f"{len(bad_l3)} labels whose level3 differs from rows.csv (keys shifted?), e.g. "
                        f"{bad_l3.iloc[0][['source', 'location', 'level3_row', 'level3_lab']].tolist()}")
    ids = set(load_library()["indicator_id"])
    unknown = labels[~labels["indicator_id"].isin(ids)]
    if len(unknown):
        problems.append(f"{len(unknown)} labels with an indicator_id not in the library, e.g. "
                        f"{unknown.iloc[0][['location', 'level3', 'indicator_id']].tolist()}")
    for col in ("category", "declared_category"):
        bad = labels[~labels[col].isin(CATEGORIES)]
        if len(bad):
            problems.append(f"{len(bad)} labels with a {col} outside the framework, e.g. "
                            f"{bad.iloc[0][['location', col]].tolist()}")
    no_reason = labels[(labels["category"] != labels["declared_category"]) & (labels["reason"].str.strip() == "")]
    if len(no_reason):
        problems.append(f"{len(no_reason)} corrected categories without a reason, e.g. "
                        f"{no_reason.iloc[0][['location', 'level3']].tolist()}")
    bad_tc = labels[~labels["template_copy"].isin(["0", "1"])]
    if len(bad_tc):
        problems.append(f"{len(bad_tc)} template_copy values other than 0/1")
    unreviewed = labels[labels["reviewed"] != "1"]
    if len(unreviewed):
        problems.append(f"{len(unreviewed)} labels not reviewed by hand (reviewed != 1)")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--fresh", action="store_true", help="ignore the existing labels.csv")
    b.add_argument("--mark-reviewed", action="store_true",
                   help="set reviewed=1 on pre-filled rows (only after reading every one of them)")
    s = sub.add_parser("show")
    s.add_argument("source", nargs="?", default="")
    sub.add_parser("check")
    args = ap.parse_args(argv)
    rows = read_rows()
    if args.cmd == "build":
        prev = None if args.fresh or not LABELS.exists() else read_labels()
        labels = build(rows, prev, mark_reviewed=args.mark_reviewed)
        missing = labels[labels["indicator_id"] == ""]
        for rec in missing.to_dict("records"):
            print(f"no indicator_id: {rec['source'][:3]} {rec['location']} {rec['level3']}", file=sys.stderr)
        labels.to_csv(LABELS, index=False, encoding="utf-8-sig")
        print(f"wrote {len(labels)} labels to {LABELS}")
        return 1 if len(missing) else 0
    labels = read_labels()
    if args.cmd == "show":
        m = rows.merge(labels, on=["source", "location"], suffixes=("", "_lab"))
        if args.source:
            m = m[m["source"].str.startswith(args.source)]
        cur = None
        for rec in m.to_dict("records"):
            if rec["project_name"] != cur:
                cur = rec["project_name"]
                print(f"## {rec['source'][:3]} {cur}")
            flag = "" if rec["category"] == rec["declared_category"] else f" [{rec['declared_category']}→]"
            tc = " COPY" if rec["template_copy"] == "1" else ""
            print(f"{rec['location']}|{rec['level3']}|{rec['description'][:30]}|{rec['value'][:16]}"
                  f"|{rec['category']}{flag}|{rec['indicator_id']}{tc}")
        return 0
    problems = check(rows, labels)
    for p in problems:
        print("PROBLEM:", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
