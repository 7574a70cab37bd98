"""The shared license layout: wrapping, fields on the face, pagination of the 副本, seal spot, metadata, bad input."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from certseal.errors import ValidationError
from certseal.licenses.render import IssueFacts, issue_facts, layout_license, license_font, render_ofd, render_pdf
from certseal.licenses.render.layout import (
    EMPTY,
    LicenseLayout,
    PageLayout,
    Text,
    format_date,
    format_value,
    wrap,
)
from certseal.licenses.schema import LicenseType, builtin_registry

IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y"
PHARMACIST_IDENTIFIER = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
ISSUER = "湖北省药品监督管理局"
QR_TEXT = "https://licenses.example.gov.cn/v/1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701"
LONG_NAME = "湖北示例制药股份有限公司（武汉光谷生物医药产业园分公司）"
SCOPE = "片剂，硬胶囊剂，颗粒剂，小容量注射剂（非最终灭菌），原料药（阿莫西林、头孢克肟），中药饮片（净制、切制、炒制）"


def drug_type() -> LicenseType:
    return builtin_registry().get("drug-production")


def pharmacist_type() -> LicenseType:
    return builtin_registry().get("pharmacist-registration")


def drug_data(sites: int = 2, workshops: int = 2, lines: int = 2) -> dict[str, Any]:
    """Every face field of the Drug Production License (reference/domain.md §1)."""
    return {
        "enterprise_name": LONG_NAME,
        "uscc": "91110108551385082Q",
        "classification_code": "Ahz",
        "province": "湖北省",
        "registered_address": "湖北省武汉市东湖新技术开发区高新大道666号生物城C5栋",
        "legal_representative": "张三",
        "enterprise_head": "李四",
        "quality_head": "王五",
        "production_head": "赵六",
        "qualified_person": "钱七",
        "production_sites": [
            {
                "address": f"湖北省武汉市东湖新技术开发区神墩一路{100 + i}号{i + 1}号厂房",
                "scope": SCOPE,
                "workshops": [
                    {
                        "name": f"固体制剂{w + 1}车间",
                        "production_lines": [{"name": f"片剂生产线{n + 1}", "scope": "片剂"} for n in range(lines)],
                    }
                    for w in range(workshops)
                ],
            }
            for i in range(sites)
        ],
        "contract_manufacturing": [
            {
                "role": "受托",
                "counterparty_name": "北京示例医药科技有限公司",
                "counterparty_uscc": "91350100M000100Y43",
                "product": "阿莫西林胶囊",
                "valid_until": date(2027, 6, 30),
            }
        ],
        "issue_date": date(2025, 7, 1),
        "valid_until": date(2030, 6, 30),
        "issuing_authority": ISSUER,
        "issuer": "孙八",
        "supervising_authority": "武汉市东湖新技术开发区市场监督管理局",
        "supervisors": "周九、吴十",
        "report_phone": "12315",
        "remarks": "原编号鄂20160001；2025年7月1日换发。",
    }


def pharmacist_data() -> dict[str, Any]:
    """The face of the Licensed Pharmacist Registration Certificate (reference/domain.md §2)."""
    return {
        "name": "欧阳明华",
        "gender": "女",
        "id_number": "11010519491231002X",
        "certificate_number": "ZY420120250001",
        "practice_region": "湖北省",
        "practice_category": "药学与中药学类",
        "practice_scope": "药品经营",
        "employer": "武汉示例大药房连锁有限公司光谷步行街分店",
        "issue_date": date(2025, 7, 1),
        "valid_until": date(2030, 6, 30),
        "issuing_authority": ISSUER,
    }


ORIGINAL_FACE = [
    "enterprise_name",
    "registered_address",
    "uscc",
    "legal_representative",
    "enterprise_head",
    "quality_head",
    "production_head",
    "qualified_person",
    "classification_code",
    "supervising_authority",
    "supervisors",
    "report_phone",
    "issuer",
    "valid_until",
]
DUPLICATE_FACE = [*ORIGINAL_FACE, "remarks"]
PHARMACIST_FACE = [k for k in pharmacist_data() if k not in ("issue_date", "issuing_authority")]


def printed(value: Any) -> str:
    return format_value(value).replace(" ", "")


def drug_kwargs(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "identifier": IDENTIFIER,
        "number": "鄂20160001",
        "version": 3,
        "qr_text": QR_TEXT,
        "issuer": ISSUER,
        "issue_date": date(2025, 7, 1),
    }
    values.update(changes)
    return values


def drug_facts(**changes: Any) -> IssueFacts:
    return issue_facts(**drug_kwargs(**changes))


def layout(
    data: Mapping[str, Any], copy: str = "original", license_type: LicenseType | None = None, **kw: Any
) -> LicenseLayout:
    return layout_license(license_type or drug_type(), data, copy, drug_facts(**kw))  # type: ignore[arg-type]


def page_text(page: PageLayout) -> str:
    return "".join(i.text for i in page.items if isinstance(i, Text)).replace(" ", "")


def text_boxes(page: PageLayout) -> list[tuple[float, float, float, float, str]]:
    font = license_font()
    boxes = []
    for item in page.items:
        if isinstance(item, Text):
            width = font.width(item.text, item.size)
            x = item.x - {"left": 0.0, "center": width / 2, "right": width}[item.align]
            boxes.append((x, item.y - 0.85 * item.size, x + width, item.y + 0.15 * item.size, item.text))
    return boxes


def assert_no_overlap_and_inside(page: PageLayout, watermark: str | None = None) -> None:
    boxes = [b for b in text_boxes(page) if b[4] != watermark]
    for x0, y0, x1, y1, text in boxes:
        assert 0 <= x0 and x1 <= page.width and 0 <= y0 and y1 <= page.height, text
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_x = min(a[2], b[2]) - max(a[0], b[0])
            overlap_y = min(a[3], b[3]) - max(a[1], b[1])
            assert overlap_x <= 0.05 or overlap_y <= 0.05, (a[4], b[4])


# --- wrapping and values --------------------------------------------------------------------------------------


def test_wrap_keeps_lines_within_the_width_and_loses_nothing() -> None:
    font = license_font()
    text = LONG_NAME + " ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ " + SCOPE
    lines = wrap(font, text, 3.5, 40.0)
    assert len(lines) > 3
    assert all(font.width(line, 3.5) <= 40.0 + 3.5 for line in lines)  # closing punctuation may hang
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert not any(line[0] in "，。）" for line in lines)
    assert wrap(font, "第一行\n第二行", 3.5, 100.0) == ["第一行", "第二行"]


def test_values_are_printed_in_chinese_form() -> None:
    assert format_date(date(2030, 6, 30)) == "2030年06月30日"
    assert format_value(None) == EMPTY
    assert format_value(["甲", "乙"]) == "1. 甲\n2. 乙"


# --- faces ----------------------------------------------------------------------------------------------------


def test_original_is_one_landscape_page_with_every_face_field() -> None:
    result = layout(drug_data())
    (page,) = result.pages
    assert (page.width, page.height) == (297.0, 210.0)
    text = page_text(page)
    for key in ORIGINAL_FACE:
        assert printed(drug_data()[key]) in text, key
    for site in drug_data()["production_sites"]:
        assert site["address"] in text
    assert "鄂20160001" in text and ISSUER in text and "2025年07月01日" in text and "（正本）" in text
    assert_no_overlap_and_inside(page)


def test_seal_spot_is_on_the_issuer_and_date() -> None:
    result = layout(drug_data())
    seal = result.seal
    boxes = [b for b in text_boxes(result.pages[0]) if ISSUER in b[4] or "发证日期" in b[4]]
    assert len(boxes) == 2
    for x0, y0, x1, y1, _ in boxes:
        assert x0 - 5 < seal.x < x1 + 5 and abs((y0 + y1) / 2 - seal.y) < seal.size / 2
    assert seal.page == 1 and seal.size == 42.0


def test_original_cuts_very_long_scopes_and_points_to_the_duplicate() -> None:
    result = layout(drug_data(sites=12))
    (page,) = result.pages
    assert "（详见副本）" in page_text(page)
    assert_no_overlap_and_inside(page)


def test_duplicate_paginates_long_site_and_workshop_tables_repeating_headers() -> None:
    result = layout(drug_data(sites=12, workshops=3, lines=3), "duplicate")
    assert len(result.pages) >= 3
    assert all((p.width, p.height) == (210.0, 297.0) for p in result.pages)
    everything = "".join(page_text(p) for p in result.pages)
    for key in DUPLICATE_FACE:
        assert printed(drug_data()[key]) in everything, key
    assert everything.count("片剂生产线3") == 12 * 3  # every line of every workshop of every site
    assert "北京示例医药科技有限公司" in everything and "变更记录" in everything
    continued = [p for p in result.pages[1:] if "（续）" in page_text(p)]
    assert continued and all("生产范围" in page_text(p) for p in continued)
    total = len(result.pages)
    for number, page in enumerate(result.pages, 1):
        assert f"第{number}页，共{total}页" in page_text(page)
        assert_no_overlap_and_inside(page)


def test_duplicate_shows_the_change_history() -> None:
    history = [{"date": "2025-07-01", "item": "生产地址", "before": "武汉市甲路1号", "after": "武汉市乙路2号"}]
    result = layout(drug_data(), "duplicate", change_history=history)
    text = "".join(page_text(p) for p in result.pages)
    assert "武汉市甲路1号" in text and "武汉市乙路2号" in text and "2025年07月01日" in text


def test_pharmacist_certificate_has_its_own_face_with_photo_area() -> None:
    facts = drug_facts(identifier=PHARMACIST_IDENTIFIER, version=1, number="ZY420120250001")
    result = layout_license(pharmacist_type(), pharmacist_data(), "original", facts)
    (page,) = result.pages
    assert (page.width, page.height) == (210.0, 148.0)
    text = page_text(page)
    for key in PHARMACIST_FACE:
        assert printed(pharmacist_data()[key]) in text, key
    assert "执业药师注册证" in text and "照片" in text
    assert_no_overlap_and_inside(page)
    metadata = dict(result.metadata)
    assert metadata["持证主体"] == "欧阳明华" and metadata["持证主体代码类型"] == "111"


@pytest.mark.parametrize("code", sorted(builtin_registry().codes))
def test_every_builtin_type_renders_every_face_even_without_data(code: str) -> None:
    license_type = builtin_registry().get(code)
    for copy in license_type.document.layouts:
        result = layout(drug_data() if code == "drug-production" else {}, copy, license_type)
        for page in result.pages:
            assert_no_overlap_and_inside(page)


def test_watermark_lies_under_the_face() -> None:
    result = layout(drug_data(), status_watermark="已注销")
    first = result.pages[0].items
    texts = [i for i in first if isinstance(i, Text)]
    assert texts[0].text == "已注销" and texts[0].size > 20
    assert first.index(texts[0]) == 0 or all(not isinstance(i, Text) for i in first[: first.index(texts[0])])


def test_core_metadata_follows_gb_t_36901() -> None:
    metadata = dict(layout(drug_data()).metadata)
    assert list(metadata) == [
        "证照标识",
        "证照名称",
        "证照类型代码",
        "证照编号",
        "颁发机构",
        "颁发机构代码",
        "颁发日期",
        "持证主体",
        "持证主体代码",
        "持证主体代码类型",
        "有效期起始",
        "有效期截止",
    ]
    assert metadata["证照标识"] == IDENTIFIER
    assert metadata["证照类型代码"] == "11100000000013338W011"
    assert metadata["颁发机构代码"] == "11110000000021135M"
    assert metadata["持证主体代码"] == "91110108551385082Q" and metadata["持证主体代码类型"] == "001"
    assert metadata["有效期起始"] == "2025-07-01" and metadata["有效期截止"] == "2030-06-30"


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"identifier": IDENTIFIER[:-1] + "Z"}, "identifier.check"),
        ({"version": 4}, "version"),
        ({"qr_text": " "}, "qr_text"),
        ({"number": ""}, "number"),
        ({"issuer": ""}, "issuer"),
        ({"status_watermark": "  "}, "status_watermark"),
    ],
)
def test_bad_issuance_facts_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        render_pdf(drug_type(), drug_data(), issue_facts(**drug_kwargs(**changes)), copy="original")
    assert caught.value.field == field


def test_a_face_the_type_does_not_have_is_refused() -> None:
    facts = drug_facts(identifier=PHARMACIST_IDENTIFIER, version=1)
    with pytest.raises(ValidationError, match="only the original face") as caught:
        layout_license(pharmacist_type(), pharmacist_data(), "duplicate", facts)
    assert caught.value.field == "copy"


def test_a_character_the_font_lacks_is_refused_before_rendering() -> None:
    data = {**drug_data(), "enterprise_name": "示例\U0002a6a5制药有限公司"}  # 𪚥, outside the font
    for render in (render_pdf, render_ofd):
        with pytest.raises(ValidationError, match="U\\+2A6A5"):
            render(drug_type(), data, drug_facts(), copy="original")  # type: ignore[operator]


def test_a_qr_text_too_long_for_a_qr_code_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        render_pdf(drug_type(), drug_data(), issue_facts(**drug_kwargs(qr_text="x" * 5000)), copy="original")
    assert caught.value.field == "qr_text"


def test_pdf_output_is_deterministic_and_reports_the_seal_in_points() -> None:
    first = render_pdf(drug_type(), drug_data(), drug_facts(), copy="original")
    again = render_pdf(drug_type(), drug_data(), issue_facts(**drug_kwargs()), copy="original")  # the facts as keywords
    assert first.pdf == again.pdf and first.pdf.startswith(b"%PDF-")
    seal = layout(drug_data()).seal
    page, x_pt, y_pt = first.seal_position
    assert page == 1 and x_pt == pytest.approx(seal.x * 72 / 25.4) and y_pt == pytest.approx((210 - seal.y) * 72 / 25.4)
    ofd = render_ofd(drug_type(), drug_data(), drug_facts(), copy="original")
    assert ofd.seal_position == (1, seal.x, seal.y) and ofd.seal_size_mm == 42.0
    assert render_ofd(drug_type(), drug_data(), issue_facts(**drug_kwargs()), copy="original").ofd == ofd.ofd
