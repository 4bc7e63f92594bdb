"""HTTP service and drafting page: a thin FastAPI layer over zhibiao's public API.

    >>> from zhibiao.service.app import create_app
    >>> app = create_app()          # models load once, when the app starts (lifespan)

``zhibiao serve --host 127.0.0.1 --port 8000`` calls :func:`serve`.

Endpoints (OpenAPI docs at ``/docs``, the spec at ``/openapi.json``):

- ``GET  /health``       models loaded?
- ``POST /parse-value``  ``{text, year?}`` → ParsedValue (DESIGN §3)
- ``POST /normalize``    JSON ``{rows: [...]}`` or an uploaded document → normalized rows (DESIGN §4);
  ``?format=xlsx`` returns the table as .xlsx in the 绩效目标表 layout
- ``POST /suggest``      ``{text, description?, budget?, k?, draft?}`` → DESIGN §5 JSON
- ``POST /audit``        JSON rows or an uploaded document → normalized rows and audit findings
- ``GET  /``             the drafting page (static HTML + JS, in Chinese)

Everything here is transport: validation, limits, file handling and layout.
The domain work is done by ``zhibiao.values``, ``zhibiao.classify``,
``zhibiao.recommend``, ``zhibiao.ingest`` and ``zhibiao.audit``.

Error contract: malformed input gets a 4xx with ``{"detail": ...}`` and never a 500:
413 body or table too large, 415 unsupported upload type or content,
422 validation errors (FastAPI's list) or a zhibiao error (its one-line message),
503 models not available.
"""
from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import math
import re
import tempfile
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import anyio
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import ModelNotFound, ZhibiaoError

log = logging.getLogger("zhibiao.service")

STATIC_DIR = Path(__file__).resolve().parent / "static"

# ----------------------------------------------------------------------------- limits
MAX_BODY_BYTES = 10 * 1024 * 1024      # any request body (JSON or upload)
MAX_JSON_ROWS = 2000                   # rows in one JSON request
MAX_UPLOAD_ROWS = 5000                 # indicator rows extracted from one uploaded file
MAX_DRAFT_ROWS = 500                   # draft rows sent along with /suggest
MAX_TEXT = 500                         # a project name or an indicator value
MAX_LONG_TEXT = 4000                   # descriptions
MAX_K = 50

# Accepted uploads: suffix → magic-byte families allowed for it. Office files are zip
# containers (or OLE when encrypted or old-style); text files must not look binary.
_ZIP = (b"PK\x03\x04",)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
UPLOAD_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".xlsx": ("an Excel workbook", _ZIP + _OLE),
    ".xls": ("an Excel 97-2003 workbook", _OLE + _ZIP),
    ".docx": ("a Word document", _ZIP + _OLE),
    ".csv": ("CSV text", ()),
    ".txt": ("a text dump", ()),
}
_BINARY_MAGIC = _ZIP + _OLE + (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf",
                               b"\x7fELF", b"MZ")

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ----------------------------------------------------------------------------- schemas
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


class ParseValueIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "12月底前", "year": 2021}]})
    text: str = Field(max_length=MAX_TEXT, description="a 指标值 as written; any string, empty included")
    year: Optional[int] = Field(default=None, ge=1900, le=2100, description="year for deadlines without one")


class RowsIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "project_name": "新建市政道路工程",
        "rows": [{"level1": "产出指标", "level2": "数量指标", "level3": "新建道路长度", "value": "≥1000米"},
                 {"level2": "服务对象满意度指标", "level3": "群众满意度", "value": "≥90%"}]}]})
    rows: list[Row] = Field(min_length=1, max_length=MAX_JSON_ROWS)
    project_name: str = Field(default="", max_length=MAX_TEXT, description="项目名称 (title of the xlsx)")
    description: str = Field(default="", max_length=MAX_LONG_TEXT, description="项目资金主要用途 / 绩效目标")
    budget: Optional[float] = Field(default=None, ge=0, le=1e12, allow_inf_nan=False, description="预算数, 万元")


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


