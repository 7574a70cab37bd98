"""Identifiers of the license domain: GB/T 36904 e-license identifiers, USCC, resident ID numbers, 分类码, provinces.

- `build_identifier` / `parse_identifier`: the e-license identifier
  ``1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`` whose check character is ISO/IEC 7064
  MOD 37,36 (GB/T 17710) over type code + issuer code + serial + version (root and dots removed).
- `check_uscc`: Unified Social Credit Code (GB 32100) with the check character computed by python-stdnum;
  `organization_code_problem` reports a wrong GB 11714 organisation-code check (a warning, not an error: old codes
  exist whose organisation part predates the rule).
- `check_resident_id`: resident ID number (GB 11643) with the check character computed by python-stdnum; the birth
  date must be a real date. `resident_id_warnings` reports an unknown birth place (stdnum's table lags behind).
- `check_classification_code`: the drug production license 分类码 (holder-type letter + product-type letters).
- `PROVINCES`, `find_province`: province names, abbreviations (鄂) and division-code prefixes (42).

Every check raises `certseal.errors.ValidationError(field, rule)` whose rule names the label and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import ValidationError as StdnumError

from certseal.errors import ValidationError

ELICENSE_ROOT = "1.2.156.3005.2"
MOD37_36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100 登记管理部门码: 1–9 ministries/agencies, A military reform office, N agriculture, Y others.
USCC_AUTHORITY_CODES = "123456789ANY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_SERIAL = re.compile(r"^[0-9A-Z]{1,64}$")
_VERSION = re.compile(r"^[0-9]{3}$")


class HolderCodeType(StrEnum):
    """持证主体代码类型 of GB/T 36901 core metadata."""

    CITIZEN_ID = "111"
    USCC = "001"


# ---------------------------------------------------------------------------------------------------------------
# GB/T 36904 e-license identifier


def mod37_36_check_char(payload: str) -> str:
    """ISO/IEC 7064 MOD 37,36 check character of `payload` (characters 0-9 and A-Z)."""
    p = 36
    for char in payload:
        value = MOD37_36_ALPHABET.find(char)
        if value < 0:
            raise ValidationError("identifier", f"character {char!r} is not allowed: only 0-9 and A-Z")
        p = (p + value) % 36 or 36
        p = (2 * p) % 37
    return MOD37_36_ALPHABET[(37 - p) % 36]


@dataclass(frozen=True)
class ELicenseIdentifier:
    """An e-license identifier (证照标识, GB/T 36904); `str()` gives the dotted form with its check character."""

    type_code: str
    issuer_code: str
    serial: str
    version: int

    @property
    def payload(self) -> str:
        return f"{self.type_code}{self.issuer_code}{self.serial}{self.version:03d}"

    @property
    def check(self) -> str:
        return mod37_36_check_char(self.payload)

    def __str__(self) -> str:
        return f"{ELICENSE_ROOT}.{self.type_code}.{self.issuer_code}.{self.serial}.{self.version:03d}.{self.check}"

    def with_version(self, version: int) -> ELicenseIdentifier:
        """The identifier of another version of the same license (same type, issuer and serial)."""
        return build_identifier(self.type_code, self.issuer_code, self.serial, version)


def build_identifier(type_code: str, issuer_code: str, serial: str, version: int = 1) -> ELicenseIdentifier:
    """Check the parts and return the identifier; type code = defining agency's USCC + 3 digits."""
    _check_type_code(type_code, "identifier.type_code")
    check_uscc(issuer_code, "identifier.issuer_code", "颁发机构代码")
    if not _SERIAL.match(serial):
        raise ValidationError("identifier.serial", "证照序号 must be 1–64 characters 0-9 or A-Z")
    if not 0 <= version <= 999:
        raise ValidationError("identifier.version", f"版本号 must be 0–999, got {version}")
    return ELicenseIdentifier(type_code, issuer_code, serial, version)


def parse_identifier(text: str, field: str = "identifier") -> ELicenseIdentifier:
    """Parse and check a dotted identifier; the rule names the part that is wrong (root, a code, the check)."""
    text = text.strip().upper()
    prefix = ELICENSE_ROOT + "."
    if not text.startswith(prefix):
        raise ValidationError(field, f"证照标识 must start with {ELICENSE_ROOT}")
    parts = text[len(prefix) :].split(".")
    if len(parts) != 5:
        raise ValidationError(field, "证照标识 must have 5 parts after the root: type.issuer.serial.version.check")
    type_code, issuer_code, serial, version, check = parts
    if not _VERSION.match(version):
        raise ValidationError(f"{field}.version", "版本号 must be exactly 3 digits")
    try:
        identifier = build_identifier(type_code, issuer_code, serial, int(version))
    except ValidationError as exc:
        raise ValidationError(exc.field.replace("identifier", field, 1), exc.rule) from None
    if check != identifier.check:
        raise ValidationError(f"{field}.check", f"证照标识 check character is wrong: expected {identifier.check}")
    return identifier


