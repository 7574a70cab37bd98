"""License numbers: a small pattern language, the pure next-number function, a sequence-store protocol, legacy import.

Pattern language (the `number.pattern` of a license type):

- literal text, with ``{{`` and ``}}`` for literal braces;
- ``{seq:N}``: the serial, zero-padded to N digits (exactly one per pattern); numbering stops with an error when
  the N digits are used up rather than growing the number;
- ``{year:4}`` / ``{year:2}``: the year (the issue year, supplied by the caller);
- ``{province}``: the province abbreviation (鄂; checked against identifiers.PROVINCES);
- ``{NAME}`` / ``{NAME:N}``: any other value the caller supplies (for example a 2-letter category code and a 4-digit
  area code); with N the value must be exactly N characters.

Example: ``{province}{year:4}{seq:4}`` with province 鄂 and year 2026 gives 鄂20260001, 鄂20260002, …

A sequence is counted per (license type, scope); the scope is every value except the serial
(``鄂|2026``), so numbers are unique within a type: two different scopes render different prefixes because two
placeholders without a width may not be adjacent. Persistence is the service's job: it implements `SequenceStore`
(an atomic "increment and return" per (type, scope), e.g. one row per scope updated under a row lock).
`MemorySequenceStore` is the in-process implementation for tests and tools.

Imported legacy numbers (鄂Ha20050005) are opaque strings kept as they are (`import_number`); when one happens to
match the pattern, `observe_imported` raises the stored sequence past it so a generated number never collides.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from certseal.errors import ValidationError
from certseal.licenses.identifiers import PROVINCES

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)(?::([1-9][0-9]?))?\}")
_LEGACY_NUMBER = re.compile(r"^[^\s\x00-\x1f\x7f]{1,64}$")
_ABBREVIATIONS = tuple(p.abbreviation for p in PROVINCES)
SEQ = "seq"
YEAR = "year"
PROVINCE = "province"


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Placeholder:
    name: str
    width: int | None


@dataclass(frozen=True)
class LicenseNumber:
    """A license number; `legacy` numbers were imported as they are and carry no scope or serial."""

    value: str
    legacy: bool = False
    scope: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NumberPattern:
    """A parsed pattern; build with `NumberPattern.parse`."""

    text: str
    parts: tuple[Literal | Placeholder, ...]

    @classmethod
    def parse(cls, text: str, field: str = "number.pattern") -> NumberPattern:
        parts = _tokenise(text, field)
        seqs = [p for p in parts if isinstance(p, Placeholder) and p.name == SEQ]
        if len(seqs) != 1 or seqs[0].width is None:
            raise ValidationError(field, f"pattern {text!r} must contain exactly one {{seq:N}} with a width")
        for part in parts:
            if isinstance(part, Placeholder) and part.name == YEAR and part.width not in (2, 4):
                raise ValidationError(field, f"pattern {text!r}: {{year}} needs width 2 or 4")
        for left, right in itertools.pairwise(parts):
            if _is_open(left) and _is_open(right):
                raise ValidationError(field, f"pattern {text!r}: two placeholders without a width may not touch")
        return cls(text, tuple(parts))

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the values the caller supplies (everything except the serial)."""
        return tuple(p.name for p in self.parts if isinstance(p, Placeholder) and p.name != SEQ)

    @property
    def seq_width(self) -> int:
        widths = [p.width for p in self.parts if isinstance(p, Placeholder) and p.name == SEQ and p.width]
        return widths[0]

    @property
    def max_seq(self) -> int:
        return int("9" * self.seq_width)

    def scope(self, values: Mapping[str, object]) -> str:
        """The key a sequence is counted under: every rendered value except the serial, joined by '|'."""
        return "|".join(self._render(p, values) for p in self.parts if isinstance(p, Placeholder) and p.name != SEQ)

    def format(self, values: Mapping[str, object], seq: int) -> str:
        if not 1 <= seq <= self.max_seq:
            scope = self.scope(values)
            raise ValidationError("number", f"serial {seq} does not fit {{seq:{self.seq_width}}} (scope {scope})")
        rendered: list[str] = []
        for part in self.parts:
            if isinstance(part, Literal):
                rendered.append(part.text)
            elif part.name == SEQ:
                rendered.append(f"{seq:0{self.seq_width}d}")
            else:
                rendered.append(self._render(part, values))
        return "".join(rendered)

    def match(self, number: str) -> LicenseNumber | None:
        """Recognise a number this pattern could have produced: its scope and serial, or None."""
        found = self._regex.fullmatch(number)
        if found is None:
            return None
        scope = "|".join(found.group(f"p{i}") for i, name in self._group_names if name != SEQ)
        seq = int(next(found.group(f"p{i}") for i, name in self._group_names if name == SEQ))
        if seq == 0:
            return None
        return LicenseNumber(number, legacy=False, scope=scope, seq=seq)

    @property
    def _group_names(self) -> list[tuple[int, str]]:
        return [(i, p.name) for i, p in enumerate(self.parts) if isinstance(p, Placeholder)]

    @property
    def _regex(self) -> re.Pattern[str]:
        pieces: list[str] = []
        for i, part in enumerate(self.parts):
            if isinstance(part, Literal):
                pieces.append(re.escape(part.text))
            elif part.name in (SEQ, YEAR):
                pieces.append(f"(?P<p{i}>[0-9]{{{part.width}}})")
            elif part.name == PROVINCE:
                pieces.append(f"(?P<p{i}>{'|'.join(_ABBREVIATIONS)})")
            elif part.width is not None:
                pieces.append(f"(?P<p{i}>.{{{part.width}}})")
            else:
                pieces.append(f"(?P<p{i}>.+?)")
        return re.compile("".join(pieces))

    def _render(self, part: Placeholder, values: Mapping[str, object]) -> str:
        if part.name not in values or values[part.name] in (None, ""):
            raise ValidationError(f"number.{part.name}", f"pattern {self.text!r} needs a value for {{{part.name}}}")
        text = str(values[part.name])
        if part.name == YEAR:
            if not re.fullmatch(r"[0-9]{4}", text):
                raise ValidationError("number.year", f"year must be 4 digits, got {text!r}")
            return text[-(part.width or 4) :]
        if part.name == PROVINCE and text not in _ABBREVIATIONS:
            raise ValidationError(
                "number.province", f"{{province}} needs a province abbreviation such as 鄂, not {text!r}"
            )
        if "|" in text or "{" in text or "}" in text:
            raise ValidationError(f"number.{part.name}", f"value {text!r} may not contain |, {{ or }}")
        if part.width is not None and len(text) != part.width:
            raise ValidationError(
                f"number.{part.name}", f"{{{part.name}:{part.width}}} needs exactly {part.width} characters: {text!r}"
            )
        return text


