"""Where the service's CPU-heavy work runs: worker processes, each with the models loaded once.

The models hold the GIL for seconds at a time (extraction, value parsing, embeddings), so in the
server's own process one slow upload stalls /health and every other client, and two requests
never get two cores. Here each request's work goes to an idle worker process over a pipe; the
event loop only waits. A request has a time budget (:data:`REQUEST_SECONDS`): past it, or as soon
as the client hangs up, its worker is killed (the only way to stop work that is inside native code)
and a fresh one takes its place. A killed worker's upload copies are removed with it; those of a
server killed outright are removed at the next start (:func:`clean_stale_uploads`).

The jobs (:data:`JOBS`) are plain functions of the loaded models, so the same function runs in a
worker process (``zhibiao serve``) or in a thread of the server (an app built around models already
loaded, as the tests do).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from fastapi import HTTPException

log = logging.getLogger("zhibiao.service")

REQUEST_SECONDS = float(os.environ.get("ZHIBIAO_REQUEST_SECONDS", 60))  # per request, all its work
UPLOAD_PREFIX = "zhibiao-upload-"       # + the pid of the process that made the copy


class WorkTimeout(Exception):
    def __init__(self, seconds: float):
        super().__init__(f"the request took longer than its {seconds:g} s time budget; send fewer rows, "
                         f"or run `zhibiao audit` / `zhibiao normalize` on the file")


class ClientGone(Exception):
    """The client hung up; its work was stopped."""


# ----------------------------------------------------------------------------- jobs
def job_extract(models, name: str, data: bytes):
    from .uploads import extract_upload
    return extract_upload(name, data)


def job_normalize_json(models, rows, projects, failures):
    from .responses import json_body, records
    from .schemas import RowsOut
    out = models.pipeline.normalize(rows, projects)
    return json_body({"count": len(out), "rows": records(out), "projects": records(projects),
                      "failures": failures}, RowsOut)


def job_suggest_json(models, text, description, budget, k, draft):
    from .responses import json_body
    return json_body(models.pipeline.suggest(text, description=description, budget=budget, k=k, draft=draft))


def _audit(models, rows, projects):
    from ..audit.fit import with_fit
    report = models.pipeline.audit(rows, projects)
    return {"rows": report.rows, "findings": with_fit(report, projects), "projects": report.projects,
            "departments": report.departments, "notes": [str(n) for n in report.notes]}


def job_audit_json(models, rows, projects, failures):
    """/audit's answer: the normalized rows, the findings and the summaries."""
    from .responses import json_body, records
    from .schemas import AuditOut
    report = _audit(models, rows, projects)
    return json_body({"count": len(report["rows"]), "rows": records(report["rows"]), "projects": records(projects),
                      "failures": failures, "findings": records(report["findings"]),
                      "project_summary": records(report["projects"]), "departments": records(report["departments"]),
                      "notes": report["notes"]}, AuditOut)


def job_audit_xlsx(models, rows, projects, payload):
    """The rows in the 绩效目标表 layout, with the audit's findings as its 审核意见 (/normalize?format=xlsx)."""
    from .uploads import standard_xlsx
    report = _audit(models, rows, projects if len(projects) else None)
    return standard_xlsx(report["rows"], projects, payload, report["findings"])


def job_selfeval_json(models, rows, failures):
    """The body `zhibiao selfeval` writes (scored rows, and the project totals and grades), and the failures."""
    from ..pipeline import Pipeline
    from ..selfeval import as_json, selfeval_projects
    from .responses import json_body
    from .schemas import RowsOut
    scored = (models.pipeline if models is not None else Pipeline()).selfeval(rows)
    body = as_json(scored, selfeval_projects(scored))
    return json_body({"count": len(body["rows"]), **body, "failures": failures}, RowsOut)


# The jobs return what the server sends, made in the worker: a response's bytes (*_json), a workbook.
JOBS: dict[str, Callable] = {"extract": job_extract, "normalize_json": job_normalize_json,
                             "suggest_json": job_suggest_json, "audit_json": job_audit_json,
                             "audit_xlsx": job_audit_xlsx, "selfeval_json": job_selfeval_json}
NEEDS_MODELS = frozenset({"normalize_json", "suggest_json", "audit_json", "audit_xlsx"})


