"""Test-only input PDFs made by tools we did not write (reportlab, qpdf, pyHanko), plus a red seal PNG."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from PIL import Image, ImageChops, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

A4_WIDTH, A4_HEIGHT = A4


def _canvas_pdf(pages: list[list[tuple[float, float, str]]], font: str = "Helvetica", rotate: int = 0) -> bytes:
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for lines in pages:
        c.setPageRotation(rotate)
        c.setFont(font, 12)
        for x, y, text in lines:
            c.drawString(x, y, text)
        c.showPage()
    c.save()
    return buffer.getvalue()


@cache
def one_page() -> bytes:
    """A4, one page of Helvetica text; classic xref table (reportlab)."""
    return _canvas_pdf([[(72, 770, "Drug Production License"), (72, 740, "Licensed to: Example Pharma Co.")]])


@cache
def twenty_pages() -> bytes:
    """A4, 20 pages, each with its page number and a few lines (reportlab)."""
    pages = [
        [(72, 770, f"Page {n} of 20"), *[(72, 740 - 20 * i, f"Line {i} of page {n}") for i in range(20)]]
        for n in range(1, 21)
    ]
    return _canvas_pdf(pages)


@cache
def chinese() -> bytes:
    """One page of Chinese text in reportlab's built-in STSong-Light CID font (not embedded)."""
    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    lines = [(72.0, 770.0, "药品生产许可证"), (72.0, 740.0, "企业名称：示例制药有限公司"), (72.0, 710.0, "盖章")]
    return _canvas_pdf([lines], "STSong-Light")


@cache
def with_text_field() -> bytes:
    """One page with an AcroForm text field named licence_number (reportlab)."""
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    c.drawString(72, 770, "Licence number:")
    c.acroForm.textfield(name="licence_number", x=180, y=760, width=200, height=20, value="YP-2025-0001")
    c.showPage()
    c.save()
    return buffer.getvalue()


@cache
def rotated() -> bytes:
    """One A4 page with /Rotate 90: reportlab writes a landscape MediaBox (842 x 595), displayed portrait."""
    return _canvas_pdf([[(72, 770, "Rotated page")]], rotate=90)