def _tokenise(text: str, field: str) -> list[Literal | Placeholder]:
    parts: list[Literal | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal.append(text[i])
            i += 2
            continue
        found = _PLACEHOLDER.match(text, i)
        if found:
            if literal:
                parts.append(Literal("".join(literal)))
                literal = []
            width = int(found.group(2)) if found.group(2) else None
            parts.append(Placeholder(found.group(1), width))
            i = found.end()
            continue
        if text[i] in "{}":
            raise ValidationError(field, f"pattern {text!r}: bad placeholder at position {i}")
        literal.append(text[i])
        i += 1
    if literal:
        parts.append(Literal("".join(literal)))
    return parts


def _is_open(part: Literal | Placeholder) -> bool:
    return isinstance(part, Placeholder) and part.width is None


def next_number(pattern: NumberPattern, values: Mapping[str, object], last_seq: int | None) -> LicenseNumber:
    """The number after `last_seq` (None or 0 = none used yet) in the scope of `values`. Pure."""
    seq = (last_seq or 0) + 1
    return LicenseNumber(pattern.format(values, seq), legacy=False, scope=pattern.scope(values), seq=seq)


class SequenceStore(Protocol):
    """Where the last used serial per (license type, scope) is kept; both methods must be atomic."""

    def next_value(self, type_code: str, scope: str) -> int:
        """Increment the serial of (type, scope) and return the new value (1 for a new scope)."""
        ...

    def raise_to(self, type_code: str, scope: str, value: int) -> None:
        """Make the stored serial at least `value` (never lower it)."""
        ...


class MemorySequenceStore:
    """A thread-safe in-process `SequenceStore`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], int] = {}

    def next_value(self, type_code: str, scope: str) -> int:
        with self._lock:
            value = self._last.get((type_code, scope), 0) + 1
            self._last[(type_code, scope)] = value
            return value

    def raise_to(self, type_code: str, scope: str, value: int) -> None:
        with self._lock:
            key = (type_code, scope)
            self._last[key] = max(self._last.get(key, 0), value)

    def last(self, type_code: str, scope: str) -> int:
        with self._lock:
            return self._last.get((type_code, scope), 0)


def allocate_number(
    type_code: str, pattern: NumberPattern, values: Mapping[str, object], store: SequenceStore
) -> LicenseNumber:
    """Take the next serial from `store` and render the number; an exhausted serial raises ValidationError."""
    scope = pattern.scope(values)
    seq = store.next_value(type_code, scope)
    return LicenseNumber(pattern.format(values, seq), legacy=False, scope=scope, seq=seq)


def import_number(text: str, field: str = "license_number") -> LicenseNumber:
    """Accept a legacy number as an opaque string (stripped; 1–64 characters, no spaces or control characters)."""
    value = text.strip()
    if not _LEGACY_NUMBER.match(value):
        raise ValidationError(field, "许可证编号 must be 1–64 characters without spaces or control characters")
    return LicenseNumber(value, legacy=True)


def observe_imported(type_code: str, pattern: NumberPattern, number: LicenseNumber, store: SequenceStore) -> None:
    """If an imported number matches the pattern, raise the sequence of its scope so new numbers skip past it."""
    matched = pattern.match(number.value)
    if matched is not None and matched.scope is not None and matched.seq is not None:
        store.raise_to(type_code, matched.scope, matched.seq)
