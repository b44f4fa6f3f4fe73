"""Filters on speech metadata, and the mask of passages a query may return.

``Filters.parse`` checks what a user sent (known filter names, real calendar dates in
order, lists of names) without the index, so a command line can refuse a bad filter before
anything heavy loads; ``filter_mask`` checks the names against the index (an unknown
source, speech, occasion, place or speaker is an error naming what there is).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import QueryError, shown

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NO_MATCH = "筛选条件没有匹配的讲话，请放宽或更改筛选条件 (the filters match no speech)"
"""The reason of a result whose filters match nothing (``Outcome.NO_MATCH``)."""
FIELDS = {"sources": ("source", "来源文件"), "doc_ids": ("doc_id", "讲话"), "occasions": ("occasion", "场合"),
          "places": ("place", "地点"), "speakers": ("speaker", "讲话人")}
"""Filter -> (metadata column, its name in messages)."""
NAMES = ("sources", "doc_ids", "date_from", "date_to", "occasions", "places", "speakers")
"""Every filter, in ``Filters.parse``'s argument order."""
SHOWN_VALUES = 8
"""How many known values an unknown-value message lists."""


@dataclass
class Filters:
    """Restrict results to some speeches; empty fields do not filter."""

    sources: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None
    """Date bounds (YYYY-MM-DD). Speeches without a known date are excluded when a bound is set."""
    occasions: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)

    def active(self) -> bool:
        return bool(self.sources or self.doc_ids or self.date_from or self.date_to or self.occasions
                    or self.places or self.speakers)

    def allows(self, p) -> bool:
        c = p.citation
        if self.sources and c.source not in self.sources:
            return False
        if self.doc_ids and p.doc_id not in self.doc_ids:
            return False
        if self.date_from and (not c.date or c.date < self.date_from):
            return False
        if self.date_to and (not c.date or c.date > self.date_to):
            return False
        if self.occasions and c.occasion not in self.occasions:
            return False
        if self.places and c.place not in self.places:
            return False
        if self.speakers and c.speaker not in self.speakers:
            return False
        return True

    @classmethod
    def parse(cls, sources=None, doc_ids=None, date_from=None, date_to=None, occasions=None,
              places=None, speakers=None, **unknown) -> "Filters | None":
        """Filters from UI/API/CLI values (lists or comma-separated strings); None when nothing filters.
        QueryError for an unknown filter, a malformed or impossible date, dates out of order,
        or a value that is not a name or a list of names."""
        if unknown:
            raise QueryError(f"未知的筛选条件 {'、'.join(shown(k) for k in sorted(unknown, key=str))}；"
                             f"可用的有 {', '.join(NAMES)} (unknown filter; use one of these)")
        lo, hi = parse_date(date_from, "起始日期", "date_from"), parse_date(date_to, "截止日期", "date_to")
        if lo and hi and lo > hi:
            raise QueryError(f"起始日期 {lo} 晚于截止日期 {hi}，请对调或修改 (date_from is after date_to)")
        f = cls(sources=_as_list(sources, "sources"), doc_ids=_as_list(doc_ids, "doc_ids"), date_from=lo,
                date_to=hi, occasions=_as_list(occasions, "occasions"), places=_as_list(places, "places"),
                speakers=_as_list(speakers, "speakers"))
        return f if f.active() else None


def parse_date(value, label: str, name: str) -> str | None:
    """A YYYY-MM-DD date that exists on the calendar (None when empty)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError(f"{label}应为 YYYY-MM-DD 格式的文字，收到的是 {type(value).__name__} "
                         f"({name} must be a string like 2021-03-05)")
    d = value.strip()
    if not d:
        return None
    if not _DATE.fullmatch(d):
        raise QueryError(f"{label}格式应为 YYYY-MM-DD，例如 2021-03-05，收到 {shown(d)} "
                         f"({name}: dates must look like 2021-03-05)")
    try:
        dt.date.fromisoformat(d)
    except ValueError:
        raise QueryError(f"{label} {d} 不是日历上存在的日期，请检查月份和日 "
                         f"({name}: {d} is not a real date)") from None
    return d


def _as_list(value, name: str) -> list[str]:
    """Names from a comma-separated string or a list of strings (numbers are taken as text)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，;；\n]", value) if v.strip()]
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for v in items:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise QueryError(f"筛选条件 {name} 应为逗号分隔的文字或文字列表，收到 {shown(value)} "
                             f"({name} must be a comma-separated string or a list of strings)")
        if str(v).strip():
            out.append(str(v).strip())
    return out


def filter_mask(index, filters: Filters | None) -> np.ndarray | None:
    """The passages ``filters`` allow (from the index's metadata columns), or None when nothing
    filters. QueryError when a name is not in the index, listing the names there are."""
    if not (filters and filters.active()):
        return None
    cols = index.fields
    mask = np.ones(len(index), bool)
    for attr, (column, label) in FIELDS.items():
        values = getattr(filters, attr)
        if not values:
            continue
        known = cols.values[column]
        missing = [v for v in values if v not in known]
        if missing:
            there = sorted(known)
            listed = "、".join(there[:SHOWN_VALUES]) + (f" 等 {len(there)} 个" if len(there) > SHOWN_VALUES else "")
            raise QueryError(f"索引中没有{label} {'、'.join(shown(v) for v in missing[:3])}；"
                             f"{'可选：' + listed if there else '索引中的讲话都没有注明' + label} "
                             f"(unknown {column}; see the list of known values)")
        mask &= cols.isin(column, values)
    if filters.date_from or filters.date_to:
        mask &= cols.date_between(filters.date_from, filters.date_to)
    return mask
