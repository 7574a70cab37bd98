"""The OCSP responder of a running `certseal serve`, checked by `openssl ocsp` (RSA, ECDSA) and by gmalg (SM2)."""

from __future__ import annotations

import base64
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from asn1crypto import ocsp, pem, x509

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from tests.conftest import ACTOR
from tests.fixtures.server import LiveDeployment
from tests.sm2check import is_sm2_with_sm3, sm2_signature_valid


def _setup(live: LiveDeployment, ca: str, alg: str, leaves: int = 1) -> list[str]:
    """Create a CA and `leaves` certificates through the services, in the server's database; write PEMs."""
    settings = Settings(
        home=live.env["CERTSEAL_HOME"],  # type: ignore[arg-type]
        kek=live.env["CERTSEAL_KEK"],  # type: ignore[arg-type]
        audit_key=live.env["CERTSEAL_AUDIT_KEY"],  # type: ignore[arg-type]
        base_url=live.url,
    )
    platform = Platform(settings)
    try:
        service = CaService(platform)
        info = service.create_ca(ca, KeyAlgorithm(alg), ACTOR)
        live.path(f"{ca}.pem").write_bytes(pem.armor("CERTIFICATE", info.certificate_der))
        serials = []
        for i in range(leaves):
            leaf = service.issue(ca, "person", ACTOR, subject=f"CN=Leaf {i}", generate=KeyAlgorithm.P256)
            live.path(f"{ca}-leaf{i}.pem").write_bytes(pem.armor("CERTIFICATE", leaf.certificate_der))
            serials.append(leaf.serial)
        return serials
    finally:
        platform.close()


def _openssl_ocsp(live: LiveDeployment, ca: str, *args: str) -> str:
    result = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(live.path(f"{ca}.pem")), "-url", f"{live.url}/ocsp/{ca}",
         "-CAfile", str(live.path(f"{ca}.pem")), "-timeout", "20", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.stdout + result.stderr


def _post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, dict(response.headers), response.read()


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.status, dict(response.headers), response.read()


def _request_der(live: LiveDeployment, ca: str, leaf: str, nonce: bool = True) -> bytes:
    out = live.path("req.der")
    subprocess.run(
        ["openssl", "ocsp", "-issuer", str(live.path(f"{ca}.pem")), "-cert", str(live.path(leaf)),
         "-reqout", str(out), *([] if nonce else ["-no_nonce"])],
        check=True, capture_output=True,
    )  # fmt: skip
    return out.read_bytes()


def test_rsa_ca_good_revoked_get_unknown_malformed(live: LiveDeployment) -> None:
    serial, _other = _setup(live, "rsa-ca", "rsa2048", leaves=2)
    leaf = str(live.path("rsa-ca-leaf0.pem"))

    for nonce in ([], ["-no_nonce"]):
        text = _openssl_ocsp(live, "rsa-ca", "-cert", leaf, *nonce)
        assert "Response verify OK" in text, text
        assert f"{leaf}: good" in text, text
        assert "Next Update:" in text

    # RFC 5019 GET with the request in the URL, '/' and '+' escaped as %2F / %2B
    der = _request_der(live, "rsa-ca", "rsa-ca-leaf0.pem", nonce=False)
    encoded = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    status, headers, body = _get(f"{live.url}/ocsp/rsa-ca/{encoded}")
    assert status == 200 and headers["content-type"] == "application/ocsp-response"
    assert re.search(r"max-age=\d+", headers["cache-control"]) and "public" in headers["cache-control"]
    parsed = ocsp.OCSPResponse.load(body)
    assert parsed["response_status"].native == "successful"
    single = parsed.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "good"
    assert single["cert_id"]["serial_number"].native == int(serial, 16)

    live.run("cert", "revoke", serial, "--reason", "key_compromise")
    for nonce in ([], ["-no_nonce"]):
        text = _openssl_ocsp(live, "rsa-ca", "-cert", leaf, *nonce)
        assert "Response verify OK" in text, text
        assert f"{leaf}: revoked" in text, text
        assert "Reason: keyCompromise" in text and "Revocation Time:" in text, text
    status, _, body = _get(f"{live.url}/ocsp/rsa-ca/{base64.b64encode(der).decode()}")  # unescaped '/' and '+'
    single = ocsp.OCSPResponse.load(body).basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "revoked"
    assert single["cert_status"].chosen["revocation_reason"].native == "key_compromise"

    text = _openssl_ocsp(live, "rsa-ca", "-serial", "0x1234ABCD")
    assert "0x1234ABCD: unknown" in text, text

    for garbage in (b"", b"not DER at all", der + b"\x00", der[:-3]):
        status, _, body = _post(f"{live.url}/ocsp/rsa-ca", garbage)
        assert status == 200
        assert ocsp.OCSPResponse.load(body)["response_status"].native == "malformed_request"
    status, _, body = _get(f"{live.url}/ocsp/rsa-ca/%21%21not-base64%21")
    assert ocsp.OCSPResponse.load(body)["response_status"].native == "malformed_request"

    try:
        _post(f"{live.url}/ocsp/no-such-ca", der)
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        raise AssertionError("an unknown CA answered")

    # a request about another CA's certificate, sent to this CA's responder
    _setup(live, "other-ca", "p256", leaves=0)
    wrong = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(live.path("other-ca.pem")), "-serial", "0x01",
         "-url", f"{live.url}/ocsp/rsa-ca", "-CAfile", str(live.path("rsa-ca.pem"))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "unauthorized" in (wrong.stdout + wrong.stderr)