# ----------------------------------------------------------------------------- JSON
def jsonable(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → null, numpy and pandas scalars → Python."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    item = getattr(obj, "item", None)          # numpy scalar
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    try:
        import pandas as pd
        if obj is pd.NaT or (not isinstance(obj, (list, dict)) and pd.isna(obj)):
            return None
        if isinstance(obj, pd.Timestamp):
            return obj.isoformat()
    except (TypeError, ValueError):
        pass
    return jsonable(jsonable_encoder(obj))


def _clean_errors(errors) -> list[dict]:
    """Validation errors fit to send back: inputs shortened, bytes decoded, no exception objects."""
    out = []
    for e in errors:
        e = dict(e)
        value = e.get("input")
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value[:200]).decode("utf-8", "replace")
        if isinstance(value, str) and len(value) > 200:
            value = value[:200] + "…"
        elif not isinstance(value, (str, int, float, bool, type(None))):
            value = None if len(repr(value)) > 200 else value
        e["input"] = value
        if "ctx" in e:
            e["ctx"] = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v))
                        for k, v in e["ctx"].items()}
        e.pop("url", None)
        out.append(jsonable(e))
    return out


class SafeJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        content = jsonable(content)
        try:
            return super().render(content)
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") echoed from the request: not UTF-8
            return super().render(_no_surrogates(content))


def _no_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.encode("utf-8", "replace").decode("utf-8")
    if isinstance(obj, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_no_surrogates(v) for v in obj]
    return obj


def records(df) -> list[dict]:
    if df is None:
        return []
    return jsonable(df.astype(object).to_dict(orient="records"))


# ----------------------------------------------------------------------------- models
@dataclass
class Models:
    """The loaded artifacts, shared by every request."""
    normalizer: Any = None
    recommender: Any = None
    error: str = ""
    load_seconds: Optional[float] = None

    @property
    def loaded(self) -> bool:
        return self.normalizer is not None and self.recommender is not None

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Models":
        """Load the normalizer and the recommender, and warm them up. Raises ModelNotFound."""
        from ..classify import Normalizer
        from ..recommend import Recommender
        t0 = time.perf_counter()
        models = cls(normalizer=Normalizer.load(path), recommender=Recommender.load(path))
        models.warm_up()
        models.load_seconds = round(time.perf_counter() - t0, 3)
        return models

    def warm_up(self) -> None:
        """One small call each, so that lazily built parts (embedding engines) exist before requests."""
        import pandas as pd
        try:
            self.normalizer.normalize(pd.DataFrame({"level3": ["群众满意度"], "value": ["≥90%"]}))
            self.recommender.suggest("道路建设项目", k=3)
            mod = _audit_module()
            if mod is not None:
                mod.audit(pd.DataFrame({"project_id": ["warm-up"], "project_name": ["道路建设项目"],
                                        "level3": ["道路长度"], "value": ["≥2公里"]}), normalizer=self.normalizer)
        except Exception:  # noqa: BLE001 - a warm-up failure must not stop the service; requests will report
            log.exception("model warm-up failed")

    def require(self) -> "Models":
        if not self.loaded:
            raise HTTPException(503, f"models not loaded: {self.error or 'run `zhibiao train` first'}")
        return self


def _audit_module():
    try:
        from .. import audit
    except ImportError:
        return None
    return audit if hasattr(audit, "audit") else None


# ----------------------------------------------------------------------------- limits middleware
class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body too large: the limit is {limit // (1024 * 1024)} MB "
                              f"({limit} bytes)")


class BodyLimitMiddleware:
    """413 before reading a body whose Content-Length exceeds the limit, and while reading
    a streamed (chunked) body as soon as it does."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await self._reply(send, 400, "invalid Content-Length header")
                if declared > limit:
                    return await self._reply(send, 413, BodyTooLarge(limit).detail)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._reply(send, 413, exc.detail)

    @staticmethod
    async def _reply(send, status: int, detail: str):
        body = SafeJSON({"detail": detail}).body
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


# ----------------------------------------------------------------------------- uploads
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def check_upload(filename: str, head: bytes) -> str:
    """Type-check an upload by suffix and magic bytes; return the suffix. Raises 415/422."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_TYPES:
        accepted = ", ".join(UPLOAD_TYPES)
        raise HTTPException(415, f"unsupported file type {suffix or '(no suffix)'!s} for {filename or 'the upload'}; "
                                 f"accepted: {accepted}")
    if not head:
        raise HTTPException(422, f"{filename}: the uploaded file is empty")
    label, magics = UPLOAD_TYPES[suffix]
    if magics:
        if not head.startswith(magics):
            raise HTTPException(415, f"{filename}: the content is not {label} (wrong file signature)")
    elif head.startswith(_BINARY_MAGIC) or b"\x00" in head[:8192] and not head.startswith(
            (b"\xff\xfe", b"\xfe\xff")):
        raise HTTPException(415, f"{filename}: the content is binary, not {label}")
    return suffix


