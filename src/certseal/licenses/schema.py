"""License types as data: the JSON type document, the `LicenseType` it loads into, data validation, the registry.

A license type is one JSON file (``src/certseal/licenses/types/<code>.json`` for the built-ins; any ``*.json`` in
the directory named by the setting ``license_types_dir`` for more, a file there with a built-in's code replacing
it). Its shape is `LicenseTypeDocument`, published as JSON Schema in ``types/license-type.schema.json`` (regenerate
with ``python -m certseal.licenses.schema > src/certseal/licenses/types/license-type.schema.json``). Keys are English,
labels Chinese (``label``) with an English twin (``label_en``). A document holds:

- ``fields``: the face and file fields, each with a ``kind`` (`FieldKind`), ``required``, ``set_on_issue`` (filled
  by the registry at issuance: number, dates, issuer), ``sensitivity`` (public: shown clear; sensitive: masked on
  public and owner views and encrypted at rest; private: left out of public views), an optional ``mask`` override,
  and constraints (``max_length``, ``pattern``, ``choices``, ``items`` for lists of objects, …);
- ``rules``: cross-field rules (`date_order`, `within_validity`, `not_in_future`, `unique`, `gender_matches_id`);
- ``holder`` (持证主体: name field, code field, code type 001 USCC / 111 citizen ID), ``identifier`` (GB/T 36904
  type code), ``number`` (pattern or external, see numbering.py), ``dates``, ``validity``, ``renewal``, ``change``,
  ``lifecycle`` (grounds, confirmations per action, role overrides; see lifecycle.py);
- ``layouts``: template hints for the renderer, one `Face` per side (``original`` = 正本, ``duplicate`` = 副本): title,
  page, template names per format, and the ordered items (fields with optional label override and table columns for
  lists, or elements such as ``qr_code``, ``seal``, ``photo``, ``change_history``).

Validation: ``license_type.validate(data, today=..., stage=Stage.ISSUED)`` returns `CleanLicenseData` (normalised
values: dates as `date`, USCC upper-case, province full name; plus warnings for officers) or raises
`MultiValidationError` (a `ValidationError`, so HTTP 422 / exit 2) listing every problem, each with a field path
such as ``production_sites[1].scope`` and a rule in plain words. Stages: DRAFT requires nothing, APPLICATION requires
the required fields except ``set_on_issue`` ones, ISSUED requires all required fields.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from certseal.errors import ConfigError, NotFound, ValidationError
from certseal.licenses.identifiers import (
    HolderCodeType,
    check_classification_code,
    check_division_code,
    check_resident_id,
    check_uscc,
    find_province,
    organization_code_problem,
    resident_id_warnings,
)
from certseal.licenses.masking import MaskRule, MaskStyle, default_rule
from certseal.licenses.numbering import NumberPattern

FORMAT = "certseal.license-type/1"
BUILTIN_TYPES_DIR = Path(__file__).parent / "types"
SCHEMA_FILE_SUFFIX = ".schema.json"
_KEY = r"^[a-z][a-z0-9_]*$"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}(?:-[0-9]{1,6})?$")
_SERVICE = re.compile(r"^(?:1[0-9]{4}|[48]00-?[0-9]{3}-?[0-9]{4})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$")
_LICENSE_NUMBER = re.compile(r"^[^\s\x00-\x1f\x7f]{1,64}$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class FieldKind(StrEnum):
    TEXT = "text"
    PERSON_NAME = "person_name"
    DATE = "date"
    ENUM = "enum"
    USCC = "uscc"
    RESIDENT_ID = "resident_id"
    PHONE = "phone"  # mobile, landline or a service number (12315, 400-…)
    MOBILE = "mobile"
    EMAIL = "email"
    ADDRESS = "address"
    CLASSIFICATION_CODE = "classification_code"  # 分类码 of the drug production license
    PROVINCE = "province"
    DIVISION_CODE = "division_code"
    LICENSE_NUMBER = "license_number"
    IMAGE = "image"  # a reference to a stored image (e.g. "sha256:<hex>"), never the bytes
    INTEGER = "integer"
    BOOLEAN = "boolean"
    LIST = "list"  # a list of objects whose fields are `items`


class Sensitivity(StrEnum):
    PUBLIC = "public"
    SENSITIVE = "sensitive"
    PRIVATE = "private"


class Family(StrEnum):
    ENTERPRISE = "enterprise"
    PHARMACIST = "pharmacist"


# The lifecycle vocabulary as it may be written in type files; lifecycle.Action and lifecycle.ActorRole mirror it.
ActionName = Literal[
    "create",
    "edit",
    "submit",
    "withdraw",
    "return",
    "reject",
    "approve",
    "issue",
    "import",
    "change",
    "renew",
    "suspend",
    "resume",
    "revoke",
    "cancel",
    "expire",
]
RoleToken = Literal[
    "provincial-admin",
    "licensing-officer",
    "licensing-officer:province",
    "licensing-officer:city",
    "licensing-officer:county",
    "auditor",
    "enterprise-user",
    "pharmacist",
    "system",
]


class Stage(StrEnum):
    DRAFT = "draft"
    APPLICATION = "application"
    ISSUED = "issued"


_DEFAULT_MAX_LENGTH: dict[FieldKind, int] = {
    FieldKind.TEXT: 500,
    FieldKind.PERSON_NAME: 50,
    FieldKind.ADDRESS: 200,
    FieldKind.EMAIL: 254,
}
_DEFAULT_MASK: dict[FieldKind, MaskStyle] = {
    FieldKind.PERSON_NAME: MaskStyle.NAME,
    FieldKind.MOBILE: MaskStyle.MOBILE,
    FieldKind.PHONE: MaskStyle.PHONE,
    FieldKind.RESIDENT_ID: MaskStyle.ID_NUMBER,
    FieldKind.ADDRESS: MaskStyle.ADDRESS,
    FieldKind.EMAIL: MaskStyle.EMAIL,
}


# ---------------------------------------------------------------------------------------------------------------
# The JSON document


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaskSpec(_Model):
    """Per-field masking override; unset settings come from the style's default (see masking.py)."""

    style: MaskStyle | None = None
    keep_prefix: int | None = Field(None, ge=0)
    keep_suffix: int | None = Field(None, ge=0)
    hide_last: int | None = Field(None, ge=1)
    mask_char: str | None = Field(None, min_length=1, max_length=1)
    mask_length: int | None = Field(None, ge=1)


