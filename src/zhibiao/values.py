"""The value grammar: one 指标值 string → a :class:`ParsedValue` (DESIGN §3).

All language knowledge lives in data files a budget expert can read and correct:

* ``data/operators.tsv``   comparator words (≥, 以上, 不低于, 控制在…以内);
* ``data/units.txt``       units, aliases, dimensions and base conversions (pint style);
* ``data/periods.txt``     deadline and period words (年底, 全年, 开学前);
* ``data/qualitative.txt`` qualitative phrases, yes/no answers and no-target words (无);
* ``data/numerals.txt``    Chinese numerals, 大写 capitals, 成/折, 多/余, 上百/数十.

Numerals are read first (一万三 → 13000, 六十四万零一百四十三元一角七分 → 640143.17元, 二十万亿 →
20 万亿: a 万/亿 with nothing after it stays the unit's prefix, as 700万元 does). When the grammar
is unsure it says so in ``ParsedValue.warnings`` ("code: why"), and when it cannot place a number
it leaves ``number`` empty (kind qualitative) rather than guess. An approximation keeps the number
written with ``op`` ``~`` (约, 左右, 近) or an open bound (500多亿 → ``>`` 500 亿; 上百 → ``>=`` 100)
and an ``approximate`` warning. A cell longer than ``MAX_CHARS`` is read on its first ``MAX_CHARS``
characters with a ``cut`` warning, so every call is linear in the input (bounded, in fact).

The grammar itself is small. After character normalisation a value is, in order,
empty, boolean, a known qualitative phrase, a bare unit (empty), a deadline or
period, one or more quantities ``[label][op] number [unit][op]``, or else
qualitative::

    >>> v = parse_value("85%以上")
    >>> (v.kind, v.op, v.number, v.unit)
    ('numeric', '>=', 85.0, '%')
    >>> parse_value("≥１００％").number
    100.0
    >>> v = parse_value("700万元")
    >>> (v.unit, v.base_value, v.base_unit)
    ('万元', 7000000.0, '元')
    >>> parse_value("45元/平米").unit
    '元/平方米'
    >>> v = parse_value("12月底前", year=2021)
    >>> (v.kind, v.date, v.month)
    ('deadline', '2021-12-31', 12)
    >>> parse_value("百分之九十以上").to_dict()["number"]
    90.0
    >>> [p.label for p in parse_value("给水等于4032.37米；污水等于4119.901米").numbers]
    ['给水', '污水']
    >>> parse_value("个").kind
    'empty'
"""
from __future__ import annotations

import calendar
import math
import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

from .resources import data_file
from .text import normalize_chars

__all__ = ["ParsedValue", "NumberPart", "parse_value", "parse_value_uncached", "parse_split",
           "recombine_split", "format_value", "unit_dimension", "KINDS", "OPS"]

KINDS = ("numeric", "deadline", "period", "boolean", "qualitative", "multi", "empty")
OPS = (">=", "<=", ">", "<", "=", "~")
_OP_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": "=", "~": "约"}


# --------------------------------------------------------------------------- result types

@dataclass(frozen=True)
class NumberPart:
    """One quantity of a ``multi`` value: ``给水等于4032.37米`` → (4032.37, '米', '给水')."""
    number: float
    unit: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class ParsedValue:
    """The parsed 指标值. Immutable, so cached results can be shared safely."""
    text: str
    kind: str
    op: str | None = None
    number: float | None = None
    unit: str | None = None
    base_value: float | None = None
    base_unit: str | None = None
    numbers: tuple[NumberPart, ...] = ()
    date: str | None = None
    start_date: str | None = None
    month: int | None = None
    quarter: int | None = None
    boolean: bool | None = None
    recurring: bool = False
    # why the answer is uncertain, each "code: explanation" (codes: approximate, unit-guessed,
    # unsure, cut, no-target, excel-date); a tuple so the frozen value stays hashable
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain JSON-ready dict; ``numbers`` becomes a list of ``{number, unit, label}``."""
        d = asdict(self)
        d["numbers"] = [dict(p) for p in d["numbers"]]
        d["warnings"] = list(d["warnings"])
        return d


# --------------------------------------------------------------------------- data files

def _lines(name: str):
    """Non-comment, non-blank lines of a data file, stripped."""
    for line in data_file(name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line:
            yield line


def _sections(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in _lines(name):
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        out.setdefault(current, []).append(line)
    return out


def _alternation(words) -> str:
    """A regex alternation, longest first so 大于等于 beats 等于."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


