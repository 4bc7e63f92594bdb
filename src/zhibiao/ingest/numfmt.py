"""Excel number formats with literal text: show a cell the way Excel does.

Indicator targets are often typed as bare numbers with the unit in the format
(``0"人"``, ``"≥"0%``, ``yyyy"年"m"月"d"日"``); without the literals the unit is
lost. :func:`display` renders such formats and leaves every other format to
:func:`.cells.display_value`, so plain formats keep their established output
(full precision, no thousands separators, ISO dates).

    >>> display(1200, '0"平方米"'), display(35, '"≥"0"人"'), display(0.9, '"≥"0%')
    ('1200平方米', '≥35人', '≥90%')
    >>> display(0.35, '0.00"万元"'), display(12345.6, '#,##0.0"吨"'), display(500, '0\\\\人')
    ('0.35万元', '12345.6吨', '500人')
    >>> import datetime as dt
    >>> display(dt.datetime(2024, 12, 31), '[$-804]yyyy"年"m"月"d"日"'), display(dt.datetime(2024, 6, 1), 'yyyy"年"mm"月"')
    ('2024年12月31日', '2024年06月')
    >>> display(-3, '0"人";"减少"0"人"'), display(7, '"第"000"号"'), display(1.5, '0.##"米"')
    ('减少3人', '第007号', '1.5米')
    >>> display(0.95, "0%"), display(10891.615675, "#,##0.00")
    ('95%', '10891.615675')

Not understood → the plain rendering: currency (a "¥" amount would read as 元,
not the table's 万元), conditions, scientific, Chinese numerals, text formats.

    >>> display(1200.5, '_ ￥* #,##0.00_ '), display(5, '[>=10]0"个";0"件"'), display(7, '[DBNum1]0"个"')
    ('1200.5', '5', '7')
"""
from __future__ import annotations

import datetime as _dt
import re
from decimal import ROUND_HALF_UP, Decimal

from .cells import display_value

_TOKEN = re.compile(r'"([^"]*)"|\\(.)|[_*].|\[([^\]]*)\]|(General)|(.)', re.DOTALL | re.IGNORECASE)
_CURRENCY = set("$¥￥€£")
_COLOUR = re.compile(r"black|blue|cyan|green|magenta|red|white|yellow|colou?r\d+", re.IGNORECASE)


def display(value, number_format: str | None = "General") -> str:
    """The cell text Excel shows, for formats with literal text; else :func:`display_value`."""
    try:
        text = _render(value, number_format or "General")
    except (ValueError, ArithmeticError, OverflowError):
        text = None
    return display_value(value, number_format) if text is None else text


def _tokens(section: str) -> list[tuple[str, str]] | None:
    """("lit", text), ("punct", char) and ("code", char) tokens; None for what is not rendered."""
    out = []
    for m in _TOKEN.finditer(section):
        quoted, escaped, bracket, general, char = m.groups()
        if quoted is not None or escaped is not None:
            out.append(("lit", quoted if quoted is not None else escaped))
        elif bracket is not None:
            # colours ([Red]) and a bare locale tag ([$-804]) change nothing; [$¥-804], [>=10],
            # [DBNum1] (Chinese numerals) and [$-F800] (the system's long date) do
            if not (_COLOUR.fullmatch(bracket) or re.fullmatch(r"\$-(?![Ff])[0-9A-Fa-f]{1,8}", bracket)):
                return None
        elif general is not None:
            out.append(("code", "G"))
        elif char is None:
            continue  # "_x" (a space as wide as x) and "*x" (fill) add nothing to the text
        elif char in _CURRENCY:
            return None
        elif char.isascii() and (char.isalnum() or char in "#?.,%@"):
            out.append(("code", char))
        else:
            out.append(("punct" if char.isascii() else "lit", char))
    return out


def _has_text(tokens) -> bool:
    """A literal beyond spacing and bare ASCII punctuation: a unit, a sign like ≥, a CJK word."""
    return any(kind == "lit" and text.strip() for kind, text in tokens)


