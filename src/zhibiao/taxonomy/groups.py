"""The required indicator groups (数量, 质量, 时效, 成本, 效益, 满意度) and what their targets must be.

One definition, read from ``zhibiao/data/required_groups.tsv``, serves the recommender (every
group among the suggestions), the normalizer (not_measurable) and the audit (missing_category).

    >>> REQUIRED_GROUPS["成本"][:2]
    ('成本指标', '经济成本指标')
    >>> GROUP_OF["服务对象满意度指标"], sorted(NUMBER_GROUPS)
    ('满意度', ['数量', '质量'])
"""
from __future__ import annotations

from dataclasses import dataclass

from ..resources import data_file

GROUPS_FILE = "required_groups.tsv"
TARGETS = ("number", "measurable", "any")


@dataclass(frozen=True)
class Group:
    name: str
    categories: tuple[str, ...]
    target: str
    examples: str


def load_groups() -> tuple[Group, ...]:
    groups = []
    for line in data_file(GROUPS_FILE).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("group\t"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 4 or parts[2] not in TARGETS:
            raise ValueError(f"{GROUPS_FILE}: expected group, categories, target ({'/'.join(TARGETS)}), "
                             f"examples: {line!r}")
        groups.append(Group(parts[0], tuple(parts[1].split()), parts[2], parts[3]))
    return tuple(groups)


GROUPS = load_groups()
# group → its categories, in report order
REQUIRED_GROUPS: dict[str, tuple[str, ...]] = {g.name: g.categories for g in GROUPS}
# category → its group
GROUP_OF: dict[str, str] = {c: g.name for g in GROUPS for c in g.categories}
GROUP_EXAMPLES: dict[str, str] = {g.name: g.examples for g in GROUPS}
# groups whose target must be a quantity or a rate
NUMBER_GROUPS = frozenset(g.name for g in GROUPS if g.target == "number")
# groups whose target must be a quantity, a rate or a deadline
MEASURABLE_GROUPS = frozenset(g.name for g in GROUPS if g.target in ("number", "measurable"))
NUMBER_CATEGORIES = frozenset(c for g in GROUPS if g.name in NUMBER_GROUPS for c in g.categories)
