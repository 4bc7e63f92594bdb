"""Document → projects and indicator rows. Format-independent.

Reading order is what matters: a title ("XX项目绩效目标表") or a 项目名称
cell opens a project; label cells (项目编码, 预算数, 项目资金主要用途, 绩效目标 …)
fill its metadata; a header row (三级指标 … 指标值 …) switches the rest of the
table to indicator rows, until a marker row (合计, 说明), a new project or the
end of the table. Labels and header spellings come from the data files (see
:mod:`zhibiao.ingest.vocab`).

A department (部门名称, 单位名称, 编制部门 … or, unlabelled, the organisation
beside a "单位：万元" note) stated in a project's head belongs to that project;
stated before the first project or after an indicator table it is the
document's, and every project without its own takes it. Nothing is guessed:
no statement, no department.

    >>> from .model import Cell, Document, Paragraph, Row, Table
    >>> def row(n, *texts): return Row([Cell(t, f"L{n}") for t in texts], f"L{n}")
    >>> doc = Document("d.txt", [Paragraph("甲项目绩效目标表", "L1"), Table([
    ...     row(2, "项目名称", "甲项目"),
    ...     row(3, "一级指标", "二级指标", "三级指标", "指标值"),
    ...     row(4, "产出指标", "数量指标", "道路长度", "≥2公里"),
    ...     row(5, "", "", "绿化面积", "1000平方米")])])
    >>> rows, projects = assemble(doc)
    >>> [(r["location"], r["level1"], r["level3"], r["value"], r["warnings"]) for r in rows]
    [('L4', '产出指标', '道路长度', '≥2公里', ''), ('L5', '产出指标', '绿化面积', '1000平方米', 'level1_filled_down;level2_filled_down')]
    >>> projects[0]["project_name"], projects[0]["n_indicators"]
    ('甲项目', 2)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import _values
from .model import Document, Paragraph, Row, Table
from .vocab import (clean, column_spellings, header_spellings, label_kinds, marker_headers, marker_set, markers,
                    norm_header, norm_label)

ROW_COLUMNS = ["source", "location", "project_id", "project_name", "table_title", "project_code",
               "department", "year", "budget_wan", "level1", "level2", "level3", "description",
               "value", "basis", "actual_value", "value_op_raw", "value_number_raw", "value_unit_raw",
               "warnings"]
# 绩效自评表 columns (分值, 得分, 偏差原因): in a row only when its table has them, after ROW_COLUMNS
SELFEVAL_COLUMNS = ["weight", "reported_score", "deviation_reason", "budget_total", "budget_executed"]
PROJECT_COLUMNS = ["project_id", "source", "project_name", "table_title", "project_code", "department",
                   "year", "budget_wan", "purpose", "goals", "n_indicators"]

SPLIT_COLUMNS = ("value_op", "value_number", "value_unit")

# Word-dump artefacts around titles: "[bookmark: _Toc1]", "{ TC … \f C \l 1 }", " TC … \f C \l 1".
_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_FIELD_CODE = re.compile(r"\{?\s*\bTC\s.*$")
# Leading numbering of a title: "1.", "12、", "(一)", "（四）".
_NUMBERING = re.compile(r"^\s*(?:\d+\s*[.、．]|[（(][一二三四五六七八九十\d]+[)）])\s*")
_YEAR_PREFIX = re.compile(r"^20\d\d\s*年度?")
_YEAR = re.compile(r"(20\d\d)\s*年")


def clean_title(text: str) -> str:
    """Drop Word bookmark and field-code residue.

        >>> clean_title("[bookmark: _Toc1]1.经开区编外人员资金绩效目标表{ TC 2、办公 \\\\f C \\\\l 1 }")
        '1.经开区编外人员资金绩效目标表'
    """
    return _FIELD_CODE.sub("", _BOOKMARK.sub("", text)).strip()


def name_from_title(title: str) -> str:
    """The project name a title implies: numbering and the 绩效目标表 suffix removed.

        >>> name_from_title("9村村民参加企业职工养老保险财政补贴项目绩效目标表")
        '9村村民参加企业职工养老保险财政补贴'
        >>> name_from_title("（四）部门整体支出绩效指标")
        '部门整体支出绩效指标'
    """
    name = _YEAR_PREFIX.sub("", _NUMBERING.sub("", title)).strip()
    for suffix in sorted(markers().get("title_suffix", []), key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)].strip()
    return name


def is_title(text: str) -> bool:
    key = norm_header(text)
    return len(key) <= 100 and any(key.endswith(s) for s in markers().get("title_suffix", []))


# ---------------------------------------------------------------- headers

def map_header(texts: list[str]) -> dict[str, int] | None:
    """Canonical column → index, or None if this is not an indicator header row.

        >>> map_header(["一级指标", "二级指标", "三级指标", "绩效指标描述", "指标值", "指标值确定依据"])
        {'level1': 0, 'level2': 1, 'level3': 2, 'value': 4, 'description': 3, 'basis': 5}
        >>> map_header(["指标类型", "指标名称", "指标\\n性质", "指标值", "计量\\n单位", "全年\\n完成值"])["value_number"]
        3
    """
    keys = [norm_header(t) for t in texts]
    if column_spellings("level3").isdisjoint(keys):
        return None   # the common case, a row of a table or of prose: no header without a 三级指标
    at: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        at.setdefault(k, []).append(i)
    found: dict[str, int] = {}
    for canonical, spellings in header_spellings():
        for spelling in spellings:
            idx = next((i for i in at.get(spelling, ()) if i not in found.values()), None)
            if idx is not None:
                found[canonical] = idx
                break
    if "level3" not in found or not ({"value", "value_op", "level1", "level2", "description"} & found.keys()):
        return None
    if ("value_op" in found or "value_unit" in found) and "value" in found:
        found["value_number"] = found.pop("value")  # 指标值 between 指标性质 and 计量单位 is the number
    return found


def merge_subheader(header: list[str], sub: list[str]) -> list[str] | None:
    """Header texts with a second header row (符号/值/单位 under a spanning 指标值) folded in.

    A dump flattens the span, so the first row has fewer cells; each run of
    filled sub-header cells takes the place of one header cell.

        >>> merge_subheader(["一级指标", "三级指标", "指标值", "依据"], ["", "", "符号", "值", "单位", ""])
        ['一级指标', '三级指标', '符号', '值', '单位', '依据']
    """
    keys = {norm_header(s) for s in sub if s.strip()}
    split_words = {sp for c, sps in header_spellings() if c in SPLIT_COLUMNS or c == "value" for sp in sps}
    if len(keys) < 2 or not keys <= split_words:
        return None
    if len(sub) == len(header):
        return [s if s.strip() else h for h, s in zip(header, sub)]
    merged, h, in_run = [], 0, False
    for s in sub:
        if s.strip():
            merged.append(s)
            if not in_run:
                h += 1
            in_run = True
        else:
            merged.append(header[h] if h < len(header) else "")
            h += 1
            in_run = False
    return merged


# ---------------------------------------------------------------- projects

@dataclass
class Project:
    table_title: str = ""
    project_name: str = ""
    project_code: str = ""
    department: str = ""
    budget_text: str = ""
    execution: dict = field(default_factory=dict)  # 自评表 预算执行情况: budget_total, budget_executed
    unit_hint: str = ""
    purpose: list[str] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    title_guessed: bool = False
    has_header: bool = False  # an indicator header was found, even if no indicator row follows
    title_after_table: bool = False
    doc_department: str = ""  # the document-level department in effect when the project opened

    def is_open(self) -> bool:
        """A title, a name or a code opened this project. Goals or purposes alone do not:
        the prose of a department overview ("绩效目标：…") lands in the first project too."""
        return bool(self.table_title or self.project_name or self.project_code)


class Assembler:
    def __init__(self, doc: Document):
        self.doc = doc
        self.projects: list[Project] = [Project()]
        self.colmap: dict[str, int] | None = None
        self.header_texts: list[str] = []
        self.expect_subheader = False
        self.last_prose = ""
        self.last_label = ""
        self.fill: dict[str, str] = {}
        self.doc_year = ""
        self.doc_department = ""        # the latest document-level department
        self.first_doc_department = ""  # for projects printed before the document names one
        self.department_column: int | None = None  # 单位名称 heads a column; the value is below
        self.execution_columns: dict[str, int] = {}  # 全年预算数/全年执行数 head columns; numbers below

    @property
    def project(self) -> Project:
        return self.projects[-1]

    def new_project(self, title: str = "") -> None:
        self.colmap, self.fill = None, {}
        if title and self._is_orphan_title(self.project) and len(self.projects) > 1:
            # Two titles in a row: the first one was printed after its own table.
            before = self.projects[-2]
            if before.rows and not before.table_title:
                before.table_title, before.title_after_table = self.project.table_title, True
            self.project.table_title = title
            return
        self.projects.append(Project(table_title=title, doc_department=self.doc_department))

    @staticmethod
    def _is_orphan_title(p: "Project") -> bool:
        return bool(p.table_title) and not (p.rows or p.project_name or p.project_code or p.goals or p.purpose)

    # -- prose
    def paragraph(self, para: Paragraph) -> None:
        text = clean_title(para.text)
        if not text:
            return
        if not self.doc_year and (m := _YEAR.search(text)):
            self.doc_year = m.group(1)
        if is_title(text):
            if name_from_title(text) in ("", "项目") and self.last_prose and not is_title(self.last_prose):
                text = self.last_prose + text  # title on two lines
            self.new_project(text)
        elif "：" in text.replace(":", "："):
            known = [self.label_value(segment) for segment in _label_segments(text)]  # every segment
            if any(known):
                text = ""  # a metadata line is not the first half of a title
        self.last_prose = text

    def label_value(self, text: str) -> bool:
        """'项目名称：XXX' in a paragraph or a cell; True if the label is known."""
        label, _, value = text.replace(":", "：").partition("：")
        kind = label_kinds().get(norm_label(label))
        if kind is None or kind == "skip":
            return False
        self.meta(kind, [value.strip()] if value.strip() else [], label=label)
        return True

    # -- metadata
    def meta(self, kind: str, values: list[str], label: str = "") -> None:
        p = self.project
        first = values[0] if values else ""
        if kind == "budget":
            # "预算数 | 700万元", but not "预算金额（万元） | 收入来源": a budget has digits
            first = next((v for v in values if any(ch.isdigit() for ch in v)), "")
            if first and not p.unit_hint and (note := _unit_note(label)):
                p.unit_hint = note
        if kind == "unit" and first and not _is_money_unit(first):
            # "单位：XX局" names the unit that reports, not a money unit
            if _looks_like_org(first):
                self.department(first)
            return
        if kind == "project_name":
            if p.rows or p.project_name:
                self.new_project()
                p = self.project
            p.project_name = first
        elif kind == "project_code" and not _is_blank(first):
            p.project_code = first
        elif kind == "budget" and first and not p.budget_text:
            p.budget_text = first
        elif kind == "purpose" and values:
            p.purpose.append(" ".join(values))
        elif kind == "goals" and values:
            p.goals.append(" ".join(values))
        elif kind == "department" and first:
            self.department(first)
        elif kind == "unit" and first:
            p.unit_hint = first

    def department(self, value: str) -> None:
        """A department the document states. Inside a project's head (after its title
        or name, before its indicators) it is the project's; before the first project
        or after an indicator table it is the document's."""
        if not _is_department(value):
            return
        p = self.project
        if p.is_open() and not p.rows:
            p.department = p.department or value
            return
        self.doc_department = value
        self.first_doc_department = self.first_doc_department or value
        if not p.rows:
            p.doc_department = value

    def column_department(self, row: Row) -> bool:
        """The value row under a 单位名称 column label; True if the row was used."""
        col, self.department_column = self.department_column, None
        texts = [clean(c.text) for c in row.cells]
        if any(label_kinds().get(norm_label(t)) for t in texts if t):
            return False
        if col < len(texts) and texts[col]:
            self.department(texts[col])
        return True

    def unlabelled_department(self, texts: list[str]) -> None:
        """"917003西城区政府办公室 | 单位：万元": the cell beside a table's money-unit note."""
        filled = [t for t in texts if t]
        if len(filled) != 2:
            return
        notes = [t for t in filled if _unit_declaration(t)]
        if len(notes) != 1:
            return
        other = next(t for t in filled if t != notes[0])
        if ("：" not in other.replace(":", "：") and label_kinds().get(norm_label(other)) is None
                and _looks_like_org(other)):
            self.department(other)

    def execution_row(self, row: Row) -> None:
        """自评表 预算执行情况: a row of 全年预算数 / 全年执行数 column labels, the amounts in the
        first row below that has them (财预〔2020〕10号 form, and the 重庆 form's merged labels)."""
        keys = [norm_header(c.text) for c in row.cells]
        if self.execution_columns:
            cols, self.execution_columns = self.execution_columns, {}
            found = {k: _amount(row.cells[i].text) for k, i in cols.items() if i < len(row.cells)}
            if all(v is not None for v in found.values()) and not self.project.rows:
                self.project.execution = found
                return
            if any(v is not None for v in found.values()):
                return
            self.execution_columns = cols   # a blank line between labels and amounts
            return
        cols = {}
        for kind, column in (("execution_total", "budget_total"), ("execution_done", "budget_executed")):
            words = marker_headers(kind)
            idx = next((i for i, k in enumerate(keys) if k and any(k.startswith(w) for w in words)
                        and not row.cells[i].merged), None)
            if idx is not None:
                cols[column] = idx
        if len(cols) == 2:
            self.execution_columns = cols

    def meta_row(self, row: Row) -> None:
        self.execution_row(row)
        if self.department_column is not None and self.column_department(row):
            return
        all_texts = [clean(c.text) for c in row.cells]
        all_kinds = [label_kinds().get(norm_label(t)) if t else None for t in all_texts]
        if (sum(1 for t in all_texts if t) >= 2 and "department" in all_kinds
                and all(k is not None for t, k in zip(all_texts, all_kinds) if t)):
            # a row of labels only (单位名称 | 单位性质 | …): the values are in the row below
            self.department_column = all_kinds.index("department")
        self.unlabelled_department(all_texts)
        cells = [c for c in row.cells if not c.merged]
        texts = [clean(c.text) for c in cells]
        kinds = [label_kinds().get(norm_label(t)) if t else None for t in texts]
        if texts and not texts[0] and self.last_label in ("purpose", "goals"):
            kinds[0], texts[0] = self.last_label, "(continued)"  # vertically merged label cell
        self.last_label = kinds[0] if kinds and kinds[0] else ""
        for i, kind in enumerate(kinds):
            if kind is None:
                if texts[i] and "：" in texts[i].replace(":", "："):
                    self.label_value(texts[i])
                continue
            values = []
            for j in range(i + 1, len(texts)):
                if kinds[j] is not None:
                    break
                if texts[j]:
                    values.append(" ".join(clean(x) for x in cells[j].text.split("\n") if x.strip()))
            if kind != "skip":
                self.meta(kind, values, label=texts[i])

    # -- tables
    def table(self, table: Table) -> None:
        for row in table.rows:
            self.row(row)
        self.colmap, self.expect_subheader = None, False  # an indicator block ends with its table
        self.department_column, self.execution_columns = None, {}

    def row(self, row: Row) -> None:
        texts = [clean(c.text) for c in row.cells]
        if not any(texts):
            return
        if self.expect_subheader:
            self.expect_subheader = False
            merged = merge_subheader(self.header_texts, [c.text for c in row.cells])
            if merged and (colmap := map_header(merged)):
                self.colmap, self.header_texts = colmap, merged
                return
        if (colmap := map_header([c.text for c in row.cells])) is not None:
            if self.colmap is not None and [norm_header(t) for t in texts] == [norm_header(t) for t in self.header_texts]:
                self.expect_subheader = True  # the header repeated on a new page: same table, same project
                return
            if self.project.rows:
                self.new_project()
            if not self.project.table_title and not self.project.project_name and self.last_prose:
                self.project.table_title, self.project.title_guessed = self.last_prose, True
            self.colmap, self.header_texts = colmap, [c.text for c in row.cells]
            self.project.has_header = True
            self.expect_subheader, self.fill = True, {}
            return
        distinct = {t for t in texts if t}
        notes = {t for t in distinct if _unit_declaration(t)}  # 某某项目绩效目标表 | 单位：万元
        if len(distinct - notes) == 1 and is_title(title := next(iter(distinct - notes))):
            self.new_project(title)
            if notes:
                self.project.unit_hint = _unit_note(next(iter(notes)))
            return
        if self.colmap is None:
            self.meta_row(row)
            return
        kinds = {label_kinds().get(norm_label(t)) for t in texts if t}
        first = next(t for t in texts if t)
        if kinds & {"project_name", "project_code"}:
            self.colmap = None
            self.meta_row(row)
        elif norm_label(first.replace(":", "：").partition("：")[0]) in marker_set("end"):
            self.colmap = None   # 合计, 备注, or a footer: 填表人：张三 …
        else:
            self.indicator(row)

    def indicator(self, row: Row) -> None:
        cm, cells = self.colmap, row.cells
        get = lambda key: clean(cells[cm[key]].text) if key in cm and cm[key] < len(cells) else ""
        rec = {k: get(k) for k in ("level1", "level2", "level3", "description", "value", "basis",
                                   "actual_value", *SPLIT_COLUMNS, *SELFEVAL_COLUMNS)}
        warnings = []
        if len(cells) != len(self.header_texts):
            warnings.append(f"cell_count_mismatch: {len(cells)} cells, header has {len(self.header_texts)}")
        mapped = [cells[i] for i in cm.values() if i < len(cells)]
        if mapped and all(c.merged for c in mapped):
            return  # the lower half of a tall merged row
        if self._continues_tall_row(rec, cells):
            return
        if any(k in cm for k in SPLIT_COLUMNS):
            rec["value"] = rec["value"] or self.split_value(rec["value_op"], rec["value_number"], rec["value_unit"])
        for level in ("level1", "level2"):
            if rec[level]:
                self.fill[level] = rec[level]
                if level == "level1":
                    self.fill.pop("level2", None)  # a new 一级 starts its own 二级 run
        if not (rec["level3"] or rec["value"] or rec["description"]):
            return  # a 二级 heading with no indicator (e.g. an empty 成本指标 line)
        for level in ("level1", "level2"):
            if not rec[level] and self.fill.get(level):
                rec[level] = self.fill[level]
                warnings.append(f"{level}_filled_down")
        if not rec["level3"]:
            warnings.append("no_level3: indicator name cell is empty")
        if not rec["value"]:
            warnings.append("no_value: target cell is empty")
        loc = self.location(row)
        out = {"location": loc, **{k: rec[k] for k in ("level1", "level2", "level3", "description", "value",
                                                       "basis", "actual_value")},
               "value_op_raw": rec["value_op"], "value_number_raw": rec["value_number"],
               "value_unit_raw": rec["value_unit"], "_warnings": warnings,
               **{k: rec[k] for k in SELFEVAL_COLUMNS if k in cm}}
        self.project.rows.append(out)

    def _continues_tall_row(self, rec: dict, cells: list) -> bool:
        """A row whose name and target are merged down from the row above only adds lines to that
        indicator's other cells (a basis written on two rows): join them, make no new indicator."""
        cm, prev = self.colmap, self.project.rows[-1] if self.project.rows else None
        merged = lambda key: key in cm and cm[key] < len(cells) and cells[cm[key]].merged
        if prev is None or not merged("level3") or not (merged("value") or not rec["value"]) \
                or rec["level3"] != prev["level3"]:
            return False
        for key in ("description", "basis", "actual_value", "deviation_reason"):
            if rec[key] and not merged(key) and key in prev:
                prev[key] = f"{prev[key]} {rec[key]}".strip()
        return True

    def location(self, row: Row) -> str:
        cm = self.colmap
        if self.doc.source and row.loc.startswith("L"):
            return row.loc  # text dumps: the line the row starts on
        idx = cm.get("level3", next(iter(cm.values())))
        return row.cells[idx].loc if idx < len(row.cells) else row.loc

    @staticmethod
    def split_value(op: str, number: str, unit: str) -> str:
        """Recombine split target columns; a qualitative operator means the text is the target."""
        if norm_header(op) in marker_set("qualitative_op"):
            parts = [t for t in (number, unit) if t and norm_header(t) not in marker_set("qualitative_op")]
            return " ".join(parts)
        return _values.recombine(op, number, unit)

    # -- output
    def run(self) -> tuple[list[dict], list[dict]]:
        for block in self.doc.blocks:
            if isinstance(block, Paragraph):
                self.paragraph(block)
            else:
                self.table(block)
        return self.finish()

    def finish(self) -> tuple[list[dict], list[dict]]:
        rows, projects = [], []
        source = self.doc.source
        # a project with a header and no indicator rows is kept: "no indicators" is a finding
        for p in (p for p in self.projects if p.rows or (p.has_header and p.is_open())):
            pid = f"{source}#{len(projects) + 1}"
            title = clean(p.table_title)
            implied = name_from_title(title) if title else ""
            name = p.project_name or implied
            project_warnings = []
            if not p.project_name:
                project_warnings.append("name_from_title" if implied else "no_project_name")
            elif implied and not _same_name(p.project_name, implied):
                project_warnings.append(f"title_mismatch: title says {implied}")
            if p.title_after_table:
                project_warnings.append("title_after_table: the title follows the table in the document")
            if p.title_guessed:
                project_warnings.append("title_guessed: no 绩效目标表 title, used the text above the table")
            year = m.group(1) if (m := _YEAR.search(title)) else self.doc_year
            budget = _values.budget_wan(p.budget_text, p.unit_hint) if p.budget_text else None
            if p.budget_text and budget is None:
                project_warnings.append(f"budget_unit_unknown: {p.budget_text}")
            department = p.department or p.doc_department or self.first_doc_department
            base = {"source": source, "project_id": pid, "project_name": name, "table_title": title,
                    "project_code": p.project_code, "department": department, "year": year,
                    "budget_wan": budget}
            projects.append({**base, "purpose": " ".join(p.purpose), "goals": " ".join(p.goals),
                             "n_indicators": len(p.rows)})
            for r in p.rows:
                warnings = project_warnings + r.pop("_warnings")
                rows.append({**base, **r, **p.execution, "warnings": ";".join(warnings)})
        return ([{k: r.get(k, "") for k in ROW_COLUMNS + [c for c in SELFEVAL_COLUMNS if c in r]} for r in rows],
                [{k: p.get(k, "") for k in PROJECT_COLUMNS} for p in projects])


