"""Validation of license data against its type: every error named by field path and rule, all errors at once,
normalisation, stages, date and scope rules, check digits (vectors of reference/domain.md §4, computed by
python-stdnum) and warnings for officers."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from certseal.errors import ValidationError
from certseal.licenses.schema import (
    CleanLicenseData,
    LicenseType,
    MultiValidationError,
    Stage,
    builtin_registry,
)

TODAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def production() -> LicenseType:
    return builtin_registry().get("drug-production")


@pytest.fixture(scope="module")
def pharmacist() -> LicenseType:
    return builtin_registry().get("pharmacist-registration")


def production_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "enterprise_name": "武汉示例制药有限公司",
        "license_number": "鄂20260001",
        "uscc": "91110108551385082Q",
        "classification_code": "AhzCh",
        "province": "鄂",
        "registered_address": "湖北省武汉市东湖新技术开发区高新大道666号",
        "legal_representative": "张三丰",
        "legal_representative_id_number": "11010519491231002X",
        "enterprise_head": "李四",
        "quality_head": "王五",
        "production_head": "赵六",
        "qualified_person": "欧阳娜娜",
        "contact_phone": "+86 138 1234 1234",
        "production_sites": [
            {
                "address": "湖北省武汉市东湖新技术开发区高新大道666号",
                "scope": "片剂，硬胶囊剂",
                "workshops": [
                    {"name": "固体制剂车间", "production_lines": [{"name": "片剂线1", "scope": "片剂"}]},
                    {"name": "胶囊车间", "production_lines": [{"name": "胶囊线1"}, {"name": "胶囊线2"}]},
                ],
            },
            {"address": "湖北省孝感市高新区经济大道1号", "scope": "原料药（阿司匹林）"},
        ],
        "contract_manufacturing": [
            {
                "role": "受托",
                "counterparty_name": "北京示例医药",
                "counterparty_uscc": "91350100M000100Y43",
                "product": "A片",
            }
        ],
        "issue_date": "2026-01-05",
        "valid_until": "2031-01-04",
        "issuing_authority": "湖北省药品监督管理局",
        "issuer": "周八",
        "supervising_authority": "湖北省药品监督管理局武汉检查分局",
        "supervisors": "吴九、郑十",
        "report_phone": "12315",
        "remarks": "",
    }
    data.update(changes)
    return data


def pharmacist_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "张小红",
        "gender": "女",
        "id_number": "11010519491231002X",
        "certificate_number": "42201903000123",
        "practice_region": "湖北省",
        "practice_category": "药学类",
        "practice_scope": "药品经营",
        "employer": "武汉示例大药房有限公司",
        "mobile": "13812341234",
        "photo": "sha256:" + "ab" * 32,
        "issue_date": "2025-06-01",
        "valid_until": "2030-05-31",
        "issuing_authority": "湖北省药品监督管理局",
    }
    data.update(changes)
    return data


def errors_of(license_type: LicenseType, data: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    with pytest.raises(MultiValidationError) as caught:
        license_type.validate(data, **kwargs)
    return {e.field: e.rule for e in caught.value.errors}


def test_valid_drug_production_is_normalised(production: LicenseType) -> None:
    clean = production.validate(production_data(), today=TODAY)
    assert isinstance(clean, CleanLicenseData)
    assert clean.type_code == "drug-production"
    assert clean["province"] == "湖北省"
    assert clean["contact_phone"] == "13812341234"
    assert clean["issue_date"] == date(2026, 1, 5)
    assert clean["production_sites"][0]["workshops"][1]["production_lines"][1] == {"name": "胶囊线2"}
    assert "remarks" not in clean.values  # empty optional values are dropped
    assert clean.warnings == ()


def test_clean_data_round_trips_through_json(production: LicenseType) -> None:
    clean = production.validate(production_data(), today=TODAY)
    again = production.validate(clean.to_json(), today=TODAY)
    assert again.values == clean.values
    assert clean.to_json()["issue_date"] == "2026-01-05"


def test_all_errors_are_listed_with_paths(production: LicenseType) -> None:
    data = production_data(
        uscc="91110108551385082A",
        classification_code="Ek",
        colour="red",
        production_sites=[
            {"address": "湖北省武汉市", "scope": "片剂"},
            {"address": "湖北省黄石市", "scope": "  "},
        ],
        issue_date="2026-02-30",
    )
    with pytest.raises(MultiValidationError) as caught:
        production.validate(data)
    error = caught.value
    assert isinstance(error, ValidationError)  # the web layer maps it to 422 like any ValidationError
    found = {e.field: e.rule for e in error.errors}
    assert found == {
        "colour": "unknown field (not in this license type)",
        "uscc": "统一社会信用代码 check character is wrong: expected Q",
        "classification_code": "分类码 holder type 'E' is not one of A, B, C, D",
        "production_sites[1].scope": "生产范围 is required",
        "issue_date": "发证日期 2026-02-30 is not a real date",
    }
    assert error.field == "colour" and error.rule.endswith("(and 4 more)")
    assert "production_sites[1].scope: 生产范围 is required" in error.message


def test_stages(production: LicenseType) -> None:
    assert production.validate({}, stage=Stage.DRAFT).values == {}
    application = {
        k: v
        for k, v in production_data().items()
        if k not in {"license_number", "issue_date", "valid_until", "issuing_authority", "issuer"}
    }
    production.validate(application, stage=Stage.APPLICATION)
    missing = errors_of(production, application, stage=Stage.ISSUED)
    assert missing == {
        "license_number": "许可证编号 is required",
        "issue_date": "发证日期 is required",
        "valid_until": "有效期至 is required",
        "issuing_authority": "发证机关 is required",
        "issuer": "签发人 is required",
    }
    assert (
        errors_of(production, {"enterprise_name": "x"}, stage=Stage.APPLICATION)["uscc"]
        == "统一社会信用代码 is required"
    )
    # a draft still checks what is there
    assert errors_of(production, {"uscc": "123"}, stage=Stage.DRAFT) == {
        "uscc": "统一社会信用代码 must be 18 characters, got 3"
    }


@pytest.mark.parametrize("number", ["91350100M000100Y43", "91110108551385082Q", "91440111347388120Y"])
def test_reference_uscc_vectors_are_accepted(production: LicenseType, number: str) -> None:
    assert production.validate(production_data(uscc=number.lower()), today=TODAY)["uscc"] == number


def test_resident_id_vectors(production: LicenseType) -> None:
    for number in ("11010519491231002X", "440524188001010014"):
        production.validate(production_data(legal_representative_id_number=number), today=TODAY)
    found = errors_of(production, production_data(legal_representative_id_number="110101197608056896"))
    assert found == {"legal_representative_id_number": "法定代表人身份证件号码 check character is wrong: expected 7"}


def test_unknown_birth_place_and_organisation_code_are_warnings(production: LicenseType) -> None:
    body = "9111010855138508"  # organisation code 55138508 + wrong GB 11714 check '3' (expects '2')
    odd_uscc = body + "3" + uscc.calc_check_digit(body + "3")
    clean = production.validate(
        production_data(legal_representative_id_number="440524188001010014", uscc=odd_uscc), today=TODAY
    )
    fields = {w.field for w in clean.warnings}
    assert fields == {"legal_representative_id_number", "uscc"}
    assert any("GB 11714 expects '2'" in w.message for w in clean.warnings)


def test_date_rules(production: LicenseType) -> None:
    assert errors_of(production, production_data(valid_until="2025-12-31")) == {
        "valid_until": "有效期至 2025-12-31 must be after 发证日期 2026-01-05"
    }
    assert errors_of(production, production_data(valid_until="2031-01-06")) == {
        "valid_until": "有效期至 2031-01-06 is beyond the 5 years validity from 发证日期 2026-01-05"
    }
    production.validate(production_data(valid_until="2031-01-05"))  # the anniversary itself is tolerated
    assert errors_of(production, production_data(), today=date(2026, 1, 4)) == {
        "issue_date": "发证日期 2026-01-05 is in the future (today is 2026-01-04)"
    }
    assert errors_of(production, production_data(issue_date="5 Jan 2026"))["issue_date"] == (
        "发证日期 must be a date written YYYY-MM-DD"
    )
    production.validate(production_data(issue_date=date(2026, 1, 5)))


def test_scope_rules_on_nested_lists(production: LicenseType) -> None:
    data = production_data()
    data["production_sites"][0]["workshops"][1]["name"] = "固体制剂车间"
    data["production_sites"][0]["workshops"][0]["production_lines"].append({"name": "片剂线1"})
    data["production_sites"][1]["address"] = data["production_sites"][0]["address"]
    found = errors_of(production, data)
    assert found == {
        "production_sites[1].address": (
            "生产地址 '湖北省武汉市东湖新技术开发区高新大道666号' duplicates production_sites[0].address"
        ),
        "production_sites[0].workshops[1].name": (
            "车间名称 '固体制剂车间' duplicates production_sites[0].workshops[0].name"
        ),
        "production_sites[0].workshops[0].production_lines[1].name": (
            "生产线名称 '片剂线1' duplicates production_sites[0].workshops[0].production_lines[0].name"
        ),
    }


def test_list_shape_errors(production: LicenseType) -> None:
    assert errors_of(production, production_data(production_sites=[])) == {
        "production_sites": "生产地址和生产范围 needs at least 1 entry"
    }
    assert errors_of(production, production_data(production_sites="武汉")) == {
        "production_sites": "生产地址和生产范围 must be a list"
    }
    assert errors_of(production, production_data(production_sites=["武汉"])) == {
        "production_sites[0]": "each 生产地址和生产范围 entry must be an object"
    }
    too_many = [{"address": f"湖北省武汉市{i}号", "scope": "片剂"} for i in range(51)]
    assert errors_of(production, production_data(production_sites=too_many)) == {
        "production_sites": "生产地址和生产范围 allows at most 50 entries, got 51"
    }
    bad_item = production_data()
    bad_item["contract_manufacturing"][0]["role"] = "合作"
    assert errors_of(production, bad_item) == {
        "contract_manufacturing[0].role": "委托/受托 must be one of 委托, 受托; got '合作'"
    }


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        (
            "contact_phone",
            "12345abc",
            "联系电话 must be a mobile (11 digits), a landline (area code-number) or a service number",
        ),
        ("enterprise_name", "x" * 201, "企业名称 must be at most 200 characters, got 201"),
        ("enterprise_name", 42, "企业名称 must be text"),
        ("enterprise_name", "示例\x07制药", "企业名称 contains control characters"),
        ("legal_representative", "张3", "法定代表人 may not contain digits or punctuation other than · . -"),
        ("province", "火星", "省份 '火星' is not a province name or abbreviation"),
        ("license_number", "鄂 2026", "许可证编号 must be 1–64 characters without spaces"),
        ("registered_address", "武", "注册地址 is too short to be an address"),
    ],
)
def test_field_rules(production: LicenseType, key: str, value: Any, rule: str) -> None:
    assert errors_of(production, production_data(**{key: value})) == {key: rule}


@pytest.mark.parametrize(
    "phone", ["13812341234", "027-87654321", "02787654321", "0915-1234567-801", "12315", "400-123-4567"]
)
def test_phone_shapes(production: LicenseType, phone: str) -> None:
    production.validate(production_data(contact_phone=phone))


def test_pharmacist(pharmacist: LicenseType) -> None:
    clean = pharmacist.validate(pharmacist_data(), today=TODAY)
    assert clean["practice_region"] == "湖北省"
    found = errors_of(pharmacist, pharmacist_data(gender="男"))
    assert found == {"gender": "性别 男 contradicts 身份证件号码 (女)"}
    found = errors_of(
        pharmacist, pharmacist_data(practice_scope="药品研发", mobile="02787654321", photo="../../etc/passwd")
    )
    assert found == {
        "practice_scope": "执业范围 must be one of 药品生产, 药品经营, 药品使用; got '药品研发'",
        "mobile": "手机号码 must be an 11-digit mainland mobile number starting 13–19",
        "photo": "照片 must be a stored image reference such as sha256:<hex>",
    }
    assert "employers" not in {f.key for f in pharmacist.fields}
    assert errors_of(pharmacist, pharmacist_data(employer=["A", "B"])) == {"employer": "执业单位 must be text"}


def test_not_an_object(production: LicenseType) -> None:
    with pytest.raises(MultiValidationError, match="must be an object"):
        production.validate(["x"])  # type: ignore[arg-type]


_uscc_body = st.builds(
    lambda head, kind, division, org: head + kind + division + org,
    st.sampled_from("123456789"),
    st.sampled_from("0123456789"),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9),
)


@settings(max_examples=100, deadline=None)
@given(_uscc_body)
def test_random_uscc_built_with_stdnum_validates_in_license_data(production: LicenseType, body: str) -> None:
    number = body + uscc.calc_check_digit(body)
    assert production.validate(production_data(uscc=number))["uscc"] == number


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(1930, 1, 1), max_value=date(2005, 12, 31)), st.integers(0, 999))
def test_random_pharmacist_ids_and_gender(pharmacist: LicenseType, born: date, sequence: int) -> None:
    body = f"420111{born:%Y%m%d}{sequence:03d}"
    number = body + ric.calc_check_digit(body + "0")
    gender = "男" if sequence % 2 else "女"
    assert pharmacist.validate(pharmacist_data(id_number=number, gender=gender))["id_number"] == number
    other = "女" if gender == "男" else "男"
    with pytest.raises(MultiValidationError, match="contradicts"):
        pharmacist.validate(pharmacist_data(id_number=number, gender=other))