async def _read_upload(request: Request) -> tuple[str, bytes]:
    try:
        form = await request.form(max_files=1, max_fields=20)
    except BodyTooLarge:
        raise
    except HTTPException as exc:
        raise HTTPException(422, f"malformed multipart body: {exc.detail}") from exc
    except Exception as exc:  # noqa: BLE001 - a malformed multipart body is the client's
        raise HTTPException(422, f"malformed multipart body: {type(exc).__name__}") from exc
    files = [v for v in form.values() if isinstance(v, UploadFile)]
    if not files:
        raise HTTPException(422, "multipart upload needs a file field (name it 'file')")
    upload = files[0]
    data = await upload.read()
    name = Path(upload.filename or "upload").name
    return name, data


def extract_upload(name: str, data: bytes) -> tuple[Any, Any, list[str]]:
    """Write the upload to a private temp dir and run the public extractor on it."""
    import pandas as pd
    from ..ingest import extract_all
    check_upload(name, data[:8192])
    safe = _SAFE_NAME.sub("_", name).strip("._") or "upload"
    if not safe.lower().endswith(Path(name).suffix.lower()):
        safe += Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="zhibiao-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        try:
            result = extract_all([path], errors="collect")
        except ZhibiaoError as exc:
            raise HTTPException(422, str(exc).replace(str(path), name)) from exc
        except Exception as exc:  # noqa: BLE001 - a document the reader chokes on is bad input, not a 500
            log.warning("extracting %s failed: %r", name, exc)
            raise HTTPException(422, f"{name}: could not read the document ({type(exc).__name__})") from exc
        failures = [str(f).replace(str(path), name).replace(str(tmp), "") for f in (result.failures or [])]
        rows = result.rows if result.rows is not None else pd.DataFrame()
        projects = result.projects if result.projects is not None else pd.DataFrame()
    for df in (rows, projects):
        if "source" in df.columns:
            df["source"] = name
    if rows.empty:
        raise HTTPException(422, failures[0] if failures else f"{name}: no indicator table found")
    if len(rows) > MAX_UPLOAD_ROWS:
        raise HTTPException(413, f"{name}: {len(rows)} indicator rows; the limit per upload is {MAX_UPLOAD_ROWS}")
    return rows, projects, failures


async def read_rows_request(request: Request) -> tuple[Any, Any, list[str], RowsIn | None]:
    """JSON ``RowsIn`` or a multipart upload → (rows DataFrame, projects DataFrame, failures, payload)."""
    import pandas as pd
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        name, data = await _read_upload(request)
        rows, projects, failures = await run_in_threadpool(extract_upload, name, data)
        return rows, projects, failures, None
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        body = await request.body()
        try:
            payload = RowsIn.model_validate_json(body or b"")
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from exc
        rows = pd.DataFrame([r.model_dump() for r in payload.rows])
        if payload.project_name:
            rows["project_name"] = rows["project_name"].where(rows["project_name"] != "", payload.project_name)
        return rows, pd.DataFrame(), [], payload
    raise HTTPException(415, f"unsupported Content-Type {ctype!r}: send application/json or multipart/form-data")


def _rows_body(schema_ref: str) -> dict:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": schema_ref}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary",
                                    "description": "a document: " + ", ".join(UPLOAD_TYPES)}}}}}}}


# ----------------------------------------------------------------------------- xlsx
def standard_xlsx(rows, projects=None, payload: RowsIn | None = None) -> bytes:
    """The normalized rows in the 绩效目标表 layout (:func:`zhibiao.forms.target_table_xlsx`)."""
    from ..forms import target_table_xlsx
    project = None
    if payload is not None:
        project = {"project_name": payload.project_name, "budget_wan": payload.budget,
                   "purpose": payload.description}
    return target_table_xlsx(rows, projects, project=project)


