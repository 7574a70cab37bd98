"""The OFD container: a ZIP of named files (GB/T 33190 ch. 7), read lazily, edited, and written in a stable order.

Names are package paths without a leading "/" ("Doc_0/Document.xml"). Writing is deterministic: the same files in
the same order give the same bytes (fixed timestamps and attributes), which signing depends on.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator, Mapping

from certseal.errors import ValidationError

MAX_FILE_SIZE = 256 * 1024 * 1024  # one member, uncompressed
MAX_TOTAL_SIZE = 1024 * 1024 * 1024
MAX_FILES = 100_000
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def normalize_name(name: str) -> str:
    """A package path as stored: forward slashes, no leading "/", "." and ".." resolved."""
    cleaned = posixpath.normpath("/" + name.replace("\\", "/").strip())
    return cleaned.lstrip("/")


class OfdPackage(Mapping[str, bytes]):
    """The files of an OFD package as name → bytes. Files of the source ZIP are read on first access; `put` adds or
    replaces a file, `remove` drops one; `to_bytes` writes a new ZIP (original order, then added files)."""

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        self._zip: zipfile.ZipFile | None = None
        self._sizes: dict[str, int] = {}
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._order: list[str] = []
        self._data: dict[str, bytes] = {}
        self._lower: dict[str, str] | None = None
        for name, data in (files or {}).items():
            self.put(name, data)

    @classmethod
    def from_bytes(cls, data: bytes) -> OfdPackage:
        """Open a ZIP; raise ValidationError("ofd", …) if it is not one or its sizes are implausible."""
        package = cls()
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ValidationError("ofd", f"not a ZIP package ({exc})") from exc
        if len(infos) > MAX_FILES:
            raise ValidationError("ofd", f"the package has {len(infos)} files, more than {MAX_FILES}")
        if sum(info.file_size for info in infos) > MAX_TOTAL_SIZE:
            raise ValidationError("ofd", f"the package unpacks to more than {MAX_TOTAL_SIZE} bytes")
        package._zip = archive
        for info in infos:
            if info.is_dir():
                continue
            name = normalize_name(info.filename)
            if not name or name in package._members:
                continue
            package._members[name] = info
            package._order.append(name)
        return package

    # --- reading ---

    def __getitem__(self, name: str) -> bytes:
        key = normalize_name(name)
        if key in self._data:
            return self._data[key]
        info = self._members.get(key)
        if info is None or self._zip is None:
            raise KeyError(name)
        if info.file_size > MAX_FILE_SIZE:
            raise ValidationError("ofd", f"{key}: larger than {MAX_FILE_SIZE} bytes uncompressed")
        try:
            with self._zip.open(info) as member:
                data = member.read(MAX_FILE_SIZE + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ValidationError("ofd", f"{key}: cannot be unpacked ({exc})") from exc
        if len(data) > MAX_FILE_SIZE:
            raise ValidationError("ofd", f"{key}: larger than {MAX_FILE_SIZE} bytes uncompressed")
        return data

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = normalize_name(name)
        return key in self._members or key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def names(self) -> list[str]:
        """File names in package order."""
        return list(self._order)

    def find(self, name: str) -> str | None:
        """The stored name for `name`: exact, else the only case-insensitive match (producers differ in case)."""
        key = normalize_name(name)
        if key in self._members or key in self._data:
            return key
        if self._lower is None:
            self._lower = {}
            for stored in self._order:
                self._lower.setdefault(stored.lower(), stored)
        return self._lower.get(key.lower())

    # --- editing ---

    def put(self, name: str, data: bytes) -> None:
        """Add a file, or replace its content keeping its place in the order."""
        key = normalize_name(name)
        if not key:
            raise ValidationError("ofd", f"file name {name!r} is empty")
        if key not in self._members and key not in self._data:
            self._order.append(key)
            self._lower = None
        self._data[key] = bytes(data)

    def remove(self, name: str) -> None:
        key = normalize_name(name)
        if key not in self._members and key not in self._data:
            raise KeyError(name)
        self._members.pop(key, None)
        self._data.pop(key, None)
        self._order.remove(key)
        self._lower = None

    def copy(self) -> OfdPackage:
        """An independent package with the same files (the source ZIP is shared read-only)."""
        twin = OfdPackage()
        twin._zip = self._zip
        twin._members = dict(self._members)
        twin._order = list(self._order)
        twin._data = dict(self._data)
        return twin

    # --- writing ---

    def to_bytes(self) -> bytes:
        """A new ZIP with every file in package order, DEFLATE-compressed, fixed timestamps."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in self._order:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o644 << 16
                archive.writestr(info, self[name], compresslevel=6)
        return buffer.getvalue()
