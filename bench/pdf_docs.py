"""Inputs of bench/pdf.py, made in memory: text PDFs of 1 and 20 pages (reportlab), an RSA-2048 key with a
certificate from a throw-away CA (cryptography), and a transparent round seal image (Pillow).

Both sides of the benchmark get exactly these bytes: the same PDF, the same key and certificate.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

LINES_PER_PAGE = 40


def text_pdf(pages: int) -> bytes:
    """An A4 document of `pages` pages of Helvetica text, as an ordinary office export would be."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"benchmark document, {pages} page(s)")
    for page in range(pages):
        pdf.setFont("Helvetica-Bold", 16)
        pdf.drawString(72, 780, f"Drug Production License - page {page + 1} of {pages}")
        pdf.setFont("Helvetica", 10)
        for line in range(LINES_PER_PAGE):
            pdf.drawString(72, 750 - 16 * line, f"Line {line + 1}: the licensee shall keep records of production.")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@dataclass(frozen=True)
class BenchKey:
    key_pem: bytes
    certificate_pem: bytes
    certificate_der: bytes
    ca_certificate_pem: bytes
    ca_certificate_der: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    )


def rsa_key_and_certificate() -> BenchKey:
    """An RSA-2048 seal key with a certificate (digitalSignature, nonRepudiation) from a throw-away root."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("bench root"))
        .issuer_name(_name("bench root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("bench seal"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return BenchKey(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        cert.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.DER),
        ca_cert.public_bytes(serialization.Encoding.PEM),
        ca_cert.public_bytes(serialization.Encoding.DER),
    )


def seal_png(size: int = 400) -> bytes:
    """A red ring with a red centre disc on a transparent background, standing in for a real seal image."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (230, 0, 18, 255)
    draw.ellipse((8, 8, size - 8, size - 8), outline=red, width=size // 20)
    draw.ellipse((size * 3 // 8, size * 3 // 8, size * 5 // 8, size * 5 // 8), fill=red)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
