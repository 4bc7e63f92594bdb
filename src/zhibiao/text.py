"""Character normalisation and domain-aware word segmentation.

Every module that reads indicator text goes through :func:`normalize_chars`
first, so that ``≥１００％`` and ``>=100%`` look the same downstream::

    >>> normalize_chars("　≧１００％（含）")
    '≥100%(含)'
    >>> tokenize("群众满意度≥90%")
    ['群众满意度', '≥', '90%']
"""
from __future__ import annotations

import logging
import threading

from .resources import data_file

__all__ = ["normalize_chars", "tokenize", "tokenizer", "as_text"]


def as_text(t) -> str:
    """One cell as ``str``: ``None``, NaN and ``pandas.NA`` → ``""``, anything else → ``str()``.

    >>> as_text(None), as_text(float("nan")), as_text(3), as_text("是")
    ('', '', '3', '是')
    """
    if isinstance(t, str):
        return t
    if t is None:
        return ""
    try:  # NaN, numpy NaN scalars, pandas.NA
        if t != t:  # noqa: PLR0124
            return ""
    except (TypeError, ValueError):
        pass
    return str(t)


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    # Full-width ASCII block (！..～) maps 1:1 onto ASCII (!..~).
    for cp in range(0xFF01, 0xFF5F):
        table[cp] = chr(cp - 0xFEE0)
    # Spaces that Word and Excel love: NBSP, ideographic, thin, zero-width.
    for cp in (0x00A0, 0x3000, 0x2002, 0x2003, 0x2009, 0x200A, 0x202F, 0x205F):
        table[cp] = " "
    for cp in (0x200B, 0x200C, 0x200D, 0xFEFF):
        table[cp] = ""
    table.update({
        ord("≧"): "≥", ord("≦"): "≤", ord("⩾"): "≥", ord("⩽"): "≤",
        ord("‹"): "<", ord("›"): ">", ord("〈"): "<", ord("〉"): ">",
        ord("﹤"): "<", ord("﹥"): ">", ord("﹦"): "=", ord("﹪"): "%",
        ord("−"): "-", ord("–"): "-", ord("—"): "-", ord("―"): "-", ord("─"): "-",
        ord("〜"): "~", ord("～"): "~",
        ord("\t"): " ", ord("\r"): " ", ord("\n"): " ",
    })
    return table


_TABLE = _build_table()


def normalize_chars(s: str) -> str:
    """全角→半角 for digits, letters and punctuation; ％→%, ≧→≥, ≦→≤; odd spaces → ' '; stripped.

    Chinese punctuation outside the full-width block (、。《》) is kept, since
    it carries meaning for the value grammar.

    >>> normalize_chars("＞２，０００元")
    '>2,000元'
    >>> normalize_chars("≦5％\\u00a0")
    '≤5%'
    """
    return s.translate(_TABLE).strip()


_tokenizer = None
_lock = threading.Lock()


def tokenizer():
    """The shared ``jieba.Tokenizer``, created on first use with the domain user dictionary."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)  # jieba prints cache chatter on stderr at INFO
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for word, freq, tag in _userdict():
                    tok.add_word(word, freq, tag)
                _tokenizer = tok
    return _tokenizer


def _userdict():
    """Entries of data/userdict.txt: ``word [freq] [tag]``; ``#`` starts a comment."""
    path = data_file("userdict.txt")
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        tag = parts[-1] if len(parts) > 1 and not parts[-1].isdigit() else None
        yield parts[0], freq, tag


def tokenize(s: str) -> list[str]:
    """Normalise, then segment with jieba and the domain dictionary; whitespace tokens dropped.

    >>> tokenize("预算执行率达到９５％以上")
    ['预算执行率', '达到', '95%', '以上']
    """
    return [w for w in tokenizer().lcut(normalize_chars(s)) if w.strip()]
