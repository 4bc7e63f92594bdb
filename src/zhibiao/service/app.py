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

Everything here is transport: validation, limits, file handling and layout; every route
calls the one :class:`zhibiao.pipeline.Pipeline` (so an upload gets the same rows and flags
as ``zhibiao normalize`` and the Python API). Modules: :mod:`.limits` (limits, body-size
middleware), :mod:`.schemas`, :mod:`.responses` (JSON), :mod:`.uploads` (uploads and JSON
bodies, the .xlsx response), :mod:`.models` (the loaded pipeline), this one (the routes).

Error contract: malformed input gets a 4xx with ``{"detail": ...}`` and never a 500:
413 body or table too large, 415 unsupported upload type or content,
422 validation errors (FastAPI's list) or a zhibiao error (its one-line message),
503 models not available.
"""
from __future__ import annotations

import asyncio
import logging
import os
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import anyio
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import ModelNotFound, ZhibiaoError
from .limits import (MAX_BODY_BYTES, MAX_DRAFT_ROWS, MAX_JSON_ROWS, MAX_K, MAX_LONG_TEXT,  # noqa: F401
                     MAX_TEXT, MAX_UPLOAD_ROWS, BodyLimitMiddleware, BodyTooLarge)
from .models import Models
from .pool import REQUEST_SECONDS, ClientGone, WorkerPool, WorkTimeout, clean_stale_uploads, run_in_thread
from .responses import SafeJSON, _clean_errors
from .schemas import (AuditOut, CodeOut, HealthOut, ParsedValueOut, ParseValueIn, RowsIn, RowsOut,  # noqa: F401
                      SelfevalIn, SuggestIn, SuggestOut, _errors, _ok)
from .uploads import (XLSX_MEDIA_TYPE, _rows_body, _xlsx_response, check_upload,  # noqa: F401
                      extract_upload, read_rows_request, standard_xlsx)

log = logging.getLogger("zhibiao.service")

STATIC_DIR = Path(__file__).resolve().parent / "static"


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


def _audit_inputs(rows, projects, payload):
    """(rows, projects) to audit. JSON rows that carry their project_id, with the projects, are
    several projects (an upload edited on the page) and are checked project by project; other
    JSON rows are one draft."""
    import pandas as pd
    multi = payload is not None and getattr(payload, "projects", None) and (rows["project_id"] != "").all()
    if multi:
        projects = pd.DataFrame([p.model_dump() for p in payload.projects])
    elif payload is not None:
        projects = pd.DataFrame([{"project_id": "draft", "project_name": payload.project_name or "草稿",
                                  "purpose": payload.description, "budget_wan": payload.budget,
                                  "source": "draft"}])
        rows = rows.assign(project_id="draft", source="draft", project_name=payload.project_name or "草稿",
                           location=[loc or f"row{i + 1}" for i, loc in enumerate(rows["location"])])
    return rows, projects


def codes_table() -> list[dict]:
    """Every audit code with its label, severity, message and fix (data/audit_codes.tsv), for the page."""
    from ..audit.codes import _codes
    return [{"key": c.key, "severity": c.severity, "label": c.label, "message": c.message,
             "suggestion": c.suggestion} for c in _codes().values()]


# ----------------------------------------------------------------------------- the app
def create_app(models: Models | None = None, *, models_path: str | Path | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, workers: int | None = None,
               pool: WorkerPool | None = None, request_seconds: float | None = None,
               store: str | None = None) -> FastAPI:
    """The FastAPI app. ``models`` (already loaded) skips loading at start-up; otherwise the
    lifespan loads them once from ``models_path`` (default: ``zhibiao.resources.models_dir()``).
    Missing models leave the service up in a degraded state: /health says so, model
    endpoints answer 503 and /parse-value still works.

    ``pool`` (a started :class:`~zhibiao.service.pool.WorkerPool`, what ``zhibiao serve`` uses):
    the models live in worker processes and every request's work runs there, so a slow request
    stalls nobody and each core serves a request. Without it the work runs in threads of this
    process, at most ``workers`` at a time (default: the CPU count).

    Every request has a time budget (``request_seconds``, default ``ZHIBIAO_REQUEST_SECONDS`` or
    60 s): past it the answer is 503, and with a pool the work is stopped; so it is when the
    client hangs up.

    ``store`` (a corpus store URL; ``zhibiao serve --db``): suggest retrieves the user's own
    projects too, the audit finds last year's tables and selfeval the targets that were set.
    With a pool, the pool's workers open it themselves (``WorkerPool(store=...)``).
    """
    n_workers = max(1, workers or os.cpu_count() or 2)
    budget = float(request_seconds if request_seconds is not None else REQUEST_SECONDS)
    limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # one per event loop

    def deadline_of(request: Request) -> float:
        """The request's deadline: set when its first job starts, shared by its later jobs."""
        if getattr(request.state, "deadline", None) is None:
            request.state.deadline = asyncio.get_running_loop().time() + budget
        return request.state.deadline

    async def respond(request: Request, job: str, *args) -> Response:
        """The answer of a ``*_json`` job, which the worker renders: in this process, making 2,000 rows
        JSON-safe and rendering them held the GIL, and /health waited, for up to 460 ms (measured)."""
        return Response(await run(request, job, *args), media_type="application/json")

    async def run(request: Request, job: str, *args):
        """Run one job of :data:`zhibiao.service.pool.JOBS` within the request's budget."""
        deadline = deadline_of(request)
        if pool is not None:
            return await pool.run(job, *args, deadline=deadline, budget=budget,
                                  disconnected=request.is_disconnected)
        loop = asyncio.get_running_loop()
        limiter = limiters.get(loop)
        if limiter is None:
            limiter = limiters[loop] = anyio.CapacityLimiter(n_workers)
        return await run_in_thread(job, app.state.models, *args, deadline=deadline, budget=budget,
                                   limiter=limiter, disconnected=request.is_disconnected)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        removed = clean_stale_uploads()
        if removed:
            log.info("removed %d upload copies left by a stopped server", removed)
        if pool is not None:
            await run_in_threadpool(pool.wait_ready)
            app.state.models = pool
        elif app.state.models is None:
            try:
                app.state.models = await run_in_threadpool(Models.load, models_path, store)
                log.info("models loaded in %.1fs", app.state.models.load_seconds)
            except ModelNotFound as exc:
                log.warning("starting without models: %s", exc)
                app.state.models = Models(error=str(exc))
        yield

    app = FastAPI(title="zhibiao", version=__version__, lifespan=lifespan, default_response_class=SafeJSON,
                  docs_url=None, redoc_url=None,  # ReDoc loads from a CDN: blank on a closed network
                  description="Chinese budget performance indicators (项目支出绩效目标表): parse values, "
                              "normalize rows, suggest indicators, audit drafts.")
    app.state.models = models
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    def get_models():
        m = app.state.models or Models(error="service not started")
        if not m.loaded:
            raise HTTPException(503, f"models not loaded: {m.error or 'run `zhibiao train` first'}")
        return m

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

    @app.exception_handler(WorkTimeout)
    async def over_budget(request: Request, exc: WorkTimeout):
        log.warning("%s %s stopped: over its %g s budget", request.method, request.url.path, budget)
        return SafeJSON({"detail": str(exc)}, status_code=503)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone):
        # nobody reads this answer; the status is for the access log (nginx's "client closed request")
        log.info("%s %s: the client hung up; its work was stopped", request.method, request.url.path)
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return SafeJSON({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)

    # -- endpoints -------------------------------------------------------------------------------
    @app.get("/health", response_model=HealthOut, tags=["service"])
    async def health():   # on the event loop: never queued behind model work
        m = app.state.models or Models(error="service not started")
        return HealthOut(status="ok" if m.loaded else "degraded", version=__version__, models_loaded=m.loaded,
                         audit_available=True, detail=m.error,
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
        get_models()
        rows, projects, failures, payload = await read_rows_request(request, extract=run)
        if format == "xlsx":  # the form as the clerk wrote it, with the audit's notes in Chinese
            rows, projects = _audit_inputs(rows, projects, payload)
            data = await run(request, "audit_xlsx", rows, projects, payload)
            return _xlsx_response(data, payload.project_name if payload else "")
        return await respond(request, "normalize_json", rows, projects, failures)

    @app.post("/suggest", tags=["api"], response_model=None,
              responses={**_ok(SuggestOut, "suggestions ranked by score, and the similar projects"),
                         **_errors(413, 422, 503)},
              summary="Suggest an indicator set for a project (DESIGN §5)")
    async def suggest(body: SuggestIn, request: Request):
        import pandas as pd
        get_models()
        draft = None
        if body.draft:
            draft = pd.DataFrame([r.model_dump() for r in body.draft])
        return await respond(request, "suggest_json", body.text, body.description, body.budget, body.k, draft)

    @app.post("/audit", tags=["api"], response_model=AuditOut, responses=_errors(413, 415, 422, 503),
              openapi_extra=_rows_body("#/components/schemas/RowsIn"),
              summary="Audit indicator rows or a document: row flags and findings")
    async def audit(request: Request):
        get_models()
        rows, projects, failures, payload = await read_rows_request(request, extract=run)
        rows, projects = _audit_inputs(rows, projects, payload)
        return await respond(request, "audit_json", rows, projects if len(projects) else None, failures)

    @app.get("/codes", tags=["api"], response_model=list[CodeOut],
             summary="The audit's problem codes: labels, severities, messages, fixes (one name per check)")
    def codes():
        return SafeJSON(codes_table())

    # 绩效自评 (DESIGN §7): the body is selfeval.as_json's, what `zhibiao selfeval` writes
    # (scored rows, and the project totals and grades under "projects").
    @app.post("/selfeval", tags=["api"], response_model=RowsOut, responses=_errors(413, 415, 422, 503),
              openapi_extra=_rows_body("#/components/schemas/SelfevalIn"),
              summary="Self-evaluation: achieved, completion rate and score per row (DESIGN §7)")
    async def selfeval(request: Request):
        rows, _projects, failures, _ = await read_rows_request(request, SelfevalIn, extract=run)
        return await respond(request, "selfeval_json", rows, failures)

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
        extra = SelfevalIn.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in extra.pop("$defs", {}).items():
            comps.setdefault(name, sub)
        comps.setdefault("SelfevalIn", extra)
        for path in ("/normalize", "/audit", "/selfeval"):
            op = schema["paths"][path]["post"]
            op["responses"]["422"] = {"description": "invalid input", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, models_path: str | Path | None = None,
          log_level: str = "info", processes: int | None = None, store: str | None = None) -> None:
    """Run the service with uvicorn (what ``zhibiao serve`` calls), its work in ``processes``
    worker processes (default: the CPU count). The workers load the models first, so a missing
    model is one clear error (ModelNotFound) instead of a degraded server. ``store``: the corpus
    store's URL; each worker opens it (SQLite WAL or the server: readers never block a
    ``corpus add`` running meanwhile, whose tables count from the next request on)."""
    import uvicorn
    pool = WorkerPool(size=max(1, processes or os.cpu_count() or 2), models_path=models_path, store=store).start()
    try:
        pool.wait_ready()
        if not pool.loaded:
            raise ModelNotFound(pool.error or "the worker processes could not load the models")
        # Ctrl-C / SIGTERM stop the server within seconds, even while a long /audit is running.
        uvicorn.run(create_app(pool=pool), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
    finally:
        pool.close()