class _Units:
    """The unit table of data/units.txt."""

    def __init__(self):
        self.prefixes: dict[str, float] = {}
        self.alias: dict[str, str] = {}          # spelling → canonical
        self.denominator_alias: dict[str, str] = {}
        self.base: dict[str, tuple[float, str]] = {}   # canonical → (factor, base unit)
        self.dimension: dict[str, str] = {}
        self.context: dict[str, list[tuple[str, str]]] = {}   # 度 → [(温度, ℃), ...]
        relations: dict[str, str] = {}
        for line in _lines("units.txt"):
            parts = [p.strip() for p in line.split("=")]
            name = parts[0]
            if "@" in name:
                spelling, _, word = (x.strip() for x in name.partition("@"))
                self.context.setdefault(spelling, []).append((word, parts[1]))
                continue
            if name.endswith("-"):
                self.prefixes[name[:-1]] = float(parts[1])
                continue
            relations[name] = parts[1]
            self.alias[name] = name
            for a in parts[2:]:
                if a.startswith("/"):
                    self.denominator_alias[a[1:]] = name
                elif a:
                    self.alias.setdefault(a, name)
        for name, rel in relations.items():
            self.base[name], self.dimension[name] = self._resolve(name, relations)
        any_alias = {**self.denominator_alias, **self.alias}
        self.any_alias = any_alias
        self.re_unit = re.compile(_alternation(self.alias))
        self.re_denominator = re.compile(_alternation(any_alias))
        self.re_prefix = re.compile(_alternation(self.prefixes)) if self.prefixes else None
        # a money symbol written before the amount (￥100, $5): a one-character alias of a money unit
        symbols = [a for a, c in self.alias.items() if len(a) == 1 and not a.isalnum()
                   and self.dimension.get(c, "").startswith("money")]
        self.re_money_symbol = re.compile(f"({_alternation(symbols)}){_CURRENCY_AMOUNT}") if symbols else None
        self.money_symbols = frozenset(symbols)

    def _resolve(self, name, relations, depth=0):
        rel = relations[name]
        if rel.startswith("["):
            return (1.0, name), rel.strip("[]")
        factor, _, base = (x.strip() for x in rel.partition("*"))
        (f2, b2), dim = self._resolve(base, relations, depth + 1) if depth < 10 else ((1.0, base), None)
        return (float(factor) * f2, b2), dim

    def match(self, s: str, pos: int, notes: list | None = None) -> tuple[str | None, float, str | None, int]:
        """Longest unit at ``s[pos:]``: (canonical, factor to base, base unit, end) or (None, 1, None, pos).

        Handles a written 万/亿 prefix and compounds joined by / or 每. A spelling whose meaning
        depends on the cell (度) is resolved by its context words; a guess is noted in ``notes``.
        """
        m = self._whole(self.re_unit.match(s, pos), s)
        prefix, end = "", pos
        pm = self.re_prefix.match(s, pos) if self.re_prefix else None
        if pm:
            # 万人次 has no spelling of its own: prefix + unit, when that covers more text
            m2 = self._whole(self.re_unit.match(s, pm.end()), s)
            if m is None or (m2 is not None and m2.end() > m.end()):
                prefix, m, end = pm.group(), m2, pm.end()
        if m:
            canon = self.alias[m.group()]
            if m.group() in self.context:
                canon = self._by_context(m.group(), canon, s, notes)
            factor, base = self.base[canon]
            unit, end = prefix + canon, m.end()
        elif prefix:
            unit, factor, base, end = prefix, 1.0, None, end
        else:
            return None, 1.0, None, pos
        factor *= self.prefixes.get(prefix, 1.0)
        base_parts = [base] if base else []
        # denominators: 元/平米, 元每人每月, 元/人·月, 户/人.月, 元/(人·月) – kept as written (canonicalised)
        bracket = False
        while end < len(s) and (s[end] in "/每·" or (s[end] in ".*×" and "/" in unit)):
            start = end + 1
            if s[end] == "/" and s[start:start + 1] == "(":
                start, bracket = start + 1, True
            d = self.re_denominator.match(s, start)
            if not d:
                break
            canon = self.any_alias[d.group()]
            unit += "/" + canon
            base_parts.append("/" + canon)
            end = d.end()
        if bracket and s[end:end + 1] == ")":
            end += 1
        base_unit = "".join(base_parts) or None
        if base_unit and base_unit.startswith("/"):
            base_unit = None  # bare 万/月: no unit to convert to
        return unit, factor, base_unit, end

    def _by_context(self, spelling: str, default: str, s: str, notes: list | None) -> str:
        for word, canon in self.context[spelling]:
            if word in s:
                return canon
        if notes is not None:
            notes.append(f"unit-guessed: {spelling} read as {default}; the cell names no context")
        return default

    @staticmethod
    def _whole(m: re.Match | None, s: str) -> re.Match | None:
        """A unit written in Latin letters must not run on into more letters (m in mg, t in ton)."""
        if m and m.group()[-1:].isascii() and m.group()[-1:].isalpha() and s[m.end():m.end() + 1].isascii() \
                and s[m.end():m.end() + 1].isalpha():
            return None
        return m

    def dimension_of(self, unit: str) -> str | None:
        dims = []
        for i, part in enumerate(unit.split("/")):
            for p in self.prefixes:
                if part.startswith(p) and part not in self.dimension and part != p:
                    part = part[len(p):]
            if part in self.prefixes:
                dims.append("number")
                continue
            canon = self.alias.get(part) or self.any_alias.get(part)
            if canon is None:
                return None
            dims.append(self.dimension[canon])
        return "/".join(dims)


class _Grammar:
    """Everything compiled from the data files, built once on first use."""

    def __init__(self):
        self.units = _Units()
        # operators
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        for line in _lines("operators.tsv"):
            cols = re.split(r"\t+|\s{2,}", line)
            if len(cols) < 3:
                continue
            word, op, where = cols[0], cols[1], cols[2]
            if where in ("before", "both"):
                before[word] = op
            if where in ("after", "both"):
                after[word] = op
        self.op_before, self.op_after = before, after
        self.re_op_before_end = re.compile(f"(?:{_alternation(before)})\\s*$")
        self.re_op_after = re.compile(f"\\s*(?:{_alternation(after)})")
        self.op_before_max = max(map(len, before)) + 2
        # qualitative and boolean
        sec = _sections("qualitative.txt")
        self.boolean = {}
        for line in sec.get("boolean", []):
            w, _, v = (x.strip() for x in line.partition("="))
            self.boolean[w] = v.lower() == "true"
        self.no_target = set(sec.get("no-target", []))
        words = sec.get("not-a-number", [])
        self.re_not_number = re.compile(_alternation(words)) if words else None
        self.qualitative = {}
        for line in sec.get("qualitative", []):
            w, _, op = (x.strip() for x in line.partition("="))
            self.qualitative[normalize_chars(w)] = op or None
        # periods
        sec = _sections("periods.txt")
        self.named = {}
        for line in sec.get("named", []):
            w, _, rest = (x.strip() for x in line.partition("="))
            kind, start, end = rest.split()
            self.named[w] = (kind, tuple(map(int, start.split("-"))), tuple(map(int, end.split("-"))))
        self.suffix_by = set()
        suffixes = []
        for line in sec.get("suffix", []):
            parts = line.split()
            suffixes.append(parts[0])
            if len(parts) > 1 and parts[1] == "<=":
                self.suffix_by.add(parts[0])
        self.re_suffix = re.compile(_alternation(suffixes))
        self.relative_year = {w.strip(): int(o) for w, _, o in (x.partition("=") for x in sec.get("relative-year", []))}
        # 今年年底: the word is followed by a date word, not by 年 meaning years (今年 is its own 年)
        self.re_relative_year = re.compile(f"(?:{_alternation(self.relative_year)})(?=年|\\d|[一二三四五六七八九十]|第|上|下|底|末)") \
            if self.relative_year else re.compile("(?!)")
        self.re_date_word = re.compile(_alternation(sec.get("date-words", ["日期", "时间"])))
        self.re_range = re.compile(f"^\\s*(?:{_alternation(sec.get('range', ['-']))})\\s*$")
        self.re_point = _point_regex(self.named)
        # cheap test before the date grammar runs: most values have none of these
        self.re_date_hint = re.compile(f"[年月季日号.~/-]|{_alternation(self.named)}")
        self.num = _Numerals(self.units, after)


_G: _Grammar | None = None


def _grammar() -> _Grammar:
    global _G
    if _G is None:
        _G = _Grammar()
    return _G


# --------------------------------------------------------------------------- numbers

_RE_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_RE_NUMBER = re.compile(r"(?:(?<![\dA-Za-z%])-)?\d+(?:\.\d+)?")  # -5% is negative; 90-95 is a range
# parts of a multi value: 1600人、200人; 5万/10万; 90%-95%; 1万元--5万元 (a range separator counts
# only when the text before it holds a number: 增长率-5% is one negative value)
_RE_SPLIT = re.compile(r"[、;,]|/(?=\s*[<>=≥≤约]?\s*\d)|(?P<range>(?:--?|—{1,2}|~|至|到)\s*(?=[<>≥≤]?\d))")
_RE_SPACES = re.compile(r"\s+")
_TRAILING = " \t\n\r\f\v。.;,、!?:"
_PLACEHOLDERS = {"", "-", "--", "/", "—", "无数据", "空", "null", "None", "nan", "NaN", "N/A", "n/a"}
_NUM = r"\d+(?:\.\d+)?"


