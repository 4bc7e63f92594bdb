"""JSON fit to send: NaN/inf → null, numpy and pandas scalars → Python, no lone surrogates."""
from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from ..tables import cell_value


def jsonable(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf → null, numpy and pandas scalars → Python."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    # scalars as a spreadsheet cell takes them; other objects (dates, models) as FastAPI encodes them
    return cell_value(obj, fallback=lambda o: jsonable(jsonable_encoder(o)))


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


def json_body(content: Any, model=None) -> bytes:
    """The response's bytes, as :class:`SafeJSON` renders them; checked against ``model`` (a pydantic
    schema) first if given. The jobs call it in their worker, so that the server's process, whose
    event loop also answers /health, never holds the GIL to render a large response."""
    if model is not None:
        content = model.model_validate(content).model_dump(mode="json", by_alias=True)
    return SafeJSON(content).body


def records(df) -> list[dict]:
    if df is None:
        return []
    return jsonable(df.astype(object).to_dict(orient="records"))