class FieldSpec(_Model):
    key: str = Field(pattern=_KEY, description="English key used in data and APIs")
    label: str = Field(min_length=1, description="Chinese label as printed on the license")
    label_en: str = Field(min_length=1)
    kind: FieldKind
    required: bool = False
    set_on_issue: bool = Field(False, description="filled by the registry at issuance (number, dates, issuer)")
    sensitivity: Sensitivity = Sensitivity.PUBLIC
    encrypt: bool | None = Field(None, description="encrypt at rest; default: true for sensitive fields")
    mask: MaskSpec | None = None
    description: str | None = None
    min_length: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=1)
    pattern: str | None = Field(None, description="regular expression the whole value must match")
    pattern_hint: str | None = Field(None, description="plain-words form of `pattern` for error messages")
    choices: list[str] | None = Field(None, description="allowed values of an enum field")
    minimum: int | None = None
    maximum: int | None = None
    items: list[FieldSpec] | None = Field(None, description="fields of each object of a list field")
    min_items: int | None = Field(None, ge=0)
    max_items: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        where = f"field {self.key!r}"
        if (self.kind is FieldKind.ENUM) != bool(self.choices):
            raise ValueError(f"{where}: `choices` is required for kind enum and only for it")
        if (self.kind is FieldKind.LIST) != (self.items is not None):
            raise ValueError(f"{where}: `items` is required for kind list and only for it")
        if self.items is not None:
            _check_unique_keys(self.items, where)
            if not self.items:
                raise ValueError(f"{where}: `items` may not be empty")
        if self.kind is FieldKind.LIST and self.mask is not None:
            raise ValueError(f"{where}: a list is not masked as a whole; mask its item fields")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"{where}: bad pattern: {exc}") from None
        if (self.min_items is not None or self.max_items is not None) and self.kind is not FieldKind.LIST:
            raise ValueError(f"{where}: min_items/max_items apply to lists only")
        if (self.minimum is not None or self.maximum is not None) and self.kind is not FieldKind.INTEGER:
            raise ValueError(f"{where}: minimum/maximum apply to integers only")
        return self

    @property
    def encrypted_at_rest(self) -> bool:
        return self.encrypt if self.encrypt is not None else self.sensitivity is Sensitivity.SENSITIVE

    @property
    def mask_rule(self) -> MaskRule:
        spec = self.mask or MaskSpec()
        style = spec.style or _DEFAULT_MASK.get(self.kind, MaskStyle.GENERIC)
        return default_rule(style).with_overrides(
            spec.keep_prefix, spec.keep_suffix, spec.hide_last, spec.mask_char, spec.mask_length
        )

    def item(self, key: str) -> FieldSpec | None:
        return next((f for f in self.items or () if f.key == key), None)


def _check_unique_keys(fields: Sequence[FieldSpec], where: str) -> None:
    seen: set[str] = set()
    for spec in fields:
        if spec.key in seen:
            raise ValueError(f"{where}: field key {spec.key!r} appears twice")
        seen.add(spec.key)


class Period(_Model):
    """A span of time; working days count Monday–Friday (no holiday calendar)."""

    years: int = Field(0, ge=0)
    months: int = Field(0, ge=0)
    days: int = Field(0, ge=0)
    working_days: int = Field(0, ge=0)

    def after(self, start: date) -> date:
        end = add_months(start, 12 * self.years + self.months) + timedelta(days=self.days)
        return _shift_working_days(end, self.working_days)

    def before(self, end: date) -> date:
        start = add_months(end, -(12 * self.years + self.months)) - timedelta(days=self.days)
        return _shift_working_days(start, -self.working_days)

    def describe(self) -> str:
        parts = [(self.years, "year"), (self.months, "month"), (self.days, "day"), (self.working_days, "working day")]
        text = ", ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)
        return text or "0 days"


