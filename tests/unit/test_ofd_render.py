"""The OFD renderer's SVG and HTML, checked without a browser: XML well-formedness by libxml2 (lxml), embedded fonts
by fontTools, positions against certseal.ofd.text and the model; seal stamps from the ofdrw invoice samples; every
malformed part is skipped with a RenderWarning. tests/interop/test_ofd_render_browser.py checks the pixels."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from lxml import etree
from PIL import Image
from typer.testing import CliRunner

from certseal.errors import ValidationError
from certseal.ofd.model import (
    Box,
    Clip,
    ClipArea,
    Color,
    ColorSpace,
    CompositeGraphicUnit,
    CompositeObject,
    ContentObject,
    DocInfo,
    Document,
    DrawParam,
    Font,
    ImageObject,
    Layer,
    Matrix,
    MultiMedia,
    Page,
    PageArea,
    PageList,
    PathObject,
    Resources,
    TemplatePage,
    TemplateRef,
    TextCode,
    TextObject,
    expand_deltas,
)
from certseal.ofd.package import OfdPackage
from certseal.ofd.reader import read_ofd
from certseal.ofd.render import (
    Annotation,
    RenderWarning,
    Stamp,
    page_annotations,
    render_html,
    render_page,
    stamps_from_signatures,
)
from certseal.ofd.render.png import check_dpi
from certseal.ofd.render.svg import paint, svg_path_data
from certseal.ofd.text import glyph_origins
from certseal.ofd.writer import write_ofd, write_package
from tests.ofddocs import license_builder, rich_ofd

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ofd-samples"
SVG = "{http://www.w3.org/2000/svg}"
RED = Color.rgb(255, 0, 0)


# --- helpers shared with the browser tests ------------------------------------------------------------------------


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def one_page(
    *objects: ContentObject,
    size: tuple[float, float] = (100.0, 100.0),
    fonts: tuple[Font, ...] = (),
    media: tuple[MultiMedia, ...] = (),
    params: tuple[DrawParam, ...] = (),
    spaces: tuple[ColorSpace, ...] = (),
    units: tuple[CompositeGraphicUnit, ...] = (),
    templates: tuple[TemplatePage, ...] = (),
    refs: tuple[TemplateRef, ...] = (),
    layer_param: int | None = None,
) -> Document:
    """A one-page document made in the model (page ID 1, IDs of objects and resources as given)."""
    page = Page(id=1, layers=(Layer(tuple(objects), id=2, draw_param=layer_param),), templates=refs)
    return Document(
        doc_info=DocInfo(doc_id="render-test"),
        page_area=PageArea(Box(0.0, 0.0, *size)),
        pages=PageList.of([page]),
        max_unit_id=999,
        templates=templates,
        public_res=Resources(fonts=fonts, draw_params=params, color_spaces=spaces),
        document_res=Resources(multimedias=media, composite_units=units),
    )


def text(
    chars: str,
    boundary: Box,
    *,
    x: float = 0.0,
    y: float = 4.0,
    size: float = 5.0,
    font_id: int = 50,
    delta_x: tuple[float, ...] = (),
    delta_y: tuple[float, ...] = (),
    ctm: Matrix | None = None,
    h_scale: float = 1.0,
    id: int | None = None,
) -> TextObject:
    code = TextCode(chars, x, y, delta_x, delta_y)
    return TextObject(
        id=id, boundary=boundary, font_id=font_id, size=size, text_codes=(code,), ctm=ctm, h_scale=h_scale
    )


def rect_path(
    boundary: Box,
    *,
    fill: bool = False,
    stroke: bool = True,
    fill_color: Color | None = None,
    line_width: float | None = None,
    draw_param: int | None = None,
) -> PathObject:
    w, h = boundary.width, boundary.height
    return PathObject(
        boundary=boundary,
        abbreviated_data=f"M 0 0 L {w} 0 L {w} {h} L 0 {h} C",
        fill=fill,
        stroke=stroke,
        fill_color=fill_color,
        line_width=line_width,
        draw_param=draw_param,
    )


def solid_png(colour: tuple[int, int, int] = (255, 0, 0), size: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def parse_svg(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode("utf-8"))


def render_quietly(document: Document, stamps: Sequence[Stamp] = (), annotations: Sequence[Annotation] = ()) -> str:
    """Page 1 as SVG; any RenderWarning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RenderWarning)
        return render_page(document, 0, stamps=stamps, annotations=annotations)