_RANGE_WORDS = ("到", "至", "-", "~", "—", "与", "和")


class _Numerals:
    """The numeral table of data/numerals.txt and the reading of one numeral run."""

    def __init__(self, units: _Units, op_after: dict):
        sec = _sections("numerals.txt")
        self.digit: dict[str, int] = {}
        self.place: dict[str, int] = {}
        self.mag: dict[str, float] = {}
        canon: dict[str, str] = {}
        for name, table in (("digits", self.digit), ("units", self.place), ("magnitudes", self.mag)):
            for line in sec.get(name, []):
                parts = [p.strip() for p in line.split("=")]
                table[parts[0]] = int(parts[1]) if name != "magnitudes" else float(parts[1])
                for a in [parts[0], *parts[2:]]:
                    canon[a] = parts[0]
        self.zero = next(k for k, v in self.digit.items() if v == 0)
        self.point = "点"
        for line in sec.get("point", []):
            parts = [p.strip() for p in line.split("=")]
            self.point = parts[0]
            for a in parts:
                canon[a] = parts[0]
        self.canon = str.maketrans({k: v for k, v in canon.items() if k != v})
        self.money_end = [w.split("=")[0].strip() for w in sec.get("money", []) if w.endswith("end")]
        self.percent = {w: float(f) for w, _, f in (x.partition("=") for x in sec.get("percent", []))}
        self.percent = {w.strip(): f for w, f in self.percent.items()}
        self.approx = {w.strip(): op.strip() for w, _, op in (x.partition("=") for x in sec.get("approximate", []))}
        self.vague: dict[str, str] = {}
        self.vague_approx: set[str] = set()
        for line in sec.get("vague", []):
            w, _, rest = (x.strip() for x in line.partition("="))
            op, _, num = rest.rpartition(" ")
            self.vague[w] = {">=": "≥", "<=": "≤"}.get(op.strip(), op.strip()) + num
            if op.strip():
                self.vague_approx.add(w)
        chars = "".join(sorted(canon))
        cls = re.escape(chars)
        vague_alt = "|" + _alternation(self.vague) if self.vague else ""
        self.re_any = re.compile(f"[{re.escape(''.join(sorted(set(canon) - set(self.mag))))}]"
                                 f"|(?<=\\d)[{re.escape(''.join(self.mag))}万亿萬億]\\d{vague_alt}")
        self.re_run = re.compile(f"(第?)([0-9.{cls}]+)")
        self.re_frac = re.compile(f"([0-9.{cls}]+)分之([0-9.{cls}]+)")
        self.re_percent_cn = re.compile(f"(百|千)分之([0-9.{cls}]+)")
        # a vague word stands alone: 百余人 is >100人, but 三百余人 is 300余人 (read by re_approx)
        self.re_vague = re.compile(f"(?<![0-9.{cls}])(?:{_alternation(self.vague)})") if self.vague else None
        self.re_pct_tail = re.compile(r"$|[^\u4e00-\u9fff]|以|左|上|及|或|多")   # 九成以上, not 九成新
        self.re_pct_word = re.compile(f"({_NUM})({_alternation(self.percent)})(?={self.re_pct_tail.pattern})")
        self.re_approx = re.compile(f"({_NUM}(?:万亿|万|亿)?)({_alternation(self.approx)})(?![\\d.])")
        hint = "负負下.半元块毛号年首间个又Qq" + "".join(self.percent) + "".join(self.approx)
        self.re_forms_hint = re.compile(f"[{re.escape(hint)}]")   # most values need none of _forms
        # one cheap test that a value needs the numeral passes at all (most, like ≥90% and 是, do not)
        digit_words = re.escape("".join(set(chars) - set(self.mag)))
        pa = re.escape("".join(self.percent) + "".join(self.approx))
        self.re_special = re.compile(
            f"(?!百分比)[{digit_words}负負半毛号首又]|(?<![A-Za-z])[Qq][1-4]|零下|\\d[万亿萬億]+(?:\\d|[{pa}])|(?<!\\d)\\d\\d年"
            f"|\\d\\s*(?:个[万亿]|[块元]\\s*(?:\\d|[角毛分钱整正])|[{pa}])|(?<![\\d.])\\.\\d|之间${vague_alt}")
        # and a plain character class that every match of re_special contains (faster to rule out)
        firsts = "".join(w[0] for w in self.vague)
        self.re_special_chars = re.compile(
            f"[{re.escape(''.join(set(chars + hint + firsts + pa + '万亿萬億零')))}]")
        self.re_money_end = re.compile(f"(?<=元)(?:{_alternation(self.money_end)})") if self.money_end else None
        # words after a numeral run that make it a quantity (besides units, 月, 季度, 年)
        self.followers = tuple(self.percent) + tuple(self.approx) + ("半", "个半", "分之", "毛", "号", "点", "又")
        self.units = units
        self.op_after = op_after

    def value(self, run: str) -> float | None:
        """The value of a canonical run (一万三, 3万4000, 六十四万零一百四十三, 二点五); None if not a numeral."""
        for mag in sorted(self.mag, key=lambda m: -self.mag[m]):
            if mag in run:
                head, _, tail = run.rpartition(mag)
                hv = self.value(head) if head else 1.0
                if hv is None:
                    return None
                m = self.mag[mag]
                if not tail:
                    return hv * m
                if len(tail) == 1 and (tail.isdigit() or tail in self.digit) and tail != self.zero \
                        and tail != "0":
                    d = int(tail) if tail.isdigit() else self.digit[tail]
                    return hv * m + d * m / 10   # 一万三 = 13000: the digit is the next place down
                tv = self.value(tail.lstrip(self.zero + "0") or "0")
                if tv is None or tv >= m:
                    return None
                return hv * m + tv
        return self._section(run)

    def _section(self, t: str) -> float | None:
        if not t:
            return None
        if t.replace(".", "", 1).isdigit():
            return float(t)
        if self.point in t:
            ip, _, fp = t.partition(self.point)
            iv = self._section(ip) if ip else 0.0
            if iv is None or not fp:
                return None
            digits = "".join(c if c.isdigit() else str(self.digit.get(c, "x")) for c in fp)
            return iv + float("0." + digits) if digits.isdigit() else None
        total, cur, after_place, last_place, prev = 0.0, None, False, None, ""
        for tok in re.findall(r"\d+(?:\.\d+)?|.", t):
            if tok[0].isdigit() or tok in self.digit:
                d = float(tok) if tok[0].isdigit() else float(self.digit[tok])
                if prev == "digit":   # 二〇二一: digits without place words
                    if tok[0].isdigit() or not self._digit_string(t):
                        return None
                    cur, after_place = cur * 10 + d, False
                elif tok == self.zero:
                    prev = "zero"
                    continue
                else:
                    cur, after_place = d, prev == "place"
                prev = "digit"
            elif tok in self.place:
                p = self.place[tok]
                if last_place is not None and p >= last_place:
                    return None
                total += (cur if cur is not None else 1) * p
                cur, last_place, prev = None, p, "place"
            else:
                return None
        if cur is not None:
            total += cur * last_place / 10 if after_place and last_place and last_place >= 100 and cur < 10 else cur
        return total

    def _numeral_char(self, c: str) -> bool:
        return bool(c) and (c.isdigit() or c.translate(self.canon) in self.digit or c.translate(self.canon) in self.place)

    def _digit_string(self, t: str) -> bool:
        """二〇二一 and 一九九八 are read digit by digit; 三四个 and 十五六 are 'three or four', no number."""
        return not any(c in self.place for c in t) and (len(t) >= 3 or self.zero in t)

    def convert(self, s: str, g: _Grammar, notes: list) -> str:
        """Chinese and mixed numerals to Arabic: 一万三 → 13000, 六十四万 → 64万, 二点五 → 2.5.

        A Chinese run becomes a number only where a quantity is plausible (before a unit, 月, 季度,
        年, 成, 多, 半, an operator word, after 第, or as the whole value), so 统一 and 进一步 stay words.
        """
        if self.re_vague and (found := self.re_vague.findall(s)):
            for w in found:
                if w in self.vague_approx:
                    notes.append(f"approximate: {w} read as {self.vague[w]}")
            s = self.re_vague.sub(lambda m: self.vague[m.group()], s)
        if "分之" in s:
            s = self.re_percent_cn.sub(self._percent, s)
            s = self.re_frac.sub(self._fraction, s)
        if g.re_not_number is None:
            return self.re_run.sub(lambda m: self._run(m, g, notes), s)
        out, last = [], 0
        for w in g.re_not_number.finditer(s):
            out += [self.re_run.sub(lambda m: self._run(m, g, notes), s[last:w.start()]), w.group()]
            last = w.end()
        out.append(self.re_run.sub(lambda m: self._run(m, g, notes), s[last:]))
        return "".join(out)

    def _percent(self, m: re.Match) -> str:  # 百分之九十 → 90%, 百分之95 → 95%, 千分之五 → 5‰
        v = self.value(m.group(2).translate(self.canon))
        return m.group(0) if v is None else _fmt_number(v) + ("%" if m.group(1) == "百" else "‰")

    def _fraction(self, m: re.Match) -> str:  # 三分之二 → 0.6666666667
        a, b = (self.value(x.translate(self.canon)) for x in m.groups())
        if a is None or b is None or a == 0:
            return m.group(0)
        return _fmt_number(round(b / a, 10))

    def _run(self, m: re.Match, g: _Grammar, notes: list) -> str:
        ordinal, raw = m.group(1), m.group(2)
        s, start, end = m.string, m.start(2), m.end(2)
        run = raw.translate(self.canon)
        # a run never starts with 万/亿 (万一, 亿万) or a point, nor ends with a point
        lead = len(run) - len(run.lstrip("".join(self.mag) + self.point + "."))
        trail = len(run) - len(run.rstrip(self.point + "."))
        if lead or trail:
            run, start, end = run[lead:len(run) - trail], start + lead, end - trail
        if not run or len(run) > 40:   # no numeral is longer; 40 keeps the reading cheap
            return m.group(0)
        if run.isascii():
            return m.group(0)
        for pre in g.units.prefixes:   # 5千万元 and 3.5亿 stay as written: 千万 is the unit's prefix
            if run.endswith(pre) and run[:-len(pre)].replace(".", "", 1).isdigit():
                return m.group(0)
        has_digit_word = any(c in self.digit or c in self.place or c == self.point for c in run)
        if not has_digit_word:
            # 700万 stays as written; 3万4000 becomes 34000
            if not any(c in self.mag and run[i + 1:i + 2].isdigit() for i, c in enumerate(run)):
                return m.group(0)
        else:
            # 五千米 is 5 千米, 三千元 is 3 千元: a final 千/百 that starts a unit belongs to the unit
            if run[-1] in self.place and len(run) > 1 and g.units.re_unit.match(s, end - 1) \
                    and not any(c in self.place or c in self.mag for c in run[:-1]):
                run, end = run[:-1], end - 1
            if not ordinal and not self._quantity_context(s, start, end, run, g):
                return m.group(0)
        v = self.value(run)
        if v is None and len(run) == 2 and s.startswith("折", end) and all(c in self.digit for c in run):
            v = float(self.digit[run[0]] * 10 + self.digit[run[1]])   # 八五折 is 85 %
        if v is None or not math.isfinite(v):
            if has_digit_word and len(run) > 1:
                notes.append(f"unsure: the numeral {raw} was not read (一两个 and 十五六 name no one number)")
            return m.group(0)
        prefix = run[len(run.rstrip("".join(self.mag))):]
        out = _fmt_number(v)
        if prefix and prefix in g.units.prefixes and v:
            out = _fmt_number(round(v / g.units.prefixes[prefix], 10)) + prefix
        return ordinal + s[m.start(2):start] + out + s[end:m.end()]

    def _quantity_context(self, s: str, start: int, end: int, run: str, g: _Grammar) -> bool:
        if run in ("千", "百"):
            return False
        nxt = s[end:end + 4]
        for w in self.percent:
            if nxt.startswith(w):
                return self.re_pct_tail.match(s, end + len(w)) is not None
        if g.units.re_unit.match(s, end) or nxt.startswith(("月", "季度", "年", "日", "万", "亿")) \
                or nxt.startswith(self.followers) or g.re_op_after.match(s, end) \
                or (g.units.re_prefix is not None and g.units.re_prefix.match(s, end)):
            return not (run in self.place and nxt.startswith("分") and not nxt.startswith("分之"))  # 十分重要
        if nxt[:1] in _RANGE_WORDS and self._numeral_char(nxt[1:2]):
            return True   # 一百二十到一百五十万元: the first end of a range
        if s[end:].strip(_TRAILING):
            return False
        head = s[:start].rstrip()
        if head[-1:] in _RANGE_WORDS and (self._numeral_char(head[-2:-1]) or head[-2:-1] in self.mag):
            return True   # 一千万到两千万: the second end
        if head[-1:] in ("块", "元", "毛", "角") and (head[-2:-1].isdigit() or head[-2:-1].translate(self.canon) in self.digit):
            return True   # 一块五: the 角 after 块 with its word left out
        return not head or head.endswith(("负", "-", "约")) or g.re_op_before_end.search(head[-12:]) is not None


