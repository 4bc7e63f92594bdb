"""What a document may unpack to, in one place, checked before (or while) a reader spends memory.

An .xlsx or .docx is a zip package: a 1 MB file can inflate to gigabytes (a "zip bomb": one
shared string of 1 GB, millions of empty rows or paragraphs). Every reader of a zip package
(xlsx and docx, documents and rows workbooks alike) calls :func:`check_package` first; the limits
are read from the package's directory, which is cheap, and Python's ``zipfile`` never inflates a
member past the size its directory declares, so a lying directory cannot get round them. A PDF's
Flate streams are held to the same limits by :func:`check_pdf_streams`, which inflates each one
only as far as the point of refusal (a PDF has no directory of sizes to read).
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
``EXCEL_MAX_ROWS``             1,048,576           Excel's rows per sheet (empty rows count); a
                                                   CSV document's rows (a bigger table is a rows
                                                   file: name its column level3)
=============================  ==================  ===========================================

Each refusal is a :class:`~zhibiao.errors.FileTooLarge` with one line saying which limit.
"""
from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

from ..errors import CorruptDocument, FileTooLarge

MAX_PARTS = 2000
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20        # the ratio is only checked on members that unpack past 1 MB
MAX_CELL_CHARS = 32_767            # Excel cannot hold more in a cell
MAX_PARAGRAPHS = 200_000
EXCEL_MAX_ROWS = 1_048_576         # rows of any kind in one sheet, Excel's limit; a CSV document's too
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


_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_END_STREAM = b"endstream"
_IMAGE = re.compile(rb"/Subtype\s*/Image")
_PIECE = 1 << 24


def check_pdf_streams(path: str | Path) -> None:
    """Refuse a PDF whose Flate streams inflate too far: the package limits above (256 MB in all, ratio
    200 on a stream past 1 MB), checked by inflating each stream at most to the point of refusal. pdfminer
    inflates a stream whole, without a limit: a 0.3 MB page of 300 MB ran for minutes.

    >>> import tempfile, os, zlib
    >>> p = os.path.join(tempfile.mkdtemp(), "bomb.pdf")
    >>> _ = open(p, "wb").write(b"%PDF-1.4\\n4 0 obj<</Filter/FlateDecode>>stream\\n" + zlib.compress(b"0" * (8 << 20))
    ...                         + b"\\nendstream endobj\\n%%EOF")
    >>> check_pdf_streams(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zhibiao.errors.FileTooLarge: ...bomb.pdf: stream 1 unpacks more than ... MB from ... KB (the ratio limit is 200): a bomb?
    """
    path = Path(path)
    data = path.read_bytes()
    limit, total, pos, n = max_unpacked_bytes(), 0, 0, 0
    while (m := _STREAM.search(data, pos)) is not None:
        end = data.find(_END_STREAM, m.end())
        end = len(data) if end < 0 else end
        packed, pos, n = end - m.end(), end + len(_END_STREAM), n + 1
        head = data[max(0, m.start() - 2048):m.start()]
        image = _IMAGE.search(head[head.rfind(b"obj"):])   # a flat image compresses like a bomb: no ratio
        # past this a stream is refused for the total (room) or for its ratio
        room = limit - total
        cap = room if image else min(room, max(RATIO_FLOOR_BYTES, packed * MAX_RATIO))
        inflate, rest, out = zlib.decompressobj(), data[m.end():end], 0
        try:
            for _ in range(cap // _PIECE + 2):   # a piece at a time: never the whole stream in memory
                out += len(inflate.decompress(rest, _PIECE))
                rest = inflate.unconsumed_tail
                if not rest or out > cap or inflate.eof:
                    break
        except zlib.error:   # not Flate (a JPEG image, an encrypted stream …): pdfminer judges it
            continue
        if out > cap:
            if cap == room:
                raise FileTooLarge(path, f"the PDF's streams unpack to more than {limit >> 20} MB "
                                         f"(raise it with ZHIBIAO_MAX_UNPACKED_MB)")
            raise FileTooLarge(path, f"stream {n} unpacks more than {cap >> 20} MB from "
                                     f"{max(packed >> 10, 1)} KB (the ratio limit is {MAX_RATIO}): a bomb?")
        total += out


def check_cell(path, text: str, where: str) -> str:
    """``text`` if it fits in a cell, else FileTooLarge naming the cell."""
    if len(text) > MAX_CELL_CHARS:
        raise FileTooLarge(path, f"{where} holds {len(text):,} characters, above the {MAX_CELL_CHARS:,}-character "
                                 f"limit of a cell")
    return text


def check_paragraphs(path, count: int) -> None:
    if count > MAX_PARAGRAPHS:
        raise FileTooLarge(path, f"more than {MAX_PARAGRAPHS:,} paragraphs")


def check_rows(path, count: int, what: str = "rows", hint: str = "") -> None:
    """The rows of a table read from text (a CSV document, a text dump) held to what a sheet holds."""
    if count > EXCEL_MAX_ROWS:
        raise FileTooLarge(path, f"more than {EXCEL_MAX_ROWS:,} {what}, more than a sheet holds{hint}")
