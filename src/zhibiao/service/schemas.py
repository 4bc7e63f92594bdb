"""Request and response schemas (pydantic), as published in the OpenAPI document."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from .limits import MAX_DRAFT_ROWS, MAX_JSON_ROWS, MAX_K, MAX_LONG_TEXT, MAX_TEXT


def _text(max_length: int, **kw):
    return Field(max_length=max_length, **kw)


class Row(BaseModel):
    """One indicator row. Only ``level3`` (三级指标, the indicator name) is required."""
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"level1": "产出指标", "level2": "数量指标", "level3": "新建道路长度", "value": "≥1000米"}]})

    level3: str = _text(MAX_TEXT, description="三级指标 (indicator name)")
    description: str = _text(MAX_LONG_TEXT, default="", description="绩效指标描述")
    value: str = _text(MAX_TEXT, default="", description="指标值")
    level1: str = _text(MAX_TEXT, default="", description="一级指标, as declared")
    level2: str = _text(MAX_TEXT, default="", description="二级指标, as declared")
    basis: str = _text(MAX_TEXT, default="", description="指标值确定依据")
    project_name: str = _text(MAX_TEXT, default="", description="项目名称")
    location: str = _text(200, default="", description="caller's row reference, echoed back")
    project_id: str = _text(200, default="", description="the row's project, when the rows hold several "
                                                         "(as an uploaded document's rows carry it)")


class SelfevalRow(Row):
    """One indicator row of a 绩效自评表: the target (``value``) and what was achieved."""
    actual_value: str = _text(MAX_TEXT, default="", description="实际完成值")
    weight: Optional[float] = Field(default=None, ge=0, le=1000, allow_inf_nan=False, description="分值")


class SelfevalIn(BaseModel):
    rows: list[SelfevalRow] = Field(min_length=1, max_length=MAX_JSON_ROWS)
    project_name: str = Field(default="", max_length=MAX_TEXT, description="项目名称")


class ParseValueIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "12月底前", "year": 2021}]})
    text: str = Field(max_length=MAX_TEXT, description="a 指标值 as written; any string, empty included")
    year: Optional[int] = Field(default=None, ge=1900, le=2100, description="year for deadlines without one")


class ProjectIn(BaseModel):
    """One project of a multi-project table (as /audit returned it for an upload): what the
    per-project checks (template copies, fit to the project, missing groups) compare with."""
    model_config = ConfigDict(extra="ignore")
    project_id: str = _text(200)
    project_name: str = _text(MAX_TEXT, default="")
    purpose: str = _text(MAX_LONG_TEXT, default="")
    goals: str = _text(MAX_LONG_TEXT, default="")
    department: str = _text(MAX_TEXT, default="")
    source: str = _text(MAX_TEXT, default="")
    table_title: str = _text(MAX_TEXT, default="")
    budget_wan: Optional[float] = Field(default=None, allow_inf_nan=False)


class RowsIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "project_name": "新建市政道路工程",
        "rows": [{"level1": "产出指标", "level2": "数量指标", "level3": "新建道路长度", "value": "≥1000米"},
                 {"level2": "服务对象满意度指标", "level3": "群众满意度", "value": "≥90%"}]}]})
    rows: list[Row] = Field(min_length=1, max_length=MAX_JSON_ROWS)
    project_name: str = Field(default="", max_length=MAX_TEXT, description="项目名称 (title of the xlsx)")
    description: str = Field(default="", max_length=MAX_LONG_TEXT, description="项目资金主要用途 / 绩效目标")
    budget: Optional[float] = Field(default=None, ge=0, le=1e12, allow_inf_nan=False, description="预算数, 万元")
    projects: Optional[list[ProjectIn]] = Field(default=None, max_length=MAX_JSON_ROWS,
                                                description="the projects the rows' project_id refer to "
                                                            "(several projects are audited project by project)")


class SuggestIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "农村环卫保洁项目", "description": "购买农村保洁服务", "budget": 120, "k": 10}]})
    text: str = Field(min_length=1, max_length=MAX_TEXT, pattern=r"\S",
                      description="project name or short description (not blank)")
    description: str = Field(default="", max_length=MAX_LONG_TEXT, description="资金用途 / 绩效目标")
    budget: Optional[float] = Field(default=None, ge=0, le=1e12, allow_inf_nan=False, description="预算数, 万元")
    k: int = Field(default=10, ge=1, le=MAX_K, description="how many suggestions")
    draft: Optional[list[Row]] = Field(default=None, max_length=MAX_DRAFT_ROWS,
                                       description="the draft so far: only what it lacks is suggested")


class ErrorOut(BaseModel):
    detail: Any = Field(description="a one-line message, or FastAPI's list of validation errors")


class CodeOut(BaseModel):
    """One audit code of data/audit_codes.tsv (code.variant rows give a finer message)."""
    key: str
    severity: Literal["高", "中", "低"]
    label: str = Field(description="问题类型 as shown to a clerk")
    message: str = Field(description="message template ({placeholders} filled per finding)")
    suggestion: str = Field(description="the fix, as a template")


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    models_loaded: bool
    audit_available: bool
    detail: str = ""
    load_seconds: Optional[float] = None


class RowsOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    count: int
    rows: list[dict[str, Any]]
    projects: list[dict[str, Any]] = []
    failures: list[str] = []


class AuditOut(RowsOut):
    findings: list[dict[str, Any]] = []
    project_summary: list[dict[str, Any]] = []
    departments: list[dict[str, Any]] = []
    notes: list[str] = []


class NumberPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    number: Optional[float] = None
    unit: Optional[str] = None
    label: Optional[str] = None


class ParsedValueOut(BaseModel):
    """DESIGN §3."""
    model_config = ConfigDict(extra="allow")
    text: str
    kind: Literal["numeric", "deadline", "period", "boolean", "qualitative", "multi", "empty"]
    op: Optional[str] = None
    number: Optional[float] = None
    unit: Optional[str] = None
    base_value: Optional[float] = None
    base_unit: Optional[str] = None
    numbers: list[NumberPart] = []
    date: Optional[str] = None
    start_date: Optional[str] = None
    month: Optional[int] = None
    quarter: Optional[int] = None
    boolean: Optional[bool] = None
    recurring: bool = False
    warnings: list[str] = []   # "code: why" when the reading is uncertain (approximate, unit-guessed, unsure, cut…)


class Neighbour(BaseModel):
    model_config = ConfigDict(extra="allow")
    project_name: Optional[str] = None
    source: Optional[str] = None
    score: float


class Suggestion(BaseModel):
    model_config = ConfigDict(extra="allow")
    indicator_id: str
    indicator_name: Optional[str] = None
    category: str
    level1: str
    suggested_level3: str
    suggested_value: str
    op: Optional[str] = None
    unit: Optional[str] = None
    basis: Optional[str] = None
    score: float
    support: int
    examples: list[str] = []


class SuggestOut(BaseModel):
    """DESIGN §5; ``draft`` (the draft rows with their flags) only when a draft was sent."""
    model_config = ConfigDict(extra="allow")
    query: str
    neighbours: list[Neighbour]
    suggestions: list[Suggestion]
    draft: Optional[list[dict[str, Any]]] = None


def _ok(model: type[BaseModel], description: str) -> dict:
    return {200: {"model": model, "description": description}}


def _errors(*codes: int) -> dict:
    text = {413: "request body or table too large", 415: "unsupported upload type or content",
            422: "invalid input (validation errors, or a document zhibiao cannot read)",
            503: "models not loaded (run `zhibiao train`) or audit unavailable"}
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes}
