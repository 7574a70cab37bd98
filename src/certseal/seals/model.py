"""The seal domain: seal types, the rules for seal names, codes, titles, users and sizes, and SealInfo.

A seal binds a certificate (whose key lives in one of the deployment's tokens) to a seal image, a validity period and
the people and systems allowed to use it.  Nothing here touches the database or a key.

Seal code (GB/T 38540 `esID`): 13 to 20 characters, digits and upper-case Latin letters only (spaces and hyphens
given for readability are dropped, lower case is upper-cased).  That covers the 13-digit codes printed on filed
physical seals and the longer identifiers e-seal platforms assign; the code is opaque otherwise.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from certseal.errors import ValidationError

SEAL_NAME_RULE = "must be 1-64 lower-case letters, digits, '.', '_' or '-', starting alphanumeric"
SEAL_CODE_RULE = "must be 13-20 digits or upper-case letters A-Z (GB/T 38540 seal code)"
USER_RULE = "must be 1-128 letters, digits or . _ - @ : + (an actor name such as alice or api:his-gateway)"
ROUND_SEAL_MM = 42.0
MIN_SIZE_MM, MAX_SIZE_MM = 5.0, 100.0
MAX_TITLE = 100

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_CODE = re.compile(r"^[0-9A-Z]{13,20}$")
_USER = re.compile(r"^[\w.@:+-]{1,128}$")


class SealType(StrEnum):
    """The kinds of seal the platform keeps."""

    OFFICIAL = "official"  # 公章
    LICENSE = "license"  # 电子证照专用章
    CONTRACT = "contract"  # 合同专用章
    PERSONAL = "personal"  # 个人签名

    @property
    def label(self) -> str:
        """The Chinese name of the seal type, as printed on seals and filing records."""
        return _LABELS[self]

    @property
    def ses_type(self) -> int:
        """SES_ESPropertyInfo.type of GB/T 38540: 1 for an organisation's seal, 2 for a person's."""
        return 2 if self is SealType.PERSONAL else 1

    @classmethod
    def parse(cls, value: str) -> SealType:
        try:
            return cls(value.strip().lower())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise ValidationError("type", f"must be one of {allowed}, not {value!r}") from None


_LABELS = {
    SealType.OFFICIAL: "公章",
    SealType.LICENSE: "电子证照专用章",
    SealType.CONTRACT: "合同专用章",
    SealType.PERSONAL: "个人签名",
}


class SealStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def check_seal_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError("name", SEAL_NAME_RULE)
    return name


def normalise_seal_code(code: str) -> str:
    """The code with spaces and hyphens dropped and letters upper-cased, or ValidationError('code', rule)."""
    cleaned = re.sub(r"[\s-]", "", code).upper()
    if not _CODE.match(cleaned):
        raise ValidationError("code", f"{SEAL_CODE_RULE}; {code!r} is not")
    return cleaned


def new_seal_code() -> str:
    """A fresh 16-digit code for a seal created without one."""
    return "".join(secrets.choice("0123456789") for _ in range(16))


def check_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned or len(cleaned) > MAX_TITLE:
        raise ValidationError("title", f"must be 1-{MAX_TITLE} characters (the seal's name as filed)")
    return cleaned


def check_users(users: Iterable[str]) -> tuple[str, ...]:
    """Actor names, checked, duplicates dropped, order kept; at least one."""
    checked: list[str] = []
    for user in users:
        cleaned = user.strip()
        if not _USER.match(cleaned):
            raise ValidationError("users", f"{user!r} {USER_RULE}")
        if cleaned not in checked:
            checked.append(cleaned)
    if not checked:
        raise ValidationError("users", "a seal needs at least one user; disable the seal instead")
    return tuple(checked)


def check_size_mm(width: float, height: float) -> tuple[float, float]:
    for field, value in (("width_mm", width), ("height_mm", height)):
        if not MIN_SIZE_MM <= value <= MAX_SIZE_MM:
            raise ValidationError(field, f"must be between {MIN_SIZE_MM:g} and {MAX_SIZE_MM:g} mm, not {value:g}")
    return float(width), float(height)


@dataclass(frozen=True)
class SealInfo:
    """One seal of the registry, without its image bytes (see SealService.image)."""

    name: str
    title: str
    type: SealType
    code: str
    status: SealStatus
    certificate_der: bytes
    certificate_subject: str
    key_label: str
    not_before: datetime
    not_after: datetime
    users: tuple[str, ...]
    width_mm: float
    height_mm: float
    image_sha256: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after