def texts(root: etree._Element) -> list[etree._Element]:
    return list(root.iter(f"{SVG}text"))


# --- samples and our own documents ----------------------------------------------------------------------------------


def sample_pages() -> Iterator[tuple[str, int]]:
    for name in ("helloworld.ofd", "v4signed.ofd", "signedFile.ofd", "nonstandard-v1.ofd"):
        for index in range(len(read_ofd(sample(name)).pages)):
            yield name, index


@pytest.mark.parametrize(("name", "index"), list(sample_pages()))
def test_sample_pages_render_as_well_formed_svg_at_page_size(name: str, index: int) -> None:
    document = read_ofd(sample(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RenderWarning)  # signedFile's JBIG2 QR code: checked below
        root = parse_svg(render_page(document, index))
    box = document.page_size(document.pages[index])
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == f"{box.width:g}mm" and root.get("height") == f"{box.height:g}mm"
    assert [float(v) for v in root.get("viewBox", "").split()] == [box.x, box.y, box.width, box.height]
    assert len(texts(root)) > 0


def test_invoice_template_is_drawn_below_the_page_content() -> None:
    document = read_ofd(sample("v4signed.ofd"))
    svg = render_quietly(document)
    assert svg.index("重庆增值税电子普通发票") < svg.index("科游迈利有限公司")  # template title, then a page field
    assert 'href="data:image/png;base64,' in svg  # the QR code picture


def test_jbig2_image_is_skipped_with_a_warning() -> None:
    with pytest.warns(RenderWarning, match=r"ImageObject 81 \(resource 80, GBIG2\).*not JBIG2"):
        svg = render_page(read_ofd(sample("signedFile.ofd")), 0)
    assert "<image" not in svg and "上海后衍品牌管理有限公司钟楼分公司" in svg


def test_license_page_embeds_its_font_once_as_a_loadable_truetype_font() -> None:
    document = read_ofd(license_builder().build())
    svg = render_quietly(document)
    faces = re.findall(r"@font-face\{font-family:'([^']+)';src:url\(data:font/ttf;base64,([A-Za-z0-9+/=]+)\)", svg)
    assert len(faces) == 1
    family, data = faces[0]
    embedded = document.public_res.fonts[0].data
    assert base64.b64decode(data) == embedded
    font = TTFont(io.BytesIO(base64.b64decode(data)))  # fontTools reads what the browser will load
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "药品生产许可证鲁2025")
    font_class = re.search(r"\.(f-[0-9a-f]+)\{font-family:'" + family + "'", svg)
    assert font_class is not None
    root = parse_svg(svg)
    assert {t.get("class") for t in texts(root)} == {font_class.group(1)}
    title = next(t for t in texts(root) if t.text == "药品生产许可证")
    assert title.get("font-size") == "12" and title.get("fill") == "#c81020" and title.get("font-weight") == "700"


def test_text_x_list_is_the_glyph_positions_of_the_model() -> None:
    document = read_ofd(license_builder().build())
    page = document.pages[0]
    obj = next(o for o in page.layers[0].objects if isinstance(o, TextObject) and o.text == "济南市某某制药有限公司")
    root = parse_svg(render_quietly(document))
    element = next(t for t in texts(root) if t.text == obj.text)
    expected = [x for _c, x, _y, _w in glyph_origins(obj)]
    assert [float(v) for v in element.get("x", "").split()] == pytest.approx(expected, abs=1e-4)
    assert element.get("transform") == f"translate({obj.boundary.x:g} {obj.boundary.y:g})"


def test_delta_x_g_shorthand_read_from_the_file_spaces_the_glyphs() -> None:
    obj = text("一二三四五", Box(10, 20, 60, 8), x=1.0, delta_x=expand_deltas("g 3 4.5 2", 4))
    data = write_ofd(one_page(obj))
    assert b'DeltaX="g 3 4.5 2"' in OfdPackage.from_bytes(data)["Doc_0/Pages/Page_0/Content.xml"]
    document = read_ofd(data)
    with pytest.warns(RenderWarning, match="font 50 is not among the resources"):
        root = parse_svg(render_page(document, 0))
    (element,) = texts(root)
    assert element.get("x") == "1 5.5 10 14.5 16.5"
    assert element.get("y") == "4 4 4 4 4"