def _check_type_code(type_code: str, field: str) -> None:
    if len(type_code) != 21 or not type_code[18:].isdigit():
        raise ValidationError(field, "证照类型代码 must be the defining agency's 18-character USCC + 3 digits")
    check_uscc(type_code[:18], field, "证照类型代码 (agency USCC part)")


# ---------------------------------------------------------------------------------------------------------------
# USCC (统一社会信用代码)


def check_uscc(value: str, field: str = "uscc", label: str = "统一社会信用代码") -> str:
    """Return the normalised USCC (upper case, no spaces) or raise naming the rule that fails."""
    number = stdnum_uscc.compact(value)
    if len(number) != 18:
        raise ValidationError(field, f"{label} must be 18 characters, got {len(number)}")
    if number[0] not in USCC_AUTHORITY_CODES:
        raise ValidationError(field, f"{label} registration-authority code {number[0]!r} is not one of 1-9, A, N, Y")
    if not number[1].isdigit():
        raise ValidationError(field, f"{label} character 2 (organisation category) must be a digit")
    if not number[2:8].isdigit():
        raise ValidationError(field, f"{label} characters 3–8 must be the 6-digit administrative division")
    for position, char in enumerate(number[1:], start=2):
        if char not in USCC_ALPHABET:
            raise ValidationError(
                field, f"{label} character {position} {char!r} is not allowed (0-9, A-Z without I, O, S, V, Z)"
            )
    expected = stdnum_uscc.calc_check_digit(number[:17])
    if number[17] != expected:
        raise ValidationError(field, f"{label} check character is wrong: expected {expected}")
    return number


def organization_code_problem(uscc: str) -> str | None:
    """The GB 11714 check of the organisation code inside a USCC (characters 9–17), as a message, or None if fine."""
    code = uscc[8:17]
    total = sum(_org_value(char) * weight for char, weight in zip(code[:8], _ORG_WEIGHTS, strict=True))
    remainder = 11 - total % 11
    expected = "X" if remainder == 10 else "0" if remainder == 11 else str(remainder)
    if code[8] != expected:
        return f"organisation code {code} has check character {code[8]!r}, GB 11714 expects {expected!r}"
    return None


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


# ---------------------------------------------------------------------------------------------------------------
# Resident ID number (居民身份证号码)


class Gender(StrEnum):
    MALE = "男"
    FEMALE = "女"


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    gender: Gender


def check_resident_id(
    value: str, field: str = "id_number", label: str = "身份证件号码", today: date | None = None
) -> ResidentId:
    """Return the normalised number (final x upper-cased) with birth date and gender, or raise naming the rule."""
    number = stdnum_ric.compact(value)
    if len(number) != 18:
        raise ValidationError(field, f"{label} must be 18 characters, got {len(number)}")
    if not number[:17].isdigit() or number[17] not in "0123456789X":
        raise ValidationError(field, f"{label} must be 17 digits followed by a digit or X")
    if find_province(number[:2]) is None:
        raise ValidationError(field, f"{label} starts with {number[:2]}, which is not a province division code")
    expected = stdnum_ric.calc_check_digit(number)
    if number[17] != expected:
        raise ValidationError(field, f"{label} check character is wrong: expected {expected}")
    try:
        birth = stdnum_ric.get_birth_date(number)
    except StdnumError:
        raise ValidationError(field, f"{label} birth date {number[6:14]} is not a real date") from None
    if today is not None and birth > today:
        raise ValidationError(field, f"{label} birth date {birth.isoformat()} is in the future")
    gender = Gender.MALE if int(number[16]) % 2 else Gender.FEMALE
    return ResidentId(number, birth, gender)


def resident_id_warnings(number: str) -> list[str]:
    """Soft findings about a resident ID that passed `check_resident_id` (for officers, not a refusal)."""
    try:
        stdnum_ric.get_birth_place(number)
    except StdnumError:
        return [f"birth place {number[:6]} is not in python-stdnum's division table for that year"]
    return []


# ---------------------------------------------------------------------------------------------------------------
# 分类码 of the drug production license

