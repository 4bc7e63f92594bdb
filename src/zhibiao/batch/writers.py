"""Batch output: chunks appended to .csv/.jsonl or written as parquet part files, a manifest for
resuming, and the final .xlsx conversion."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import ZhibiaoError
from ..tables import atomic_path
from .chunks import ERROR_COLUMN, RESULT_COLUMNS

if TYPE_CHECKING:  # annotations only
    from .readers import _Input

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet", ".xlsx")
_OUR_PART = re.compile(r"\.?part-\d{6}\.parquet(\.tmp)?")   # the part files (and their temporaries) we write
MANIFEST_VERSION = 1


def _manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


def _write_manifest(path: Path, manifest: dict) -> None:
    """Atomically, and on disk before the rename: after a crash, the manifest never lists a chunk
    the output does not hold."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def _input_signature(inputs: list[_Input]) -> list[dict]:
    sig = []
    for inp in inputs:
        st = inp.path.stat()
        sig.append({"path": str(inp.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return sig


class _Writer:
    """Appends committed chunks to the output and records them in the manifest."""

    def __init__(self, output: Path, settings: dict, base_columns: list[str], resume: bool,
                 warnings: list[str]):
        self.output = output
        self.fmt = output.suffix.lower().lstrip(".")
        self.manifest_path = _manifest_path(output)
        self.warnings = warnings
        self.base_columns = base_columns
        self._warned_extra = False
        self._schema = None
        manifest = None
        if resume and self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            for k, v in settings.items():
                if manifest.get("settings", {}).get(k) != v:
                    raise ZhibiaoError(
                        f"cannot resume {output}: {k} differs from the interrupted run "
                        f"({manifest.get('settings', {}).get(k)!r} then, {v!r} now); rerun without --resume")
        if manifest is None:
            manifest = {"version": MANIFEST_VERSION, "settings": settings, "columns": None,
                        "offset": 0, "chunks": [], "complete": False}
            self._reset_output()
        else:
            self._restore(manifest)
        self.manifest = manifest
        self.done = {c["id"]: c for c in manifest["chunks"]}
        self.columns: list[str] | None = manifest["columns"]
        _write_manifest(self.manifest_path, manifest)

    # -- setup
    def _reset_output(self):
        import shutil
        if self.output.is_dir():
            # only a store of our own part files is replaced, never a directory of the user's files
            # (run_batch's refuse_overwrite has already refused a directory at a file output's path)
            if self.fmt != "parquet" or not all(_OUR_PART.fullmatch(p.name) for p in self.output.iterdir()):
                raise ZhibiaoError(f"{self.output}: is a directory holding files zhibiao did not write; "
                                   f"choose another output path")
            shutil.rmtree(self.output)
        elif self.output.exists():
            self.output.unlink()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "parquet":
            self.output.mkdir()
        else:
            self.output.write_bytes(b"")

    def _restore(self, manifest):
        if self.fmt == "parquet":
            self.output.mkdir(parents=True, exist_ok=True)
            keep = {c["part"] for c in manifest["chunks"]}
            for p in self.output.iterdir():
                if p.name not in keep and _OUR_PART.fullmatch(p.name):   # a part the manifest never committed
                    p.unlink()
        else:
            if not self.output.exists():
                if manifest["offset"]:
                    raise ZhibiaoError(f"cannot resume: {self.output} is gone; rerun without --resume")
                self.output.write_bytes(b"")
            with open(self.output, "r+b") as fh:
                size = fh.seek(0, 2)
                if size < manifest["offset"]:
                    raise ZhibiaoError(f"cannot resume: {self.output} is shorter than the manifest says; "
                                       "rerun without --resume")
                fh.truncate(manifest["offset"])

    # -- commit
    def _conform(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.columns is None:
            result_cols = [c for c in df.columns if c not in self.base_columns]
            extra_in = [c for c in result_cols if c not in RESULT_COLUMNS and c != ERROR_COLUMN]
            self.columns = [c for c in self.base_columns if c not in result_cols] + [
                *[c for c in df.columns if c in RESULT_COLUMNS or c == ERROR_COLUMN or c in extra_in]]
            self.manifest["columns"] = self.columns
        unknown = [c for c in df.columns if c not in self.columns]
        if unknown and not self._warned_extra:
            self.warnings.append(f"columns not in the output schema were dropped: {', '.join(map(str, unknown))}")
            self._warned_extra = True
        return df.reindex(columns=self.columns)

    def commit(self, chunk_id: str, df: pd.DataFrame, failures: list[str], stats: dict) -> None:
        df = self._conform(df).reset_index(drop=True)
        record = {"id": chunk_id, "rows": len(df), "failures": failures, "stats": stats}
        if self.fmt == "parquet":
            record["part"] = self._write_part(len(self.manifest["chunks"]), df)
        else:
            self.manifest["offset"] = self._append(df)
            record["end"] = self.manifest["offset"]
        self.manifest["chunks"].append(record)
        self.done[chunk_id] = record
        _write_manifest(self.manifest_path, self.manifest)

    def _append(self, df: pd.DataFrame) -> int:
        """Append a chunk at the manifest's offset (cutting what an interrupted run left past it), streamed
        to the file: the chunk's text is never held whole beside the chunk."""
        first = self.manifest["offset"] == 0
        with open(self.output, "r+b") as fh:
            fh.seek(self.manifest["offset"])
            fh.truncate()
            if self.fmt == "csv":
                if first:
                    fh.write(b"\xef\xbb\xbf")
                _write_csv(df, fh, header=first)
            else:
                for lo in range(0, len(df), WRITE_SLICE_ROWS):
                    text = df.iloc[lo:lo + WRITE_SLICE_ROWS].to_json(orient="records", lines=True, force_ascii=False)
                    fh.write(text.encode("utf-8") + (b"" if text.endswith("\n") else b"\n"))
            fh.flush()
            os.fsync(fh.fileno())
            return fh.tell()

    def _write_part(self, n: int, df: pd.DataFrame) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq
        table = pa.Table.from_pandas(_mixed_as_text(df), preserve_index=False)
        if self._schema is None:
            if n > 0:
                self._schema = pq.read_schema(self.output / self.manifest["chunks"][0]["part"])
            else:
                self._schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                                          for f in table.schema]).remove_metadata()
        try:
            table = table.cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            self.warnings.append(f"part {n}: schema differs from the first part")
        name = f"part-{n:06d}.parquet"
        tmp = self.output / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.output / name)
        return name

    def finish(self) -> None:
        if self.columns is None:  # no chunk at all: still write a header / an empty part
            self.columns = [*self.base_columns, *RESULT_COLUMNS, ERROR_COLUMN]
            self.manifest["columns"] = self.columns
            if self.fmt != "jsonl":
                self.commit("empty", pd.DataFrame(columns=self.columns), [], {})
        self.manifest["complete"] = True
        _write_manifest(self.manifest_path, self.manifest)

    @property
    def rows_written(self) -> int:
        return sum(c["rows"] for c in self.manifest["chunks"])


# rows of a chunk turned into text at a time: a 50,000-row chunk's CSV is about 30 MB
WRITE_SLICE_ROWS = 5_000


def _mixed_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its object columns (mixed values, e.g. from jsonl inputs) as text, for Arrow."""
    mixed = [c for c in df.columns if df[c].dtype == object]
    if not mixed:
        return df
    df = df.copy(deep=False)
    for c in mixed:
        s = df[c]
        df[c] = s.where(s.isna(), s.astype(str)).astype("str")
    return df


def _write_csv(df: pd.DataFrame, fh, header: bool) -> None:
    """A chunk as CSV into ``fh`` (pyarrow's writer: ~15x faster than DataFrame.to_csv)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pandas' writer: same data (quoting differs), slower
        for lo in range(0, max(len(df), 1), WRITE_SLICE_ROWS):
            fh.write(df.iloc[lo:lo + WRITE_SLICE_ROWS].to_csv(index=False, header=header and lo == 0,
                                                              lineterminator="\n").encode("utf-8"))
        return
    table = pa.Table.from_pandas(_mixed_as_text(df), preserve_index=False)
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                                  for f in table.schema]))
    pacsv.write_csv(table, fh, write_options=pacsv.WriteOptions(include_header=header,
                                                               batch_size=WRITE_SLICE_ROWS))


def _parts_to_xlsx(writer: _Writer, xlsx: Path) -> None:
    """Convert a finished parquet store to one .xlsx, part by part, then remove the store."""
    import shutil

    from ..tables import write_xlsx
    parts = [writer.output / c["part"] for c in writer.manifest["chunks"]]
    tmp = xlsx.with_name(f".{xlsx.name}.tmp.xlsx")
    write_xlsx((pd.read_parquet(p) for p in parts), tmp)
    os.replace(tmp, xlsx)
    shutil.rmtree(writer.output, ignore_errors=True)
    writer.manifest_path.unlink(missing_ok=True)