def test_vertical_text_with_delta_y_only_keeps_its_column() -> None:
    obj = text("购买方", Box(6.6, 32.8, 4.11, 17.2), x=0.25, y=3.15, delta_y=(6.35, 6.35))
    with pytest.warns(RenderWarning):
        (element,) = texts(parse_svg(render_page(one_page(obj), 0)))
    assert element.get("x") == "0.25 0.25 0.25"
    assert element.get("y") == "3.15 9.5 15.85"


def test_ctm_and_horizontal_scale_become_one_transform() -> None:
    rotated = text("旋转", Box(50, 10, 10, 40), ctm=Matrix(0, 1, -1, 0, 10, 0), h_scale=0.5, delta_x=(2.5,))
    with pytest.warns(RenderWarning):
        (element,) = texts(parse_svg(render_page(one_page(rotated), 0)))
    # scale(0.5, 1), then the CTM (a 90° turn), then the Boundary offset
    assert element.get("transform") == "matrix(0 0.5 -1 0 60 10)"
    assert element.get("x") == "0 5"  # glyph origins 0 and 2.5 divided by HScale


def test_path_commands_become_svg_path_data() -> None:
    assert svg_path_data("S 0 0 L 10 0 B 1 2 3 4 5 6 Q 1 1 2 2 C") == "M 0 0 L 10 0 C 1 2 3 4 5 6 Q 1 1 2 2 Z"
    assert svg_path_data("M 0 0 A 5 5 30 1 0 10 10 C") == "M 0 0 A 5 5 30 1 0 10 10 Z"
    assert svg_path_data("M 0 0 A 5 -5 0 1.0 0.0 10 10") == "M 0 0 A 5 5 0 1 0 10 10"  # flags as 0/1, radii positive
    assert svg_path_data("M 0 0 X 9 L 3 4 Q 1") == "M 0 0 L 3 4"  # unknown operator and a cut-off command dropped
    assert svg_path_data("") == ""


def test_path_styles_inherit_layer_and_relative_draw_params() -> None:
    params = (
        DrawParam(7, line_width=1.5, stroke_color=RED, cap="Round"),
        DrawParam(8, relative=7, join="Bevel", dash_pattern=(2.0, 1.0)),
    )
    own = rect_path(Box(5, 5, 10, 10), line_width=0.2, draw_param=8)
    plain = rect_path(Box(20, 5, 10, 10))
    filled = rect_path(Box(35, 5, 10, 10), fill=True, stroke=False, fill_color=Color((0.0, 0.0, 255.0), alpha=128))
    root = parse_svg(render_quietly(one_page(own, plain, filled, params=params, layer_param=7)))
    first, second, third = root.iter(f"{SVG}path")
    assert (first.get("stroke-width"), first.get("stroke"), first.get("stroke-linejoin")) == ("0.2", "#ff0000", "bevel")
    assert (first.get("stroke-linecap"), first.get("stroke-dasharray")) == ("round", "2 1")
    assert (second.get("stroke-width"), second.get("stroke"), second.get("fill")) == ("1.5", "#ff0000", "none")
    assert (third.get("fill"), third.get("fill-opacity"), third.get("stroke")) == ("#0000ff", "0.502", None)
    assert first.get("d") == "M 0 0 L 10 0 L 10 10 L 0 10 Z" and first.get("transform") == "translate(5 5)"


def test_colours_in_gray_cmyk_palette_and_hexadecimal_values() -> None:
    spaces = {
        1: ColorSpace(1, "GRAY"),
        2: ColorSpace(2, "CMYK"),
        3: ColorSpace(3, "RGB", palette=((10.0, 20.0, 30.0),)),
        4: ColorSpace(4, "RGB", bits_per_component=1),
    }
    assert paint(Color((128.0,), color_space=1), spaces, None).css == "#808080"
    assert paint(Color((0.0, 255.0, 255.0, 0.0), color_space=2), spaces, None).css == "#ff0000"
    assert paint(Color(index=0, color_space=3), spaces, None).css == "#0a141e"
    assert paint(Color((1.0, 0.0, 1.0), color_space=4), spaces, None).css == "#ff00ff"
    assert paint(Color((238.0, 32.0, 37.0)), spaces, 99).css == "#ee2025"  # "#ee #20 #25" as the reader gives it
    assert paint(Color(), spaces, None).css == "#000"
    assert paint(Color((0.0, 0.0, 0.0), alpha=51), spaces, None).opacity == pytest.approx(0.2)


