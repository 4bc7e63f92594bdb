"""A brief run of the atheris fuzz target, so CI exercises it on every change."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed on this platform")
TARGET = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_values.py"


def test_value_grammar_survives_fuzzing():
    proc = subprocess.run([sys.executable, str(TARGET), "-runs=20000", "-max_total_time=60"]
                          + (["-seed=1"] if os.environ.get("CI") else []),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Done 20000 runs" in proc.stderr or "DONE" in proc.stderr.upper(), proc.stderr[-500:]
