"""Seal appearances: the seal PNG as an image XObject (with /SMask for transparency) and the widget form XObjects.

Decoding and compressing a PNG costs far more than signing, and the same seal image is used for thousands of
documents, so the encoded image is cached by the SHA-256 of the PNG.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from certseal.errors import ValidationError
from certseal.signing.pdf.serialize import pdf_number

__all__ = ["EncodedImage", "SealImage", "encode_image", "form_xobject", "image_xobjects"]

POINTS_PER_MM = 72 / 25.4
_CACHE_SIZE = 32


@dataclass(frozen=True)
class SealImage:
    """A seal picture (PNG, transparent background) and the size it is printed at."""

    png: bytes
    width_mm: float
    height_mm: float

    def __post_init__(self) -> None:
        if not (self.width_mm > 0 and self.height_mm > 0):
            raise ValidationError("seal_image", "width_mm and height_mm must be positive")

    @property
    def width_pt(self) -> float:
        return self.width_mm * POINTS_PER_MM

    @property
    def height_pt(self) -> float:
        return self.height_mm * POINTS_PER_MM


@dataclass(frozen=True)
class EncodedImage:
    """A decoded seal image, Flate-compressed: RGB samples and, if not fully opaque, the alpha channel."""

    width: int
    height: int
    rgb: bytes
    alpha: bytes | None


_cache: OrderedDict[bytes, EncodedImage] = OrderedDict()
_cache_lock = threading.Lock()


def encode_image(png: bytes) -> EncodedImage:
    """Decode `png` with Pillow once and keep the compressed samples (LRU cache keyed by SHA-256 of the PNG)."""
    key = hashlib.sha256(png).digest()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    encoded = _encode(png)
    with _cache_lock:
        _cache[key] = encoded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return encoded


def _encode(png: bytes) -> EncodedImage:
    try:
        with Image.open(io.BytesIO(png)) as opened:
            opened.load()
            image = opened.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValidationError("seal_image", f"not a readable image ({exc})") from exc
    if image.width < 1 or image.height < 1:
        raise ValidationError("seal_image", "image has no pixels")
    alpha = image.getchannel("A")
    extrema = alpha.getextrema()
    opaque = isinstance(extrema, tuple) and extrema[0] == 255
    rgb = zlib.compress(image.convert("RGB").tobytes(), 6)
    return EncodedImage(image.width, image.height, rgb, None if opaque else zlib.compress(alpha.tobytes(), 6))


def image_xobjects(image: EncodedImage, smask_number: int | None) -> tuple[bytes, bytes | None]:
    """Object bodies for the image XObject (referring to `smask_number` for its alpha) and for the soft mask."""
    smask = b""
    mask_body: bytes | None = None
    if image.alpha is not None:
        if smask_number is None:
            raise ValueError("an image with transparency needs an object number for its soft mask")
        smask = b"/SMask %d 0 R" % smask_number
        mask_body = _image_body(image, b"/DeviceGray", image.alpha, b"")
    return _image_body(image, b"/DeviceRGB", image.rgb, smask), mask_body


def _image_body(image: EncodedImage, color_space: bytes, data: bytes, extra: bytes) -> bytes:
    return (
        b"<</Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace%s/BitsPerComponent 8%s/Filter/FlateDecode"
        b"/Length %d>>\nstream\n%s\nendstream" % (image.width, image.height, color_space, extra, len(data), data)
    )


_MATRICES = {0: b"", 90: b"/Matrix[0 1 -1 0 0 0]", 180: b"/Matrix[-1 0 0 -1 0 0]", 270: b"/Matrix[0 -1 1 0 0 0]"}


def form_xobject(
    width: float, height: float, image_number: int, part: tuple[float, float] | None = None, rotation: int = 0
) -> bytes:
    """Body of a form XObject showing the image upright on a page with /Rotate `rotation`.

    `width` and `height` are the seal's size as seen on the displayed page; `part` = (start, end) shows only that
    horizontal fraction of the image stretched to `width` (a riding-seal slice).
    """
    start, end = part if part is not None else (0.0, 1.0)
    if not 0.0 <= start < end <= 1.0:
        raise ValidationError("placement", "slice must be (start, end) with 0 <= start < end <= 1")
    full_width = width / (end - start)
    content = b"q %s 0 0 %s %s 0 cm /Im0 Do Q" % (
        pdf_number(round(full_width, 4)),
        pdf_number(round(height, 4)),
        pdf_number(round(-start * full_width, 4)),
    )
    return (
        b"<</Type/XObject/Subtype/Form/BBox[0 0 %s %s]%s/Resources<</XObject<</Im0 %d 0 R>>>>/Length %d>>"
        b"\nstream\n%s\nendstream"
        % (
            pdf_number(round(width, 4)),
            pdf_number(round(height, 4)),
            _MATRICES[rotation % 360],
            image_number,
            len(content),
            content,
        )
    )


def empty_form_xobject() -> bytes:
    """Body of an empty appearance (for an invisible signature widget)."""
    return b"<</Type/XObject/Subtype/Form/BBox[0 0 0 0]/Length 0>>\nstream\n\nendstream"