def test_hexadecimal_colour_of_a_real_file() -> None:
    root = parse_svg(render_quietly(read_ofd(sample("nonstandard-v1.ofd"))))
    title = next(t for t in texts(root) if t.text == "测试符路桥区卫生局文件")
    assert title.get("fill") == "#ee2025" and title.get("font-weight") == "900"


def test_template_pages_background_below_and_foreground_above() -> None:
    font = Font(50, "宋体")
    back = TemplatePage(10, (Layer((text("背景", Box(0, 0, 20, 5)),)),), z_order="Background")
    front = TemplatePage(11, (Layer((text("前景", Box(0, 10, 20, 5)),)),), z_order="Foreground")
    document = one_page(
        text("正文", Box(0, 20, 20, 5)),
        fonts=(font,),
        templates=(back, front),
        refs=(TemplateRef(11, "Foreground"), TemplateRef(10, "Background")),
    )
    assert [t.text for t in texts(parse_svg(render_quietly(document)))] == ["背景", "正文", "前景"]


def test_composite_object_draws_its_unit_in_the_boundary() -> None:
    unit = CompositeGraphicUnit(30, 10.0, 10.0, (rect_path(Box(0, 0, 10, 10), fill=True, fill_color=RED),))
    obj = CompositeObject(boundary=Box(40, 40, 20, 20), ctm=Matrix(2, 0, 0, 2, 0, 0), resource_id=30)
    root = parse_svg(render_quietly(one_page(obj, units=(unit,))))
    group = next(g for g in root.iter(f"{SVG}g") if g.get("transform"))
    assert group.get("transform") == "matrix(2 0 0 2 40 40)"
    assert group[0].tag == f"{SVG}path" and group[0].get("fill") == "#ff0000"


def test_clip_areas_are_relative_to_the_clipped_objects_boundary() -> None:
    area = ClipArea(rect_path(Box(0, 0, 20, 40)))
    image = ImageObject(
        boundary=Box(20, 20, 40, 40), ctm=Matrix(40, 0, 0, 40, 0, 0), resource_id=60, clips=(Clip((area,)),)
    )
    root = parse_svg(render_quietly(one_page(image, media=(MultiMedia(60, solid_png(), format="PNG"),))))
    (clip,) = root.iter(f"{SVG}clipPath")
    assert clip[0].get("transform") == "translate(20 20)" and clip[0].get("d") == "M 0 0 L 20 0 L 20 40 L 0 40 Z"
    (wrapper,) = (g for g in root.iter(f"{SVG}g") if g.get("clip-path"))
    assert wrapper.get("clip-path") == f"url(#{clip.get('id')})"
    (picture,) = wrapper.iter(f"{SVG}image")
    assert picture.get("transform") == "matrix(40 0 0 40 20 20)"


def test_images_other_than_png_and_jpeg_are_converted_to_png() -> None:
    bmp = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 0)).save(bmp, "BMP")
    image = ImageObject(boundary=Box(10, 10, 8, 8), resource_id=60)
    root = parse_svg(render_quietly(one_page(image, media=(MultiMedia(60, bmp.getvalue(), format="BMP"),))))
    (element,) = root.iter(f"{SVG}image")
    href = element.get("href", "")
    assert href.startswith("data:image/png;base64,")
    converted = Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1])))
    assert converted.format == "PNG" and converted.getpixel((3, 3)) == (0, 128, 0)
    assert element.get("transform") == "matrix(8 0 0 8 10 10)"  # no CTM: the image fills its Boundary


# --- malformed pages --------------------------------------------------------------------------------------------------