def test_ecdsa_ca_with_delegated_responder(live: LiveDeployment) -> None:
    (serial,) = _setup(live, "ec-ca", "p256")
    leaf = str(live.path("ec-ca-leaf0.pem"))
    result = live.run("ocsp", "delegate", "--ca", "ec-ca", "--alg", "p256")
    responder_serial = re.search(r"responder certificate (\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    with urllib.request.urlopen(f"{live.url}/ocsp/ec-ca", _request_der(live, "ec-ca", "ec-ca-leaf0.pem")) as r:
        certs = ocsp.OCSPResponse.load(r.read()).basic_ocsp_response["certs"]
    responder = certs[0]
    assert format(responder.serial_number, "X").lstrip("0") == responder_serial.lstrip("0")
    assert "ocsp_signing" in responder.extended_key_usage_value.native
    assert responder.ocsp_no_check_value is not None
    for nonce in ([], ["-no_nonce"]):
        text = _openssl_ocsp(live, "ec-ca", "-cert", leaf, "-resp_text", *nonce)
        assert "Response verify OK" in text, text
        assert f"{leaf}: good" in text
    der = _request_der(live, "ec-ca", "ec-ca-leaf0.pem")
    _, _, body = _post(f"{live.url}/ocsp/ec-ca", der)
    basic = ocsp.OCSPResponse.load(body).basic_ocsp_response
    assert [c.dump() for c in basic["certs"]] == [responder.dump()]
    assert basic["tbs_response_data"]["responder_id"].chosen.native == responder.public_key.sha1
    live.run("cert", "revoke", serial, "--reason", "superseded")
    text = _openssl_ocsp(live, "ec-ca", "-cert", leaf, "-no_nonce")
    assert "Response verify OK" in text and f"{leaf}: revoked" in text and "Reason: superseded" in text, text


def test_sm2_ca_response_verified_by_gmalg(live: LiveDeployment) -> None:
    (serial,) = _setup(live, "sm2-ca", "sm2")
    ca = x509.Certificate.load(pem.unarmor(live.path("sm2-ca.pem").read_bytes())[2])
    live.run("cert", "revoke", serial, "--reason", "certificate_hold")
    for nonce in (True, False):
        request = _request_der(live, "sm2-ca", "sm2-ca-leaf0.pem", nonce=nonce)
        _, _, body = _post(f"{live.url}/ocsp/sm2-ca", request)
        basic = ocsp.OCSPResponse.load(body).basic_ocsp_response
        tbs = basic["tbs_response_data"]
        assert is_sm2_with_sm3(basic["signature_algorithm"])
        assert sm2_signature_valid(ca, tbs.dump(), basic["signature"].native)
        assert not sm2_signature_valid(ca, tbs.dump() + b"x", basic["signature"].native)
        single = tbs["responses"][0]
        assert single["cert_id"]["serial_number"].native == int(serial, 16)
        assert single["cert_status"].name == "revoked"
        assert single["cert_status"].chosen["revocation_reason"].native == "certificate_hold"
        nonces = [e["extn_value"].native for e in tbs["response_extensions"] if e["extn_id"].native == "nonce"]
        requested = ocsp.OCSPRequest.load(request).nonce_value
        assert nonces == ([requested.native] if nonce else [])
    live.run("cert", "release", serial)
    _, _, body = _post(f"{live.url}/ocsp/sm2-ca", _request_der(live, "sm2-ca", "sm2-ca-leaf0.pem", nonce=False))
    basic = ocsp.OCSPResponse.load(body).basic_ocsp_response
    assert basic["tbs_response_data"]["responses"][0]["cert_status"].name == "good"
    assert sm2_signature_valid(ca, basic["tbs_response_data"].dump(), basic["signature"].native)
