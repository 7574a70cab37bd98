"""Certificate profiles as data (profiles.json): key usage, extended key usage, basic constraints, validity,
policies and what the subject and subject alternative name must contain."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from certseal.errors import ValidationError

_KEY_USAGES = {
    "digital_signature",
    "non_repudiation",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
}
_SAN_KINDS = {"dns", "email", "ip", "uri"}
_DNS = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CertificateProfile:
    name: str
    description: str
    key_usage: frozenset[str]
    ext_key_usage: tuple[str, ...] = ()
    ext_key_usage_critical: bool = False
    ca: bool = False
    path_len: int | None = None
    validity_days: int = 365
    policies: tuple[str, ...] = ()
    subject_required: tuple[str, ...] = ("common_name",)
    uscc_attribute: str | None = None
    san_allowed: frozenset[str] = field(default_factory=frozenset)
    san_required: bool = False
    ocsp_no_check: bool = False

    def check_subject(self, subject: dict[str, str]) -> None:
        for attribute in self.subject_required:
            if not subject.get(attribute):
                raise ValidationError("subject", f"profile {self.name!r} requires {attribute}")
        code = subject.get(self.uscc_attribute or "")
        if self.uscc_attribute and code:
            try:
                uscc.validate(code)
            except StdnumError as exc:
                raise ValidationError(
                    "subject", f"serialNumber {code!r} is not a valid unified social credit code: {exc}"
                ) from None

    def check_san(self, san: list[str]) -> list[tuple[str, str]]:
        """'dns:example.org', 'email:a@b.cn', 'ip:10.0.0.1', 'uri:https://…' → [(kind, value)], validated."""
        parsed = [parse_san(entry) for entry in san]
        for kind, value in parsed:
            if kind not in self.san_allowed:
                allowed = ", ".join(sorted(self.san_allowed)) or "none"
                raise ValidationError("san", f"profile {self.name!r} allows {allowed}, not {kind}:{value}")
        if self.san_required and not parsed:
            raise ValidationError("san", f"profile {self.name!r} needs at least one subject alternative name")
        return parsed

    def validity_days_checked(self, days: int | None) -> int:
        if days is None:
            return self.validity_days
        if not 1 <= days <= self.validity_days:
            raise ValidationError("days", f"must be between 1 and {self.validity_days} for profile {self.name!r}")
        return days


def parse_san(entry: str) -> tuple[str, str]:
    kind, _, value = entry.partition(":")
    kind = kind.strip().lower()
    value = value.strip()
    if kind not in _SAN_KINDS or not value:
        raise ValidationError("san", f"{entry!r} must be dns:NAME, email:ADDRESS, ip:ADDRESS or uri:URI")
    if kind in ("dns", "email", "uri") and not value.isascii():
        raise ValidationError("san", f"{value!r} must be ASCII (IA5String): write internationalised names as punycode")
    if kind == "dns" and not _DNS.match(value):
        raise ValidationError("san", f"{value!r} is not a valid DNS name")
    if kind == "email" and not _EMAIL.match(value):
        raise ValidationError("san", f"{value!r} is not a valid e-mail address")
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValidationError("san", f"{value!r} is not an IP address") from None
    return kind, value


def _profile(name: str, data: dict[str, Any]) -> CertificateProfile:
    usage = frozenset(data.get("key_usage", []))
    unknown = usage - _KEY_USAGES
    if unknown:
        raise ValueError(f"profile {name}: unknown key usage {sorted(unknown)}")
    return CertificateProfile(
        name=name,
        description=str(data.get("description", "")),
        key_usage=usage,
        ext_key_usage=tuple(data.get("ext_key_usage", ())),
        ext_key_usage_critical=bool(data.get("ext_key_usage_critical", False)),
        ca=bool(data.get("ca", False)),
        path_len=data.get("path_len"),
        validity_days=int(data.get("validity_days", 365)),
        policies=tuple(data.get("policies", ())),
        subject_required=tuple(data.get("subject_required", ("common_name",))),
        uscc_attribute=data.get("uscc_attribute"),
        san_allowed=frozenset(data.get("san_allowed", ())),
        san_required=bool(data.get("san_required", False)),
        ocsp_no_check=bool(data.get("ocsp_no_check", False)),
    )


@cache
def profiles() -> dict[str, CertificateProfile]:
    raw = json.loads((Path(__file__).parent / "profiles.json").read_text(encoding="utf-8"))
    return {name: _profile(name, data) for name, data in raw.items()}


def profile(name: str) -> CertificateProfile:
    try:
        return profiles()[name]
    except KeyError:
        raise ValidationError("profile", f"unknown profile {name!r}; one of {', '.join(profiles())}") from None
