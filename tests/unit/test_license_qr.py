"""License QR payloads: the ES256 compact JWS checked by pyca/cryptography and the OpenSSL CLI, the QR symbol
decoded by zxing-cpp, the negatives, and `certseal license verify-qr` exit codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
import zxingcpp
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from PIL import Image
from typer.testing import CliRunner

from certseal.cli.common import app
from certseal.cli.license_qr import license_app  # noqa: F401  (registers `certseal license`)
from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.errors import CryptoError, InvalidSignature, ValidationError
from certseal.licenses import qr

# A real GB/T 36904 identifier (reference/domain.md §3) and one with a long serial, the longest we expect.
IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y"
LONG_IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11110000000021135M.2025042000012345.003.K"
BASE_URL = "https://zwfw.yjj.hubei.gov.cn/certseal"
KID = "license-qr-1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def signer() -> SoftwareSigner:
    return SoftwareSigner(KID, PrivateKey.generate(KeyAlgorithm.P256), SignatureScheme.ECDSA_SHA256)


@pytest.fixture(scope="module")
def keys(signer: SoftwareSigner) -> dict[str, qr.QrPublicKey]:
    return {KID: qr.QrPublicKey(KID, signer.public_key)}


def payload(identifier: str = IDENTIFIER, **changes: object) -> qr.QrPayload:
    base = qr.QrPayload(
        identifier=identifier,
        version=3,
        holder_code="91350100M000100Y43",
        valid_from=date(2025, 7, 1),
        valid_until=date(2030, 6, 30),
        status="issued",
        public_digest=hashlib.sha256("企业名称=某某制药有限公司".encode()).digest(),
        issued_at=datetime(2025, 7, 1, 8, 30, tzinfo=UTC),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def flip(text: str, index: int) -> str:
    """Change one base64url character (still valid base64url) at `index`."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


# --- the JWS, checked by implementations we did not write ------------------------------------------------------


def test_round_trip_and_header(signer: SoftwareSigner, keys: dict[str, qr.QrPublicKey]) -> None:
    jws = qr.sign_payload(signer, payload())
    header_b64, _, signature_b64 = jws.split(".")
    assert "=" not in jws
    assert json.loads(unb64url(header_b64)) == {"alg": "ES256", "kid": KID}
    assert len(unb64url(signature_b64)) == 64
    assert qr.verify_payload(jws, keys) == replace(payload(), key_id=KID)
    open_ended = payload(valid_until=None, holder_code="4201**********1234", status="suspended")
    assert qr.verify_payload(qr.sign_payload(signer, open_ended), keys) == replace(open_ended, key_id=KID)


