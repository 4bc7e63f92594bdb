"""What a document may unpack to, in one place, checked before (or while) a reader spends memory.

An .xlsx or .docx is a zip package: a 1 MB file can inflate to gigabytes (a "zip bomb": one
shared string of 1 GB, millions of empty rows or paragraphs). Every reader of a zip package
(xlsx, docx, and the PDF reader's streams) calls :func:`check_package` first; the limits are
read from the package's directory, which is cheap, and Python's ``zipfile`` never inflates a
member past the size its directory declares, so a lying directory cannot get round them.
While reading, readers count what they build against the limits below (cells, paragraphs,
characters per cell), so a table that gets past the package check is still bounded.

Limits (environment variables raise them for a trusted batch):

=============================  ==================  ===========================================
limit                          default             why
=============================  ==================  ===========================================
``MAX_UNPACKED_BYTES``         256 MB              the largest real budget workbooks unpack to
                               ZHIBIAO_MAX_        tens of MB
                               UNPACKED_MB
``MAX_PARTS``                  2,000               a workbook with a few hundred sheets and
                                                   their parts; a bomb can hold millions
``MAX_RATIO``                  200 (parts > 1 MB)  real XML compresses 5-50x; bombs 1,000x
``MAX_CELL_CHARS``             32,767              Excel's own limit for one cell
``MAX_PARAGRAPHS``             200,000             a 2,000-page document
=============================  ==================  ===========================================

Each refusal is a :class:`~zhibiao.errors.FileTooLarge` with one line saying which limit.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import CorruptDocument, FileTooLarge

MAX_PARTS = 2000
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20        # the ratio is only checked on members that unpack past 1 MB
MAX_CELL_CHARS = 32_767            # Excel cannot hold more in a cell
MAX_PARAGRAPHS = 200_000
DEFAULT_MAX_UNPACKED_MB = 256


def max_unpacked_bytes() -> int:
    return int(float(os.environ.get("ZHIBIAO_MAX_UNPACKED_MB", DEFAULT_MAX_UNPACKED_MB)) * 1024 * 1024)


def check_package(path: str | Path) -> None:
    """Refuse a zip package whose members are too many, unpack too large or too compressed.

    >>> import io, zipfile, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "bomb.xlsx")
    >>> with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
    ...     z.writestr("xl/sharedStrings.xml", b"a" * (4 << 20))
    >>> check_package(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zhibiao.errors.FileTooLarge: ...bomb.xlsx: xl/sharedStrings.xml unpacks 4 MB from ... KB (ratio ..., the limit is 200): a zip bomb?
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptDocument(path, f"not a readable zip package ({type(exc).__name__})") from None
    if len(infos) > MAX_PARTS:
        raise FileTooLarge(path, f"the package holds {len(infos)} parts, above the {MAX_PARTS}-part limit")
    limit = max_unpacked_bytes()
    total = 0
    for info in infos:
        total += info.file_size
        if total > limit:
            raise FileTooLarge(path, f"the package unpacks to more than {limit >> 20} MB "
                                     f"(raise it with ZHIBIAO_MAX_UNPACKED_MB)")
        if info.file_size > RATIO_FLOOR_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > MAX_RATIO:
                raise FileTooLarge(path, f"{info.filename} unpacks {info.file_size >> 20} MB from "
                                         f"{max(info.compress_size >> 10, 1)} KB (ratio {ratio:.0f}, the limit is "
                                         f"{MAX_RATIO}): a zip bomb?")


def check_cell(path, text: str, where: str) -> str:
    """``text`` if it fits in a cell, else FileTooLarge naming the cell."""
    if len(text) > MAX_CELL_CHARS:
        raise FileTooLarge(path, f"{where} holds {len(text):,} characters, above the {MAX_CELL_CHARS:,}-character "
                                 f"limit of a cell")
    return text


def check_paragraphs(path, count: int) -> None:
    if count > MAX_PARAGRAPHS:
        raise FileTooLarge(path, f"more than {MAX_PARAGRAPHS:,} paragraphs")