def qpdf(data: bytes, *args: str) -> bytes:
    """Run qpdf over `data` with `args` and return the output file."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.pdf", Path(tmp) / "out.pdf"
        source.write_bytes(data)
        subprocess.run(["qpdf", *args, str(source), str(target)], check=True, capture_output=True)
        return target.read_bytes()


@cache
def object_streams(pages: int = 3) -> bytes:
    """`pages` pages rewritten by qpdf with an xref stream and object streams (PDF 1.5 style)."""
    source = one_page() if pages == 1 else _canvas_pdf([[(72, 770, f"Page {n}")] for n in range(1, pages + 1)])
    return qpdf(source, "--object-streams=generate")


@cache
def linearized() -> bytes:
    """The 20-page document linearized by qpdf (first-page xref section at the start, /Prev to the main one)."""
    return qpdf(twenty_pages(), "--linearize")


@cache
def hybrid() -> bytes:
    """A hybrid-reference file (ISO 32000-1 §7.5.8.4): a classic table plus /XRefStm naming an object stream."""
    out = bytearray(b"%PDF-1.5\n")
    offsets: dict[int, int] = {}

    def put(number: int, body: bytes) -> None:
        offsets[number] = len(out)
        out.extend(b"%d 0 obj\n%s\nendobj\n" % (number, body))

    put(1, b"<</Type/Catalog/Pages 2 0 R>>")
    put(2, b"<</Type/Pages/Kids[3 0 R]/Count 1>>")
    put(3, b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Resources 5 0 R>>")
    packed = b"5 0 <</Font<</F1 6 0 R>>>>"
    put(4, b"<</Type/ObjStm/N 1/First 4/Length %d>>stream\n%s\nendstream" % (len(packed), packed))
    put(6, b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>")
    rows = b"\x01" + offsets[4].to_bytes(2, "big") + b"\x00" + b"\x02\x00\x04\x00"
    put(7, b"<</Type/XRef/Size 8/W[1 2 1]/Index[4 2]/Length %d>>stream\n%s\nendstream" % (len(rows), rows))
    table = len(out)
    out += b"xref\n0 4\n0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in (1, 2, 3))
    out += b"6 2\n%010d 00000 n \n%010d 00000 n \n" % (offsets[6], offsets[7])
    out += b"trailer\n<</Size 8/Root 1 0 R/XRefStm %d>>\nstartxref\n%d\n%%%%EOF\n" % (offsets[7], table)
    return bytes(out)


@cache
def prev_chain() -> bytes:
    """A PDF with two incremental updates made by pyHanko (three revisions, /Prev chain)."""
    from pyhanko.pdf_utils.generic import NameObject, TextStringObject
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    data = one_page()
    for title in ("first update", "second update"):
        writer = IncrementalPdfFileWriter(io.BytesIO(data))
        info = writer.trailer["/Info"].get_object()
        info[NameObject("/Title")] = TextStringObject(title)
        writer.update_container(info)
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    return data


def append_page_content(pdf: bytes, content: bytes) -> bytes:
    """An incremental update made by pyHanko that adds a content stream to page 1."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stream = generic.StreamObject(stream_data=content)
    stream_ref = writer.add_object(stream)
    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    old = page.raw_get("/Contents")
    page[generic.NameObject("/Contents")] = generic.ArrayObject([old, stream_ref])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def run_tool(*command: str, data: bytes, check: bool = True) -> str:
    """Run an outside tool on `data` written to a temporary file (its path replaces "{}"); stdout + stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(data)
        args = [str(path) if part == "{}" else part for part in command]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and result.returncode not in (0, 3):  # qpdf: 3 = warnings only
        raise AssertionError(f"{command[0]} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def qpdf_check(data: bytes) -> str:
    """`qpdf --check` output; raises unless qpdf finds no errors and no warnings."""
    out = run_tool("qpdf", "--check", "{}", data=data, check=False)
    assert "No syntax or stream encoding errors found" in out, out
    assert "WARNING" not in out.upper(), out
    return out


def pdfsig(data: bytes) -> list[str]:
    """pdfsig's report, one block of text per signature (in pdfsig's order)."""
    out = run_tool("pdfsig", "{}", data=data, check=False)
    return out.split("Signature #")[1:]


def render(data: bytes, page: int, dpi: int = 50) -> Image.Image:
    """Page `page` (0-based) rendered by poppler's pdftoppm."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "doc.pdf"
        source.write_bytes(data)
        n = str(page + 1)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", "-f", n, "-l", n, "-singlefile", str(source), str(Path(tmp) / "p")],
            check=True,
            capture_output=True,
        )
        with Image.open(Path(tmp) / "p.png") as image:
            return image.convert("RGB")