def add_months(day: date, months: int) -> date:
    """`day` moved by `months`, the day clamped to the month's length (29 Feb + 12 months = 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _shift_working_days(day: date, count: int) -> date:
    step = 1 if count > 0 else -1
    remaining = abs(count)
    while remaining:
        day += timedelta(days=step)
        if day.weekday() < 5:
            remaining -= 1
    return day


class Holder(_Model):
    """持证主体 of GB/T 36901: which fields name the holder and carry its code."""

    name_field: str
    code_field: str
    code_type: HolderCodeType


class IdentifierSpec(_Model):
    type_code: str | None = Field(
        None, description="GB/T 36904 license type code (defining agency USCC + 3 digits) from the national catalogue"
    )


class NumberSpec(_Model):
    field: str = Field(description="data field that holds the license number")
    mode: Literal["pattern", "external"] = Field(
        description="pattern: generated at issuance; external: assigned elsewhere and supplied"
    )
    pattern: str | None = None
    inputs: dict[str, str] = Field(
        default_factory=dict, description='placeholder → source: "field:<key>" or "issue_year"'
    )

    @model_validator(mode="after")
    def _consistent(self) -> NumberSpec:
        if (self.mode == "pattern") != (self.pattern is not None):
            raise ValueError("number: `pattern` is required for mode pattern and only for it")
        if self.pattern is not None:
            try:
                parsed = NumberPattern.parse(self.pattern)
            except ValidationError as exc:
                raise ValueError(exc.message) from None
            missing = set(parsed.inputs) - set(self.inputs)
            if missing:
                raise ValueError(f"number: no input named for {', '.join(sorted(missing))}")
        for name, source in self.inputs.items():
            if source != "issue_year" and not re.fullmatch(r"field:[a-z][a-z0-9_]*", source):
                raise ValueError(f"number.inputs.{name}: {source!r} is not 'issue_year' or 'field:<key>'")
        return self


class Dates(_Model):
    issued_on: str = Field(description="field of 发证日期")
    valid_until: str = Field(description="field of 有效期至")
    valid_from: str | None = Field(None, description="field of 有效期起始, if printed")


class Renewal(_Model):
    apply_by: Period | None = Field(None, description="latest application: this long before expiry")
    opens: Period | None = Field(None, description="earliest application: this long before expiry")
    keep_number: bool = True
    validity_from: Literal["previous_expiry", "decision_date"] = "previous_expiry"


class Change(_Model):
    keep_number: bool = True
    keep_validity: bool = True
    changeable_fields: list[str] | None = Field(None, description="only these may change (None: all but locked)")
    locked_fields: list[str] = Field(default_factory=list, description="never changed by a change")
    notice: Period | None = Field(None, description="how long before it takes effect a change is applied for")


class Ground(_Model):
    """A cancellation or refusal ground; `when` restricts it to a license that expired or was revoked."""

    code: str = Field(pattern=_KEY)
    label: str
    label_en: str
    when: Literal["expired", "revoked"] | None = None


class Confirmation(_Model):
    """A prerequisite the deciding officer confirms before an action (e.g. continuing education complete)."""

    code: str = Field(pattern=_KEY)
    label: str
    label_en: str


class LifecycleSpec(_Model):
    cancellation_grounds: list[Ground]
    refusal_grounds: list[Ground] = Field(default_factory=list)
    confirmations: dict[ActionName, list[Confirmation]] = Field(
        default_factory=dict, description="action → prerequisites the officer must confirm"
    )
    roles: dict[ActionName, list[RoleToken]] = Field(
        default_factory=dict, description='action → role tokens replacing the family default ("licensing-officer:city")'
    )
    national_report_working_days: int | None = Field(
        None, ge=0, description="issuance/change data must reach the national module within this many working days"
    )


class DateOrderRule(_Model):
    rule: Literal["date_order"]
    earlier: str
    later: str
    allow_equal: bool = False


class WithinValidityRule(_Model):
    rule: Literal["within_validity"]
    start: str
    end: str


class NotInFutureRule(_Model):
    rule: Literal["not_in_future"]
    field: str


class UniqueRule(_Model):
    rule: Literal["unique"]
    path: str = Field(description='list field, "[]" steps into nested lists: "production_sites[].workshops"')
    key: str


class GenderMatchesIdRule(_Model):
    rule: Literal["gender_matches_id"]
    gender: str
    id_number: str


CrossRule = Annotated[
    DateOrderRule | WithinValidityRule | NotInFutureRule | UniqueRule | GenderMatchesIdRule,
    Field(discriminator="rule"),
]

LayoutElement = Literal["qr_code", "seal", "photo", "identifier", "change_history"]


class LayoutItem(_Model):
    """One entry of a face: a field (lists as tables with `columns`) or an element drawn by the renderer."""

    field: str | None = None
    element: LayoutElement | None = None
    label: str | None = Field(None, description="printed label if not the field's")
    columns: list[str | LayoutItem] | None = Field(None, description="columns of a list field; nested lists allowed")

    @model_validator(mode="after")
    def _one_of(self) -> LayoutItem:
        if (self.field is None) == (self.element is None):
            raise ValueError("a layout item names exactly one of `field` or `element`")
        return self


def _generic_templates() -> dict[Literal["pdf", "ofd"], str]:
    return {"pdf": "generic", "ofd": "generic"}


class Face(_Model):
    label: str = Field(description="正本 or 副本")
    title: str
    page: Literal["A4-portrait", "A4-landscape", "A3-landscape", "A5-landscape"] = "A4-landscape"
    templates: dict[Literal["pdf", "ofd"], str] = Field(default_factory=_generic_templates)
    items: list[LayoutItem]


class LicenseTypeDocument(_Model):
    """The JSON file of one license type."""

    json_schema: str | None = Field(None, alias="$schema", description="for editors; ignored")
    format: Literal["certseal.license-type/1"]
    code: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    definition_version: int = Field(1, ge=1, description="bump when the definition changes")
    name: str
    name_en: str
    family: Family
    description: str | None = None
    notes: list[str] = Field(default_factory=list, description="sources and rules marked (unconfirmed)")
    holder: Holder
    identifier: IdentifierSpec = IdentifierSpec()
    number: NumberSpec
    dates: Dates
    validity: Period
    renewal: Renewal
    change: Change = Change()
    lifecycle: LifecycleSpec
    fields: list[FieldSpec]
    rules: list[CrossRule] = Field(default_factory=list)
    layouts: dict[Literal["original", "duplicate"], Face]

    @model_validator(mode="after")
    def _references(self) -> LicenseTypeDocument:
        _check_unique_keys(self.fields, "fields")
        top = {f.key: f for f in self.fields}

        def need(key: str, where: str, *kinds: FieldKind) -> None:
            spec = top.get(key)
            if spec is None:
                raise ValueError(f"{where}: no field {key!r}")
            if kinds and spec.kind not in kinds:
                raise ValueError(f"{where}: field {key!r} must be {' or '.join(kinds)}, not {spec.kind}")

        need(self.holder.name_field, "holder.name_field")
        need(self.holder.code_field, "holder.code_field", FieldKind.USCC, FieldKind.RESIDENT_ID)
        need(self.number.field, "number.field", FieldKind.LICENSE_NUMBER)
        for name, source in self.number.inputs.items():
            if source.startswith("field:"):
                need(source[6:], f"number.inputs.{name}")
        need(self.dates.issued_on, "dates.issued_on", FieldKind.DATE)
        need(self.dates.valid_until, "dates.valid_until", FieldKind.DATE)
        if self.dates.valid_from:
            need(self.dates.valid_from, "dates.valid_from", FieldKind.DATE)
        for key in [*(self.change.changeable_fields or []), *self.change.locked_fields]:
            need(key, "change")
        for rule in self.rules:
            _check_rule_references(rule, top, need)
        for side, face in self.layouts.items():
            _check_layout(face.items, top, f"layouts.{side}")
        if "original" not in self.layouts:
            raise ValueError("layouts: an `original` (正本) face is required")
        if not self.validity.years and not self.validity.months and not self.validity.days:
            raise ValueError("validity: must be longer than zero")
        return self


def _check_rule_references(rule: Any, top: dict[str, FieldSpec], need: Callable[..., None]) -> None:
    if isinstance(rule, DateOrderRule):
        need(rule.earlier, "rules.date_order", FieldKind.DATE)
        need(rule.later, "rules.date_order", FieldKind.DATE)
    elif isinstance(rule, WithinValidityRule):
        need(rule.start, "rules.within_validity", FieldKind.DATE)
        need(rule.end, "rules.within_validity", FieldKind.DATE)
    elif isinstance(rule, NotInFutureRule):
        need(rule.field, "rules.not_in_future", FieldKind.DATE)
    elif isinstance(rule, GenderMatchesIdRule):
        need(rule.gender, "rules.gender_matches_id", FieldKind.ENUM)
        need(rule.id_number, "rules.gender_matches_id", FieldKind.RESIDENT_ID)
    elif isinstance(rule, UniqueRule):
        spec = _list_at(top, rule.path)
        if spec is None or spec.item(rule.key) is None:
            raise ValueError(f"rules.unique: {rule.path!r} is not a list field with item {rule.key!r}")


def _list_at(top: Mapping[str, FieldSpec], path: str) -> FieldSpec | None:
    """The list field named by a path like "production_sites[].workshops"."""
    steps = path.split("[].")
    spec = top.get(steps[0])
    for step in steps[1:]:
        if spec is None or spec.kind is not FieldKind.LIST:
            return None
        spec = spec.item(step)
    return spec if spec is not None and spec.kind is FieldKind.LIST else None


def _check_layout(items: Sequence[LayoutItem | str], fields: Mapping[str, FieldSpec], where: str) -> None:
    for entry in items:
        item = LayoutItem(field=entry) if isinstance(entry, str) else entry
        if item.field is None:
            continue
        spec = fields.get(item.field)
        if spec is None:
            raise ValueError(f"{where}: no field {item.field!r}")
        if item.columns is not None:
            if spec.items is None:
                raise ValueError(f"{where}: field {item.field!r} has columns but is not a list")
            _check_layout(item.columns, {f.key: f for f in spec.items}, f"{where}.{item.field}")


# ---------------------------------------------------------------------------------------------------------------
# Results and errors of validation


@dataclass(frozen=True)
class ValidationWarning:
    """A finding that does not refuse the data but is listed for the officer (e.g. an unknown birth place)."""

    field: str
    message: str


class MultiValidationError(ValidationError):
    """Every problem found in one pass; `field`/`rule` are the first one's, `errors` holds them all."""

    def __init__(self, errors: Sequence[ValidationError]) -> None:
        if not errors:
            raise ValueError("MultiValidationError needs at least one error")
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first.field, first.rule + more)
        self.errors: tuple[ValidationError, ...] = tuple(errors)
        self.message = "; ".join(f"{e.field}: {e.rule}" for e in errors)
        self.args = (self.message,)


