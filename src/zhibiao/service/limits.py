"""The service's limits, and the middleware that answers 413 before a too large body is read."""
from __future__ import annotations

from fastapi import HTTPException

from .responses import SafeJSON

MAX_BODY_BYTES = 10 * 1024 * 1024      # any request body (JSON or upload)
MAX_JSON_ROWS = 2000                   # rows in one JSON request
MAX_UPLOAD_ROWS = 5000                 # indicator rows extracted from one uploaded file
MAX_DRAFT_ROWS = 500                   # draft rows sent along with /suggest
MAX_TEXT = 500                         # a project name or an indicator value
MAX_LONG_TEXT = 4000                   # descriptions
MAX_K = 50


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
