"""What each audience sees of a license version, and the digest of the public view (for the QR payload).

Audiences (`Audience`):

- PUBLIC (the verification page a scanned QR code opens, open-data exports): public fields clear, sensitive fields
  masked by their rule (masking.py), private fields omitted;
- OWNER (the enterprise or pharmacist viewing its own license): as PUBLIC but private fields clear (photo, internal
  numbers); sensitive fields stay masked;
- OFFICER (an officer whose role grants the view of sensitive data; the service checks that and audits the view):
  everything clear.

A list field passes its sensitivity down: an item field is treated as the stricter of its own and its list's.

`public_view(...)` builds the dict (JSON-ready, fields in the type's order) and `public_digest(view)` hashes its
canonical JSON (UTF-8, keys sorted, no spaces, no NaN) with SHA-256, so a phone holding the QR payload can check
that the live record it fetched is the one that was signed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from certseal.licenses.masking import mask
from certseal.licenses.schema import CleanLicenseData, FieldKind, FieldSpec, LicenseType, Sensitivity

_STRICTNESS = {Sensitivity.PUBLIC: 0, Sensitivity.SENSITIVE: 1, Sensitivity.PRIVATE: 2}


class Audience(StrEnum):
    PUBLIC = "public"
    OWNER = "owner"
    OFFICER = "officer"


class _Omit:
    """Marker: the field is not shown to this audience."""


_OMIT = _Omit()


def public_fields(license_type: LicenseType) -> list[str]:
    """Paths of the fields shown clear to everyone (nested list fields as ``list[].field``)."""
    return [path for path, s in _effective(license_type.fields, Sensitivity.PUBLIC, "") if s is Sensitivity.PUBLIC]


def masked_fields(license_type: LicenseType) -> list[str]:
    """Paths of the fields shown masked on public and owner views."""
    return [path for path, s in _effective(license_type.fields, Sensitivity.PUBLIC, "") if s is Sensitivity.SENSITIVE]


def _effective(fields: Sequence[FieldSpec], inherited: Sensitivity, prefix: str) -> list[tuple[str, Sensitivity]]:
    found: list[tuple[str, Sensitivity]] = []
    for spec in fields:
        level = _stricter(spec.sensitivity, inherited)
        if spec.items:
            found.extend(_effective(spec.items, level, f"{prefix}{spec.key}[]."))
        else:
            found.append((f"{prefix}{spec.key}", level))
    return found


def _stricter(a: Sensitivity, b: Sensitivity) -> Sensitivity:
    return a if _STRICTNESS[a] >= _STRICTNESS[b] else b


def view_fields(
    license_type: LicenseType, data: CleanLicenseData | Mapping[str, Any], audience: Audience = Audience.PUBLIC
) -> dict[str, Any]:
    """The field values `audience` may see, masked as its rules say, JSON-ready (dates as ISO strings)."""
    values = data.values if isinstance(data, CleanLicenseData) else data
    return _view(license_type.fields, values, audience, Sensitivity.PUBLIC)


def _view(
    fields: Sequence[FieldSpec], values: Mapping[str, Any], audience: Audience, inherited: Sensitivity
) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for spec in fields:
        if spec.key not in values or values[spec.key] is None:
            continue
        value = _field_view(spec, values[spec.key], audience, _stricter(spec.sensitivity, inherited))
        if not isinstance(value, _Omit):
            shown[spec.key] = value
    return shown


def _field_view(spec: FieldSpec, value: Any, audience: Audience, level: Sensitivity) -> Any:
    if spec.kind is FieldKind.LIST:
        if level is Sensitivity.PRIVATE and audience is Audience.PUBLIC:
            return _OMIT
        return [_view(spec.items or [], item, audience, level) for item in value]
    if audience is Audience.OFFICER or level is Sensitivity.PUBLIC:
        return _plain(value)
    if level is Sensitivity.PRIVATE:
        return _plain(value) if audience is Audience.OWNER else _OMIT
    return mask(str(_plain(value)), spec.mask_rule)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def public_view(
    license_type: LicenseType,
    data: CleanLicenseData | Mapping[str, Any],
    *,
    status: str | None = None,
    version: int | None = None,
    identifier: str | None = None,
    audience: Audience = Audience.PUBLIC,
) -> dict[str, Any]:
    """The view of one license version: type, status, version, e-license identifier and the visible fields."""
    view: dict[str, Any] = {
        "type": license_type.code,
        "type_name": license_type.name,
        "definition_version": license_type.document.definition_version,
        "audience": audience.value,
        "fields": view_fields(license_type, data, audience),
    }
    if status is not None:
        view["status"] = str(status)
    if version is not None:
        view["version"] = version
    if identifier is not None:
        view["identifier"] = identifier
    return view


def canonical_json(view: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON with sorted keys and no insignificant spaces; dates as ISO strings; NaN refused."""
    text = json.dumps(
        view, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_json_default
    )
    return text.encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def public_digest(view: Mapping[str, Any]) -> bytes:
    """SHA-256 of `canonical_json(view)` (32 bytes)."""
    return hashlib.sha256(canonical_json(view)).digest()