_LABEL_AT = re.compile(r"(?:^|(?<=\s))([^\s：:]{2,12})[：:]")


def _label_segments(text: str) -> list[str]:
    """A line of several "label：value" pairs set apart by spaces or tabs, one pair each:
    "项目名称：X　　主管部门：Y　　预算金额：100万元" → three segments. Only known labels split."""
    starts = [m.start(1) for m in _LABEL_AT.finditer(text) if norm_label(m.group(1)) in label_kinds()]
    if len(starts) < 2:
        return [text]
    return [text[a:b].strip() for a, b in zip(starts, starts[1:] + [len(text)])]


def _amount(text: str) -> float | None:
    """A plain amount cell: "7574", "6,643.5" → float; anything else → None."""
    m = re.fullmatch(r"\s*(\d[\d,]*(?:\.\d+)?)\s*(?:万元|元)?\s*", str(text or ""))
    return float(m.group(1).replace(",", "")) if m else None


def _unit_note(label: str) -> str:
    """The money unit a label declares in brackets: "预算金额（万元）" → "万元"."""
    key = norm_header(label)
    for unit in ("万元", "元"):
        if f"（{unit}）" in key or f"单位：{unit}" in key:
            return unit
    return ""


def _is_money_unit(text: str) -> bool:
    """"万元", "元", "千元": the value of a 单位 label that declares money."""
    key = norm_header(text)
    return bool(key) and key.endswith("元") and len(key) <= 3


