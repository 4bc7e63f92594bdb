"""Read and write row tables by file suffix: .csv, .xlsx, .jsonl, .parquet."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import UnsupportedFormat

WRITABLE = (".csv", ".xlsx", ".jsonl", ".parquet")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise UnsupportedFormat(path, f"cannot write {suffix or 'a file without suffix'}; use one of {', '.join(WRITABLE)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(path, index=False, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        df.to_excel(path, index=False)
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        try:
            df.to_parquet(path, index=False)
        except ImportError as exc:
            raise UnsupportedFormat(path, "writing parquet needs pyarrow (pip install pyarrow)") from exc
    return path


def read_rows(path: str | Path) -> pd.DataFrame:
    """Read a rows file written by ``write_table`` (or any table with a level3 column)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if suffix == ".jsonl":
        return pd.read_json(path, orient="records", lines=True, dtype=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    raise UnsupportedFormat(path, f"not a rows file: {suffix}")