def _xlsx_response(data: bytes, stem: str) -> Response:
    from urllib.parse import quote
    fname = f"{stem or '绩效目标表'}.xlsx"
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f"attachment; filename=\"zhibiao.xlsx\"; filename*=UTF-8''{quote(fname)}"})


def _local_swagger_assets() -> Path | None:
    """Swagger UI 5 files shipped by the optional ``swagger-ui-py`` package, if installed."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("swagger_ui")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    static = Path(spec.origin).parent / "static"
    return static if (static / "swagger-ui-bundle.js").exists() else None


# ----------------------------------------------------------------------------- the app
def create_app(models: Models | None = None, *, models_path: str | Path | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, workers: int | None = None) -> FastAPI:
    """The FastAPI app. ``models`` (already loaded) skips loading at start-up; otherwise the
    lifespan loads them once from ``models_path`` (default: ``zhibiao.resources.models_dir()``).
    Missing models leave the service up in a degraded state: /health says so, model
    endpoints answer 503 and /parse-value still works.

    ``workers`` bounds how many model calls run at once (default: the CPU count); the rest
    wait their turn in order, which keeps tail latency down when clients outnumber cores.
    """
    n_workers = max(1, workers or os.cpu_count() or 2)
    limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # one per event loop

    async def work(fn, *args):
        """Run blocking model work in a thread, at most ``n_workers`` at a time."""
        loop = asyncio.get_running_loop()
        limiter = limiters.get(loop)
        if limiter is None:
            limiter = limiters[loop] = anyio.CapacityLimiter(n_workers)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.models is None:
            try:
                app.state.models = await run_in_threadpool(Models.load, models_path)
                log.info("models loaded in %.1fs", app.state.models.load_seconds)
            except ModelNotFound as exc:
                log.warning("starting without models: %s", exc)
                app.state.models = Models(error=str(exc))
        yield

    app = FastAPI(title="zhibiao", version=__version__, lifespan=lifespan, default_response_class=SafeJSON,
                  docs_url=None,
                  description="Chinese budget performance indicators (项目支出绩效目标表): parse values, "
                              "normalize rows, suggest indicators, audit drafts.")
    app.state.models = models
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    def get_models() -> Models:
        return (app.state.models or Models(error="service not started")).require()

    # -- errors: one shape, never a traceback --------------------------------------------------
    @app.exception_handler(ZhibiaoError)
    async def zhibiao_error(request: Request, exc: ZhibiaoError):
        status = 503 if isinstance(exc, ModelNotFound) else 422
        return SafeJSON({"detail": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return SafeJSON({"detail": _clean_errors(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI and Starlette answer an unparsable body (bad encoding, broken multipart) with 400;
        # here every body problem is a 422, as documented.
        status = 422 if exc.status_code == 400 else exc.status_code
        detail = exc.detail
        if status == 422 and detail == "There was an error parsing the body":
            detail = "could not parse the request body (is it UTF-8 JSON, or a well-formed multipart upload?)"
        return SafeJSON({"detail": detail}, status_code=status, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return SafeJSON({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)

    # -- endpoints -------------------------------------------------------------------------------
    @app.get("/health", response_model=HealthOut, tags=["service"])
    def health():
        m = app.state.models or Models(error="service not started")
        return HealthOut(status="ok" if m.loaded else "degraded", version=__version__, models_loaded=m.loaded,
                         audit_available=_audit_module() is not None, detail=m.error,
                         load_seconds=m.load_seconds)

    # Responses are returned as they come from the library (not re-validated, so nothing is
    # dropped); their documented schemas are checked by the schemathesis test.
    @app.post("/parse-value", tags=["api"], response_model=None,
              responses={**_ok(ParsedValueOut, "the parsed value"), **_errors(413, 422)},
              summary="Parse one 指标值 (DESIGN §3)")
    def parse_value(body: ParseValueIn):
        from ..values import parse_value as _parse
        return SafeJSON(_parse(body.text, year=body.year).to_dict())

    @app.post("/normalize", tags=["api"], response_model=RowsOut,
              responses={**_errors(413, 415, 422, 503),
                         200: {"content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                               "description": "normalized rows (JSON), or with format=xlsx the 绩效目标表 workbook"}},
              openapi_extra=_rows_body("#/components/schemas/RowsIn"),
              summary="Normalize indicator rows, or a document (DESIGN §4)")
    async def normalize(request: Request, format: Literal["json", "xlsx"] = Query(
            "json", description="json rows, or xlsx in the standard 绩效目标表 layout")):
        rows, projects, failures, payload = await read_rows_request(request)
        m = get_models()
        out = await work(m.normalizer.normalize, rows)
        if format == "xlsx":
            data = await work(standard_xlsx, out, projects, payload)
            return _xlsx_response(data, payload.project_name if payload else "")
        return {"count": len(out), "rows": records(out), "projects": records(projects), "failures": failures}

    @app.post("/suggest", tags=["api"], response_model=None,
              responses={**_ok(SuggestOut, "suggestions ranked by score, and the similar projects"),
                         **_errors(413, 422, 503)},
              summary="Suggest an indicator set for a project (DESIGN §5)")
    async def suggest(body: SuggestIn):
        import pandas as pd
        m = get_models()
        draft = None
        if body.draft:
            draft = await work(m.normalizer.normalize, pd.DataFrame([r.model_dump() for r in body.draft]))
        result = await work(lambda: m.recommender.suggest(body.text, description=body.description,
                                                          budget=body.budget, k=body.k, draft=draft))
        return SafeJSON(result)

    @app.post("/audit", tags=["api"], response_model=AuditOut, responses=_errors(413, 415, 422, 503),
              openapi_extra=_rows_body("#/components/schemas/RowsIn"),
              summary="Audit indicator rows or a document: row flags and findings")
    async def audit(request: Request):
        rows, projects, failures, payload = await read_rows_request(request)
        m = get_models()
        mod = _audit_module()
        if mod is None:
            raise HTTPException(503, "audit is not available in this build (zhibiao.audit missing)")
        if payload is not None:  # a draft from the page or another system: one project
            import pandas as pd
            projects = pd.DataFrame([{"project_id": "draft", "project_name": payload.project_name or "草稿",
                                      "purpose": payload.description, "budget_wan": payload.budget,
                                      "source": "draft"}])
            rows["project_id"] = "draft"
            rows["source"] = "draft"
            rows["project_name"] = payload.project_name or "草稿"
            rows["location"] = [loc or f"row{i + 1}" for i, loc in enumerate(rows["location"])]
        report = await work(
            lambda: mod.audit(rows, projects=projects if len(projects) else None, normalizer=m.normalizer))
        normalized = report.rows if getattr(report, "rows", None) is not None else \
            await work(m.normalizer.normalize, rows)
        return {"count": len(normalized), "rows": records(normalized), "projects": records(projects),
                "failures": failures, "findings": records(getattr(report, "findings", None)),
                "project_summary": records(getattr(report, "projects", None)),
                "departments": records(getattr(report, "departments", None)),
                "notes": [str(n) for n in getattr(report, "notes", [])]}

    # -- OpenAPI docs: Swagger UI served from this machine when swagger-ui-py is installed
    # (clerks' networks are often closed), else from FastAPI's default CDN.
    assets = _local_swagger_assets()
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        from fastapi.openapi.docs import get_swagger_ui_html
        kw = {"swagger_js_url": "/docs-assets/swagger-ui-bundle.js", "swagger_css_url": "/docs-assets/swagger-ui.css",
              "swagger_favicon_url": "/docs-assets/favicon-32x32.png"} if assets is not None else {}
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="zhibiao API", **kw)

    # -- the drafting page ------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- OpenAPI: the JSON/multipart bodies are read by hand, so publish their schema too ---------
    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        extra = RowsIn.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in extra.pop("$defs", {}).items():
            comps.setdefault(name, sub)
        comps.setdefault("RowsIn", extra)
        for path in ("/normalize", "/audit"):
            op = schema["paths"][path]["post"]
            op["responses"]["422"] = {"description": "invalid input", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, models_path: str | Path | None = None,
          log_level: str = "info") -> None:
    """Run the service with uvicorn (what ``zhibiao serve`` calls). Loads the models first,
    so a missing model is one clear error (ModelNotFound) instead of a degraded server."""
    import uvicorn
    models = Models.load(models_path)
    # Ctrl-C / SIGTERM stop the server within seconds, even while a long /audit is running.
    uvicorn.run(create_app(models), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