def test_pyca_cryptography_verifies_raw_signature(signer: SoftwareSigner) -> None:
    jws = qr.sign_payload(signer, payload())
    signing_input, _, signature_b64 = jws.rpartition(".")
    raw = unb64url(signature_b64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = serialization.load_der_public_key(signer.public_key.spki_der)
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(CryptographyInvalidSignature):
        public.verify(der, flip(signing_input, 60).encode(), ec.ECDSA(hashes.SHA256()))


def test_openssl_verifies_signature(signer: SoftwareSigner, tmp_path: Path) -> None:
    jws = qr.sign_payload(signer, payload())
    signing_input, _, signature_b64 = jws.rpartition(".")
    raw = unb64url(signature_b64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    (tmp_path / "pub.pem").write_bytes(signer.public_key.pem())
    (tmp_path / "sig.der").write_bytes(der)
    (tmp_path / "input").write_bytes(signing_input.encode())
    (tmp_path / "tampered").write_bytes(flip(signing_input, 60).encode())
    command = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der"]
    good = subprocess.run([*command, "input"], cwd=tmp_path, capture_output=True, text=True)
    assert good.returncode == 0 and "Verified OK" in good.stdout
    bad = subprocess.run([*command, "tampered"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and "Verification failure" in bad.stdout


def test_jwk_matches_key_and_cryptography_reads_it(signer: SoftwareSigner) -> None:
    key = qr.QrPublicKey(KID, signer.public_key, datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    jwk = key.jwk()
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(str(jwk["x"])), "big"), int.from_bytes(unb64url(str(jwk["y"])), "big"), ec.SECP256R1()
    )
    spki = numbers.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == signer.public_key.spki_der
    assert qr.keys_from_jwks({"keys": [jwk]}) == {KID: key}


# --- negatives ------------------------------------------------------------------------------------------------


def test_flipped_payload_byte(signer: SoftwareSigner, keys: dict[str, qr.QrPublicKey]) -> None:
    jws = qr.sign_payload(signer, payload())
    at = jws.index(".") + 20
    with pytest.raises(InvalidSignature, match="does not verify"):
        qr.verify_payload(flip(jws, at), keys)


def test_flipped_signature_byte(signer: SoftwareSigner, keys: dict[str, qr.QrPublicKey]) -> None:
    jws = qr.sign_payload(signer, payload())
    with pytest.raises(InvalidSignature, match="does not verify"):
        qr.verify_payload(flip(jws, len(jws) - 10), keys)
    with pytest.raises(InvalidSignature, match="64 bytes"):
        qr.verify_payload(jws[:-4], keys)


def test_unknown_kid_and_wrong_key(signer: SoftwareSigner) -> None:
    jws = qr.sign_payload(signer, payload())
    other = PrivateKey.generate(KeyAlgorithm.P256).public_key
    with pytest.raises(CryptoError, match="unknown key id 'license-qr-1'"):
        qr.verify_payload(jws, {"license-qr-9": other})
    with pytest.raises(InvalidSignature):
        qr.verify_payload(jws, {KID: other})


def _with_header(jws: str, header: dict[str, object]) -> str:
    _, body, signature = jws.split(".")
    return f"{b64url(json.dumps(header).encode())}.{body}.{signature}"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384", "RS256", None])
def test_other_algs_refused(signer: SoftwareSigner, keys: dict[str, qr.QrPublicKey], alg: str | None) -> None:
    jws = _with_header(qr.sign_payload(signer, payload()), {"alg": alg, "kid": KID})
    with pytest.raises(CryptoError, match="refused"):
        qr.verify_payload(jws, keys)


def test_hs256_with_public_key_as_secret_refused(keys: dict[str, qr.QrPublicKey]) -> None:
    """The classic alg confusion: an HMAC 'signature' keyed with the published public key."""
    header = b64url(json.dumps({"alg": "HS256", "kid": KID}).encode())
    signing_input = f"{header}.{b64url(qr.encode_payload(payload()))}"
    mac = hmac.new(keys[KID].public_key.spki_der, signing_input.encode(), "sha256").digest()
    with pytest.raises(CryptoError, match="'HS256' is refused"):
        qr.verify_payload(f"{signing_input}.{b64url(mac)}", keys)


def test_expired_and_not_yet_valid_key(signer: SoftwareSigner) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    jws = qr.sign_payload(signer, payload(issued_at=now))
    expired = qr.QrPublicKey(KID, signer.public_key, now - timedelta(days=1100), now - timedelta(days=5))
    with pytest.raises(CryptoError, match="had expired"):
        qr.verify_payload(jws, {KID: expired})
    future = qr.QrPublicKey(KID, signer.public_key, now + timedelta(days=1), now + timedelta(days=900))
    with pytest.raises(CryptoError, match="not yet valid"):
        qr.verify_payload(jws, {KID: future})


@pytest.mark.parametrize(
    "text", ["", "abc", "a.b", "a.b.c.d", "a..c", "@@.e30.AAAA", "W10.e30.AAAA", "bm90IGpzb24.e30.AAAA"]
)
def test_not_a_jws(keys: dict[str, qr.QrPublicKey], text: str) -> None:
    with pytest.raises(ValidationError):
        qr.verify_payload(text, keys)


def test_sm2_and_rsa_signers_refused() -> None:
    for algorithm in (KeyAlgorithm.SM2, KeyAlgorithm.RSA2048):
        other = SoftwareSigner("k", PrivateKey.generate(algorithm), algorithm.default_scheme)
        with pytest.raises(CryptoError, match="need a p256 key"):
            qr.sign_payload(other, payload())


def test_url_identifier_must_match(signer: SoftwareSigner, keys: dict[str, qr.QrPublicKey]) -> None:
    jws = qr.sign_payload(signer, payload())
    assert qr.verify_qr_text(qr.qr_text(BASE_URL, IDENTIFIER, jws), keys).identifier == IDENTIFIER
    with pytest.raises(CryptoError, match="the URL names"):
        qr.verify_qr_text(qr.qr_text(BASE_URL, LONG_IDENTIFIER, jws), keys)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"identifier": "1.2.156.abc"}, "identifier"),
        ({"holder_code": "张三"}, "holder_code"),
        ({"public_digest": b"short"}, "public_digest"),
        ({"version": 70000}, "version"),
        ({"valid_from": date(1960, 1, 1)}, "valid_from"),
    ],
)
def test_payload_fields_checked(signer: SoftwareSigner, changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        qr.sign_payload(signer, payload(**changes))  # type: ignore[arg-type]
    assert caught.value.field == field


# --- the QR symbol, decoded by zxing-cpp --------------------------------------------------------------------------


def _zxing(png: bytes) -> list[zxingcpp.Barcode]:
    return list(zxingcpp.read_barcodes(Image.open(io.BytesIO(png))))


def test_png_round_trip_through_zxing(signer: SoftwareSigner, keys: dict[str, qr.QrPublicKey]) -> None:
    text = qr.qr_text(BASE_URL, IDENTIFIER, qr.sign_payload(signer, payload()))
    png = qr.qr_png(text, 600)
    found = _zxing(png)
    assert [b.text for b in found] == [text] and found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert qr.decode_qr_image(png) == text
    assert qr.verify_qr_text(qr.decode_qr_image(png), keys).identifier == IDENTIFIER


def test_longest_realistic_text_fits_version_15_level_m(signer: SoftwareSigner) -> None:
    """Long serial, masked ID as holder code, the longest status, a 38-character base URL: measured here."""
    longest = payload(LONG_IDENTIFIER, holder_code="4201**********1234", status="suspended", version=65535)
    text = qr.qr_text(BASE_URL, LONG_IDENTIFIER, qr.sign_payload(signer, longest))
    symbol = qr.qr_symbol(text)
    assert symbol.version <= 15 and symbol.error == "M"
    assert len(text) == 422  # measured: 38-char base URL, 79-char identifier, 298-char JWS
    found = _zxing(qr.qr_png(text, 600))
    assert found[0].text == text and found[0].symbology_identifier == "]Q1"
    # the same text as a single byte-mode segment would need a bigger symbol: the alphanumeric segment matters
    assert segno_version(text) > symbol.version


def segno_version(text: str) -> int:
    import segno

    return int(segno.make(text, error="m", micro=False, boost_error=False).version)


def test_too_long_text_refused() -> None:
    with pytest.raises(ValidationError, match="version-"):
        qr.qr_symbol("x" * 500)


def test_svg_is_xml(signer: SoftwareSigner) -> None:
    svg = qr.qr_svg(qr.qr_text(BASE_URL, IDENTIFIER, qr.sign_payload(signer, payload())))
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_garbage_images(tmp_path: Path) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    with pytest.raises(ValidationError, match="no QR code found"):
        qr.decode_qr_image(blank.getvalue())
    with pytest.raises(ValidationError, match="not a readable PNG or JPEG"):
        qr.decode_qr_image(b"not an image at all")
    with pytest.raises(ValidationError, match="not a readable"):
        qr.decode_qr_image(tmp_path / "missing.png")


# --- certseal license verify-qr --------------------------------------------------------------------------------


@pytest.fixture()
def jwks_file(signer: SoftwareSigner, tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [qr.QrPublicKey(KID, signer.public_key).jwk()]}))
    return path


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["license", "verify-qr", *args])
    return result.exit_code, result.output


