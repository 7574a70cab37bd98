"""Sample OFD documents built with certseal's DocumentBuilder, for tests of the OFD model, renderer and signing."""

from __future__ import annotations

import io
from datetime import date, datetime

from PIL import Image

from certseal.ofd.model import (
    Attachment,
    Box,
    Clip,
    ClipArea,
    Color,
    ColorSpace,
    CompositeGraphicUnit,
    CompositeObject,
    CustomTag,
    DocInfo,
    Document,
    DrawParam,
    Font,
    ImageObject,
    Layer,
    Matrix,
    MultiMedia,
    OutlineItem,
    Page,
    PageArea,
    PageBlock,
    PageList,
    PathCommand,
    PathObject,
    Resources,
    TemplatePage,
    TemplateRef,
    TextCode,
    TextObject,
)
from certseal.ofd.writer import DocumentBuilder

RED = (200, 16, 32)
LICENSE_NUMBER = "鲁20250001"
LICENSE_HOLDER = "济南市某某制药有限公司"
LICENSE_QR = "https://license.example.gov.cn/v/鲁20250001?c=8F3A"
FIXED_DAY = date(2025, 3, 1)


def png(width: int = 40, height: int = 20, colour: tuple[int, int, int] = (220, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), colour)
    for x in range(width):
        image.putpixel((x, height // 2), (0, 0, 0))
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int = 30, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 200)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def license_builder(doc_id: str = "c0ffee00c0ffee00c0ffee00c0ffee00") -> DocumentBuilder:
    """A drug production license-like A4 page: title, fields with Chinese text, a frame, a QR code."""
    b = DocumentBuilder(
        (210.0, 297.0), doc_id=doc_id, title="药品生产许可证", author="山东省药品监督管理局", creation_date=FIXED_DAY
    )
    b.page()
    b.rect(10, 10, 190, 277, stroke=RED, line_width=1.2)
    b.rect(12, 12, 186, 273, stroke=RED, line_width=0.3)
    b.text(105, 45, "药品生产许可证", size_mm=12, align="center", colour=RED, weight=700)
    b.text(105, 58, "（正本）", size_mm=6, align="center")
    fields = [
        ("许可证编号", LICENSE_NUMBER),
        ("企业名称", LICENSE_HOLDER),
        ("统一社会信用代码", "91370100MA3C4XYZ1K"),
        ("法定代表人", "张三"),
        ("注册地址", "山东省济南市历城区工业北路100号"),
        ("有效期至", "2030年02月28日"),
    ]
    for row, (label, value) in enumerate(fields):
        y = 90 + row * 14
        b.text(30, y, f"{label}：", size_mm=4.5)
        b.text(80, y, value, size_mm=4.5)
    b.line(30, 180, 180, 180, colour=RED, line_width=0.5)
    b.text(150, 250, "发证机关：山东省药品监督管理局", size_mm=4, align="right")
    b.text(150, 260, "2025年03月01日", size_mm=4, align="right")
    b.qr(LICENSE_QR, (30, 225, 35, 35))
    b.custom_data("证照编号", LICENSE_NUMBER)
    b.custom_data("持证主体", LICENSE_HOLDER)
    return b


def license_ofd() -> bytes:
    return license_builder().build()


def long_ofd(pages: int = 20) -> bytes:
    """A document of `pages` pages, each with a heading naming its number and a paragraph."""
    b = DocumentBuilder((210.0, 297.0), doc_id=f"long{pages:06d}", creation_date=FIXED_DAY)
    for number in range(1, pages + 1):
        b.page()
        b.text(20, 30, f"第{number}页 共{pages}页", size_mm=6)
        b.text(20, 45, "本文件用于测试多页OFD文档的读取与渲染。", size_mm=4)
        b.rect(15, 15, 180, 267, line_width=0.2)
    return b.build()


def rich_builder() -> DocumentBuilder:
    """Every feature the writer has: template page, images, paths, QR, outline, attachment, custom tags."""
    b = DocumentBuilder((210.0, 297.0), doc_id="rich0001", title="全功能示例", creation_date=FIXED_DAY)
    frame = b.template("边框", z_order="Background")
    b.rect(5, 5, 200, 287, stroke=RED, line_width=0.8)
    b.text(105, 290, "模板页脚 Template footer", size_mm=3, align="center")
    stamp = b.template("水印", z_order="Foreground")
    b.text(105, 150, "样本", size_mm=20, align="center", colour=(230, 230, 230))
    first = b.page(templates=[frame, stamp])
    b.text(20, 30, "第一章 总则", size_mm=6)
    b.image(png(), (20, 40, 40, 20))
    b.image(jpeg(), (70, 40, 30, 30))
    b.image(png(), (110, 40, 40, 20))  # the same PNG again: one resource
    triangle = [
        PathCommand("M", (20.0, 100.0)),
        PathCommand("L", (60.0, 100.0)),
        PathCommand("L", (40.0, 80.0)),
        PathCommand("C"),
    ]
    b.path(triangle, stroke=(0, 0, 0), fill=(0, 160, 0), line_width=0.5)
    curve = [
        PathCommand("M", (70.0, 100.0)),
        PathCommand("B", (80.0, 80.0, 100.0, 120.0, 110.0, 100.0)),
        PathCommand("Q", (120.0, 90.0, 130.0, 100.0)),
    ]
    b.path(curve, stroke=(0, 0, 200), line_width=0.4, dash_pattern=(1.0, 0.5))
    b.qr("OFD QR 测试", (150, 80, 30, 30), error="q")
    second = b.page(templates=[frame], size_mm=(297.0, 210.0))
    b.text(20, 30, "第二章 附则（横向页）", size_mm=6)
    chapter = b.outline("第一章 总则", page_id=first, top_mm=20.0)
    b.outline("1.1 图像与路径", page_id=first, top_mm=40.0, parent=chapter)
    b.outline("第二章 附则", page_id=second)
    b.attach("license-data.json", b'{"no": "LIC-001", "holder": "\xe6\xb5\x8b\xe8\xaf\x95"}', visible=False)
    b.attach("附件说明.txt", "说明文字".encode())
    b.custom_tags(
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<lic:ELicense xmlns:lic="urn:certseal:e-license:1"><lic:Number>LIC-001</lic:Number></lic:ELicense>'
    )
    b.custom_data("证照类型", "测试")
    return b


def rich_ofd() -> bytes:
    return rich_builder().build()


def split_keyword_builder() -> DocumentBuilder:
    """ "电子证照" written as two TextObjects ("电子" and "证照") side by side, and once more whole on line 2."""
    b = DocumentBuilder((210.0, 297.0), doc_id="kw000001", creation_date=FIXED_DAY)
    b.page()
    first = b.text(50, 60, "电子", size_mm=5)
    b.text(first.boundary.right, 60, "证照", size_mm=5)
    b.text(50, 80, "这是电子证照的说明", size_mm=5)
    return b


def model_document() -> Document:
    """A document made directly from the model, with what the builder does not make: page resources, colour spaces
    with a palette, draw parameters, a composite graphic unit, page blocks, clips, layer types, text attributes."""
    black = Color.rgb(0, 0, 0)
    clip_path = PathObject(boundary=Box(0, 0, 20, 20), abbreviated_data="M 0 0 L 20 0 L 20 20 L 0 20 C")
    clip_text = TextObject(boundary=Box(0, 0, 20, 8), font_id=3, size=5.0, text_codes=(TextCode("裁", 0.0, 5.0),))
    clips = (
        Clip((ClipArea(clip_path, Matrix(1, 0, 0, 1, 2, 2), 4),)),
        Clip((ClipArea(clip_text),)),
    )
    text = TextObject(
        id=20,
        boundary=Box(10, 10, 60, 10),
        name="heading",
        ctm=Matrix(1, 0, 0.2, 1, 0, 0),
        draw_param=4,
        line_width=0.2,
        alpha=200,
        font_id=3,
        size=6.0,
        text_codes=(TextCode("斜体", 0.0, 6.0, (6.0,)), TextCode("Ab", 12.0, 6.0, (3.3,), (0.5,))),
        fill_color=Color((1.0,), 5, None, 128),
        stroke_color=Color(index=2, color_space=6),
        stroke=True,
        fill=False,
        h_scale=0.8,
        read_direction=90,
        char_direction=180,
        weight=700,
        italic=True,
        clips=clips,
    )
    path = PathObject(
        id=21,
        boundary=Box(10, 30, 50, 20),
        visible=False,
        cap="Round",
        join="Bevel",
        miter_limit=3.0,
        dash_offset=1.0,
        dash_pattern=(2.0, 1.0),
        abbreviated_data="M 0 0 B 10 0 20 10 30 10 A 5 5 0 1 0 40 20 Q 45 10 50 0 C",
        fill=True,
        rule="Even-Odd",
        stroke_color=black,
        fill_color=Color((0.0, 0.0, 0.0, 50.0), 7),
    )
    image = ImageObject(
        id=22, boundary=Box(70, 30, 20, 20), ctm=Matrix(20, 0, 0, 20, 0, 0), resource_id=8, substitution=9
    )
    composite = CompositeObject(id=23, boundary=Box(100, 30, 30, 30), ctm=Matrix(2, 0, 0, 2, 0, 0), resource_id=10)
    unit = CompositeGraphicUnit(
        10, 15.0, 15.0, (PathObject(id=11, boundary=Box(0, 0, 15, 15), abbreviated_data="M 0 0 L 15 15"),)
    )
    block = PageBlock((path, PageBlock((image,), 25)), 24)
    page_res = Resources(
        draw_params=(DrawParam(30, line_width=0.5, stroke_color=Color.rgb(0, 0, 255)),),
        multimedias=(MultiMedia(31, jpeg(8, 8), "Image", "JPEG"),),
    )
    first = Page(
        1,
        (
            Layer((text, block, composite), 2, "Foreground", 4),
            Layer((PathObject(id=26, boundary=Box(0, 0, 5, 5), abbreviated_data="M 0 0 L 5 5", draw_param=30),), 27),
        ),
        PageArea(Box(0, 0, 210, 297), Box(5, 5, 200, 287), Box(10, 10, 190, 277), Box(0, 0, 210, 297)),
        (TemplateRef(40, "Foreground"),),
        page_res,
    )
    second = Page(50, (Layer((), 51, "Background"),))
    public = Resources(
        fonts=(Font(3, "宋体", "SimSun", "prc", italic=True, bold=True, serif=True, fixed_width=True),),
        draw_params=(DrawParam(4, 30, 0.3, "Round", "Square", 0.5, (1.0, 2.0), 5.0, black, Color.rgb(255, 0, 0)),),
        color_spaces=(
            ColorSpace(5, "GRAY"),
            ColorSpace(6, "RGB", 8, ((255.0, 0.0, 0.0), (0.0, 255.0, 0.0), (0.0, 0.0, 255.0))),
            ColorSpace(7, "CMYK", 16),
        ),
    )
    document_res = Resources(
        multimedias=(MultiMedia(8, png(), "Image", "PNG"), MultiMedia(9, jpeg(), "Image", "JPEG")),
        composite_units=(unit,),
    )
    return Document(
        doc_info=DocInfo(
            doc_id="model0001",
            title="模型",
            author="作者",
            subject="主题",
            abstract="摘要",
            creation_date=date(2025, 1, 2),
            mod_date=date(2025, 2, 3),
            doc_usage="Normal",
            keywords=("证照", "OFD"),
            creator="certseal",
            creator_version="0.1",
            custom_datas=(("a", "1"), ("b", "")),
        ),
        page_area=PageArea(Box(0, 0, 210, 297)),
        pages=PageList.of([first, second]),
        max_unit_id=60,
        templates=(TemplatePage(40, (Layer((), 41),), "空模板", "Foreground", PageArea(Box(0, 0, 210, 297))),),
        public_res=public,
        document_res=document_res,
        default_cs=6,
        outlines=(OutlineItem("目录", 1, 10.0, 20.0, False, (OutlineItem("无目标"),)),),
        attachments=(Attachment("a.xml", b"<a/>", "xml", "x1", datetime(2025, 1, 2, 3, 4, 5), False, "license"),),
        custom_tags=(CustomTag("urn:x", b"<x:y xmlns:x='urn:x'/>"),),
        signatures_loc="Doc_0/Signs/Signatures.xml",
    )
