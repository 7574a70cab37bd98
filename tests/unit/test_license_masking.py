"""Masking rules (reference/domain.md §5 examples), per-field overrides from the type JSON, the public / owner /
officer views, and the public digest (checked with the OpenSSL CLI's SHA-256 over our canonical JSON)."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certseal.licenses.masking import DEFAULT_RULES, MaskRule, MaskStyle, mask, mask_by_style
from certseal.licenses.public import (
    Audience,
    canonical_json,
    masked_fields,
    public_digest,
    public_fields,
    public_view,
    view_fields,
)
from certseal.licenses.schema import LicenseType, LicenseTypeDocument, builtin_registry


@pytest.mark.parametrize(
    ("value", "style", "shown"),
    [
        ("张三丰", MaskStyle.NAME, "张**"),
        ("张三", MaskStyle.NAME, "张*"),
        ("欧阳娜娜", MaskStyle.NAME, "欧***"),
        ("13812341234", MaskStyle.MOBILE, "138****1234"),
        ("420111199001011234", MaskStyle.ID_NUMBER, "4201**********1234"),
        ("09151234579", MaskStyle.LANDLINE, "0915*****79"),
        ("13812341234", MaskStyle.PHONE, "138****1234"),
        ("027-87654321", MaskStyle.PHONE, "027-******21"),
        ("湖北省武汉市洪山区珞喻路1037号", MaskStyle.ADDRESS, "湖北省武汉市洪山区********"),
        ("dxyz@126.com", MaskStyle.EMAIL, "d**@126.com"),
        ("ABCDEF", MaskStyle.GENERIC, "A****F"),
        ("secret", MaskStyle.FULL, "****"),
    ],
)
def test_reference_conventions(value: str, style: MaskStyle, shown: str) -> None:
    assert mask_by_style(value, style) == shown


def test_id_number_six_plus_four_is_a_configuration() -> None:
    rule = DEFAULT_RULES[MaskStyle.ID_NUMBER].with_overrides(keep_prefix=6)
    assert mask("451002199001011647", rule) == "451002********1647"


@pytest.mark.parametrize(
    ("value", "style", "shown"),
    [
        ("张", MaskStyle.NAME, "*"),
        ("1234", MaskStyle.ID_NUMBER, "1**4"),
        ("短地址", MaskStyle.ADDRESS, "***"),
        ("", MaskStyle.NAME, ""),
    ],
)
def test_short_values_still_lose_characters(value: str, style: MaskStyle, shown: str) -> None:
    assert mask_by_style(value, style) == shown


def test_overrides() -> None:
    rule = DEFAULT_RULES[MaskStyle.ADDRESS].with_overrides(keep_prefix=2, keep_suffix=1, mask_char="●")
    assert mask("湖北省武汉市", rule) == "湖北●●●市"
    assert mask("13812341234", MaskRule(MaskStyle.MOBILE, 3, 4, mask_length=2)) == "138**1234"


@settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=1, max_size=40).filter(lambda s: "*" not in s),
    st.integers(0, 8),
    st.integers(0, 8),
)
def test_masking_keeps_length_and_ends_and_always_hides_something(value: str, prefix: int, suffix: int) -> None:
    shown = mask(value, MaskRule(MaskStyle.GENERIC, prefix, suffix))
    assert len(shown) == len(value)
    assert shown != value
    assert "*" in shown
    if prefix + suffix < len(value):
        assert shown.startswith(value[:prefix])
        assert shown.endswith(value[len(value) - suffix :])


# --- views ---------------------------------------------------------------------------------------------------------

PRODUCTION_DATA: dict[str, Any] = {
    "enterprise_name": "武汉示例制药有限公司",
    "license_number": "鄂20260001",
    "uscc": "91110108551385082Q",
    "classification_code": "Ahz",
    "province": "湖北",
    "registered_address": "湖北省武汉市东湖新技术开发区高新大道666号",
    "legal_representative": "张三丰",
    "legal_representative_id_number": "11010519491231002X",
    "enterprise_head": "李四",
    "quality_head": "王五",
    "production_head": "赵六",
    "qualified_person": "钱七",
    "contact_phone": "13812341234",
    "production_sites": [{"address": "湖北省武汉市东湖新技术开发区高新大道666号", "scope": "片剂"}],
    "issue_date": "2026-01-05",
    "valid_until": "2031-01-04",
    "issuing_authority": "湖北省药品监督管理局",
    "issuer": "周八",
    "supervising_authority": "湖北省药品监督管理局",
    "report_phone": "027-87111111",
}


def production() -> LicenseType:
    return builtin_registry().get("drug-production")


def test_drug_production_public_view() -> None:
    clean = production().validate(PRODUCTION_DATA)
    view = public_view(production(), clean, status="issued", version=2, identifier="1.2.156.3005.2.x")
    fields = view["fields"]
    assert fields["contact_phone"] == "138****1234"
    assert fields["legal_representative_id_number"] == "1101**********002X"
    assert fields["enterprise_name"] == "武汉示例制药有限公司"  # public, clear
    assert fields["legal_representative"] == "张三丰"  # a face field of an enterprise license is public
    assert fields["report_phone"] == "027-87111111"
    assert fields["issue_date"] == "2026-01-05"
    assert list(fields)[:3] == ["enterprise_name", "license_number", "uscc"]  # the type's order
    assert (view["type"], view["status"], view["version"]) == ("drug-production", "issued", 2)
    assert "contact_phone" in masked_fields(production()) and "contact_phone" not in public_fields(production())


def test_owner_view_is_masked_too_and_officer_view_is_clear() -> None:
    clean = production().validate(PRODUCTION_DATA)
    assert view_fields(production(), clean, Audience.OWNER)["contact_phone"] == "138****1234"
    assert view_fields(production(), clean, Audience.OFFICER)["contact_phone"] == "13812341234"


def test_pharmacist_views() -> None:
    pharmacist = builtin_registry().get("pharmacist-registration")
    clean = pharmacist.validate(
        {
            "name": "张小红",
            "gender": "女",
            "id_number": "11010519491231002X",
            "certificate_number": "42201903000123",
            "practice_region": "鄂",
            "practice_category": "药学类",
            "practice_scope": "药品经营",
            "employer": "武汉示例大药房有限公司",
            "photo": "sha256:" + "ab" * 32,
            "issue_date": date(2025, 6, 1),
            "valid_until": date(2030, 5, 31),
            "issuing_authority": "湖北省药品监督管理局",
        }
    )
    public = view_fields(pharmacist, clean)
    assert public["name"] == "张**"
    assert public["id_number"] == "1101**********002X"
    assert "gender" not in public and "photo" not in public  # private: omitted
    owner = view_fields(pharmacist, clean, Audience.OWNER)
    assert owner["name"] == "张**" and owner["gender"] == "女" and owner["photo"].startswith("sha256:")


def _custom_type() -> LicenseType:
    document = json.loads(
        json.dumps(
            {
                "format": "certseal.license-type/1",
                "code": "custom",
                "name": "自定义证",
                "name_en": "Custom",
                "family": "enterprise",
                "holder": {"name_field": "holder", "code_field": "uscc", "code_type": "001"},
                "number": {"field": "number", "mode": "external"},
                "dates": {"issued_on": "issued", "valid_until": "until"},
                "validity": {"years": 1},
                "renewal": {},
                "lifecycle": {"cancellation_grounds": []},
                "fields": [
                    {"key": "holder", "label": "持证人", "label_en": "Holder", "kind": "text"},
                    {"key": "uscc", "label": "代码", "label_en": "USCC", "kind": "uscc"},
                    {"key": "number", "label": "编号", "label_en": "No.", "kind": "license_number"},
                    {"key": "issued", "label": "发证日期", "label_en": "Issued", "kind": "date"},
                    {"key": "until", "label": "有效期至", "label_en": "Until", "kind": "date"},
                    {
                        "key": "id_number",
                        "label": "身份证",
                        "label_en": "ID",
                        "kind": "resident_id",
                        "sensitivity": "sensitive",
                        "mask": {"keep_prefix": 6, "keep_suffix": 4},
                    },
                    {
                        "key": "contacts",
                        "label": "联系人",
                        "label_en": "Contacts",
                        "kind": "list",
                        "items": [
                            {
                                "key": "name",
                                "label": "姓名",
                                "label_en": "Name",
                                "kind": "person_name",
                                "sensitivity": "sensitive",
                            },
                            {
                                "key": "email",
                                "label": "邮箱",
                                "label_en": "Email",
                                "kind": "email",
                                "sensitivity": "sensitive",
                            },
                            {
                                "key": "note",
                                "label": "备注",
                                "label_en": "Note",
                                "kind": "text",
                                "sensitivity": "private",
                            },
                            {"key": "role", "label": "职务", "label_en": "Role", "kind": "text"},
                        ],
                    },
                    {
                        "key": "internal",
                        "label": "内部",
                        "label_en": "Internal",
                        "kind": "list",
                        "sensitivity": "private",
                        "items": [{"key": "x", "label": "x", "label_en": "x", "kind": "text"}],
                    },
                ],
                "layouts": {"original": {"label": "正本", "title": "自定义证", "items": [{"field": "holder"}]}},
            }
        )
    )
    return LicenseType(LicenseTypeDocument.model_validate(document))


def test_per_field_mask_settings_and_nested_lists() -> None:
    custom = _custom_type()
    clean = custom.validate(
        {
            "id_number": "11010519491231002X",
            "contacts": [{"name": "欧阳娜娜", "email": "nana@example.cn", "note": "夜班", "role": "经理"}],
            "internal": [{"x": "1"}],
        }
    )
    public = view_fields(custom, clean)
    assert public["id_number"] == "110105********002X"
    assert public["contacts"] == [{"name": "欧***", "email": "n**@example.cn", "role": "经理"}]
    assert "internal" not in public
    owner = view_fields(custom, clean, Audience.OWNER)
    assert owner["contacts"][0]["note"] == "夜班" and owner["internal"] == [{"x": "1"}]
    assert masked_fields(custom) == ["id_number", "contacts[].name", "contacts[].email"]
    assert public_fields(custom) == ["holder", "uscc", "number", "issued", "until", "contacts[].role"]


# --- digest --------------------------------------------------------------------------------------------------------


def test_public_digest_is_sha256_of_canonical_json_checked_by_openssl(tmp_path: Path) -> None:
    view = public_view(production(), production().validate(PRODUCTION_DATA), status="issued", version=1)
    encoded = canonical_json(view)
    assert json.loads(encoded) == view
    assert b" " not in encoded.replace("东湖新技术开发区".encode(), b"")  # no insignificant spaces
    assert "湖北".encode() in encoded  # UTF-8, not \u escapes
    path = tmp_path / "view.json"
    path.write_bytes(encoded)
    out = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(path)], capture_output=True, text=True, check=True)
    assert public_digest(view).hex() == out.stdout.split()[0]
    assert len(public_digest(view)) == 32


def test_public_digest_ignores_key_order_but_not_content() -> None:
    view = public_view(production(), production().validate(PRODUCTION_DATA), status="issued", version=1)
    reordered = dict(reversed(list(view.items())))
    assert public_digest(reordered) == public_digest(view)
    changed = json.loads(json.dumps(view))
    changed["fields"]["enterprise_name"] += "。"
    assert public_digest(changed) != public_digest(view)
    suspended = dict(view, status="suspended")
    assert public_digest(suspended) != public_digest(view)


def test_canonical_json_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})
    assert canonical_json({"d": date(2026, 1, 5)}) == b'{"d":"2026-01-05"}'
