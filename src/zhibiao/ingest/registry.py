"""The one registry of file types (DESIGN.md §9): suffix + magic bytes → reader.

``extract``, the batch engine and the service all accept the same types through
it: :data:`SUFFIXES` lists them, :func:`check_head` type-checks a file's first
bytes (an upload), :func:`sniff` checks a file on disk and says which reader
takes it, and :func:`read` runs that reader.

    >>> ".pdf" in SUFFIXES and ".doc" in SUFFIXES and ".et" in SUFFIXES
    True
    >>> check_head("表.pdf", b"%PDF-1.7\\n").reader
    'pdf'
    >>> check_head("表.doc", b"PK\\x03\\x04...").reader   # a .docx saved under .doc
    'docx'
    >>> check_head("表.docx", b"%PDF-1.4")
    Traceback (most recent call last):
    zhibiao.errors.UnsupportedFormat: 表.docx: the content is a PDF, not a Word document (.docx); rename it to .pdf
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import (CorruptDocument, EmptyDocument, EncryptedDocument, FileNotFound, FileTooLarge,
                      UnsupportedFormat)
from .limits import check_package

ZIP = b"PK\x03\x04"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2/CFB: Office 97-2003, WPS, encrypted OOXML
PDF = b"%PDF"
RTF = b"{\\rtf"
HEAD_BYTES = 1024  # a PDF header may follow up to 1 KB of junk (PDF 32000 §7.5.2 tolerance in readers)

_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_NOT_DOCUMENTS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                  b"\x1f\x8b": "a gzip archive", b"Rar!": "a RAR archive", b"7z\xbc\xaf": "a 7z archive",
                  b"\x7fELF": "a program", b"MZ": "a program"}


@dataclass(frozen=True)
class FileType:
    """``magics`` maps a signature to the reader that takes content starting with it;
    an empty mapping means text, which must not look binary."""
    suffix: str
    label: str
    magics: tuple[tuple[bytes, str], ...]

    @property
    def reader(self) -> str:
        """The reader for content with the expected (first) signature."""
        return self.magics[0][1] if self.magics else ("csv" if self.suffix == ".csv" else "text")


# Order of magics: the expected signature first. OLE in .docx/.xlsx is an encrypted
# package (reported as such); a zip in .doc/.wps/.et is an OOXML file under an old name.
FILE_TYPES: dict[str, FileType] = {t.suffix: t for t in (
    FileType(".txt", "a text dump", ()),
    FileType(".csv", "CSV text", ()),
    FileType(".docx", "a Word document (.docx)", ((ZIP, "docx"), (OLE, "docx"))),
    FileType(".xlsx", "an Excel workbook (.xlsx)", ((ZIP, "xlsx"), (OLE, "xlsx"))),
    FileType(".xlsm", "an Excel workbook (.xlsm)", ((ZIP, "xlsx"), (OLE, "xlsx"))),
    FileType(".xls", "an Excel 97-2003 workbook (.xls)", ((OLE, "xls"),)),
    FileType(".pdf", "a PDF", ((PDF, "pdf"),)),
    FileType(".doc", "a Word 97-2003 document (.doc)", ((OLE, "doc"), (RTF, "doc"), (ZIP, "docx"))),
    FileType(".wps", "a WPS Writer document (.wps)", ((OLE, "doc"), (RTF, "doc"), (ZIP, "docx"))),
    # Kingsoft .et is usually BIFF8 inside OLE: the xls reader tries it before LibreOffice.
    FileType(".et", "a WPS Spreadsheets workbook (.et)", ((OLE, "et"), (ZIP, "xlsx"))),
)}
SUFFIXES: tuple[str, ...] = tuple(FILE_TYPES)
# What the service's upload check used to call UPLOAD_TYPES: suffix → (label, signatures).
UPLOAD_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    s: (t.label, tuple(m for m, _ in t.magics)) for s, t in FILE_TYPES.items()}


@dataclass(frozen=True)
class Sniffed:
    suffix: str
    reader: str  # text, csv, docx, xlsx, xls, pdf, doc (via LibreOffice), et (xls, else LibreOffice)


def _has_pdf_header(head: bytes) -> bool:
    return PDF in head[:HEAD_BYTES]


def _what(head: bytes) -> str | None:
    for magic, what in _NOT_DOCUMENTS.items():
        if head.startswith(magic):
            return what
    return None


def file_type(name: str | Path) -> FileType:
    """The registered type of a file name; UnsupportedFormat if its suffix is not one."""
    suffix = Path(str(name)).suffix.lower()
    if suffix not in FILE_TYPES:
        raise UnsupportedFormat(name, f"unsupported file type {suffix or '(no suffix)'}; "
                                      f"zhibiao reads {', '.join(sorted(SUFFIXES))}")
    return FILE_TYPES[suffix]


def check_head(name: str | Path, head: bytes) -> Sniffed:
    """Type-check a file by its name and first bytes (at least 8, ideally 1 KB).

    Raises UnsupportedFormat (unknown suffix, wrong signature, binary text) or
    EmptyDocument; returns the reader to use.
    """
    ft = file_type(name)
    if not head:
        raise EmptyDocument(name, "the file is empty")
    if (what := _what(head)) is not None:
        raise UnsupportedFormat(name, f"not a document: the content is {what}")
    if not ft.magics:
        if head.startswith((ZIP, OLE, PDF)) or (b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff"))):
            raise UnsupportedFormat(name, f"the content is binary, not {ft.label}")
        return Sniffed(ft.suffix, ft.reader)
    for magic, reader in ft.magics:
        if head.startswith(magic) or (magic == PDF and _has_pdf_header(head)):
            return Sniffed(ft.suffix, reader)
    if _has_pdf_header(head):
        raise UnsupportedFormat(name, f"the content is a PDF, not {ft.label}; rename it to .pdf")
    if ft.suffix == ".xls" and head.startswith(ZIP):
        raise CorruptDocument(name, "not a valid .xls: this is an .xlsx package; rename it to .xlsx")
    if ft.suffix == ".pdf":
        raise CorruptDocument(name, "not a valid PDF: the file does not start with %PDF (damaged or renamed?)")
    if ft.suffix in (".docx", ".xlsx", ".xlsm"):
        raise CorruptDocument(name, f"not a valid {ft.suffix}: the file is not a zip package (damaged or renamed?)")
    raise CorruptDocument(name, f"not a valid {ft.suffix}: the content is not {ft.label}")


def sniff(path: str | Path, limit: int) -> Sniffed:
    """Every check a file on disk gets before a reader opens it; returns the reader to use."""
    path = Path(path)
    if not path.exists():
        raise FileNotFound(path, "no such file")
    if path.is_dir():
        raise UnsupportedFormat(path, "is a directory, not a document")
    file_type(path)
    size = path.stat().st_size
    if size == 0:
        raise EmptyDocument(path, "the file is empty")
    if size > limit:
        raise FileTooLarge(path, f"file is {size / 2**20:.0f} MB, above the {limit / 2**20:.0f} MB limit "
                                 f"(raise it with ZHIBIAO_MAX_FILE_MB)")
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    found = check_head(path, head)
    if head.startswith(OLE) and _ENCRYPTED_PACKAGE in path.read_bytes():
        raise EncryptedDocument(path, "the file is password protected; save an unprotected copy")
    if found.reader in ("docx", "xlsx"):
        if head.startswith(OLE):
            raise CorruptDocument(path, f"not a valid .{found.reader}: this is an old binary Office file "
                                        f"(save it as .{found.reader})")
        if not zipfile.is_zipfile(path):
            raise CorruptDocument(path, f"not a valid .{found.reader}: the file is not a zip package "
                                        f"(damaged or renamed?)")
        check_package(path)   # a zip bomb is refused from the package directory, before any inflating
    return found


def read(path: Path, found: Sniffed):
    """Run the reader ``sniff`` chose. Library errors propagate (api.read_document types them)."""
    if found.reader == "text":
        from .text_dump import read_text_file
        return read_text_file(path)
    if found.reader == "csv":
        from .csv_reader import read_csv
        return read_csv(path)
    if found.reader == "docx":
        from .docx_reader import read_docx
        return read_docx(path)
    if found.reader == "xlsx":
        from .xlsx_reader import read_xlsx
        return read_xlsx(path)
    if found.reader == "xls":
        from .xls_reader import read_xls
        return read_xls(path)
    if found.reader == "pdf":
        from .pdf_reader import read_pdf
        return read_pdf(path)
    if found.reader == "et":
        from .legacy import read_et
        return read_et(path)
    from .legacy import read_legacy_doc
    return read_legacy_doc(path)
