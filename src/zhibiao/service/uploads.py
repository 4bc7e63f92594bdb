"""Request bodies: an uploaded document (type-checked by ingest's table of file types, extracted in a
private temp dir) or JSON rows; and the 绩效目标表 .xlsx response."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..errors import EmptyDocument, InputError, ZhibiaoError
from ..ingest import SUPPORTED_SUFFIXES, check_head
from .limits import MAX_UPLOAD_ROWS, BodyTooLarge
from .schemas import RowsIn

log = logging.getLogger("zhibiao.service")

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"




def check_upload(filename: str, head: bytes) -> str:
    """Type-check an upload by suffix and magic bytes (:func:`zhibiao.ingest.check_head`, the one
    registry of file types); return the suffix. Raises 415 (a type zhibiao does not read, or content
    that is not what the suffix says) or 422 (empty)."""
    try:
        return check_head(filename or "", head).suffix
    except EmptyDocument as exc:
        raise HTTPException(422, f"{filename}: the uploaded file is empty") from exc
    except InputError as exc:
        raise HTTPException(415, str(exc)) from exc


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
    name = check_filename(upload.filename or "upload")
    data = await upload.read()
    return name, data


MAX_FILENAME_BYTES = 255   # what a file system holds in one name (ext4, NTFS, APFS)


def check_filename(filename: str) -> str:
    """The upload's base name, or a 422: longer than a file system holds, or with control
    characters. The name is only ever shown back; the copy on disk gets a fixed name.

    >>> check_filename("C:\\报表\\绩效目标表.xlsx")
    '绩效目标表.xlsx'
    """
    name = Path(filename.replace("\\", "/")).name
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        raise HTTPException(422, f"the file name is {len(name.encode('utf-8', 'surrogatepass'))} bytes long; "
                                 f"the limit is {MAX_FILENAME_BYTES} (rename the file)")
    if any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise HTTPException(422, "the file name holds control characters (rename the file)")
    if name in ("", ".", ".."):
        raise HTTPException(422, "the upload has no file name")
    return name


def extract_upload(name: str, data: bytes) -> tuple[Any, Any, list[str]]:
    """Write the upload to a private temp dir and read it as the CLI does (a document, or a rows file
    with a level3 column: :func:`zhibiao.tables.read_inputs`)."""
    import pandas as pd
    from ..tables import read_inputs
    from .pool import upload_dir
    name = check_filename(name)
    suffix = check_upload(name, data[:8192])
    # the copy's name is ours (the user's may be anything); its dir names this process, so a copy
    # left by a killed worker or server is found and removed (service.pool)
    with upload_dir() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            result = read_inputs([path], errors="collect")
        except ZhibiaoError as exc:
            raise HTTPException(422, str(exc).replace(str(path), name).replace(path.name, name)) from exc
        except Exception as exc:  # noqa: BLE001 - a document the reader chokes on is bad input, not a 500
            log.warning("extracting %s failed: %r", name, exc)
            raise HTTPException(422, f"{name}: could not read the document ({type(exc).__name__})") from exc
        failures = [str(f).replace(str(path), name).replace(str(tmp), "").replace(path.name, name)
                    for f in (result.failures or [])]
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


async def read_rows_request(request: Request, schema: type[BaseModel] = RowsIn, *,
                            extract=None) -> tuple[Any, Any, list[str], Any]:
    """JSON (``schema``: RowsIn, or another model with ``rows`` and ``project_name``) or a multipart
    upload → (rows DataFrame, projects DataFrame, failures, payload or None). ``extract(request,
    "extract", name, data)`` runs the extraction (the app's worker pool); default: a thread."""
    import pandas as pd
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        name, data = await _read_upload(request)
        if extract is not None:
            rows, projects, failures = await extract(request, "extract", name, data)
        else:
            rows, projects, failures = await run_in_threadpool(extract_upload, name, data)
        return rows, projects, failures, None
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        body = await request.body()
        try:
            payload = schema.model_validate_json(body or b"")
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
                                    "description": "a document: " + ", ".join(SUPPORTED_SUFFIXES)}}}}}}}


# ----------------------------------------------------------------------------- xlsx
def standard_xlsx(rows, projects=None, payload: RowsIn | None = None, findings=None) -> bytes:
    """The rows in the 绩效目标表 layout (:func:`zhibiao.forms.target_table_xlsx`), with the audit's
    ``findings`` as its 审核意见."""
    from ..forms import target_table_xlsx
    project = None
    if payload is not None and not getattr(payload, "projects", None):
        project = {"project_name": payload.project_name, "budget_wan": payload.budget,
                   "purpose": payload.description}
    return target_table_xlsx(rows, projects, project=project, findings=findings)


def _xlsx_response(data: bytes, stem: str) -> Response:
    from urllib.parse import quote
    fname = f"{stem or '绩效目标表'}.xlsx"
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f"attachment; filename=\"zhibiao.xlsx\"; filename*=UTF-8''{quote(fname)}"})
