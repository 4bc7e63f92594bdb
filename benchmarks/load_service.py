"""Bounded local load test of the HTTP service, on loopback only.

Starts ``zhibiao.service.app.serve`` in a child process on 127.0.0.1 (a free port),
waits for /health, then 8 client threads (httpx, one keep-alive connection each)
send a fixed number of requests to /suggest and to /normalize, interleaved, and the
script prints p50/p95/p99 latency per endpoint and stops the server. It never talks
to anything but 127.0.0.1, and it ends by itself (--max-seconds bounds the whole run).

    .venv/bin/python benchmarks/load_service.py                      # 400 + 400 requests, 8 clients
    .venv/bin/python benchmarks/load_service.py --requests 100 --json out.json
    .venv/bin/python benchmarks/load_service.py --clients 20 --endpoints /suggest --requests 600 --probe-health

/suggest bodies rotate over a fixed list of project names; /normalize bodies are whole
projects (their indicator rows, 6-7 on average) from training_data/rows.csv. Texts repeat,
so after the first pass the embedding cache is warm, as it is for a clerk revising a draft.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"   # loopback only, never configurable

PROJECTS = [
    "农村环卫保洁项目", "城区道路维修工程", "老旧小区改造项目", "中小学校舍维修改造", "社区居家养老服务补贴",
    "高标准农田建设项目", "河道综合治理工程", "公共文化服务体系建设", "城乡居民医疗保险补助", "就业创业补助资金",
    "智慧城市信息化平台运维", "森林防火能力提升", "农村饮水安全巩固提升", "残疾人康复救助", "科技创新券补贴",
    "公共厕所新建及改造", "城市绿化养护服务", "应急物资储备库建设", "乡村振兴示范村建设", "市场监管执法装备购置",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def normalize_bodies(limit: int = 60) -> list[dict]:
    import pandas as pd
    path = ROOT / "training_data" / "rows.csv"
    if not path.exists():
        return [{"rows": [{"level2": "数量指标", "level3": "新建道路长度", "value": "≥1000米"},
                          {"level2": "服务对象满意度指标", "level3": "群众满意度", "value": "≥90%"}]}]
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = ["level1", "level2", "level3", "description", "value", "basis"]
    bodies = []
    for _pid, part in df.groupby("project_id", sort=False):
        rows = [{c: r[c][:200] if c != "description" else r[c][:4000] for c in cols} for _, r in part.iterrows()]
        bodies.append({"project_name": str(part["project_name"].iloc[0])[:500], "rows": rows[:200]})
        if len(bodies) == limit:
            break
    return bodies


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def start_server(port: int, models: str | None) -> subprocess.Popen:
    env = dict(os.environ)
    if models:
        env["ZHIBIAO_MODELS"] = models
    code = ("from zhibiao.service.app import serve; "
            f"serve({HOST!r}, {port}, log_level='warning')")
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with code {proc.returncode} before it was ready")
        try:
            r = httpx.get(base + "/health", timeout=2)
            if r.status_code == 200 and r.json().get("models_loaded"):
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"server not healthy after {timeout:.0f}s")


def tree_rss_mb(pid: int) -> float | None:
    """RSS of the server and its worker processes."""
    try:
        import psutil
        p = psutil.Process(pid)
        return round(sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20)
    except Exception:  # noqa: BLE001 - psutil missing or a process gone
        return None


def bomb_xlsx() -> bytes:
    """A 24 MB shared string in a ~25 KB .xlsx (refused by the package limits)."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/sharedStrings.xml", "<sst><si><t>" + "项" * (8 << 20) + "</t></si></sst>")
    return buf.getvalue()


def audit_body(rows: int = 2000) -> dict:
    bodies = normalize_bodies(10_000)
    flat = [r for b in bodies for r in b["rows"]]
    return {"rows": [flat[i % len(flat)] | {"level3": f"{flat[i % len(flat)]['level3']}{i}"} for i in range(rows)]}