def test_malformed_parts_are_skipped_with_warnings_and_the_rest_is_drawn() -> None:
    good = rect_path(Box(1, 1, 5, 5))
    objects = (
        ImageObject(id=71, boundary=Box(10, 10, 10, 10), resource_id=404),
        ImageObject(id=72, boundary=Box(10, 30, 10, 10), resource_id=61),
        ImageObject(id=73, boundary=Box(10, 50, 10, 10), resource_id=62),
        text("无字体", Box(30, 10, 30, 6), font_id=405, id=74),
        CompositeObject(id=75, boundary=Box(30, 30, 10, 10), resource_id=406),
        good,
    )
    media = (MultiMedia(61, b"\x89PNG\r\n\x1a\n broken"), MultiMedia(62, b""))
    fonts = (Font(50, "宋体", data=b"not a font file"),)
    document = one_page(
        *objects, text("坏字体", Box(30, 50, 30, 6)), media=media, fonts=fonts, refs=(TemplateRef(407),)
    )
    with pytest.warns(RenderWarning) as caught:
        svg = render_page(document, 0)
    messages = "\n".join(str(w.message) for w in caught)
    for expected in (
        "template page 407: not in the document",
        "ImageObject 71: resource 404 is not among the resources",
        "ImageObject 72 (resource 61, unknown format): not an image format that can be decoded",
        "ImageObject 73 (resource 62, unknown format): the image file is missing or empty",
        "TextObject 74: font 405 is not among the resources",
        "CompositeObject 75: resource 406 is not among the resources",
        "font 50 (宋体): the embedded file is not TrueType/OpenType/WOFF",
    ):
        assert expected in messages
    root = parse_svg(svg)
    assert not list(root.iter(f"{SVG}image"))
    assert [t.text for t in texts(root)] == ["无字体", "坏字体"]  # drawn in a system font
    assert "@font-face" not in svg
    assert any(p.get("d") == "M 0 0 L 5 0 L 5 5 L 0 5 Z" for p in root.iter(f"{SVG}path"))


def test_a_page_that_does_not_exist_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="page 3 does not exist"):
        render_page(one_page(), 2)


# --- stamps and annotations ---------------------------------------------------------------------------------------


def test_stamps_of_the_tax_invoice_samples_are_their_ofd_seal_pictures() -> None:
    for name in ("v4signed.ofd", "signedFile.ofd"):
        package = OfdPackage.from_bytes(sample(name))
        (stamp,) = stamps_from_signatures(package, read_ofd(package))
        assert (stamp.page_index, stamp.boundary, stamp.clip) == (0, Box(90, 8, 30, 20), None)
        assert stamp.picture_type == "OFD" and stamp.picture.startswith(b"PK")
        seal = read_ofd(stamp.picture)
        assert len(seal.pages) == 1 and seal.page_size(seal.pages[0]) == Box(0, 0, 30, 20)


def test_stamp_of_the_gmt0031_sample_is_a_png_on_page_two_with_its_clip() -> None:
    package = OfdPackage.from_bytes(sample("nonstandard-v1.ofd"))
    (stamp,) = stamps_from_signatures(package, read_ofd(package))
    assert (stamp.page_index, stamp.boundary, stamp.clip) == (1, Box(122.94, 37.0, 33.0, 33.0), Box(0, 0, 33, 33))
    assert stamp.picture_type == "PNG" and Image.open(io.BytesIO(stamp.picture)).format == "PNG"


def test_ofd_seal_picture_is_a_nested_svg_scaled_into_the_boundary() -> None:
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    document = read_ofd(package)
    svg = render_quietly(document, stamps=stamps_from_signatures(package, document))
    root = parse_svg(svg)
    (nested,) = (e for e in root.iter(f"{SVG}svg") if e is not root)
    assert [nested.get(a) for a in ("x", "y", "width", "height", "viewBox")] == ["90", "8", "30", "20", "0 0 30 20"]
    assert "国家税务总局" in "".join(t.text or "" for t in nested.iter(f"{SVG}text"))
    assert all(p.get("stroke") == "#ff0000" for p in nested.iter(f"{SVG}path"))
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_png_svg_and_clipped_stamps() -> None:
    document = one_page()
    svg_picture = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="5"/></svg>'
    stamps = [
        Stamp(0, Box(10, 10, 40, 40), "PNG", solid_png()),
        Stamp(0, Box(60, 10, 30, 30), "svg", svg_picture, clip=Box(0, 0, 15, 30)),
        Stamp(1, Box(0, 0, 10, 10), "PNG", solid_png()),  # another page: not drawn here
    ]
    root = parse_svg(render_quietly(document, stamps=stamps))
    first, second = root.iter(f"{SVG}image")
    assert [first.get(a) for a in ("x", "y", "width", "height")] == ["10", "10", "40", "40"]
    assert first.get("href", "").startswith("data:image/png;base64,")
    assert second.get("href", "") == "data:image/svg+xml;base64," + base64.b64encode(svg_picture).decode()
    (clip,) = root.iter(f"{SVG}clipPath")
    assert [clip[0].get(a) for a in ("x", "y", "width", "height")] == ["60", "10", "15", "30"]