def _answer(fn, models, args) -> tuple:
    """A job's result as a message the parent can always unpickle: HTTP errors and zhibiao errors
    become (status, one line); anything else is an internal error."""
    from ..errors import ModelNotFound, ZhibiaoError
    try:
        if fn in NEEDS_MODELS and (models is None or not getattr(models, "loaded", True)):
            detail = getattr(models, "error", "") or "run `zhibiao train` first"
            return ("http", 503, f"models not loaded: {detail}")
        return ("ok", JOBS[fn](models, *args))
    except HTTPException as exc:
        return ("http", exc.status_code, exc.detail)
    except ModelNotFound as exc:
        return ("http", 503, f"models not loaded: {exc}")
    except ZhibiaoError as exc:
        return ("http", 422, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - reported as a 500 by the parent, with its type
        log.exception("job %s failed", fn)
        return ("error", f"{type(exc).__name__}: {str(exc)[:200]}")


# ----------------------------------------------------------------------------- worker side
def _load(loader: str):
    module, _, attr = loader.partition(":")
    import importlib
    return getattr(importlib.import_module(module), attr)


def _worker_main(conn, loader: str, models_path, store: str | None = None) -> None:
    # One thread per worker: the workers are the parallelism; more BLAS/OpenMP threads per
    # worker only fight each other for the same cores.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the server's; it stops the workers
    models = None
    try:
        # the store goes as its URL: each worker opens its own connections (and retrieval index)
        models = _load(loader)(models_path) if store is None else _load(loader)(models_path, store=store)
        conn.send(("ready", getattr(models, "load_seconds", None), getattr(models, "error", "")))
    except BaseException as exc:  # noqa: BLE001 - the parent reports it; this worker answers 503
        conn.send(("failed", f"{type(exc).__name__}: {exc}".splitlines()[0]))
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        conn.send(_answer(fn, models, args))


def load_models(models_path=None, store: str | None = None):
    """The default loader of a worker: the models with one thread per embedder, warmed up
    (with a corpus store, its retrieval index is built by the warm-up, before any request)."""
    import time as _time

    from ..pipeline import Pipeline
    from .models import Models
    t0 = _time.perf_counter()
    nlp = Pipeline.load(models_path, store=store)
    for model in (nlp.normalizer, nlp.recommender):
        for part in (model, getattr(model, "classifier", None), getattr(model, "matcher", None)):
            emb = getattr(part, "embedder", None)
            if emb is not None and hasattr(emb, "threads"):
                emb.threads = 1   # before the warm-up builds the engine with the default (all cores)
    models = Models(normalizer=nlp.normalizer, recommender=nlp.recommender, _pipeline=nlp)
    models.warm_up()
    models.load_seconds = round(_time.perf_counter() - t0, 3)
    return models


# ----------------------------------------------------------------------------- parent side
@dataclass
class _Worker:
    process: Any
    conn: Any
    status: str = "loading"       # loading | ready | failed
    detail: str = ""
    load_seconds: float | None = None


@dataclass
class WorkerPool:
    """``size`` worker processes, each loading the models with ``loader`` (``"module:function"``,
    called with ``models_path``, and ``store=`` the corpus store's URL when there is one) once."""
    size: int = 2
    loader: str = "zhibiao.service.pool:load_models"
    models_path: Any = None
    store: str | None = None
    workers: list = field(default_factory=list)
    _idle: Any = None

    def start(self) -> "WorkerPool":
        self.workers = [self._spawn() for _ in range(self.size)]
        return self

    def _spawn(self) -> _Worker:
        ctx = mp.get_context("spawn")   # a clean interpreter: no copied locks or threads of the server
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, self.loader,
                                                      None if self.models_path is None else str(self.models_path),
                                                      self.store),
                           daemon=True, name="zhibiao-worker")
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def wait_ready(self, timeout: float = 300) -> None:
        """Block until every worker has loaded its models (or failed to)."""
        for w in self.workers:
            if w.status == "loading":
                self._read_status(w, timeout)

    @staticmethod
    def _read_status(w: _Worker, timeout: float | None = None) -> None:
        if timeout is not None and not w.conn.poll(timeout):
            w.status, w.detail = "failed", f"worker did not load its models in {timeout:g} s"
            return
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            w.status, w.detail = "failed", "worker exited while loading the models"
            return
        if msg[0] == "ready":
            w.status, w.load_seconds, w.detail = "ready", msg[1], msg[2] or ""
        else:
            w.status, w.detail = "failed", msg[1]

    @property
    def loaded(self) -> bool:
        return any(w.status == "ready" and not w.detail for w in self.workers)

    @property
    def error(self) -> str:
        return next((w.detail for w in self.workers if w.detail), "")

    @property
    def load_seconds(self) -> float | None:
        return max((w.load_seconds for w in self.workers if w.load_seconds is not None), default=None)

    def _queue(self) -> asyncio.Queue:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for w in self.workers:
                self._idle.put_nowait(w)
        return self._idle

    def _recv_result(self, w: _Worker):
        while True:
            msg = w.conn.recv()   # EOFError once the worker is killed: the waiting thread ends
            if msg[0] in ("ready", "failed"):   # a replacement announcing itself
                w.status = "ready" if msg[0] == "ready" else "failed"
                w.detail = msg[2] if msg[0] == "ready" else msg[1]
                continue
            return msg

    async def run(self, fn: str, *args, deadline: float, budget: float,
                  disconnected: Callable[[], Awaitable[bool]] | None = None):
        loop = asyncio.get_running_loop()
        queue = self._queue()
        w = await _until(queue.get(), deadline, budget, disconnected, on_stop=None)
        try:
            w.conn.send((fn, args))
        except (BrokenPipeError, OSError):
            self._replace(w, queue)
            raise HTTPException(503, "a worker process died; retry the request")
        result = asyncio.ensure_future(loop.run_in_executor(None, self._recv_result, w))
        try:
            msg = await _until(result, deadline, budget, disconnected, on_stop=lambda: self._replace(w, queue))
        except (EOFError, OSError):
            self._replace(w, queue)
            raise HTTPException(503, "a worker process died (out of memory?); retry the request")
        queue.put_nowait(w)
        if msg[0] == "ok":
            return msg[1]
        if msg[0] == "http":
            raise HTTPException(msg[1], msg[2])
        raise RuntimeError(msg[1])

    def _replace(self, w: _Worker, queue: asyncio.Queue) -> None:
        """Kill a worker (its job is abandoned) and put a fresh one in its slot."""
        pid = w.process.pid
        w.process.kill()
        w.process.join(5)
        w.conn.close()
        remove_uploads_of(pid)
        fresh = self._spawn()
        self.workers[self.workers.index(w)] = fresh
        log.warning("worker %s stopped; worker %s started", pid, fresh.process.pid)
        # it joins the idle queue once loaded: a request never waits on (nor is timed out by,
        # nor kills) a worker that is still loading its models
        loop = asyncio.get_running_loop()

        def when_loaded():
            self._read_status(fresh)
            try:
                loop.call_soon_threadsafe(queue.put_nowait, fresh)
            except RuntimeError:   # the event loop has closed: the server stopped meanwhile
                pass
        threading.Thread(target=when_loaded, daemon=True, name="zhibiao-worker-start").start()

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.close()
            except OSError:
                pass
            w.process.kill()
        for w in self.workers:
            w.process.join(5)
            remove_uploads_of(w.process.pid)


