"""Distinguished names: parsing "CN=…,O=…,C=CN" into X.509 Names, with clear errors."""

from __future__ import annotations

import re

from asn1crypto import x509

from certseal.errors import ValidationError

ATTRIBUTES = {
    "CN": "common_name",
    "O": "organization_name",
    "OU": "organizational_unit_name",
    "C": "country_name",
    "ST": "state_or_province_name",
    "L": "locality_name",
    "SERIALNUMBER": "serial_number",
    "SN": "surname",
    "GN": "given_name",
    "E": "email_address",
    "EMAILADDRESS": "email_address",
    "DC": "domain_component",
    "T": "title",
}
_SHORT = {v: k for k, v in ATTRIBUTES.items() if k not in ("EMAILADDRESS",)}
_SPLIT = re.compile(r"(?<!\\)[,;]")


def parse_dn(text: str, field: str = "subject") -> dict[str, str]:
    """'CN=张三, O=某医院, C=CN' → {'common_name': '张三', ...}; commas inside values are escaped as \\,."""
    if not text or not text.strip():
        raise ValidationError(field, "must not be empty, e.g. 'CN=Name,O=Organisation,C=CN'")
    result: dict[str, str] = {}
    for part in _SPLIT.split(text.strip().lstrip("/")):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValidationError(field, f"{part.strip()!r} is not ATTRIBUTE=value")
        key, value = (s.strip() for s in part.split("=", 1))
        name = ATTRIBUTES.get(key.upper())
        if name is None:
            raise ValidationError(field, f"unknown attribute {key!r}; use one of {', '.join(sorted(ATTRIBUTES))}")
        value = value.replace("\\,", ",").replace("\\;", ";")
        if not value:
            raise ValidationError(field, f"{key} has an empty value")
        if name in result:
            raise ValidationError(field, f"{key} appears twice")
        if name == "country_name" and not re.fullmatch(r"[A-Z]{2}", value):
            raise ValidationError(field, f"C must be a two-letter country code such as CN, not {value!r}")
        if len(value) > 64 and name != "email_address":
            raise ValidationError(field, f"{key} is longer than 64 characters")
        result[name] = value
    return result


def format_dn(attributes: dict[str, str]) -> str:
    """{'common_name': '张三', ...} → 'CN=张三,...', the inverse of parse_dn (commas and semicolons escaped)."""
    parts = []
    for name, value in attributes.items():
        key = _SHORT.get(name)
        if key is None:
            raise ValidationError("subject", f"attribute {name!r} cannot be written as a DN")
        parts.append(f"{key}={value.replace(',', chr(92) + ',').replace(';', chr(92) + ';')}")
    return ",".join(parts)


def build_name(attributes: dict[str, str]) -> x509.Name:
    return x509.Name.build(attributes, use_printable=False)


def name_to_text(name: x509.Name) -> str:
    """RFC 4514-like, most significant first as written in the certificate: 'C=CN, O=…, CN=…'."""
    parts = []
    for rdn in name.chosen:
        for attribute in rdn:
            key = attribute["type"].native
            short = _SHORT.get(key, attribute["type"].dotted)
            value = str(attribute["value"].native).replace(",", "\\,")
            parts.append(f"{short}={value}")
    return ", ".join(parts)