def test_undrawable_stamps_are_skipped_with_warnings() -> None:
    stamps = [
        Stamp(0, Box(10, 10, 20, 20), "OFD", b"PK not a zip"),
        Stamp(0, Box(10, 10, 20, 20), "JPG", jpeg_bytes()[:200]),
        Stamp(0, Box(10, 10, 0, 20), "PNG", solid_png()),
    ]
    with pytest.warns(RenderWarning) as caught:
        root = parse_svg(render_page(one_page(), 0, stamps=stamps))
    messages = [str(w.message) for w in caught]
    assert any("the OFD seal picture cannot be drawn (ofd: not a ZIP package" in m for m in messages)
    assert any("stamp on page 1 (JPG picture): the image cannot be decoded" in m for m in messages)
    assert any("empty boundary" in m for m in messages)
    assert not list(root.iter(f"{SVG}image")) and len(list(root.iter(f"{SVG}svg"))) == 1


def test_unreadable_signed_value_gives_no_stamp_and_a_warning() -> None:
    package = OfdPackage.from_bytes(sample("v4signed.ofd"))
    package.put("Doc_0/Signs/Sign_0/SignedValue.dat", b"\x30\x03\x02\x01\x01")
    with pytest.warns(RenderWarning, match="SignedValue.dat: no seal picture"):
        assert stamps_from_signatures(package, read_ofd(package)) == []


def _with_annotations(annotation_xml: bytes) -> OfdPackage:
    document = one_page(rect_path(Box(1, 1, 5, 5)))
    package = write_package(document)
    doc = package["Doc_0/Document.xml"].replace(
        b"</ofd:Pages>", b"</ofd:Pages><ofd:Annotations>Annots/Annotations.xml</ofd:Annotations>"
    )
    package.put("Doc_0/Document.xml", doc)
    package.put(
        "Doc_0/Annots/Annotations.xml",
        b'<ofd:Annotations xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Page PageID="1">'
        b"<ofd:FileLoc>Page_0/Annotation.xml</ofd:FileLoc></ofd:Page></ofd:Annotations>",
    )
    package.put("Doc_0/Annots/Page_0/Annotation.xml", annotation_xml)
    return package


def test_stamp_annotations_are_drawn_in_their_appearance_boundary() -> None:
    package = _with_annotations(
        b'<ofd:PageAnnot xmlns:ofd="http://www.ofdspec.org/2016">'
        b'<ofd:Annot ID="90" Type="Stamp"><ofd:Appearance Boundary="50 60 20 10">'
        b'<ofd:PathObject ID="91" Boundary="0 0 20 10" Fill="true"><ofd:FillColor Value="255 0 0"/>'
        b"<ofd:AbbreviatedData>M 0 0 L 20 0 L 20 10 L 0 10 C</ofd:AbbreviatedData></ofd:PathObject>"
        b'</ofd:Appearance></ofd:Annot><ofd:Annot ID="92" Type="Link" Visible="false">'
        b'<ofd:Appearance Boundary="0 0 5 5"/></ofd:Annot></ofd:PageAnnot>'
    )
    annotations = page_annotations(package)
    assert [(a.id, a.type, a.page_id, a.boundary, a.visible) for a in annotations] == [
        (90, "Stamp", 1, Box(50, 60, 20, 10), True),
        (92, "Link", 1, Box(0, 0, 5, 5), False),
    ]
    root = parse_svg(render_quietly(read_ofd(package), annotations=annotations))
    red = [p for p in root.iter(f"{SVG}path") if p.get("fill") == "#ff0000"]
    assert len(red) == 1
    parent = red[0].getparent()
    assert parent is not None and parent.get("transform") == "translate(50 60)"
    (clip,) = root.iter(f"{SVG}clipPath")
    assert [clip[0].get(a) for a in ("x", "y", "width", "height")] == ["50", "60", "20", "10"]