def test_cli_verify_qr(signer: SoftwareSigner, jwks_file: Path, tmp_path: Path) -> None:
    jws = qr.sign_payload(signer, payload())
    text = qr.qr_text(BASE_URL, IDENTIFIER, jws)
    image = tmp_path / "code.png"
    image.write_bytes(qr.qr_png(text, 500))
    jpeg = tmp_path / "code.jpg"
    Image.open(image).convert("RGB").save(jpeg, "JPEG", quality=90)
    for argument in (str(image), str(jpeg), text, jws):
        code, output = _cli(argument, "--jwks", str(jwks_file))
        assert code == 0, (argument, output)
        assert IDENTIFIER in output and "OK" in output and "91350100M000100Y43" in output
    code, output = _cli(jws, "--jwks", str(jwks_file), "--json")
    assert code == 0 and json.loads(output) == {"valid": True, "payload": replace(payload(), key_id=KID).to_json()}


def test_cli_verify_qr_failures(signer: SoftwareSigner, jwks_file: Path, tmp_path: Path) -> None:
    jws = qr.sign_payload(signer, payload())
    code, output = _cli(flip(jws, len(jws) - 10), "--jwks", str(jwks_file))
    assert code == 1 and "FAILED" in output
    code, output = _cli(_with_header(jws, {"alg": "none", "kid": KID}), "--jwks", str(jwks_file), "--json")
    assert code == 1 and json.loads(output)["valid"] is False
    blank = tmp_path / "blank.png"
    Image.new("RGB", (120, 120), "white").save(blank)
    code, output = _cli(str(blank), "--jwks", str(jwks_file))
    assert code == 2 and "no QR code found" in output
    code, output = _cli("not-a-jws", "--jwks", str(jwks_file))
    assert code == 2 and "compact JWS" in output
    code, output = _cli(str(tmp_path / "missing.png"), "--jwks", str(jwks_file))
    assert code == 2 and "no such image file" in output