def _render(value, number_format: str) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if '"' not in number_format and "\\" not in number_format and number_format.isascii():
        return None  # no literal text: the plain rendering is the established one
    sections = _split(number_format)
    if isinstance(value, (_dt.date, _dt.datetime)):
        tokens = _tokens(sections[0])
        return _date(value, tokens) if tokens is not None and _has_text(tokens) else None
    if not isinstance(value, (int, float)):
        return None
    section, sign = sections[0], "-" if value < 0 else ""
    if value < 0 and len(sections) > 1:
        section, sign = sections[1], ""  # the negative section writes its own sign
    elif value == 0 and len(sections) > 2:
        section = sections[2]
    tokens = _tokens(section)
    if tokens is None or not _has_text(tokens):
        return None
    return _number(abs(value), sign, tokens)


def _split(number_format: str) -> list[str]:
    """Sections split on ";" outside quotes."""
    parts, buf, quoted = [], "", False
    for ch in number_format:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    return parts + [buf]


def _number(value: float, sign: str, tokens) -> str | None:
    core = [i for i, (kind, ch) in enumerate(tokens) if kind == "code" and ch in "0#?.,G"]
    if not core:
        return None  # e.g. a zero section "-": the plain number says more
    first, last = core[0], core[-1]
    spec = "".join(ch for _, ch in tokens[first:last + 1])
    if any(kind != "code" for kind, _ in tokens[first:last + 1]) or spec.endswith(",") \
            or ("G" in spec and spec != "G"):
        return None  # digits with text inside (000-0000), scaling commas, General mixed with digits
    outside = [ch for i, (kind, ch) in enumerate(tokens) if kind == "code" and not first <= i <= last]
    if any(ch != "%" for ch in outside):
        return None  # E+00, @, date codes …
    number = Decimal(repr(float(value))) * (100 ** outside.count("%"))
    if spec == "G":
        digits = display_value(float(number))
    else:
        whole, _, frac = spec.partition(".")
        places, keep = len(frac.replace(",", "")), frac.count("0")
        digits = f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
        digits = digits.zfill(whole.count("0") + len(digits) - len(digits.split(".")[0]))  # 000 → 005
        if places > keep:  # "#" decimals drop trailing zeros
            head, _, tail = digits.partition(".")
            tail = tail[:keep] + tail[keep:].rstrip("0")
            digits = f"{head}.{tail}" if tail else head
    if float(digits) == 0:
        sign = ""  # Excel shows -0.001 with format 0"人" as 0人
    before = "".join(t for _, t in tokens[:first])  # literals, punctuation and "%" signs
    after = "".join(t for _, t in tokens[last + 1:])
    return (before + sign + digits + after).strip()


def _date(value, tokens) -> str | None:
    # group runs of the same code letter: yyyy, m, dd, hh …
    runs: list[tuple[str, str]] = []
    for kind, ch in tokens:
        if kind == "code" and runs and runs[-1][0] == "code" and runs[-1][1][-1].lower() == ch.lower():
            runs[-1] = ("code", runs[-1][1] + ch)
        else:
            runs.append((kind, ch))
    codes = [text[0].lower() for kind, text in runs if kind == "code"]
    out, k = [], -1
    for kind, text in runs:
        if kind != "code":
            out.append(text)
            continue
        k += 1
        code, n = codes[k], len(text)
        if code not in "ymdhs" or n > (4 if code == "y" else 2):
            return None  # AM/PM, era years, month and weekday names, 0 …
        if code == "m" and {"h", "s"} & set(codes[max(0, k - 1):k + 2]):
            code = "M"  # minutes: an m next to hours or seconds
        field = {"y": value.year, "m": value.month, "d": value.day, "M": getattr(value, "minute", 0),
                 "h": getattr(value, "hour", 0), "s": getattr(value, "second", 0)}[code]
        if code == "y":
            out.append(f"{field:04d}" if n > 2 else f"{field % 100:02d}")
        else:
            out.append(f"{field:02d}" if n == 2 else str(field))
    return "".join(out).strip()