def _fmt_number(x: float) -> str:
    """95.0 → '95'; 0.95 → '0.95'; no exponent for ordinary sizes; '' for inf/nan."""
    if not math.isfinite(x):
        return ""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.10f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- deadlines

_Y = r"(?:19|20)\d\d"
_MON = r"(?:1[0-2]|0?[1-9])"
_DAY = r"(?:3[01]|[12]\d|0?[1-9])"
_POS = r"(?:底|末|初|中旬|上旬|下旬|份)"


def _point_regex(named) -> re.Pattern:
    """One point in time: 2021年12月31日, 2021.12, 12月底, 第三季度, 2023年底, 全年, 2021年."""
    words = _alternation(named)
    return re.compile(rf"""
        (?P<q>(?:(?P<y4>{_Y})年)?第?(?P<q4>[1-4])季度(?:末|底)?)
      | (?P<ymd>(?P<y1>{_Y})(?P<s1>[./-]|年)(?P<m1>{_MON})(?:(?P=s1)|月)(?P<d1>{_DAY})日?(?!\d))
      | (?P<ym>(?P<y2>{_Y})(?:年|[./-])(?P<m2>{_MON})(?:月|(?![\d.]))(?P<p2>{_POS})?)
      | (?P<md>(?<![\d.])(?P<m3>{_MON})月(?:(?P<d3>{_DAY})日|(?P<p3>{_POS}))?)
      | (?P<nm>(?:(?P<y5>{_Y})年?|(?<![\d.]))(?P<w5>{words}))
      | (?P<yr>(?P<y6>{_Y})年(?!\d))
    """, re.X)