# Upper-case letter: holder type. Lower-case letters: product types; True = confirmed in NMPA sources.
HOLDER_CLASSES: dict[str, str] = {
    "A": "上市许可持有人自行生产",
    "B": "上市许可持有人委托生产",
    "C": "接受委托生产",
    "D": "原料药生产",
}
PRODUCT_CLASSES: dict[str, tuple[str, bool]] = {
    "h": ("化学药", True),
    "z": ("中成药", True),
    "s": ("生物制品", True),
    "d": ("按药品管理的体外诊断试剂", False),
    "y": ("中药饮片", False),
    "q": ("医用气体", False),
    "t": ("特殊药品", False),
    "x": ("其他", False),
}
_CLASS_GROUP = re.compile(r"([A-Z])([a-z]*)")


def check_classification_code(
    value: str, field: str = "classification_code", label: str = "分类码", product_letters: str | None = None
) -> str:
    """Check a 分类码 such as ``Ahz`` or ``AhCh``: holder letters A–D, each followed by product letters."""
    code = value.strip()
    allowed_products = product_letters if product_letters is not None else "".join(PRODUCT_CLASSES)
    if not code or not re.fullmatch(r"(?:[A-Z][a-z]+)+", code):
        raise ValidationError(field, f"{label} must be holder-type letters (A–D) each followed by product letters")
    seen: set[str] = set()
    for holder, products in _CLASS_GROUP.findall(code):
        if holder not in HOLDER_CLASSES:
            raise ValidationError(field, f"{label} holder type {holder!r} is not one of {', '.join(HOLDER_CLASSES)}")
        if holder in seen:
            raise ValidationError(field, f"{label} holder type {holder!r} appears twice")
        seen.add(holder)
        for product in products:
            if product not in allowed_products:
                raise ValidationError(field, f"{label} product type {product!r} is not one of {allowed_products}")
        if len(set(products)) != len(products):
            raise ValidationError(field, f"{label} repeats a product type after {holder!r}")
    return code


# ---------------------------------------------------------------------------------------------------------------
# Provinces


@dataclass(frozen=True)
class Province:
    code: str  # first two digits of the administrative division code
    name: str
    abbreviation: str

    @property
    def short_name(self) -> str:
        return re.sub(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)$", "", self.name)


PROVINCES: tuple[Province, ...] = tuple(
    Province(code, name, abbreviation)
    for code, name, abbreviation in (
        ("11", "北京市", "京"),
        ("12", "天津市", "津"),
        ("13", "河北省", "冀"),
        ("14", "山西省", "晋"),
        ("15", "内蒙古自治区", "蒙"),
        ("21", "辽宁省", "辽"),
        ("22", "吉林省", "吉"),
        ("23", "黑龙江省", "黑"),
        ("31", "上海市", "沪"),
        ("32", "江苏省", "苏"),
        ("33", "浙江省", "浙"),
        ("34", "安徽省", "皖"),
        ("35", "福建省", "闽"),
        ("36", "江西省", "赣"),
        ("37", "山东省", "鲁"),
        ("41", "河南省", "豫"),
        ("42", "湖北省", "鄂"),
        ("43", "湖南省", "湘"),
        ("44", "广东省", "粤"),
        ("45", "广西壮族自治区", "桂"),
        ("46", "海南省", "琼"),
        ("50", "重庆市", "渝"),
        ("51", "四川省", "川"),
        ("52", "贵州省", "贵"),
        ("53", "云南省", "云"),
        ("54", "西藏自治区", "藏"),
        ("61", "陕西省", "陕"),
        ("62", "甘肃省", "甘"),
        ("63", "青海省", "青"),
        ("64", "宁夏回族自治区", "宁"),
        ("65", "新疆维吾尔自治区", "新"),
        ("66", "新疆生产建设兵团", "兵"),
        ("71", "台湾省", "台"),
        ("81", "香港特别行政区", "港"),
        ("82", "澳门特别行政区", "澳"),
    )
)
_PROVINCE_INDEX: dict[str, Province] = {
    key: province
    for province in PROVINCES
    for key in (province.code, province.name, province.abbreviation, province.short_name)
}


def find_province(text: str) -> Province | None:
    """The province named by its division prefix (42), full name (湖北省), short name (湖北) or abbreviation (鄂)."""
    return _PROVINCE_INDEX.get(text.strip())


def check_division_code(value: str, field: str = "division_code", label: str = "行政区划代码") -> str:
    """A 6-digit administrative division code whose first two digits name a province."""
    code = value.strip()
    if not re.fullmatch(r"[0-9]{6}", code):
        raise ValidationError(field, f"{label} must be 6 digits")
    if find_province(code[:2]) is None:
        raise ValidationError(field, f"{label} starts with {code[:2]}, which is not a province division code")
    return code
