"""Incremental updates (ISO 32000-1 §7.5.6): new and changed objects appended after the last %%EOF.

Earlier bytes are never rewritten. The new cross-reference section has the same form as the file's newest one (a
classic table after a table, an xref stream after a stream), and the trailer keeps /Root, /Info and /ID and points
/Prev at the previous section.
"""

from __future__ import annotations

from dataclasses import dataclass

from certseal.errors import ValidationError
from certseal.signing.pdf.objects import Name, Ref
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.serialize import serialize

__all__ = ["IncrementalUpdate", "UpdateSection"]


@dataclass(frozen=True)
class UpdateSection:
    """The bytes to append to the original file, and where each new object starts within them."""

    data: bytes
    offsets: dict[int, int]  # object number -> offset of its `N G obj` header within `data`


class IncrementalUpdate:
    """Collects objects for one incremental update of `document`, then writes them with xref and trailer."""

    def __init__(self, document: PdfDocument) -> None:
        if "Encrypt" in document.trailer:
            raise ValidationError("pdf", "encrypted PDFs cannot be sealed")
        self.document = document
        self._next = document.next_object_number()
        self._bodies: dict[int, bytes] = {}
        self._generations: dict[int, int] = {}

    def allocate(self) -> Ref:
        """A fresh object number for an object to be put later."""
        ref = Ref(self._next, 0)
        self._next += 1
        return ref

    def put(self, ref: Ref, obj: object) -> None:
        """Write `obj` as the new version of `ref` (a fresh or an existing object)."""
        self.put_raw(ref, serialize(obj))

    def put_raw(self, ref: Ref, body: bytes) -> None:
        """Write pre-encoded object syntax `body` (without `obj`/`endobj`) as the new version of `ref`."""
        self._bodies[ref.num] = body
        self._generations[ref.num] = ref.gen

    def add(self, obj: object) -> Ref:
        ref = self.allocate()
        self.put(ref, obj)
        return ref

    def add_raw(self, body: bytes) -> Ref:
        ref = self.allocate()
        self.put_raw(ref, body)
        return ref

    def build(self) -> UpdateSection:
        """The appended bytes: objects, cross-reference section, trailer, startxref and %%EOF."""
        original = self.document.data
        base = len(original)
        parts: list[bytes] = []
        length = 0
        if original and original[-1:] not in (b"\n", b"\r"):
            parts.append(b"\n")
            length = 1
        offsets: dict[int, int] = {}
        for number in sorted(self._bodies):
            offsets[number] = length
            chunk = b"%d %d obj\n%s\nendobj\n" % (number, self._generations[number], self._bodies[number])
            parts.append(chunk)
            length += len(chunk)
        absolute = {number: base + offset for number, offset in offsets.items()}
        if self.document.xref_is_stream:
            xref_ref = self.allocate()
            absolute[xref_ref.num] = base + length
            chunk = self._xref_stream(xref_ref, absolute)
        else:
            chunk = self._xref_table(absolute, base + length)
        parts.append(chunk)
        return UpdateSection(b"".join(parts), offsets)

    def _trailer_entries(self) -> dict[str, object]:
        trailer = self.document.trailer
        entries: dict[str, object] = {Name("Size"): self._next, Name("Root"): trailer["Root"]}
        for key in ("Info", "ID"):
            if key in trailer:
                entries[Name(key)] = trailer[key]
        entries[Name("Prev")] = self.document.startxref
        return entries

    def _xref_table(self, absolute: dict[int, int], xref_offset: int) -> bytes:
        lines = [b"xref\n"]
        for first, numbers in _runs(sorted(absolute)):
            lines.append(b"%d %d\n" % (first, len(numbers)))
            lines.extend(b"%010d %05d n \n" % (absolute[n], self._generations.get(n, 0)) for n in numbers)
        lines.append(b"trailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (serialize(self._trailer_entries()), xref_offset))
        return b"".join(lines)

    def _xref_stream(self, ref: Ref, absolute: dict[int, int]) -> bytes:
        xref_offset = absolute[ref.num]
        width = max(4, (xref_offset.bit_length() + 7) // 8)
        index: list[object] = []
        rows: list[bytes] = []
        for first, numbers in _runs(sorted(absolute)):
            index += [first, len(numbers)]
            rows.extend(
                b"\x01" + absolute[n].to_bytes(width, "big") + self._generations.get(n, 0).to_bytes(2, "big")
                for n in numbers
            )
        data = b"".join(rows)
        dictionary: dict[str, object] = {Name("Type"): Name("XRef"), **self._trailer_entries()}
        dictionary[Name("W")] = [1, width, 2]
        dictionary[Name("Index")] = index
        dictionary[Name("Length")] = len(data)
        body = serialize(dictionary) + b"\nstream\n" + data + b"\nendstream"
        return b"%d 0 obj\n%s\nendobj\nstartxref\n%d\n%%%%EOF\n" % (ref.num, body, xref_offset)


def _runs(numbers: list[int]) -> list[tuple[int, list[int]]]:
    """Consecutive runs of object numbers: [3, 4, 5, 9] -> [(3, [3, 4, 5]), (9, [9])]."""
    runs: list[tuple[int, list[int]]] = []
    for number in numbers:
        if runs and runs[-1][1][-1] == number - 1:
            runs[-1][1].append(number)
        else:
            runs.append((number, [number]))
    return runs