def test_broken_annotation_is_skipped_with_a_warning() -> None:
    package = _with_annotations(
        b'<ofd:PageAnnot xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Annot ID="90" Type="Stamp">'
        b'<ofd:Appearance Boundary="50 60 twenty 10"/></ofd:Annot></ofd:PageAnnot>'
    )
    with pytest.warns(RenderWarning, match="Appearance Boundary"):
        assert page_annotations(package) == ()


def test_samples_annotations_are_read() -> None:
    (annotation,) = page_annotations(OfdPackage.from_bytes(sample("v4signed.ofd")))
    assert (annotation.type, annotation.subtype, annotation.boundary) == (
        "Stamp",
        "SignatureInFile",
        Box(4.5, 104, 115, 20),
    )
    assert annotation.objects == ()  # the invoice's placeholder has no appearance content
    assert isinstance(annotation, Annotation)


# --- HTML ---------------------------------------------------------------------------------------------------------


def test_html_has_every_page_at_its_size_fonts_once_and_no_external_resource() -> None:
    document = read_ofd(rich_ofd())
    html = render_html(document)
    assert html.count("@font-face") == len([f for f in document.public_res.fonts if f.data]) == 1
    sections = re.findall(r'<section class="ofd-page" id="page-(\d)" data-page="\d" style="width:(\d+)mm"', html)
    assert sections == [("1", "210"), ("2", "297")]
    assert '<p class="ofd-label">1 / 2</p>' in html and '<p class="ofd-label">2 / 2</p>' in html
    assert not re.search(r"""(?:href|src)=["'](?!data:|#)""", html)
    assert not re.search(r"url\((?!data:|#)", html)
    assert "<script" not in html
    for svg in re.findall(r"<svg .*?</svg>(?=</section>)", html, flags=re.S):
        parse_svg(svg)  # each inline page is well-formed XML too


def test_html_of_one_page_and_of_no_page() -> None:
    document = read_ofd(rich_ofd())
    html = render_html(document, [1], title="横向")
    assert 'id="page-2"' in html and 'id="page-1"' not in html and "<title>横向</title>" in html
    with pytest.raises(ValidationError, match="at least one page"):
        render_html(document, [])


def test_dpi_limits() -> None:
    a4 = Box(0, 0, 210, 297)
    check_dpi(150, a4)
    for dpi in (5, 5000):
        with pytest.raises(ValidationError, match="dpi"):
            check_dpi(dpi, a4)
    with pytest.raises(ValidationError, match="Mpixel"):
        check_dpi(1200, Box(0, 0, 1000, 1000))


# --- CLI ----------------------------------------------------------------------------------------------------------


def test_cli_renders_svg_and_html(tmp_path: Path) -> None:
    from certseal.cli.common import app
    from certseal.cli.ofd import ofd_app  # noqa: F401  registers `certseal ofd`

    source = tmp_path / "invoice.ofd"
    source.write_bytes(sample("v4signed.ofd"))
    runner = CliRunner()
    result = runner.invoke(app, ["ofd", "render", str(source), "--page", "1", "--out", str(tmp_path / "p.svg")])
    assert result.exit_code == 0, result.output
    root = parse_svg((tmp_path / "p.svg").read_text())
    assert any(e is not root for e in root.iter(f"{SVG}svg"))  # the seal is drawn
    result = runner.invoke(
        app, ["ofd", "render", str(source), "-f", "html", "--no-seals", "-o", str(tmp_path / "p.html")]
    )
    assert result.exit_code == 0, result.output
    assert "国家税务总局" not in (tmp_path / "p.html").read_text()
    signed = tmp_path / "signed.ofd"
    signed.write_bytes(sample("signedFile.ofd"))
    result = runner.invoke(app, ["ofd", "render", str(signed), "-o", str(tmp_path / "s.svg")])
    assert result.exit_code == 0 and "warning" in result.output and "GBIG2" in result.output


def test_cli_exit_code_2_for_bad_options(tmp_path: Path) -> None:
    source = tmp_path / "doc.ofd"
    source.write_bytes(write_ofd(replace(one_page(), doc_info=DocInfo(doc_id="x"))))
    command = [sys.executable, "-m", "certseal.cli", "ofd", "render", str(source), "-o", str(tmp_path / "out")]
    for extra, message in (
        (["--format", "bmp"], "--format: must be svg, png or html"),
        (["--page", "3"], "page 3 does not exist"),
        (["--page", "0"], "--page: page numbers start at 1"),
    ):
        result = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and message in result.stderr, result.stderr