# 1-12月, 6至12月: the first month of a span is often written without 月
_RE_MONTH_SPAN = re.compile(rf"(?<![\d.年/-])({_MON})\s*(?:-|~|至|到)\s*(?=(?:{_MON})月)")


def _last_day(y: int, m: int) -> int:
    return calendar.monthrange(y, m)[1]


def _iso(y: int | None, m: int, d: int) -> str | None:
    if y is None:
        return None
    d = min(d, _last_day(y, m))
    return f"{y:04d}-{m:02d}-{d:02d}"


def _point(m: re.Match, g: _Grammar):
    """(year, (start m, d), (end m, d), month, quarter, is_period) for one point match."""
    gd = m.groupdict()
    if gd["ymd"]:
        y, mo, d = int(gd["y1"]), int(gd["m1"]), int(gd["d1"])
        if d > _last_day(y, mo):
            return None
        return y, (mo, d), (mo, d), mo, None, False
    if gd["ym"] or gd["md"]:
        y = int(gd["y2"]) if gd["ym"] else None
        mo = int(gd["m2"] or gd["m3"])
        if gd["d3"]:
            d = int(gd["d3"])
            if d > _last_day(2000, mo):
                return None
            return y, (mo, d), (mo, d), mo, None, False
        pos = gd["p2"] or gd["p3"]
        end = {"初": 10, "上旬": 10, "中旬": 20}.get(pos, 31)
        return y, (mo, 1), (mo, end), mo, None, False
    if gd["q"]:
        q = int(gd["q4"])
        return (int(gd["y4"]) if gd["y4"] else None), (3 * q - 2, 1), (3 * q, 31), None, q, False
    if gd["nm"]:
        kind, start, end = g.named[gd["w5"]]
        y = int(gd["y5"]) if gd["y5"] else None
        return y, start, end, (end[0] if kind == "deadline" else None), None, kind == "period"
    if gd["yr"]:
        return int(gd["y6"]), (1, 1), (12, 31), None, None, True
    return None


_RE_DIGIT = re.compile(r"\d")
_RE_RECURRING = re.compile(r"每年|每月|每季度?|逐年|年年")


def _undated(s: str, g: _Grammar) -> str:
    """The text with its dates blanked out: 3月底完成30% → ' 完成30%'."""
    return g.re_point.sub(" ", s)


def _parse_date(text: str, s: str, year: int | None, g: _Grammar) -> ParsedValue | str | None:
    """A deadline or period; or the text with dates blanked when a quantity sits beside them; or None."""
    s = _RE_MONTH_SPAN.sub(r"\1月-", s)
    matches = [m for m in g.re_point.finditer(s) if m.group()]
    if not matches:
        return None
    first = matches[0]
    pts = [_point(first, g)]
    if pts[0] is None:
        return None
    tail_from = first.end()
    if len(matches) > 1 and g.re_range.match(s[first.end():matches[1].start()]):
        second = _point(matches[1], g)
        if second is None:
            return None
        pts.append(second)
        tail_from = matches[1].end()
    head, tail = s[:first.start()], s[tail_from:]
    if first.group("ym") and "年" not in first.group() and g.units.re_unit.match(tail.lstrip()):
        return None  # 2000.5万元 is money, not May 2000
    if _RE_DIGIT.search(head) or _RE_DIGIT.search(tail):
        return _undated(s, g)  # "3月底完成30%": the date is context, the quantity is the value
    recurring = bool(_RE_RECURRING.search(head))
    sm = g.re_suffix.match(tail)
    rest = tail[sm.end():] if sm else tail
    if (rest.strip() or head.strip()) and first.group("w5") and not first.group("y5") and len(pts) == 1:
        return None  # a bare vocabulary word inside prose (当年最低工资标准) is no date
    # 12月底前 / 开学前: "by" that date
    by = (sm and sm.group() in g.suffix_by) or any(first.group().endswith(w) for w in g.suffix_by)
    op = "<=" if by else None
    if len(pts) == 2:
        (y1, s1, _, _, _, _), (y2, _, e2, _, _, _) = pts
        y1 = y1 if y1 is not None else (y2 if y2 is not None else year)
        y2 = y2 if y2 is not None else y1
        return ParsedValue(text, "period", op=op, start_date=_iso(y1, *s1), date=_iso(y2, *e2),
                           recurring=recurring)
    y, start, end, month, quarter, is_period = pts[0]
    y = y if y is not None else year
    if is_period:
        return ParsedValue(text, "period", op=op, start_date=_iso(y, *start), date=_iso(y, *end),
                           recurring=recurring)
    return ParsedValue(text, "deadline", op=op, date=_iso(y, *end), month=month, quarter=quarter,
                       recurring=recurring)


# --------------------------------------------------------------------------- quantities

_RE_INCLUSIVE = re.compile(r"\s*\(\s*含[^()]{0,10}\)")


_UNSURE = "unsure"
_RE_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】")


