"""Where a seal goes on a document: at a point, on every keyword hit, or riding across the pages' right edges.

One model for PDF and OFD; the units are the document format's: PDF points from the bottom-left corner of the page
as displayed, OFD millimetres from the top-left corner (y downwards). Pages count from 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from certseal.errors import ValidationError


@dataclass(frozen=True)
class AtPosition:
    """The seal centred at (x, y) of a page (1-based), in the document format's units."""

    page: int
    x: float
    y: float


@dataclass(frozen=True)
class AtKeyword:
    """The seal centred on every occurrence of `keyword` (on `pages`, 1-based, or on every page)."""

    keyword: str
    pages: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Riding:
    """A riding seal (骑缝章): one slice of the seal on every page's right edge; y of the seal's centre (default:
    the middle of each page)."""

    y: float | None = None


SealPlacement = AtPosition | AtKeyword | Riding


def placement_of(
    page: int | None,
    x: float | None,
    y: float | None,
    keyword: str | None,
    riding: bool,
    *,
    rule: str,
    position_rule: str | None = None,
) -> SealPlacement:
    """Exactly one placement from the options a CLI or a form offers; `rule` and `position_rule` word the error in
    that interface's own terms."""
    if riding:
        if page is not None or x is not None or keyword is not None:
            raise ValidationError("placement", rule)
        return Riding(y)
    if keyword is not None:
        if page is not None or x is not None or y is not None:
            raise ValidationError("placement", rule)
        return AtKeyword(keyword)
    if page is None or x is None or y is None:
        partial = page is not None or x is not None or y is not None
        raise ValidationError("placement", position_rule if partial and position_rule else rule)
    return AtPosition(page, x, y)
