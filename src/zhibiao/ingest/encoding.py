"""Decoding of text files of unknown encoding.

Chinese budget files come in UTF-8 (with or without BOM), GBK and GB18030;
Excel's "Unicode text" export is UTF-16 with a BOM, decoded as such. UTF-8 is
tried first because it fails loudly on GBK bytes; otherwise charset-normalizer
picks the encoding, and the GB family is decoded as GB18030, which is a
superset of GB2312 and GBK.

    >>> decode("项目名称".encode("gbk"))
    '项目名称'
    >>> decode("\\ufeff指标值".encode("utf-8"))
    '指标值'
    >>> decode("三级指标\\t指标值".encode("utf-16"))
    '三级指标\\t指标值'
"""
from __future__ import annotations

from ..errors import UnsupportedFormat

_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "hz"}


def detect_encoding(data: bytes, path="<bytes>") -> str:
    """The encoding :func:`decode` reads ``data`` with (``data`` may be the first lines of a file).

        >>> detect_encoding("项目名称".encode("gbk")), detect_encoding(b"level3,value")
        ('gb18030', 'utf-8-sig')
    """
    return _decode(data, path)[1]


def decode(data: bytes, path="<bytes>") -> str:
    return _decode(data, path)[0]


def _decode(data: bytes, path) -> tuple[str, str]:
    """(text, encoding): each candidate is tried by decoding, and the text that worked is kept."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFormat(path, "not a text document: the content is binary")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel "Unicode text": UTF-16 with a BOM; GB18030 or a guess must not get a go at it
        return data.decode("utf-16", errors="replace"), "utf-16"
    for encoding in ("utf-8-sig", "gb18030"):  # gb18030 strict: most non-GB byte soup fails here
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes
    best = from_bytes(data).best()
    if best is None:
        raise UnsupportedFormat(path, "not a text document: cannot determine its character encoding")
    encoding = "gb18030" if best.encoding.lower().replace("_", "") in _GB_FAMILY else best.encoding
    return data.decode(encoding, errors="replace"), encoding