def _quantity(s: str, g: _Grammar, notes: list):
    """``[label][op] number [unit][op]`` → (label, op, number, unit, factor, base_unit) or None;
    _UNSURE when more digits follow that the grammar cannot place (3个1000平方米)."""
    m = _RE_NUMBER.search(s)
    if not m:
        return None
    number = float(m.group())
    if not math.isfinite(number):  # a 400-digit "number" is a typo or junk, not a quantity
        return None
    head = s[:m.start()].rstrip(" :")
    op = None
    cut = len(head) - g.op_before_max   # the operator word is at the end: look only there
    om = g.re_op_before_end.search(head, cut if cut > 0 else 0)
    if om:
        op = g.op_before[om.group().strip()]
        head = head[:om.start()]
    pos = m.end()
    while pos < len(s) and s[pos] == " ":
        pos += 1
    unit, factor, base_unit, pos = g.units.match(s, pos, notes)
    im = _RE_INCLUSIVE.match(s, pos)   # 95%(含)以上: the bracket says the bound is included
    if im:
        pos = im.end()
    am = g.re_op_after.match(s, pos)
    if am and op is None:
        op = g.op_after[am.group().strip()]
    end = am.end() if am else pos
    more = None
    if _RE_DIGIT.search(s, end) and _RE_DIGIT.search(_RE_BRACKETED.sub("", s[end:])):
        # a bracketed note (20个（100%）) is context; 5户15人 lists two quantities, each with its unit;
        # a number with no unit before another (PM2.5浓度≤35, 7×24小时) cannot be placed
        if unit is None:
            return _UNSURE
        more = s[end:]
    if unit and "/" not in unit and (per := _leading_denominators(head, g)):
        unit += per   # 每人每月190元 says what 190元/人/月 says
        base_unit = base_unit + per if base_unit else None
    elif unit is None and "每" in head and (per := _leading_denominators(head, g)):
        # 每亩300: the amount per 亩 with its 元 left out, as subsidy tables write it
        notes.append(f"unit-guessed: 元 assumed before {per}")
        unit, factor, base_unit = "元" + per, 1.0, "元" + per
    label = head.strip(" :()[]<>《》\"'“”") or None
    return label, op, number, unit, factor, base_unit, more


_RE_PER_HEAD = re.compile(r"(?:每[^\d每]{1,3})+")


def _leading_denominators(head: str, g: _Grammar) -> str:
    """"/人/月" for a head ending in 每人每月 (a short word may follow: 每户补助, 每人每月补贴), else ""."""
    m = None
    for m in _RE_PER_HEAD.finditer(head):
        pass
    if m is None or len(head.rstrip()) - m.end() > 4:
        return ""
    out = ""
    for part in m.group().split("每")[1:]:
        d = g.units.re_denominator.match(part)
        if not d:
            return ""
        out += "/" + g.units.any_alias[d.group()]
    return out


def _share_unit(quantities: list[tuple]) -> list[tuple]:
    """3-5次 and 1600、200人 write the unit once, after the last number; 5万-10万元 writes the
    prefix at each. When the parts that name a whole unit agree, the parts with none, or with
    just its prefix, take it too."""
    named = {q[3] for q in quantities if q[3]}
    whole = {u for u in named if not any(v != u and v.startswith(u) for v in named)}
    if len(whole) != 1:
        return quantities
    unit = whole.pop()
    return [q if q[3] == unit or (q[3] and not unit.startswith(q[3])) else (*q[:3], unit, *q[4:])
            for q in quantities]


def _split(s: str) -> list[str]:
    """The parts of a multi value; a range mark splits only after a number (增长率-5% is one)."""
    parts, last = [], 0
    for m in _RE_SPLIT.finditer(s):
        if m.group("range") is not None and not _RE_DIGIT.search(s, last, m.start()):
            continue
        parts.append(s[last:m.start()])
        last = m.end()
    parts.append(s[last:])
    return [p for p in parts if p.strip()]


def _numeric(text: str, s: str, g: _Grammar, notes: list) -> ParsedValue | None:
    parts = _split(s) if _RE_SPLIT.search(s) else [s]
    quantities = []
    for p in parts:
        for _ in range(64):   # 5户15人: the quantities of one part, one after the other (bounded)
            q = _quantity(p, g, notes)
            if q is None or q is _UNSURE:
                quantities.append(q)
                break
            quantities.append(q[:6])
            if q[6] is None:
                break
            p = q[6]
        else:
            quantities.append(_UNSURE)
    quantities = [q for q in quantities if q is not None]
    if not quantities:
        return None
    if _UNSURE in quantities:
        notes.append("unsure: more numbers than the grammar can place; the number is left empty")
        return ParsedValue(text, "qualitative")
    if len(quantities) == 1:
        label, op, number, unit, factor, base_unit = quantities[0]
        if unit is None and label and number.is_integer() and g.re_date_word.search(label) \
                and (v := _excel_date(text, number, notes)) is not None:
            return replace(v, op=op)   # 完成时间:44561 is a date that lost its number format
        base_value = number * factor if unit is not None else None
        if unit is not None and base_unit is None and factor == 1.0:
            base_value = None
        if base_value is not None and not math.isfinite(base_value):
            base_value = None
        return ParsedValue(text, "numeric", op=op, number=number, unit=unit,
                           base_value=base_value, base_unit=base_unit if base_value is not None else None)
    quantities = _share_unit(quantities)
    ops = {q[1] for q in quantities}
    units = {q[3] for q in quantities}
    numbers = tuple(NumberPart(q[2], q[3], q[0]) for q in quantities)
    return ParsedValue(text, "multi", op=ops.pop() if len(ops) == 1 else None,
                       unit=units.pop() if len(units) == 1 else None, numbers=numbers)


# --------------------------------------------------------------------------- entry points

_RE_TIGHTEN = re.compile(r"(?<=[\d%])\s+(?=\S)|(?<=[<>=≥≤年月])\s+(?=\d)")


# Two targets on two lines or side by side in one cell (≥90%\n≥95%, 1600人 200人) are two parts,
# unless the first line is only an operator word (不低于 95%): see _separate_parts.
_RE_PART_BREAK = re.compile(r"(?<=[\d%\u4e00-\u9fff])(?<![年月])\s+(?=[<>=≥≤]?\s*\d)")
_CURRENCY_AMOUNT = r"\s*(\d[\d,]*(?:\.\d+)?)(?![\d,.])(?!\s*[万亿千百]?(?:元|美元|欧元|英镑|日元))"


def _separate_parts(s: str, g: _Grammar) -> str:
    first = _RE_DIGIT.search(s)
    first_digit = first.start() if first else len(s)

    def repl(m: re.Match) -> str:
        if first_digit >= m.start():
            return m.group()
        return m.group() if g.re_op_before_end.search(s, max(0, m.start() - g.op_before_max), m.start()) else ";"
    return _RE_PART_BREAK.sub(repl, s)


def _clean(text: str, g: _Grammar) -> str:
    s = normalize_chars(text)
    if " " in s:
        s = _RE_SPACES.sub(" ", s)
        s = _RE_CJK_SPACE.sub("", s)   # 小于 或 等于 → 小于或等于
        s = _separate_parts(s, g)
    if not g.units.money_symbols.isdisjoint(s):   # ￥100 → 100元, $5 → 5美元
        s = g.units.re_money_symbol.sub(lambda m: m.group(2) + g.units.alias[m.group(1)], s)
    for _ in range(3):  # （≥90%）。 → ≥90%
        t = s.rstrip(_TRAILING)
        if len(t) >= 2 and t[0] in "([【" and t[-1] in ")]】":
            t = t[1:-1].strip()
        if t == s:
            break
        s = t
    if "," in s:
        s = _RE_THOUSANDS.sub("", s)
    # 17 个 → 17个; keep spaces between words of prose
    return _RE_TIGHTEN.sub("", s) if " " in s else s