def _unit_declaration(text: str) -> bool:
    """"单位：万元", "金额单位：元": a table's money-unit note."""
    label, sep, value = text.replace(":", "：").partition("：")
    return bool(sep) and label_kinds().get(norm_label(label)) == "unit" and _is_money_unit(value)


def _looks_like_org(text: str) -> bool:
    """An organisation name: ends with 局, 办公室, 委员会, 街道 … (data: org_suffix), no colon, not a title."""
    key = norm_header(text)
    if not 2 <= len(key) <= 60 or "：" in key or is_title(key) or key in marker_set("skip"):
        return False
    return any(key.endswith(norm_header(s)) for s in markers().get("org_suffix", []))


def _is_department(text: str) -> bool:
    """A stated department: not empty, not a placeholder, not itself a label or header word."""
    key = norm_label(text)
    if _is_blank(text) or key in label_kinds() or any(key in sp for _, sp in header_spellings()):
        return False
    return not any(key in marker_set(k) for k in ("end", "qualitative_op"))


def _is_blank(text: str) -> bool:
    """Empty, a dash line ("————", "---------") or a 无 placeholder."""
    key = norm_header(text)
    return not key.strip("-—－_/／.") or key in marker_set("blank")


def _same_name(a: str, b: str) -> bool:
    """Names agree when one contains the other, ignoring spaces ("服务产业园改造项目" ~ "服务产业园改造")."""
    a, b = norm_header(a), norm_header(b)
    return a in b or b in a


def assemble(doc: Document) -> tuple[list[dict], list[dict]]:
    """(rows, projects) as lists of dicts with ROW_COLUMNS / PROJECT_COLUMNS keys."""
    return Assembler(doc).run()