def red_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box (left, top, right, bottom) in pixels of the seal-red pixels, or None."""
    r, g, b = image.split()
    mask = ImageChops.multiply(
        ImageChops.multiply(r.point(lambda v: 255 if v > 150 else 0), g.point(lambda v: 255 if v < 90 else 0)),
        b.point(lambda v: 255 if v < 90 else 0),
    )
    return mask.getbbox()


def to_pixels(x: float, y: float, page_height: float, dpi: int = 50) -> tuple[float, float]:
    """PDF points (origin bottom-left) to pixel coordinates (origin top-left) of a rendering at `dpi`."""
    return x * dpi / 72, (page_height - y) * dpi / 72


@cache
def seal_png(size: int = 240) -> bytes:
    """A round red seal with a transparent background (RGBA PNG)."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    width = max(4, size // 16)
    draw.ellipse((width, width, size - width, size - width), outline=(220, 0, 0, 255), width=width)
    r = size // 6
    cx = cy = size // 2
    draw.polygon(
        [(cx, cy - r), (cx + r, cy + r), (cx - r, cy - r // 3), (cx + r, cy - r // 3), (cx - r, cy + r)],
        fill=(220, 0, 0, 255),
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- a test PKI and a test-only CMS producer (asn1crypto + cryptography; independent of certseal.signing.cms) -----


@dataclass(frozen=True)
class Identity:
    """A signing key with its certificate and the root that issued it (DER)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: bytes
    root: bytes
    root_key: rsa.RSAPrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certseal tests"),
        ]
    )


@cache
def _root() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("certseal test root"))
        .issuer_name(_name("certseal test root"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


@cache
def identity(kind: str = "rsa") -> Identity:
    """An RSA-2048 or ECDSA P-256 seal key with a certificate from the test root."""
    root_key, root = _root()
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(f"certseal test seal ({kind})"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return Identity(key, certificate.public_bytes(Encoding.DER), root.public_bytes(Encoding.DER), root_key)


class TestProducer:
    """A minimal CMS SignedData over a given digest (signed attributes: content-type, message-digest,
    signing-certificate-v2), for tests only."""

    __test__ = False  # not a pytest class

    def __init__(self, who: Identity, reserved_size: int = 8192, subfilter: str = "ETSI.CAdES.detached") -> None:
        self.who = who
        self.reserved_size = reserved_size
        self.subfilter = subfilter
        self.digest_algorithm = "sha256"
        self._certificate = asn1_x509.Certificate.load(who.certificate)
        self._certificates = [self._certificate, asn1_x509.Certificate.load(who.root)]
        self._ess = tsp.SigningCertificateV2({"certs": [{"cert_hash": hashlib.sha256(who.certificate).digest()}]})
        self.digests: list[bytes] = []
        self.last_cms = b""
        self._template: tuple[bytes, bytes] | None = None

    def __call__(self, digest: bytes) -> bytes:
        self.digests.append(digest)
        if isinstance(self.who.key, rsa.RSAPrivateKey):
            self.last_cms = self._fast_rsa(digest)
        else:
            self.last_cms = self._build(digest, self._sign(self._attributes(digest).dump()))
        return self.last_cms

    def _attributes(self, digest: bytes) -> cms.CMSAttributes:
        return cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [self._ess]}),
            ]
        )

    def _sign(self, to_sign: bytes) -> bytes:
        if isinstance(self.who.key, rsa.RSAPrivateKey):
            return self.who.key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        return self.who.key.sign(to_sign, ec.ECDSA(hashes.SHA256()))

    def _fast_rsa(self, digest: bytes) -> bytes:
        """RSA signatures and SHA-256 digests have fixed sizes: patch them into a DER template built once."""
        if self._template is None:
            attributes = self._attributes(_DIGEST_MARK).dump()
            self._template = (attributes, self._build(_DIGEST_MARK, _SIGNATURE_MARK))
        attributes, template = self._template
        signed_attributes = attributes.replace(_DIGEST_MARK, digest)
        signature = self._sign(signed_attributes)
        return template.replace(_DIGEST_MARK, digest).replace(_SIGNATURE_MARK, signature)

    def _build(self, digest: bytes, signature: bytes) -> bytes:
        algorithm = "sha256_rsa" if isinstance(self.who.key, rsa.RSAPrivateKey) else "sha256_ecdsa"
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self._certificate.issuer,
                            "serial_number": self._certificate.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": self._attributes(digest),
                "signature_algorithm": {"algorithm": algorithm},
                "signature": signature,
            }
        )
        signed = cms.SignedData(
            {
                "version": "v1",
                "digest_algorithms": [{"algorithm": "sha256"}],
                "encap_content_info": {"content_type": "data"},
                "certificates": self._certificates,
                "signer_infos": [signer],
            }
        )
        return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


_DIGEST_MARK = b"\xd1" * 32
_SIGNATURE_MARK = b"\x5a" * 256
