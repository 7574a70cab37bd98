"""Seal images: the drawn round red seal (checked by pngcheck, file(1) and pixel geometry) and upload checks."""

from __future__ import annotations

import io
import math
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from certseal.errors import ConfigError, ValidationError
from certseal.seals import image as seal_image
from certseal.seals.image import RoundSealDesign, check_seal_png, draw_round_seal, find_cjk_font

NAME = "某某市药品监督管理局"
OTHER_NAME = "北京市卫生健康委员会"  # as long as NAME: same layout, other glyphs
CODE = "3201000012345"
TEXT = "电子证照专用章"
SIZE = 992  # 42 mm at 600 dpi
MM = SIZE / 42
C = SIZE / 2
RED = (0xE6, 0x00, 0x12)


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def _alpha(png: bytes) -> Image.Image:
    return _image(png).getchannel("A")


@pytest.fixture(scope="module")
def standard() -> bytes:
    return draw_round_seal(RoundSealDesign(NAME, TEXT), CODE)


def _region(draw_shape: str, inner_mm: float, outer_mm: float, start: float = 0, end: float = 360) -> Image.Image:
    """A mask of an annulus sector: angles in degrees clockwise from the top (PIL measures from 3 o'clock)."""
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(mask)
    outer, inner = outer_mm * MM, inner_mm * MM
    box = (C - outer, C - outer, C + outer, C + outer)
    if draw_shape == "sector":
        draw.pieslice(box, start - 90, end - 90, fill=255)
    else:
        draw.ellipse(box, fill=255)
    draw.ellipse((C - inner, C - inner, C + inner, C + inner), fill=0)
    return mask


def _differences_outside(a: bytes, b: bytes, allowed: Image.Image) -> tuple[int, tuple[int, int, int, int] | None]:
    """How many pixels differ in alpha between a and b, and the bounding box of those outside `allowed`."""
    diff = ImageChops.difference(_alpha(a), _alpha(b)).point(lambda v: 255 if v > 8 else 0)
    changed = sum(1 for v in diff.get_flattened_data() if v)
    outside = ImageChops.subtract(diff, allowed)
    return changed, outside.getbbox()


def _ink_angles(mask: Image.Image, inner_mm: float, outer_mm: float) -> set[int]:
    """The 1-degree bins (clockwise from the top) holding ink between the two radii (on a 1/4-scale copy)."""
    small = mask.reduce(4)
    centre, scale = small.width / 2, MM / 4
    bins: set[int] = set()
    for index, value in enumerate(small.get_flattened_data()):
        if value > 32:
            x, y = index % small.width + 0.5 - centre, index // small.width + 0.5 - centre
            if inner_mm * scale <= math.hypot(x, y) <= outer_mm * scale:
                bins.add(int(math.degrees(math.atan2(x, -y))) % 360)
    return bins


def test_drawn_seal_is_a_valid_rgba_png_for_pngcheck_and_file(standard: bytes, tmp_path: Path) -> None:
    path = tmp_path / "seal.png"
    path.write_bytes(standard)
    check = subprocess.run(["pngcheck", "-v", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout
    assert "No errors detected" in check.stdout and "32-bit RGB+alpha" in check.stdout
    assert "(600 dpi)" in check.stdout
    kind = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True, timeout=30).stdout
    assert kind.startswith(f"PNG image data, {SIZE} x {SIZE}, 8-bit/color RGBA")
    facts = check_seal_png(standard)  # a drawn seal passes the upload rules too
    assert (facts.width_px, facts.height_px) == (SIZE, SIZE)


def test_drawn_seal_is_red_on_transparent_with_ring_and_star(standard: bytes) -> None:
    image = _image(standard)
    assert image.mode == "RGBA" and image.size == (SIZE, SIZE)
    for corner in [(0, 0), (SIZE - 1, 0), (0, SIZE - 1), (SIZE - 1, SIZE - 1)]:
        assert image.getpixel(corner)[3] == 0
    assert image.getpixel((round(C), round(C))) == (*RED, 255)  # the star's centre
    assert image.getpixel((round(C), round(C - 5 * MM))) == (*RED, 255)  # its upper arm
    ring = 20.2 * MM  # the ring's middle, 1.3 mm wide, just inside the 21 mm radius
    for degrees in (0, 45, 90, 135, 180, 225, 270, 315):
        angle = math.radians(degrees)
        point = (round(C + ring * math.sin(angle)), round(C - ring * math.cos(angle)))
        assert image.getpixel(point) == (*RED, 255), degrees
    inside_ring = (round(C), round(C - 19.25 * MM))  # between the ring and the name
    assert image.getpixel(inside_ring)[3] == 0
    colours = {pixel[:3] for pixel in image.get_flattened_data() if pixel[3] > 0}
    assert colours == {RED}, "ink is seal red only; anti-aliasing is in the alpha channel"


def test_unit_name_is_drawn_along_the_upper_arc_only(standard: bytes) -> None:
    other = draw_round_seal(RoundSealDesign(OTHER_NAME, TEXT), CODE)
    band = _region("sector", 12.0, 19.5, -125, 125)
    changed, outside = _differences_outside(standard, other, band)
    assert changed > 20_000, "the name's glyphs are drawn"
    assert outside is None, f"another name changed pixels outside the upper arc: {outside}"


def test_name_reads_clockwise_from_the_left_and_code_left_to_right(standard: bytes) -> None:
    first_differs = draw_round_seal(RoundSealDesign("国" + NAME[1:], TEXT), CODE)
    diff = ImageChops.difference(_alpha(standard), _alpha(first_differs))
    _, _, right, bottom = diff.getbbox() or (0, 0, 0, 0)
    assert right < C - 8 * MM and bottom > C, "the first character is at the lower left of the arc"
    code_first = draw_round_seal(RoundSealDesign(NAME, TEXT), "9" + CODE[1:])
    _, top, right, _ = ImageChops.difference(_alpha(standard), _alpha(code_first)).getbbox() or (0, 0, 0, 0)
    assert right < C - 4 * MM and top > C + 10 * MM, "the code's first character is at the bottom left"


def test_code_and_horizontal_text_sit_where_they_belong(standard: bytes) -> None:
    without_code = draw_round_seal(RoundSealDesign(NAME, TEXT), None)
    changed, outside = _differences_outside(standard, without_code, _region("sector", 15.0, 19.6, 120, 240))
    assert changed > 2_000 and outside is None, outside
    without_text = draw_round_seal(RoundSealDesign(NAME, None), CODE)
    box = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(box).rectangle((C - 12 * MM, C + 6 * MM, C + 12 * MM, C + 12.5 * MM), fill=255)
    changed, outside = _differences_outside(standard, without_text, box)
    assert changed > 5_000 and outside is None, outside


@pytest.mark.parametrize("length", [4, 12, 20])
def test_names_of_4_to_20_characters_fit_beside_a_long_code(length: int) -> None:
    name = ("中华人民共和国国家药品监督管理局药品审评中心" * 2)[:length]
    code = "11010800000123456789"
    full = draw_round_seal(RoundSealDesign(name, TEXT), code)
    name_ink = ImageChops.difference(_alpha(full), _alpha(draw_round_seal(RoundSealDesign("口" * length, TEXT), code)))
    shifted = "".join(str((int(d) + 5) % 10) for d in code)  # every character differs, same length
    code_ink = ImageChops.difference(_alpha(full), _alpha(draw_round_seal(RoundSealDesign(name, TEXT), shifted)))
    name_angles = _ink_angles(name_ink, 12.0, 19.5)
    code_angles = _ink_angles(code_ink, 15.0, 19.6)
    assert name_angles and code_angles
    assert not name_angles & code_angles, "the name and the code overlap"
    assert all(a <= 125 or a >= 235 for a in name_angles), "the name stays on the upper arc"


def test_unit_name_and_text_rules() -> None:
    with pytest.raises(ValidationError) as error:
        draw_round_seal(RoundSealDesign("局"), CODE)
    assert error.value.field == "unit_name"
    with pytest.raises(ValidationError) as error:
        draw_round_seal(RoundSealDesign("某" * 25), CODE)
    assert error.value.field == "unit_name"
    with pytest.raises(ValidationError) as error:
        draw_round_seal(RoundSealDesign(NAME, "专" * 13), CODE)
    assert error.value.field == "text"


def test_font_search_finds_a_cjk_face_or_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    font = find_cjk_font()
    assert font.path.is_file()
    find_cjk_font.cache_clear()
    monkeypatch.setattr(seal_image, "_FONT_CANDIDATES", ())
    monkeypatch.setattr(seal_image, "_FONT_ROOT", Path("/nonexistent"))
    try:
        with pytest.raises(ConfigError, match="fonts-wqy-zenhei or fonts-noto-cjk"):
            find_cjk_font()
    finally:
        find_cjk_font.cache_clear()


# --- upload checks --------------------------------------------------------------------------------------------------


def _png(mode: str, size: tuple[int, int], colour: object, **save: object) -> bytes:
    image = Image.new(mode, size, colour)  # type: ignore[arg-type]
    ImageDraw.Draw(image).ellipse((10, 10, size[0] - 10, size[1] - 10), fill="red" if mode != "L" else 128)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def test_transparent_pngs_are_accepted() -> None:
    assert check_seal_png(_png("RGBA", (300, 240), (0, 0, 0, 0))).width_px == 300
    assert check_seal_png(_png("LA", (200, 200), (0, 0))).height_px == 200
    palette = Image.new("P", (256, 256), 0)
    palette.putpalette([255, 255, 255, 230, 0, 18] + [0] * 762)
    ImageDraw.Draw(palette).ellipse((20, 20, 236, 236), fill=1)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)
    check_seal_png(buffer.getvalue())


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (_png("RGB", (300, 300), "white"), "alpha channel"),
        (_png("RGBA", (300, 300), (255, 255, 255, 255)), "corner pixel is not fully transparent"),
        (_png("RGBA", (199, 400), (0, 0, 0, 0)), "at least 200 px"),
        (b"GIF89a" + b"\0" * 100, "PNG signature"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a readable PNG"),
        (b"", "PNG signature"),
    ],
)
def test_bad_uploads_are_refused_with_the_rule(data: bytes, rule: str) -> None:
    with pytest.raises(ValidationError) as error:
        check_seal_png(data)
    assert error.value.field == "image" and rule in error.value.rule


def test_a_corrupted_png_is_refused() -> None:
    good = bytearray(_png("RGBA", (300, 300), (0, 0, 0, 0)))
    good[good.index(b"IDAT") + 20] ^= 0xFF  # pixel data no longer matches its CRC
    with pytest.raises(ValidationError, match="not a readable PNG"):
        check_seal_png(bytes(good))


def test_an_image_over_2_mb_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most 2 MB"):
        check_seal_png(b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024))
