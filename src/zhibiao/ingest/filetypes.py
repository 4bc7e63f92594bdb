"""The file types zhibiao reads: one table (suffix → reader kind → accepted magic bytes) that
extract, the batch engine and the service share.

    >>> sniff("表.xlsm", b"PK\\x03\\x04")
    '.xlsm'
    >>> ".csv" in SUPPORTED_SUFFIXES
    True
"""
from __future__ import annotations

from pathlib import Path

from ..errors import EmptyDocument, UnsupportedFormat
from .api import READERS

SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(READERS)

# Office files are zip containers (or OLE when encrypted or old-style); text must not look binary.
_ZIP = (b"PK\x03\x04",)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
KINDS: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "xlsx": ("an Excel workbook", _ZIP + _OLE),
    "xls": ("an Excel 97-2003 workbook", _OLE + _ZIP),
    "docx": ("a Word document", _ZIP + _OLE),
    "csv": ("CSV text", ()),
    "text": ("a text dump", ()),
}
BINARY_MAGIC = _ZIP + _OLE + (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!",
                              b"7z\xbc\xaf", b"\x7fELF", b"MZ")


def kind_of(path: str | Path) -> str | None:
    """The reader kind of a file name (xlsx, xls, docx, csv, text), None when zhibiao does not read it."""
    return READERS.get(Path(path).suffix.lower())


def sniff(name: str, head: bytes) -> str:
    """Check a file by suffix and first bytes; return its suffix.

    Raises UnsupportedFormat (a suffix zhibiao does not read, or content that is not what the
    suffix says) or EmptyDocument.
    """
    suffix = Path(name or "").suffix.lower()
    kind = READERS.get(suffix)
    if kind is None:
        raise UnsupportedFormat(name or "the upload", f"unsupported file type {suffix or '(no suffix)'}; "
                                                      f"accepted: {', '.join(SUPPORTED_SUFFIXES)}")
    if not head:
        raise EmptyDocument(name, "the file is empty")
    label, magics = KINDS[kind]
    if magics:
        if not head.startswith(magics):
            raise UnsupportedFormat(name, f"the content is not {label} (wrong file signature)")
    elif head.startswith(BINARY_MAGIC) or b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFormat(name, f"the content is binary, not {label}")
    return suffix