async def _until(aw, deadline: float, budget: float, disconnected, on_stop):
    """Await ``aw`` until the deadline, checking every 0.2 s whether the client is still there."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(aw)
    while True:
        left = deadline - loop.time()
        done, _ = await asyncio.wait({task}, timeout=max(0.0, min(0.2, left)))
        if task in done:
            return task.result()
        gone = disconnected is not None and await disconnected()
        if gone or loop.time() >= deadline:
            task.cancel()
            if on_stop is not None:
                on_stop()
            raise ClientGone() if gone else WorkTimeout(budget)


async def run_in_thread(fn: str, models, *args, deadline: float, budget: float, limiter,
                        disconnected=None):
    """The same job in a thread of the server (models loaded in-process). The budget and a hang-up
    end the request; the thread itself cannot be stopped and finishes in the background."""
    import functools

    import anyio
    call = functools.partial(_answer, fn, models, args)
    msg = await _until(anyio.to_thread.run_sync(call, limiter=limiter), deadline, budget, disconnected, None)
    if msg[0] == "ok":
        return msg[1]
    if msg[0] == "http":
        raise HTTPException(msg[1], msg[2])
    raise RuntimeError(msg[1])


# ----------------------------------------------------------------------------- upload copies
def upload_dir() -> tempfile.TemporaryDirectory:
    """A private temp dir for one upload, named after this process so that it can be found and
    removed if the process dies."""
    return tempfile.TemporaryDirectory(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_uploads_of(pid: int | None) -> None:
    if pid is None:
        return
    for p in Path(tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}{pid}-*"):
        shutil.rmtree(p, ignore_errors=True)


def clean_stale_uploads(max_age_s: float = 3600) -> int:
    """Remove upload copies left by processes that no longer run (a server killed mid-request);
    copies in the old naming (no pid) once they are ``max_age_s`` old. Returns how many."""
    removed = 0
    now = time.time()
    for p in Path(tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}*"):
        pid_text = p.name[len(UPLOAD_PREFIX):].split("-", 1)[0]
        try:
            stale = not _alive(int(pid_text)) if pid_text.isdigit() else now - p.stat().st_mtime > max_age_s
        except OSError:
            continue
        if stale:
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed
