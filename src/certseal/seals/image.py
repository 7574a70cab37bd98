"""Seal images: checking an uploaded PNG, and drawing the standard round red official seal (公章).

A drawn seal is built as an ink mask at twice the output resolution and scaled down (anti-aliasing), then painted
seal red over a transparent background.  Geometry is in millimetres of a 42 mm seal and scales with the diameter:
outer ring, the unit's name along the upper arc (read clockwise, left to right, each character upright towards the
rim), a five-pointed star in the centre, an optional horizontal line of text under the star, and the seal code in
small characters along the lower arc (read left to right).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from certseal.errors import ConfigError, ValidationError

SEAL_RED = (0xE6, 0x00, 0x12)
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MIN_IMAGE_PX = 200
DEFAULT_DPI = 600
MAX_NAME_CHARS = 24
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUPERSAMPLE = 2
_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
_FONT_ROOT = Path("/usr/share/fonts")
_FONT_GLOBS = ("**/*CJK*.tt[cf]", "**/*CJK*.otf", "**/wqy*.tt[cf]")


@dataclass(frozen=True)
class ImageFacts:
    width_px: int
    height_px: int


@dataclass(frozen=True)
class RoundSealDesign:
    """What a drawn round seal shows; the seal code comes from the seal record."""

    unit_name: str
    text: str | None = None


@dataclass(frozen=True)
class CjkFont:
    path: Path
    index: int


# --- checking uploads -----------------------------------------------------------------------------------------


def check_seal_png(data: bytes) -> ImageFacts:
    """A real PNG, at most 2 MB, at least 200 px each way, with alpha and a transparent background (corners)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationError("image", f"must be at most {MAX_IMAGE_BYTES // 1024 // 1024} MB, not {len(data)} bytes")
    if not data.startswith(_PNG_SIGNATURE):
        raise ValidationError("image", "must be a PNG file (it lacks the PNG signature)")
    image = _decoded(data)
    width, height = image.size
    if min(width, height) < MIN_IMAGE_PX:
        raise ValidationError("image", f"must be at least {MIN_IMAGE_PX} px wide and high, not {width}×{height}")
    if "A" not in image.getbands() and "transparency" not in image.info:
        raise ValidationError("image", f"must have an alpha channel (transparent background); mode is {image.mode}")
    alpha = image.convert("RGBA").getchannel("A")
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    if any(alpha.getpixel(corner) != 0 for corner in corners):
        raise ValidationError("image", "the background must be transparent: a corner pixel is not fully transparent")
    return ImageFacts(width, height)


