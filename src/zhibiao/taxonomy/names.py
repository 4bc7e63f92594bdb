"""The name grammar of 三级指标 (DESIGN §8): object + action + measure (+ qualifier).

The lexicon is data (``zhibiao/data/lexicon/*.tsv``); this module only applies it::

    >>> p = parse_name("新建道路长度（公里）")
    >>> (p.object, p.actions, p.measure)
    ('道路', ('建设',), '长度')
    >>> parse_name("道路建设长度").key == p.key
    True
    >>> parse_name("受益人数").measure, parse_name("受益户数").measure
    ('人数', '户数')
    >>> same_indicator(parse_name("资金到位率"), parse_name("资金拨付及时率"))
    0.0

A name the library lacks still gets a structural ``key``, so unseen indicators group together
across tables instead of being forced onto the nearest library type.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from ..resources import DATA_DIR
from ..text import normalize_chars

__all__ = ["NameParts", "Lexicon", "lexicon", "parse_name", "same_indicator", "subject_similarity"]

LEXICON_DIR = DATA_DIR / "lexicon"
_BRACKETED = re.compile(r"[（(【\[][^（）()【】\[\]]{0,16}[）)】\]]")
_NUMBERING = re.compile(r"^\s*(?:[（(]?[0-9一二三四五六七八九十]{1,3}[）)、.．]|[①-⑳])\s*")
_NOISE = re.compile(r"[\s\d%％≥≤<>=＝~～:：;；,，、。.·•\-—_/\\\"'“”‘’]+")
# Endings that say nothing of what is measured: 完成情况 → 完成, 就业率指标 → 就业率.
_TRAILING = ("情况", "指标", "目标", "程度", "水平")
_JOINERS = "的和及与或并、"


@dataclass(frozen=True)
class NameParts:
    """A parsed indicator name. ``key`` is ``object|action+action|measure``."""
    text: str
    object: str
    actions: tuple[str, ...]
    measure: str
    qualifiers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.object}|{'+'.join(self.actions)}|{self.measure}"

    @property
    def subject(self) -> str:
        """What the measure is of: object and actions, the part two names of one measure must share."""
        return self.object + "".join(self.actions)


@dataclass(frozen=True)
class Lexicon:
    measures: dict        # spelling → canonical measure
    gapped: tuple         # (prefix, suffix, canonical) of spellings with …: 及时…率
    measure_dimensions: dict  # canonical → tuple of unit dimensions ('-' for none)
    measure_category: dict    # canonical → 二级 category or ''
    actions: dict         # spelling → canonical action
    qualifiers: tuple     # spellings, longest first, then by character (one order in every process)
    objects: dict         # spelling → canonical object

    @cached_property
    def max_measure_len(self) -> int:
        return max(map(len, self.measures), default=0)

    @cached_property
    def long_actions(self) -> tuple[str, ...]:
        """Action spellings of two characters or more, longest first (the search order)."""
        return tuple(sorted((s for s in self.actions if len(s) >= 2), key=len, reverse=True))

    @cached_property
    def long_objects(self) -> tuple[str, ...]:
        """Object spellings of two characters or more, longest first."""
        return tuple(sorted((s for s in self.objects if len(s) >= 2), key=len, reverse=True))

    @cached_property
    def _first_chars(self) -> dict:
        """Per list of spellings searched in turn: first character → the positions of its spellings."""
        out = {}
        for kind in ("long_actions", "long_objects", "qualifiers"):
            index: dict[str, list[int]] = {}
            for rank, spelling in enumerate(getattr(self, kind)):
                if spelling:
                    index.setdefault(spelling[0], []).append(rank)
            out[kind] = index
        return out

    def candidates(self, text: str, kind: str) -> list[str]:
        """The spellings of ``kind`` (``long_actions``, ``long_objects``, ``qualifiers``) that can occur in
        ``text``, in their search order: those whose first character it has. A name has a dozen
        characters, so the search tries a few spellings instead of all (a batch parses every new name).
        Searching removes or masks characters, never adds any, so none is missed."""
        index = self._first_chars[kind]
        spellings = getattr(self, kind)
        return [spellings[r] for r in sorted({r for ch in set(text) for r in index.get(ch, ())})]


def _records(path: Path):
    header = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if header is None:
            header = cells
            continue
        yield dict(zip(header, cells + [""] * (len(header) - len(cells))))


def _split(cell: str) -> list[str]:
    return [normalize_chars(s) for s in cell.split("|") if s.strip() and s.strip() != "-"]


def load_lexicon(directory: str | Path | None = None) -> Lexicon:
    """Read every ``*.tsv`` of the lexicon folder; ``ValueError`` names a spelling claimed twice."""
    directory = Path(directory) if directory else LEXICON_DIR
    measures, dims, cats, actions, objects, qualifiers, gapped = {}, {}, {}, {}, {}, [], []
    for path in sorted(directory.glob("*.tsv")):
        for rec in _records(path):
            if "measure" in rec and "dimensions" in rec:
                canon = normalize_chars(rec["measure"])
                dims[canon] = tuple(_split(rec["dimensions"])) or ("-",)
                cats[canon] = "" if rec.get("category", "-") in ("", "-") else rec["category"]
                spellings = _split(rec["spellings"]) + [canon]
                gapped.extend((*sp.split("…", 1), canon) for sp in spellings if "…" in sp)
                _claim(measures, [sp for sp in spellings if "…" not in sp], canon, "measure", path)
                continue
            kind, canon = rec.get("kind", ""), normalize_chars(rec.get("canonical", ""))
            spellings = _split(rec.get("spellings", "")) + [canon]
            if kind == "action":
                _claim(actions, spellings, canon, kind, path)
            elif kind == "object":
                _claim(objects, spellings, canon, kind, path)
            elif kind == "qualifier":
                qualifiers.extend(spellings)
            else:
                raise ValueError(f"{path.name}: unknown record kind {kind!r}")
    return Lexicon(measures, tuple(gapped), dims, cats, actions,
                   tuple(sorted(set(qualifiers), key=lambda q: (-len(q), q))), objects)


def _claim(table: dict, spellings: list[str], canon: str, kind: str, path: Path) -> None:
    for s in spellings:
        if table.get(s, canon) != canon:
            raise ValueError(f"{path.name}: {kind} spelling {s!r} belongs to {table[s]!r} and {canon!r}")
        table[s] = canon


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    return load_lexicon()


def _strip_name(text: str) -> str:
    text = normalize_chars(str(text or ""))
    text = _NUMBERING.sub("", text)
    text = _BRACKETED.sub("", text)
    return _NOISE.sub("", text)


def _find_measure(text: str, lex: Lexicon) -> tuple[str, str]:
    """(canonical measure, rest of the name)."""
    for start in ("是否", "有无"):
        if text.startswith(start) and len(text) > len(start):
            return "是否", text[len(start):]
    for prefix, suffix, canon in lex.gapped:
        if text.endswith(suffix):
            i = text.rfind(prefix, max(0, len(text) - len(suffix) - len(prefix) - 3), len(text) - len(suffix))
            if i > 0:
                return canon, text[:i] + text[i + len(prefix):len(text) - len(suffix)]
    for n in range(min(lex.max_measure_len, len(text)), 0, -1):
        canon = lex.measures.get(text[-n:])
        # A one-character ending (个, 次, 人) counts only after a real object: 人 alone is no name.
        if canon and (n > 1 or len(text) > 2):
            return canon, text[:-n]
    if text.endswith("率") and len(text) >= 2:
        # An open-world rate: the word before 率 names it (入库率, 出栏率).
        return text[-3:] if len(text) >= 3 else text, text[:-3]
    return "", text


def _strip_qualifiers(text: str, lex: Lexicon) -> tuple[str, tuple[str, ...]]:
    found = []
    for q in lex.candidates(text, "qualifiers"):
        if len(q) >= 2 and q in text:
            found.append(q)
            text = text.replace(q, "")
    return text, tuple(found)


def _find_actions(text: str, lex: Lexicon) -> tuple[str, tuple[str, ...]]:
    found: list[tuple[int, str]] = []
    for spelling in lex.candidates(text, "long_actions"):
        i = text.find(spelling)
        while i >= 0:
            found.append((i, lex.actions[spelling]))
            text = text[:i] + "\0" * len(spelling) + text[i + len(spelling):]
            i = text.find(spelling)
    actions = tuple(dict.fromkeys(a for _, a in sorted(found)))
    return text.replace("\0", ""), actions


def _protect_objects(text: str, lex: Lexicon) -> tuple[str, list[str]]:
    """Hide object spellings from the action search (服务对象 is an object, not 服务 + 对象)."""
    kept: list[str] = []
    for spelling in lex.candidates(text, "long_objects"):
        while spelling in text:
            text = text.replace(spelling, chr(0xE000 + len(kept)), 1)
            kept.append(lex.objects[spelling])
    return text, kept


def _restore(text: str, kept: list[str]) -> str:
    return "".join(kept[ord(ch) - 0xE000] if 0xE000 <= ord(ch) < 0xE000 + len(kept) else ch for ch in text)


def _canonical_object(text: str, lex: Lexicon) -> str:
    text = text.strip(_JOINERS)
    if text in lex.objects:
        return lex.objects[text]
    for spelling in lex.long_objects:
        if spelling in text:
            text = text.replace(spelling, "\1" + lex.objects[spelling] + "\1")
    return text.replace("\1", "").strip(_JOINERS)


def _drop_trailing(text: str, lex: Lexicon) -> str:
    """就业率指标 is 就业率: a trailing 情况/指标/… goes, twice at most (就业率情况指标), unless the name
    with it already ends in a measure (完成情况 is a spelling of 完成率)."""
    for _ in range(2):
        for end in _TRAILING:
            if (text.endswith(end) and len(text) > len(end) + 1 and text not in lex.measures
                    and len(_find_measure(text, lex)[0]) < 2):
                text = text[: -len(end)]
    return text


@lru_cache(maxsize=65536)
def parse_name(name: str) -> NameParts:
    """Parse a 三级指标 name into object, actions and measure (see module docstring)."""
    lex = lexicon()
    text = _drop_trailing(_strip_name(name)[:64], lex)
    measure, rest = _find_measure(text, lex)
    rest, qualifiers = _strip_qualifiers(rest, lex)
    rest, kept = _protect_objects(rest, lex)
    rest, actions = _find_actions(rest, lex)
    obj = _canonical_object(_restore(rest, kept), lex)
    return NameParts(text=text, object=obj, actions=actions, measure=measure, qualifiers=qualifiers)


def _bigrams(s: str) -> set[str]:
    return {s[i:i + 2] for i in range(len(s) - 1)} if len(s) > 1 else ({s} if s else set())


def subject_similarity(a: NameParts, b: NameParts) -> float:
    """How far two names measure the same thing of the same object, in [0, 1].

    Equal subjects give 1; one generic name (no object, 满意度) against a specific one gives 0.5; otherwise
    the char-bigram Dice of the objects, raised when the actions agree.
    """
    if a.subject == b.subject:
        return 1.0
    if not a.subject or not b.subject:
        return 0.5
    ba, bb = _bigrams(a.object), _bigrams(b.object)
    if ba and bb:
        obj = 2 * len(ba & bb) / (len(ba) + len(bb))
        if a.object in b.object or b.object in a.object:
            obj = max(obj, 0.75)
    else:
        obj = 1.0 if a.object == b.object else 0.4
    if a.actions and b.actions:
        # 验收合格率 and 培训合格率 share no object: their actions are all they have
        act = len(set(a.actions) & set(b.actions)) / len(set(a.actions) | set(b.actions))
        act = 0.2 + 0.8 * act if not (a.object or b.object) else 0.5 + 0.5 * act
    else:
        act = 0.9 if not (a.actions or b.actions) else 0.8
    return round(obj * act, 4)


def same_indicator(a: NameParts, b: NameParts) -> float:
    """Subject similarity when the measures agree, else 0 (受益人数 ≠ 受益户数)."""
    if a.measure != b.measure:
        return 0.0
    return subject_similarity(a, b)


STATE_NAMES_FILE = "state_names.txt"


@lru_cache(maxsize=1)
def _state_endings() -> tuple[str, ...]:
    lines = (DATA_DIR / STATE_NAMES_FILE).read_text(encoding="utf-8").splitlines()
    return tuple(normalize_chars(w) for w in (ln.split("#")[0].strip() for ln in lines) if w)


@lru_cache(maxsize=65536)
def state_judged(name: str) -> bool:
    """A name whose target is a state word (合规, 有效, 健全), not a number, so that a qualitative target is
    measurable as written: it ends with a word of ``data/state_names.txt``, or its measure is a 是/否 or a
    state (lexicon/measures.tsv). The normalizer's not_measurable flag and the audit both ask this.

    >>> state_judged("资金使用合规性"), state_judged("绩效目标明确性（%）"), state_judged("工作完成时间")
    (True, True, False)
    """
    text = _strip_name(name)
    if text.endswith(_state_endings()):
        return True
    dims = lexicon().measure_dimensions.get(parse_name(name).measure, ())
    return "boolean" in dims or tuple(dims) == ("-",)
