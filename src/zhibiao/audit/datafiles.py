"""Reading the audit's tab-separated data files: '#' comments, a header line, `|` lists, `-` empty."""
from __future__ import annotations

from functools import lru_cache

from ..resources import data_file


def split_list(cell: str) -> tuple[str, ...]:
    cell = cell.strip()
    return () if cell in ("", "-") else tuple(p.strip() for p in cell.split("|") if p.strip())


@lru_cache(maxsize=None)
def read_tsv(name: str) -> tuple[dict, ...]:
    """Records of ``data/<name>`` as dicts keyed by the header; a malformed line raises ValueError."""
    header = None
    out = []
    for n, line in enumerate(data_file(name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if header is None:
            header = parts
            continue
        if len(parts) != len(header):
            raise ValueError(f"{name}:{n}: expected {len(header)} tab-separated fields, got {len(parts)}")
        out.append(dict(zip(header, parts)))
    return tuple(out)
