"""License types as data: the built-in JSON files (checked by the `jsonschema` library against the published
schema), their face fields per reference/domain.md §1–§2, a new type added as a file, and bad files refused."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from certseal.errors import ConfigError, NotFound
from certseal.licenses.schema import (
    BUILTIN_TYPES_DIR,
    FieldKind,
    Period,
    Sensitivity,
    Stage,
    add_months,
    builtin_registry,
    document_json_schema,
    load_license_type,
    load_registry,
)

SCHEMA_FILE = BUILTIN_TYPES_DIR / "license-type.schema.json"
TYPE_FILES = sorted(p for p in BUILTIN_TYPES_DIR.glob("*.json") if not p.name.endswith(".schema.json"))


def _labels(fields: Any) -> set[str]:
    return {f.label for f in fields}


def test_builtin_types() -> None:
    registry = builtin_registry()
    assert registry.codes == [
        "drug-distribution",
        "drug-production",
        "medical-device-production",
        "pharmacist-registration",
    ]
    assert len(TYPE_FILES) == 4


def test_published_schema_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == document_json_schema()


@pytest.mark.parametrize("path", TYPE_FILES, ids=lambda p: p.name)
def test_type_files_validate_against_the_published_schema(path: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text(encoding="utf-8")))


def test_jsonschema_rejects_a_broken_type_file() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    document = json.loads(TYPE_FILES[0].read_text(encoding="utf-8"))
    document["fields"][0]["kind"] = "colour"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_drug_production_has_every_face_field_of_the_reference() -> None:
    production = builtin_registry().get("drug-production")
    face = {
        "企业名称",
        "许可证编号",
        "统一社会信用代码",
        "分类码",
        "省份",
        "注册地址",
        "法定代表人",
        "企业负责人",
        "质量负责人",
        "生产负责人",
        "质量受权人",
        "生产地址和生产范围",
        "发证日期",
        "有效期至",
        "发证机关",
        "签发人",
        "日常监管机构",
        "日常监管人员",
        "监督举报电话",
        "备注",
    }
    assert face <= _labels(production.fields)
    sites = production.field("production_sites")
    assert sites.kind is FieldKind.LIST
    assert [f.key for f in sites.items or []] == ["address", "scope", "workshops"]
    assert production.field("production_sites[].workshops[].production_lines").kind is FieldKind.LIST
    assert production.field("classification_code").kind is FieldKind.CLASSIFICATION_CODE
    document = production.document
    assert document.validity == Period(years=5)
    assert document.renewal.apply_by == Period(months=6)
    assert document.renewal.keep_number and document.change.keep_number
    assert document.lifecycle.national_report_working_days == 5
    assert set(document.layouts) == {"original", "duplicate"}


def test_drug_production_duplicate_lists_workshops_and_lines() -> None:
    duplicate = builtin_registry().get("drug-production").document.layouts["duplicate"]
    sites = next(item for item in duplicate.items if item.field == "production_sites")
    nested = json.dumps(sites.model_dump(), ensure_ascii=False)
    assert "workshops" in nested and "production_lines" in nested
    assert any(item.element == "qr_code" for item in duplicate.items)
    assert any(item.element == "change_history" for item in duplicate.items)


def test_pharmacist_face_and_rules() -> None:
    pharmacist = builtin_registry().get("pharmacist-registration")
    face = {
        "姓名",
        "性别",
        "身份证件号码",
        "注册证编号",
        "执业地区",
        "执业类别",
        "执业范围",
        "执业单位",
        "有效期至",
        "发证机关",
        "发证日期",
        "照片",
    }
    assert face <= _labels(pharmacist.fields)
    assert pharmacist.field("practice_category").choices == ["药学类", "中药学类", "药学与中药学类"]
    assert pharmacist.field("practice_scope").choices == ["药品生产", "药品经营", "药品使用"]
    assert pharmacist.field("employer").kind is FieldKind.TEXT  # exactly one employer, not a list
    document = pharmacist.document
    assert document.number.mode == "external"
    assert document.renewal.apply_by == Period(days=30)
    assert document.change.changeable_fields == [
        "practice_region",
        "practice_category",
        "practice_scope",
        "employer",
        "employer_uscc",
    ]
    grounds = {g.code for g in document.lifecycle.cancellation_grounds}
    assert grounds == {
        "expired_not_renewed",
        "certificate_revoked",
        "own_request",
        "death_or_missing",
        "incapacity",
        "criminal_penalty",
    }
    assert len(document.lifecycle.confirmations["approve"]) == 5
    assert len(document.lifecycle.refusal_grounds) == 5


def test_sensitive_fields_are_masked_and_encrypted() -> None:
    registry = builtin_registry()
    for code in ("drug-production", "drug-distribution", "medical-device-production"):
        license_type = registry.get(code)
        assert set(license_type.sensitive_fields) == {"contact_phone", "legal_representative_id_number"}
        assert set(license_type.encrypted_fields) == {"contact_phone", "legal_representative_id_number"}
    pharmacist = registry.get("pharmacist-registration")
    assert set(pharmacist.sensitive_fields) == {"name", "id_number", "mobile"}
    assert pharmacist.field("photo").sensitivity is Sensitivity.PRIVATE


def test_labels_are_bilingual_everywhere() -> None:
    for license_type in builtin_registry():
        assert license_type.name and license_type.name_en
        for path in license_type.field_paths(lambda f: True):
            spec = license_type.field(path)
            assert spec.label and spec.label_en, path


def test_unknown_type_and_field() -> None:
    registry = builtin_registry()
    with pytest.raises(NotFound, match="known: drug-distribution"):
        registry.get("fishing-permit")
    with pytest.raises(NotFound, match="no field"):
        registry.get("drug-production").field("colour")


def test_validity_arithmetic() -> None:
    production = builtin_registry().get("drug-production")
    assert production.validity_end(date(2026, 1, 5)) == date(2031, 1, 4)
    assert production.validity_end(date(2024, 2, 29)) == date(2029, 2, 27)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert Period(working_days=5).before(date(2026, 3, 16)) == date(2026, 3, 9)  # Mon → Mon, weekend skipped
    assert Period(working_days=1).after(date(2026, 3, 13)) == date(2026, 3, 16)  # Fri → Mon
    assert Period(years=1, months=2).describe() == "1 year, 2 months"


# --- a new type as a file, without code ---------------------------------------------------------------------------


def _hospital_preparation() -> dict[str, Any]:
    return {
        "format": "certseal.license-type/1",
        "code": "hospital-preparation",
        "name": "医疗机构制剂许可证",
        "name_en": "Hospital Preparation License",
        "family": "enterprise",
        "holder": {"name_field": "institution", "code_field": "uscc", "code_type": "001"},
        "number": {
            "field": "number",
            "mode": "pattern",
            "pattern": "{province}{year:4}{seq:4}",
            "inputs": {"province": "field:province", "year": "issue_year"},
        },
        "dates": {"issued_on": "issue_date", "valid_until": "valid_until"},
        "validity": {"years": 5},
        "renewal": {"apply_by": {"months": 6}},
        "lifecycle": {
            "cancellation_grounds": [{"code": "own_request", "label": "主动申请注销", "label_en": "own request"}]
        },
        "fields": [
            {
                "key": "institution",
                "label": "医疗机构名称",
                "label_en": "Institution",
                "kind": "text",
                "required": True,
            },
            {"key": "uscc", "label": "统一社会信用代码", "label_en": "USCC", "kind": "uscc", "required": True},
            {"key": "province", "label": "省份", "label_en": "Province", "kind": "province", "required": True},
            {
                "key": "number",
                "label": "许可证编号",
                "label_en": "Number",
                "kind": "license_number",
                "set_on_issue": True,
            },
            {
                "key": "director_phone",
                "label": "负责人电话",
                "label_en": "Phone",
                "kind": "mobile",
                "sensitivity": "sensitive",
                "mask": {"keep_prefix": 0, "keep_suffix": 4},
            },
            {"key": "issue_date", "label": "发证日期", "label_en": "Issued", "kind": "date"},
            {"key": "valid_until", "label": "有效期至", "label_en": "Valid until", "kind": "date"},
        ],
        "rules": [{"rule": "date_order", "earlier": "issue_date", "later": "valid_until"}],
        "layouts": {"original": {"label": "正本", "title": "医疗机构制剂许可证", "items": [{"field": "institution"}]}},
    }


def _write(directory: Path, name: str, document: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_new_type_is_one_file(tmp_path: Path) -> None:
    _write(tmp_path / "types", "hospital-preparation.json", _hospital_preparation())
    registry = load_registry(tmp_path / "types")
    assert "hospital-preparation" in registry and "drug-production" in registry
    license_type = registry.get("hospital-preparation")
    clean = license_type.validate(
        {
            "institution": "武汉协和医院",
            "uscc": "91440111347388120Y",
            "province": "湖北",
            "director_phone": "13812341234",
        },
        stage=Stage.APPLICATION,
    )
    assert clean["province"] == "湖北省"
    assert license_type.field("director_phone").mask_rule.keep_prefix == 0
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(_hospital_preparation(), schema)


def test_an_extra_file_replaces_a_builtin_of_the_same_code(tmp_path: Path) -> None:
    document = json.loads((BUILTIN_TYPES_DIR / "drug-production.json").read_text(encoding="utf-8"))
    document["renewal"]["apply_by"] = {"months": 3}
    document["definition_version"] = 2
    _write(tmp_path, "drug-production.json", document)
    adjusted = load_registry(tmp_path).get("drug-production")
    assert adjusted.document.renewal.apply_by == Period(months=3)
    assert builtin_registry().get("drug-production").document.renewal.apply_by == Period(months=6)


def _broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(_hospital_preparation())
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["fields"][0].update(kind="colour"), "fields.0.kind"),
        (lambda d: d["holder"].update(code_field="nothing"), "holder.code_field: no field 'nothing'"),
        (lambda d: d["holder"].update(code_field="institution"), "must be uscc or resident_id"),
        (lambda d: d["number"].update(pattern="{province}{seq}"), "exactly one {seq:N}"),
        (lambda d: d["number"].update(inputs={}), "no input named for province, year"),
        (lambda d: d["fields"].append(dict(d["fields"][0])), "appears twice"),
        (lambda d: d["fields"][0].update(colour="red"), "Extra inputs are not permitted"),
        (lambda d: d["layouts"]["original"]["items"].append({"field": "ghost"}), "layouts.original: no field 'ghost'"),
        (lambda d: d["rules"].append({"rule": "unique", "path": "institution", "key": "x"}), "is not a list field"),
        (lambda d: d["lifecycle"].update(roles={"approve": ["janitor"]}), "lifecycle.roles.approve.0"),
        (lambda d: d["lifecycle"].update(roles={"launch": ["system"]}), "lifecycle.roles.launch"),
        (lambda d: d["fields"][0].update(kind="enum"), "`choices` is required"),
        (lambda d: d.update(format="other/2"), "format"),
        (lambda d: d.pop("layouts"), "layouts"),
    ],
)
def test_bad_type_files_are_refused_naming_file_and_place(tmp_path: Path, change: Any, words: str) -> None:
    path = _write(tmp_path, "broken.json", _broken(change))
    with pytest.raises(ConfigError) as caught:
        load_license_type(path)
    assert str(path) in caught.value.message
    assert words in caught.value.message


def test_bad_json_syntax(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.json"):
        load_license_type(path)


def test_duplicate_code_in_one_directory(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", _hospital_preparation())
    _write(tmp_path, "b.json", _hospital_preparation())
    with pytest.raises(ConfigError, match="defined twice"):
        load_registry(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_registry(tmp_path / "nowhere")