def _decoded(data: bytes) -> Image.Image:
    """Decode the whole PNG (every chunk CRC and the pixel data), refusing decompression bombs."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        if image.width * image.height > 40_000_000:
            raise ValidationError("image", f"is too large: {image.width}×{image.height} pixels")
        image.load()
        return image
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError("image", f"is not a readable PNG: {exc}") from None


# --- fonts ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def find_cjk_font() -> CjkFont:
    """The first CJK font found on the system (WenQuanYi Zen Hei, else Noto CJK, …), Simplified Chinese face."""
    for path in _font_files():
        index = _simplified_chinese_face(path)
        if index is not None:
            return CjkFont(path, index)
    raise ConfigError(
        "no CJK font found to draw seal images: install fonts-wqy-zenhei or fonts-noto-cjk "
        "(searched /usr/share/fonts for WenQuanYi and Noto CJK)"
    )


def _font_files() -> list[Path]:
    found = [p for p in _FONT_CANDIDATES if p.is_file()]
    if _FONT_ROOT.is_dir():
        for pattern in _FONT_GLOBS:
            found.extend(sorted(p for p in _FONT_ROOT.glob(pattern) if p not in found))
    return found


def _simplified_chinese_face(path: Path) -> int | None:
    """Index of the face drawing Chinese, preferring an 'SC' face in a collection; None if none does."""
    usable: list[tuple[int, str]] = []
    for index in range(16):
        try:
            font = ImageFont.truetype(str(path), 32, index=index)
        except OSError:
            break
        if font.getmask("国").getbbox() is not None:
            usable.append((index, " ".join(part or "" for part in font.getname())))
    for index, name in usable:
        if " SC" in name:
            return index
    return usable[0][0] if usable else None


@lru_cache(maxsize=64)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    font = find_cjk_font()
    return ImageFont.truetype(str(font.path), size_px, index=font.index)


# --- drawing --------------------------------------------------------------------------------------------------


def draw_round_seal(
    design: RoundSealDesign, code: str | None = None, diameter_mm: float = 42.0, dpi: int = DEFAULT_DPI
) -> bytes:
    """The PNG of a standard round red seal; `code` goes along the lower arc."""
    name = _check_unit_name(design.unit_name)
    text = _check_text(design.text)
    size_px = round(diameter_mm / 25.4 * dpi)
    canvas = _Canvas(size_px * _SUPERSAMPLE, diameter_mm)
    canvas.ring()
    canvas.star()
    code_span = canvas.lower_arc(code) if code else 0.0
    canvas.upper_arc(name, code_span)
    if text:
        canvas.horizontal(text)
    return _png(canvas.mask.resize((size_px, size_px), Image.Resampling.LANCZOS), dpi)


def _check_unit_name(name: str) -> str:
    cleaned = "".join(name.split())
    if not 2 <= len(cleaned) <= MAX_NAME_CHARS:
        raise ValidationError("unit_name", f"must be 2-{MAX_NAME_CHARS} characters, not {len(cleaned)}")
    return cleaned


def _check_text(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    cleaned = "".join(text.split())
    if len(cleaned) > 12:
        raise ValidationError("text", f"must be at most 12 characters, not {len(cleaned)}")
    return cleaned


def _png(mask: Image.Image, dpi: int) -> bytes:
    image = Image.new("RGBA", mask.size, (*SEAL_RED, 0))
    image.putalpha(mask)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


class _Canvas:
    """An ink mask (mode L) with the seal's geometry in millimetres of a 42 mm seal."""

    RING_MM = 1.3
    NAME_HEIGHT_MM = 6.0
    NAME_GAP_MM = 0.8
    MIN_NAME_SPAN_DEG = 140.0
    MAX_NAME_SPAN_DEG = 232.0
    STAR_RADIUS_MM = 6.6
    CODE_HEIGHT_MM = 2.4
    CODE_GAP_MM = 0.7
    TEXT_HEIGHT_MM = 4.2
    TEXT_CENTRE_MM = 9.2  # below the centre
    TEXT_WIDTH_MM = 21.0
    ARC_GAP_DEG = 14.0  # between the name's ends and the code's

    def __init__(self, size_px: int, diameter_mm: float) -> None:
        self.mask = Image.new("L", (size_px, size_px), 0)
        self.draw = ImageDraw.Draw(self.mask)
        self.centre = size_px / 2
        self.px_per_mm = size_px / diameter_mm
        self.scale = diameter_mm / 42.0  # every mm figure below is for a 42 mm seal

    def px(self, mm: float) -> float:
        return mm * self.scale * self.px_per_mm

    def ring(self) -> None:
        c, outer = self.centre, self.centre - self.px(0.15)
        self.draw.ellipse((c - outer, c - outer, c + outer, c + outer), fill=0, outline=255, width=round(self.px(1.3)))

    def star(self) -> None:
        c, outer = self.centre, self.px(self.STAR_RADIUS_MM)
        inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(126))
        points = []
        for i in range(10):
            radius = outer if i % 2 == 0 else inner
            angle = math.radians(i * 36)
            points.append((c + radius * math.sin(angle), c - radius * math.cos(angle)))
        self.draw.polygon(points, fill=255)

    def upper_arc(self, name: str, code_span: float) -> None:
        """The name from the left, clockwise over the top; characters condensed when many."""
        height = self.px(self.NAME_HEIGHT_MM - max(0, len(name) - 14) * 0.1)
        radius = self.centre - self.px(self.RING_MM + self.NAME_GAP_MM) - height / 2
        available = min(self.MAX_NAME_SPAN_DEG, 360.0 - code_span - 2 * self.ARC_GAP_DEG)
        span = min(available, max(self.MIN_NAME_SPAN_DEG, len(name) * 25.0))
        step = span / len(name)
        # the pitch at the glyphs' inner edge is the narrowest: keep neighbours apart there
        width = min(height * 0.95, math.radians(step) * (radius - height / 2) * 0.92)
        start = -span / 2 + step / 2
        for i, char in enumerate(name):
            self._glyph(char, height, width, start + i * step, radius, outward=True)

    def lower_arc(self, code: str) -> float:
        """The code from the left, anticlockwise under the bottom; returns the span it takes, in degrees."""
        height = self.px(self.CODE_HEIGHT_MM)
        radius = self.centre - self.px(self.RING_MM + self.CODE_GAP_MM) - height / 2
        width = height * 0.62
        step = math.degrees(width * 1.22 / radius)
        span = step * len(code)
        start = 180.0 + span / 2 - step / 2
        for i, char in enumerate(code):
            self._glyph(char, height, width, start - i * step, radius, outward=False)
        return span

    def horizontal(self, text: str) -> None:
        height = self.px(self.TEXT_HEIGHT_MM)
        width = min(height * 0.92, self.px(self.TEXT_WIDTH_MM) / len(text) / 1.08)
        y = self.centre + self.px(self.TEXT_CENTRE_MM)
        step = width * 1.08
        left = self.centre - step * (len(text) - 1) / 2
        for i, char in enumerate(text):
            tile = _glyph_tile(char, round(height), round(width))
            self._paste(tile, left + i * step, y)

    def _glyph(self, char: str, height: float, width: float, angle: float, radius: float, outward: bool) -> None:
        """One character centred at `angle` degrees clockwise from the top, `radius` px from the centre; its top
        faces the rim (outward) or the centre."""
        tile = _glyph_tile(char, round(height), round(width))
        turn = angle if outward else angle - 180.0
        rotated = tile.rotate(-turn, resample=Image.Resampling.BICUBIC, expand=True)
        x = self.centre + radius * math.sin(math.radians(angle))
        y = self.centre - radius * math.cos(math.radians(angle))
        self._paste(rotated, x, y)

    def _paste(self, tile: Image.Image, x: float, y: float) -> None:
        box = (round(x - tile.width / 2), round(y - tile.height / 2))
        self.mask.paste(255, box, tile)


def _glyph_tile(char: str, height: int, width: int) -> Image.Image:
    """The character in its em box (height px), squeezed horizontally to at most `width` px, as a mask."""
    font = _font(height)
    stroke = max(1, height // 45)
    natural = max(1, math.ceil(font.getlength(char)) + 2 * stroke)
    em = Image.new("L", (natural, height + 2 * stroke), 0)
    ImageDraw.Draw(em).text(
        (natural / 2, em.height / 2), char, font=font, anchor="mm", fill=255, stroke_width=stroke, stroke_fill=255
    )
    if natural > width:
        em = em.resize((width, em.height), Image.Resampling.LANCZOS)
    return em