def probe_health(base: str, seconds: float = 20) -> dict:
    """/health latency, every 50 ms, while a bomb upload and a 2,000-row /audit are handled."""
    results: dict[str, object] = {}
    # built before the probe starts: the probe times the server, not this process building bodies
    bomb = bomb_xlsx()
    audit = json.dumps(audit_body(), ensure_ascii=False).encode()

    def heavy():
        with httpx.Client(base_url=base, timeout=300) as c:
            t0 = time.perf_counter()
            r = c.post("/normalize", files={"file": ("bomb.xlsx", bomb, XLSX)})
            results["bomb"] = {"status": r.status_code, "seconds": round(time.perf_counter() - t0, 2)}
            t0 = time.perf_counter()
            r = c.post("/audit", content=audit, headers={"content-type": "application/json"})
            results["audit_2000"] = {"status": r.status_code, "seconds": round(time.perf_counter() - t0, 2)}
    t = threading.Thread(target=heavy)
    t.start()
    lat = []
    with httpx.Client(base_url=base, timeout=30) as c:
        deadline = time.monotonic() + seconds
        while (t.is_alive() or not lat) and time.monotonic() < deadline:
            t0 = time.perf_counter()
            c.get("/health")
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
    t.join()
    results["health_ms"] = {"n": len(lat), "p50": round(percentile(lat, .5), 1), "p95": round(percentile(lat, .95), 1),
                            "max": round(max(lat), 1)}
    return results


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def run_load(base: str, n_requests: int, clients: int, k: int, deadline: float,
             endpoints: tuple[str, ...] = ("/suggest", "/normalize")) -> dict:
    normalize = normalize_bodies()
    # The job list: the endpoints interleaved, n_requests of each, split over clients.
    jobs = []
    for i in range(n_requests):
        if "/suggest" in endpoints:
            jobs.append(("/suggest", {"text": PROJECTS[i % len(PROJECTS)], "k": k}))
        if "/normalize" in endpoints:
            jobs.append(("/normalize", normalize[i % len(normalize)]))
    latencies: dict[str, list[float]] = {e: [] for e in endpoints}
    errors: dict[str, int] = {e: 0 for e in endpoints}
    lock = threading.Lock()
    next_job = iter(range(len(jobs)))

    def worker():
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < deadline:
                with lock:
                    i = next(next_job, None)
                if i is None:
                    return
                path, body = jobs[i]
                t0 = time.perf_counter()
                try:
                    ok = client.post(path, json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies[path].append(dt)
                    else:
                        errors[path] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"client-{c}") for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out = {"clients": clients, "requests_per_endpoint": n_requests, "wall_seconds": round(wall, 2),
           "throughput_rps": round(sum(len(v) for v in latencies.values()) / wall, 1), "endpoints": {}}
    for path, values in latencies.items():
        ms = [v * 1000 for v in values]
        out["endpoints"][path] = {
            "ok": len(ms), "errors": errors[path],
            "p50_ms": round(percentile(ms, .50), 1), "p95_ms": round(percentile(ms, .95), 1),
            "p99_ms": round(percentile(ms, .99), 1), "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        }
    out["completed"] = all(len(latencies[p]) + errors[p] == n_requests for p in latencies)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per endpoint (default 400)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("-k", type=int, default=10, help="k for /suggest")
    ap.add_argument("--models", help="model directory (default: zhibiao's models/)")
    ap.add_argument("--max-seconds", type=float, default=900, help="hard bound on the whole run")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    ap.add_argument("--endpoints", default="/suggest,/normalize", help="comma-separated (default both)")
    ap.add_argument("--probe-health", action="store_true",
                    help="then time /health while a bomb upload and a 2,000-row /audit are handled")
    args = ap.parse_args(argv)

    started = time.monotonic()
    port = free_port()
    base = f"http://{HOST}:{port}"
    proc = start_server(port, args.models)
    try:
        health = wait_healthy(base, proc, timeout=min(180, args.max_seconds))
        # one untimed pass of each endpoint, so both run warm
        httpx.post(base + "/suggest", json={"text": PROJECTS[0], "k": args.k}, timeout=60)
        httpx.post(base + "/normalize", json=normalize_bodies(1)[0], timeout=60)
        rss_before = tree_rss_mb(proc.pid)
        result = run_load(base, args.requests, args.clients, args.k, deadline=started + args.max_seconds,
                          endpoints=tuple(e.strip() for e in args.endpoints.split(",") if e.strip()))
        result["server_rss_mb"] = {"before": rss_before, "after": tree_rss_mb(proc.pid)}
        if args.probe_health:
            result["probe"] = probe_health(base)
            result["server_rss_mb"]["after_probe"] = tree_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    result["model_load_seconds"] = health.get("load_seconds")
    result["cpus"] = os.cpu_count()
    print(f"zhibiao service load test: {args.clients} clients on {HOST}, "
          f"{args.requests} requests per endpoint, {result['wall_seconds']} s, {result['throughput_rps']} req/s")
    print(f"{'endpoint':<12}{'ok':>6}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for path, e in result["endpoints"].items():
        print(f"{path:<12}{e['ok']:>6}{e['errors']:>8}{e['p50_ms']:>10}{e['p95_ms']:>10}{e['p99_ms']:>10}"
              f"{e['mean_ms']!s:>10}")
    print(f"server RSS (with workers), MB: {result['server_rss_mb']}")
    if "probe" in result:
        print(f"probe: {json.dumps(result['probe'], ensure_ascii=False)}")
    if not result["completed"]:
        print(f"stopped early at --max-seconds {args.max_seconds}")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["completed"] and not any(e["errors"] for e in result["endpoints"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