_RE_CJK_SPACE = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_RE_NEG = re.compile(r"(?:负|負|零下)\s*(?=\.?\d)")
_RE_MIXED_FRACTION = re.compile(r"(\d+)又(0\.\d+)")   # 三又二分之一 = 3又0.5 = 3.5
_RE_LEAD_DOT = re.compile(r"(?<![\d.])\.(?=\d)")
_RE_HALF_AFTER = re.compile(r"(\d+)(个?)半(?=个?(?:月|小时|钟头|天|年|学期|周))")
_RE_UNIT_HALF = re.compile(r"(\d+)([^\d\s半]{1,4}?)半")
_RE_HALF_ALONE = re.compile(r"(?<![上下前后\d多大每])半(?=个?(?:月|小时|天|年|学期))")
_RE_MONEY = re.compile(rf"({_NUM})(元|块)(?:零?(\d)(角|毛))?(?:零?(\d)(分)?)?(钱)?")
_RE_KUAI = re.compile(r"(\d+)(?:块|元)(\d)(?=$|[^\u4e00-\u9fff\d.])")   # 一块五 = 3元5 style: 1.5元
_RE_MAO = re.compile(r"(?<![\d.])(\d)毛(?:(\d)分?)?钱?(?![\d.])")
_RE_GE_MAG = re.compile(r"(?<=\d)\s*个(?=万|亿)")
_RE_Q = re.compile(r"(?<![A-Za-z])[Qq]([1-4])(?![\dA-Za-z])")
_RE_HAO = re.compile(r"(\d{1,2})月(\d{1,2})号")
_RE_YY = re.compile(r"(?<![\d.])(\d\d)年(?=\d{1,2}月|底|末|初|上半年|下半年|第?\d季度)")
_RE_BETWEEN = re.compile(r"(?:在|介于)?(.*?\d.*?)(?:与|和|及|至|到|--?|~)([<>≥≤]?\d.*?)之?间")
MAX_CHARS = 1000   # a cell longer than this is read on its first MAX_CHARS characters, with a `cut` warning


def _forms(s: str, g: _Grammar, notes: list) -> str:
    """Spoken and written forms around a number, after numerals are Arabic: 负3 → -3, .5 → 0.5,
    1吨半 → 1.5吨, 123元1角1分 → 123.11元, 9成 → 90%, 500多亿 → >500亿, 12月30号 → 12月30日."""
    if "又" in s:
        s = _RE_MIXED_FRACTION.sub(lambda m: _fmt_number(round(int(m.group(1)) + float(m.group(2)), 10)), s)
    if "负" in s or "負" in s or "零下" in s:
        s = _RE_NEG.sub(lambda m: "零下-" if m.group().startswith("零下") else "-", s)   # 零下 stays as 度's context
    if "." in s:
        s = _RE_LEAD_DOT.sub("0.", s)
    if "半" in s:
        s = _RE_HALF_AFTER.sub(r"\1.5\2", s)
        s = _RE_UNIT_HALF.sub(lambda m: m.group(1) + ".5" + m.group(2)
                              if m.group(2) in g.units.alias else m.group(), s)
        s = _RE_HALF_ALONE.sub("0.5", s)
    if "元" in s or "块" in s:
        if s[-1:].isdigit() or "块" in s:
            s = _RE_KUAI.sub(r"\1.\2元", s)
        s = _RE_MONEY.sub(_money, s)
        if g.num.re_money_end:
            s = g.num.re_money_end.sub("", s)
    if "毛" in s:
        s = _RE_MAO.sub(lambda m: "0." + m.group(1) + (m.group(2) or "") + "元", s)
    if g.num.re_pct_word.search(s):
        s = g.num.re_pct_word.sub(_percent_word(g), s)
    if g.num.re_approx.search(s):
        s = g.num.re_approx.sub(_approx(g, s, notes), s)
    if "号" in s:
        s = _RE_HAO.sub(r"\1月\2日", s)
    if "年" in s:
        s = _RE_YY.sub(lambda m: ("20" if int(m.group(1)) <= 50 else "19") + m.group(1) + "年", s)
    if "个亿" in s or "个万" in s:
        s = _RE_GE_MAG.sub("", s)   # 45个亿 is 45亿
    if "Q" in s or "q" in s:
        s = _RE_Q.sub(r"第\1季度", s)   # 2021年Q1 is the first quarter, not the number 1
    if "首季" in s:
        s = s.replace("首季度", "第1季度").replace("首季", "第1季度")
    if s.endswith("间") and len(s) <= 60 and (m := _RE_BETWEEN.fullmatch(s)):
        s = m.group(1) + "-" + m.group(2)   # 10000与20000之间 is the range 10000-20000
    return s


def _relative_year(m: re.Match, s: str, year: int | None, g: _Grammar) -> str:
    """今年年底 with year=2021 is 2021年底; 次年3月 is 2022年3月; without a year the word is dropped."""
    offset = g.relative_year[m.group()]
    if year is None:
        return "" if m.end() < len(s) else m.group()
    return f"{year + offset}年"


def _money(m: re.Match) -> str:
    """123元1角1分 → 123.11元, 10块3毛 → 10.3元, 10块钱 → 10元; 3块 alone stays a count."""
    jiao, fen = m.group(3), m.group(5)
    if fen and not m.group(6) and not (jiao and m.end() == len(m.string)):
        return m.group()   # a bare digit is 分 only after 角/毛 at the end (一块两毛五)
    if not (jiao or fen or m.group(7)):
        return m.group()
    v = float(m.group(1)) + int(jiao or 0) / 10 + int(fen or 0) / 100
    return _fmt_number(round(v, 2)) + "元"


def _percent_word(g: _Grammar):
    def repl(m: re.Match) -> str:   # 9成 → 90%, 8折 → 80%, 85折 (八五折) → 85%
        num, word = m.group(1), m.group(2)
        if word == "折" and len(num) == 2 and num.isdigit():
            return num + "%"
        return _fmt_number(round(float(num) * g.num.percent[word], 10)) + "%"
    return repl


def _approx(g: _Grammar, s: str, notes: list):
    def repl(m: re.Match) -> str:   # 500多亿 → >500亿: more than the figure written
        end = m.end()
        if not (end == len(s) or s[end] in "万亿" or g.units.re_unit.match(s, end)
                or g.re_op_after.match(s, end)):
            return m.group()
        op = g.num.approx[m.group(2)]
        notes.append(f"approximate: {m.group(1)}{m.group(2)} read as {op} {m.group(1)}")
        return op + m.group(1)
    return repl


_RE_SERIAL = re.compile(r"\d{2},?\d{3}(?:\.0+)?")
_EXCEL_EPOCH = 693594   # date(1899, 12, 30).toordinal(): Excel's day 0 (after its 1900 leap-year bug)


def _excel_date(text: str, n: float, notes: list) -> ParsedValue | None:
    """44561 in a date column is 2021-12-31 (an Excel serial that lost its number format)."""
    import datetime
    if not 25569 <= n <= 73051:   # 1970-01-01 … 2099-12-31
        return None
    d = datetime.date.fromordinal(_EXCEL_EPOCH + int(n))
    notes.append(f"excel-date: {_fmt_number(n)} read as the Excel serial date {d.isoformat()}")
    return ParsedValue(text, "deadline", date=d.isoformat(), month=d.month)