@dataclass(frozen=True)
class CleanLicenseData:
    """Validated, normalised license data of one type. Treat `values` as read-only."""

    type_code: str
    values: Mapping[str, Any]
    warnings: tuple[ValidationWarning, ...] = ()

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def to_json(self) -> dict[str, Any]:
        """The values as JSON-ready data (dates as ISO strings); `validate` accepts it back."""
        return {key: _jsonable(value) for key, value in self.values.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class HolderInfo:
    name: str
    code: str
    code_type: HolderCodeType


# ---------------------------------------------------------------------------------------------------------------
# The runtime type


class LicenseType:
    """A loaded license type: its document plus validation, numbering inputs and validity arithmetic."""

    def __init__(self, document: LicenseTypeDocument, source: Path | None = None) -> None:
        self.document = document
        self.source = source
        self.fields: tuple[FieldSpec, ...] = tuple(document.fields)
        self._by_key = {f.key: f for f in document.fields}
        self.number_pattern = NumberPattern.parse(document.number.pattern) if document.number.pattern else None

    def __repr__(self) -> str:
        return f"LicenseType({self.code!r})"

    @property
    def code(self) -> str:
        return self.document.code

    @property
    def name(self) -> str:
        return self.document.name

    @property
    def name_en(self) -> str:
        return self.document.name_en

    @property
    def family(self) -> Family:
        return self.document.family

    def field(self, key: str) -> FieldSpec:
        """A top-level field, or a nested one by a path like "production_sites[].address"."""
        steps = key.split("[].")
        spec = self._by_key.get(steps[0])
        for step in steps[1:]:
            spec = spec.item(step) if spec is not None else None
        if spec is None:
            raise NotFound(f"license type {self.code!r} has no field {key!r}")
        return spec

    def field_paths(self, predicate: Callable[[FieldSpec], bool]) -> list[str]:
        """Paths ("a", "a[].b") of every field, nested ones included, for which `predicate` holds."""
        return [path for path, spec in _walk(self.fields, "") if predicate(spec)]

    @property
    def sensitive_fields(self) -> list[str]:
        return self.field_paths(lambda f: f.sensitivity is Sensitivity.SENSITIVE)

    @property
    def encrypted_fields(self) -> list[str]:
        return self.field_paths(lambda f: f.encrypted_at_rest)

    def validate(
        self, data: Mapping[str, Any], *, today: date | None = None, stage: Stage = Stage.ISSUED
    ) -> CleanLicenseData:
        """Check and normalise `data`; raise MultiValidationError listing every problem."""
        run = _Run(today, stage)
        if not isinstance(data, Mapping):
            raise MultiValidationError([ValidationError("data", f"{self.name} data must be an object")])
        values = run.fields(self.fields, data, "")
        for rule in self.document.rules:
            run.cross_rule(self, rule, values)
        if run.errors:
            raise MultiValidationError(run.errors)
        return CleanLicenseData(self.code, values, tuple(run.warnings))

    def validity_end(self, start: date) -> date:
        """The 有效期至 of a validity period starting on `start` (the day before the anniversary)."""
        return self.document.validity.after(start) - timedelta(days=1)

    def number_values(self, data: CleanLicenseData, issue_year: int) -> dict[str, str]:
        """The values the number pattern needs, from the data (province as its abbreviation) and the issue year."""
        values: dict[str, str] = {}
        for name, source in self.document.number.inputs.items():
            if source == "issue_year":
                values[name] = f"{issue_year:04d}"
                continue
            key = source[6:]
            raw = data.get(key)
            if raw in (None, ""):
                label = self._by_key[key].label
                raise ValidationError(key, f"{label} is needed to make the license number")
            province = find_province(str(raw)) if self._by_key[key].kind is FieldKind.PROVINCE else None
            values[name] = province.abbreviation if province else str(raw)
        return values

    def holder_of(self, data: CleanLicenseData) -> HolderInfo:
        holder = self.document.holder
        return HolderInfo(str(data.get(holder.name_field, "")), str(data.get(holder.code_field, "")), holder.code_type)


def _walk(fields: Sequence[FieldSpec], prefix: str) -> Iterator[tuple[str, FieldSpec]]:
    for spec in fields:
        path = f"{prefix}{spec.key}"
        yield path, spec
        if spec.items:
            yield from _walk(spec.items, f"{path}[].")


# ---------------------------------------------------------------------------------------------------------------
# One validation run


@dataclass
class _Run:
    today: date | None
    stage: Stage
    errors: list[ValidationError] = field(default_factory=list)
    warnings: list[ValidationWarning] = field(default_factory=list)

    def fields(self, specs: Sequence[FieldSpec], data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        known = {s.key for s in specs}
        for key in data:
            if key not in known:
                self.errors.append(ValidationError(f"{prefix}{key}", "unknown field (not in this license type)"))
        values: dict[str, Any] = {}
        for spec in specs:
            path = f"{prefix}{spec.key}"
            raw = data.get(spec.key)
            if _missing(raw):
                if self._requires(spec):
                    self.errors.append(ValidationError(path, f"{spec.label} is required"))
                continue
            try:
                values[spec.key] = self.value(spec, raw, path)
            except ValidationError as exc:
                self.errors.append(exc)
        return values

    def _requires(self, spec: FieldSpec) -> bool:
        if not spec.required or self.stage is Stage.DRAFT:
            return False
        return self.stage is Stage.ISSUED or not spec.set_on_issue

    def value(self, spec: FieldSpec, raw: Any, path: str) -> Any:
        if spec.kind is FieldKind.LIST:
            return self.list_value(spec, raw, path)
        checker = _CHECKERS[spec.kind]
        value = checker(spec, raw, path, self)
        if isinstance(value, str):
            _check_length(spec, value, path)
            if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
                raise ValidationError(path, f"{spec.label} must match {spec.pattern_hint or spec.pattern}")
        return value

    def list_value(self, spec: FieldSpec, raw: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(raw, list | tuple):
            raise ValidationError(path, f"{spec.label} must be a list")
        least = spec.min_items if spec.min_items is not None else (1 if self._requires(spec) else 0)
        if len(raw) < least:
            raise ValidationError(path, f"{spec.label} needs at least {least} entr{'y' if least == 1 else 'ies'}")
        if spec.max_items is not None and len(raw) > spec.max_items:
            raise ValidationError(path, f"{spec.label} allows at most {spec.max_items} entries, got {len(raw)}")
        items: list[dict[str, Any]] = []
        for index, entry in enumerate(raw):
            where = f"{path}[{index}]"
            if not isinstance(entry, Mapping):
                self.errors.append(ValidationError(where, f"each {spec.label} entry must be an object"))
                continue
            items.append(self.fields(spec.items or [], entry, f"{where}."))
        return items

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(ValidationWarning(path, message))

    def cross_rule(self, license_type: LicenseType, rule: Any, values: Mapping[str, Any]) -> None:
        try:
            _apply_rule(license_type, rule, values, self.today)
        except ValidationError as exc:
            self.errors.append(exc)


def _missing(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _check_length(spec: FieldSpec, value: str, path: str) -> None:
    longest = spec.max_length or _DEFAULT_MAX_LENGTH.get(spec.kind)
    if longest is not None and len(value) > longest:
        raise ValidationError(path, f"{spec.label} must be at most {longest} characters, got {len(value)}")
    if spec.min_length is not None and len(value) < spec.min_length:
        raise ValidationError(path, f"{spec.label} must be at least {spec.min_length} characters, got {len(value)}")


def _text(spec: FieldSpec, raw: Any, path: str, allow_newlines: bool = False) -> str:
    if not isinstance(raw, str):
        raise ValidationError(path, f"{spec.label} must be text")
    value = raw.strip()
    if _CONTROL.search(value) or (not allow_newlines and ("\n" in value or "\t" in value)):
        raise ValidationError(path, f"{spec.label} contains control characters")
    return value


def _check_text(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    return _text(spec, raw, path, allow_newlines=True)


def _check_person_name(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    if re.search(r"[0-9@#$%^&*=+<>{}\[\]\\|/;:!?，。；：！？]", value):
        raise ValidationError(path, f"{spec.label} may not contain digits or punctuation other than · . -")
    return value


def _check_address(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    if len(value) < 2:
        raise ValidationError(path, f"{spec.label} is too short to be an address")
    return value


def _check_date(spec: FieldSpec, raw: Any, path: str, run: _Run) -> date:
    if isinstance(raw, date) and not hasattr(raw, "hour"):
        return raw
    if isinstance(raw, str) and _ISO_DATE.match(raw.strip()):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise ValidationError(path, f"{spec.label} {raw.strip()} is not a real date") from None
    raise ValidationError(path, f"{spec.label} must be a date written YYYY-MM-DD")


def _check_enum(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    choices = spec.choices or []
    if value not in choices:
        raise ValidationError(path, f"{spec.label} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _check_uscc(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = check_uscc(_text(spec, raw, path), path, spec.label)
    problem = organization_code_problem(value)
    if problem:
        run.warn(path, f"{spec.label}: {problem}")
    return value


def _check_resident_id(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    resident = check_resident_id(_text(spec, raw, path), path, spec.label, run.today)
    for message in resident_id_warnings(resident.number):
        run.warn(path, f"{spec.label}: {message}")
    return resident.number


def _check_phone(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _normalise_phone(_text(spec, raw, path))
    if not (_MOBILE.match(value) or _LANDLINE.match(value) or _SERVICE.match(value)):
        raise ValidationError(
            path, f"{spec.label} must be a mobile (11 digits), a landline (area code-number) or a service number"
        )
    return value


def _check_mobile(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _normalise_phone(_text(spec, raw, path))
    if not _MOBILE.match(value):
        raise ValidationError(path, f"{spec.label} must be an 11-digit mainland mobile number starting 13–19")
    return value


def _normalise_phone(value: str) -> str:
    value = re.sub(r"[\s()（）]", "", value)
    return re.sub(r"^\+?86-?(?=1[3-9][0-9]{9}$)", "", value)


def _check_email(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    if not _EMAIL.match(value):
        raise ValidationError(path, f"{spec.label} must be an e-mail address like name@example.cn")
    return value


def _check_classification(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    return check_classification_code(_text(spec, raw, path), path, spec.label)


def _check_province(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    province = find_province(value)
    if province is None:
        raise ValidationError(path, f"{spec.label} {value!r} is not a province name or abbreviation")
    return province.name


def _check_division(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    return check_division_code(_text(spec, raw, path), path, spec.label)


def _check_license_number(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    if not _LICENSE_NUMBER.match(value):
        raise ValidationError(path, f"{spec.label} must be 1–64 characters without spaces")
    return value


def _check_image(spec: FieldSpec, raw: Any, path: str, run: _Run) -> str:
    value = _text(spec, raw, path)
    if not _IMAGE_REF.match(value):
        raise ValidationError(path, f"{spec.label} must be a stored image reference such as sha256:<hex>")
    return value


def _check_integer(spec: FieldSpec, raw: Any, path: str, run: _Run) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValidationError(path, f"{spec.label} must be a whole number")
    if isinstance(raw, str) and not re.fullmatch(r"-?[0-9]{1,18}", raw.strip()):
        raise ValidationError(path, f"{spec.label} must be a whole number")
    value = int(raw)
    if spec.minimum is not None and value < spec.minimum:
        raise ValidationError(path, f"{spec.label} must be at least {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValidationError(path, f"{spec.label} must be at most {spec.maximum}")
    return value


def _check_boolean(spec: FieldSpec, raw: Any, path: str, run: _Run) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ValidationError(path, f"{spec.label} must be true or false")


_Checker = Callable[[FieldSpec, Any, str, _Run], Any]
_CHECKERS: dict[FieldKind, _Checker] = {
    FieldKind.TEXT: _check_text,
    FieldKind.PERSON_NAME: _check_person_name,
    FieldKind.DATE: _check_date,
    FieldKind.ENUM: _check_enum,
    FieldKind.USCC: _check_uscc,
    FieldKind.RESIDENT_ID: _check_resident_id,
    FieldKind.PHONE: _check_phone,
    FieldKind.MOBILE: _check_mobile,
    FieldKind.EMAIL: _check_email,
    FieldKind.ADDRESS: _check_address,
    FieldKind.CLASSIFICATION_CODE: _check_classification,
    FieldKind.PROVINCE: _check_province,
    FieldKind.DIVISION_CODE: _check_division,
    FieldKind.LICENSE_NUMBER: _check_license_number,
    FieldKind.IMAGE: _check_image,
    FieldKind.INTEGER: _check_integer,
    FieldKind.BOOLEAN: _check_boolean,
}


# ---------------------------------------------------------------------------------------------------------------
# Cross-field rules


def _apply_rule(license_type: LicenseType, rule: Any, values: Mapping[str, Any], today: date | None) -> None:
    def label(key: str) -> str:
        return license_type.field(key).label

    if isinstance(rule, DateOrderRule):
        earlier, later = values.get(rule.earlier), values.get(rule.later)
        if (
            earlier is not None
            and later is not None
            and (later < earlier or (later == earlier and not rule.allow_equal))
        ):
            word = "on or after" if rule.allow_equal else "after"
            raise ValidationError(
                rule.later, f"{label(rule.later)} {later} must be {word} {label(rule.earlier)} {earlier}"
            )
    elif isinstance(rule, WithinValidityRule):
        start, end = values.get(rule.start), values.get(rule.end)
        if start is not None and end is not None:
            latest = license_type.document.validity.after(start)
            if end > latest:
                span = license_type.document.validity.describe()
                raise ValidationError(
                    rule.end, f"{label(rule.end)} {end} is beyond the {span} validity from {label(rule.start)} {start}"
                )
    elif isinstance(rule, NotInFutureRule):
        value = values.get(rule.field)
        if today is not None and value is not None and value > today:
            raise ValidationError(rule.field, f"{label(rule.field)} {value} is in the future (today is {today})")
    elif isinstance(rule, UniqueRule):
        _check_unique(license_type, rule, values)
    elif isinstance(rule, GenderMatchesIdRule):
        gender, number = values.get(rule.gender), values.get(rule.id_number)
        if gender is not None and number is not None:
            expected = "男" if int(number[16]) % 2 else "女"
            if gender != expected:
                raise ValidationError(
                    rule.gender, f"{label(rule.gender)} {gender} contradicts {label(rule.id_number)} ({expected})"
                )


def _check_unique(license_type: LicenseType, rule: UniqueRule, values: Mapping[str, Any]) -> None:
    key_label = license_type.field(f"{rule.path}[].{rule.key}").label
    for list_path, entries in _lists_at(values, rule.path.split("[]."), ""):
        first_seen: dict[Any, int] = {}
        for index, entry in enumerate(entries):
            value = entry.get(rule.key)
            if value is None:
                continue
            if value in first_seen:
                raise ValidationError(
                    f"{list_path}[{index}].{rule.key}",
                    f"{key_label} {value!r} duplicates {list_path}[{first_seen[value]}].{rule.key}",
                )
            first_seen[value] = index


def _lists_at(values: Mapping[str, Any], steps: list[str], prefix: str) -> Iterator[tuple[str, list[Any]]]:
    entries = values.get(steps[0])
    if not isinstance(entries, list):
        return
    path = f"{prefix}{steps[0]}"
    if len(steps) == 1:
        yield path, entries
        return
    for index, entry in enumerate(entries):
        yield from _lists_at(entry, steps[1:], f"{path}[{index}].")


# ---------------------------------------------------------------------------------------------------------------
# Loading and the registry


def load_license_type(path: Path) -> LicenseType:
    """Load one type file; a bad file raises ConfigError naming the file, the place and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"license type file {path}: cannot read: {exc.strerror}") from None
    try:
        document = LicenseTypeDocument.model_validate_json(text)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"license type file {path}: {problems}") from None
    return LicenseType(document, path)


def load_license_types(directory: Path) -> list[LicenseType]:
    """Every ``*.json`` type file of `directory` (``*.schema.json`` skipped), sorted by file name."""
    if not directory.is_dir():
        raise ConfigError(f"license types directory {directory} does not exist")
    files = sorted(p for p in directory.glob("*.json") if not p.name.endswith(SCHEMA_FILE_SUFFIX))
    types = [load_license_type(p) for p in files]
    seen: dict[str, Path | None] = {}
    for license_type in types:
        if license_type.code in seen:
            raise ConfigError(
                f"license type {license_type.code!r} is defined twice: "
                f"{seen[license_type.code]} and {license_type.source}"
            )
        seen[license_type.code] = license_type.source
    return types


class LicenseTypeRegistry:
    """The license types of a deployment by code."""

    def __init__(self, types: Sequence[LicenseType]) -> None:
        self._types: dict[str, LicenseType] = {t.code: t for t in types}

    def get(self, code: str) -> LicenseType:
        try:
            return self._types[code]
        except KeyError:
            raise NotFound(f"no license type {code!r}; known: {', '.join(sorted(self._types))}") from None

    def __contains__(self, code: object) -> bool:
        return code in self._types

    def __iter__(self) -> Iterator[LicenseType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    @property
    def codes(self) -> list[str]:
        return sorted(self._types)


@cache
def builtin_registry() -> LicenseTypeRegistry:
    return LicenseTypeRegistry(load_license_types(BUILTIN_TYPES_DIR))


def load_registry(extra_dir: Path | None = None) -> LicenseTypeRegistry:
    """Built-in types plus those in `extra_dir` (the ``license_types_dir`` setting); an extra type replaces a
    built-in of the same code, so a province can adjust a built-in without code."""
    types = {t.code: t for t in builtin_registry()}
    if extra_dir is not None:
        types.update({t.code: t for t in load_license_types(extra_dir)})
    return LicenseTypeRegistry(list(types.values()))


def document_json_schema() -> dict[str, Any]:
    """JSON Schema of a license type file (what ``types/license-type.schema.json`` holds)."""
    schema = LicenseTypeDocument.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = FORMAT
    return schema


if __name__ == "__main__":
    print(json.dumps(document_json_schema(), ensure_ascii=False, indent=2))
