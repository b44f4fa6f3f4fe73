"""Filters on speech metadata, and the mask of passages a query may return."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import QueryError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
              places=None, speakers=None) -> "Filters | None":
        """Filters from UI/API/CLI values (lists or comma-separated strings); None when nothing filters."""
        dates = []
        for name, d in (("起始日期", date_from), ("截止日期", date_to)):
            d = str(d or "").strip()
            if d and not _DATE.match(d):
                raise QueryError(f"{name}格式应为 YYYY-MM-DD，例如 2021-03-05 (dates must look like 2021-03-05)")
            dates.append(d or None)
        if dates[0] and dates[1] and dates[0] > dates[1]:
            raise QueryError("起始日期晚于截止日期 (date_from is after date_to)")
        f = cls(sources=_as_list(sources), doc_ids=_as_list(doc_ids), date_from=dates[0], date_to=dates[1],
                occasions=_as_list(occasions), places=_as_list(places), speakers=_as_list(speakers))
        return f if f.active() else None


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，;；\n]", value) if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def passage_mask(index, filters: Filters | None, exclude: set[int]) -> np.ndarray | None:
    """Allowed passages as a boolean array (from the index's precomputed metadata columns),
    or None when nothing is filtered or excluded."""
    if not (filters and filters.active()) and not exclude:
        return None
    mask = np.ones(len(index), bool)
    if filters:
        cols = index.fields
        for field_name, values in (("source", filters.sources), ("doc_id", filters.doc_ids),
                                   ("occasion", filters.occasions), ("place", filters.places),
                                   ("speaker", filters.speakers)):
            if values:
                mask &= cols.isin(field_name, values)
        if filters.date_from or filters.date_to:
            mask &= cols.date_between(filters.date_from, filters.date_to)
    if exclude:
        mask[np.fromiter(exclude, np.int64)] = False
    return mask