def _parse(text: str, year: int | None, context: str | None = None) -> ParsedValue:
    g = _grammar()
    notes: list[str] = []
    src = text
    if len(text) > MAX_CHARS:
        src = text[:MAX_CHARS]
        notes.append(f"cut: {len(text)} characters, only the first {MAX_CHARS} were read")
    v = _parse_inner(text, src, year, g, notes, context)
    if v.op == "~" and not any(n.startswith("approximate") for n in notes):
        notes.append("approximate: the value is written as an approximation")
    if notes:
        v = replace(v, warnings=tuple(dict.fromkeys(notes)))
    return v


def _parse_inner(text: str, src: str, year: int | None, g: _Grammar, notes: list,
                 context: str | None) -> ParsedValue:
    s = _clean(src, g)
    if s in _PLACEHOLDERS:
        return ParsedValue(text, "empty")
    if s in g.boolean:
        return ParsedValue(text, "boolean", boolean=g.boolean[s])
    if s in g.no_target:
        notes.append(f"no-target: {s} is read as no target written (it may also mean zero)")
        return ParsedValue(text, "empty")
    if s in g.qualitative:
        return ParsedValue(text, "qualitative", op=g.qualitative[s])
    unit, factor, base_unit, end = g.units.match(s, 0)
    if unit is not None and end == len(s):
        return ParsedValue(text, "empty", unit=unit)
    if context is not None and _RE_SERIAL.fullmatch(s) and g.re_date_word.search(context):
        v = _excel_date(text, float(s.replace(",", "")), notes)
        if v is not None:
            return v
    if "年" in s and g.re_relative_year.search(s):
        s = g.re_relative_year.sub(lambda m: _relative_year(m, s, year, g), s)
    if g.num.re_special_chars.search(s) and g.num.re_special.search(s):   # most values (≥90%, 是) have nothing for the numeral passes
        if g.num.re_any.search(s):
            s = g.num.convert(s, g, notes)
        if g.num.re_forms_hint.search(s):
            s = _forms(s, g, notes)
    if _RE_DIGIT.search(s):
        v = _parse_date(text, s, year, g) if g.re_date_hint.search(s) else None
        if isinstance(v, ParsedValue):
            return v
        v = _numeric(text, s if v is None else v, g, notes)
        if v is not None:
            return v
    else:
        v = _parse_date(text, s, year, g) if g.re_date_hint.search(s) else None  # 年底, 开学前完成
        if isinstance(v, ParsedValue):
            return v
    return ParsedValue(text, "qualitative")


def parse_value_uncached(text: str, year: int | None = None, *, context: str | None = None) -> ParsedValue:
    """:func:`parse_value` without the cache (for benchmarks and for huge one-off inputs)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        return _parse(text, year, context if isinstance(context, str) else None)
    except Exception:  # noqa: BLE001 - the contract: any str gets an answer
        return ParsedValue(text, "qualitative", warnings=("unsure: the value grammar failed on this text",))


@lru_cache(maxsize=65536)
def _parse_cached(text: str, year: int | None) -> ParsedValue:
    return parse_value_uncached(text, year)


def parse_value(text: str, year: int | None = None, *, context: str | None = None) -> ParsedValue:
    """Parse one 指标值. Never raises on a ``str``; results are cached and immutable.

    ``context`` is the column header or indicator name when the caller knows it: a bare
    Excel serial (44561) in a date column (完成时间) is then read as that date.

    >>> parse_value("不少于三次").to_dict()["unit"]
    '次'
    >>> parse_value("是").boolean
    True
    >>> parse_value("2020年1月--2020年11月").start_date
    '2020-01-01'
    >>> parse_value("44561", context="项目完成时间").date
    '2021-12-31'
    """
    if not isinstance(text, str):
        return parse_value_uncached(text, year)
    if context is not None and _RE_SERIAL.fullmatch(text.strip()):
        return parse_value_uncached(text, year, context=context)
    return _parse_cached(text, year)


def recombine_split(op, number, unit) -> str:
    """Join 符号/值/单位 columns into one value string.

    >>> recombine_split("大于等于", "95", "%")
    '≥95%'
    >>> recombine_split("定性", "提升", "")
    '提升'
    >>> recombine_split("=", "1", "个")
    '=1个'
    >>> recombine_split("≥", 40.0, "件")
    '≥40件'
    >>> recombine_split("≥", "95%", "%"), recombine_split("反向", "5%", "")
    ('≥95%', '≤5%')
    """
    def cell(x) -> str:
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return ""
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return _fmt_number(float(x))
        return normalize_chars(str(x))

    o, n, u = cell(op), cell(number), cell(unit)
    g = _grammar()
    sym = ""
    if o in g.op_before or o in g.op_after:
        sym = _OP_SYMBOL[g.op_before.get(o) or g.op_after[o]]
    if not _RE_NUMBER.fullmatch(n.replace(",", "")):
        # 定性/文字描述 columns: the value column holds the words; or a number already written with
        # its unit (95%, or 0.8 shown as 80%), which still takes the operator column's symbol
        text = (n + (u if u and not n.endswith(u) else "")) if n else u
        return sym + text if sym and _RE_NUMBER.match(n) else text
    n = _RE_NUMBER.fullmatch(n.replace(",", "")).group()
    if n:
        n = _fmt_number(float(n))
    return f"{sym}{n}{u}"


def parse_split(op, number, unit, year: int | None = None) -> ParsedValue:
    """Parse split 符号/值/单位 columns as if they had been written as one value.

    >>> v = parse_split("大于等于", "95", "%")
    >>> (v.op, v.number, v.unit, v.text)
    ('>=', 95.0, '%', '≥95%')
    """
    return parse_value(recombine_split(op, number, unit), year=year)


def format_value(op: str | None, number: float | None, unit: str | None) -> str:
    """Clean rendering of a target, for suggestions.

    >>> format_value(">=", 95.0, "%")
    '≥95%'
    >>> format_value("<=", 700.0, "万元")
    '≤700万元'
    >>> format_value("=", 1203.0, "米")
    '=1203米'
    """
    sym = _OP_SYMBOL.get(op or "", "")
    num = "" if number is None else _fmt_number(float(number))
    return f"{sym}{num}{unit or ''}"


def unit_dimension(unit: str | None) -> str | None:
    """The dimension of a canonical unit, for features and unit/category checks.

    >>> [unit_dimension(u) for u in ("%", "万元", "元/平方米", "人次", "个工作日", "米")]
    ['percent', 'money', 'money/area', 'count', 'time', 'length']
    >>> unit_dimension("斗") is None
    True
    """
    if not unit:
        return None
    try:
        return _grammar().units.dimension_of(normalize_chars(unit))
    except Exception:  # noqa: BLE001
        return None
