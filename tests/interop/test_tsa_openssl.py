"""The TSA over HTTP, checked by implementations we did not write: `openssl ts` for RSA and ECDSA P-256 tokens;
asn1crypto (structure) and gmalg (SM3, SM2) for SM2 tokens, which the OpenSSL 3.0 CLI cannot check."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import cms, tsp, x509
from gmalg import SM3

from tests.fixtures.server import LiveDeployment
from tests.sm2check import is_sm2_with_sm3, sm2_signature_valid

SM3_OID = "1.2.156.10197.1.401"


def _openssl(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if ok and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _post(live: LiveDeployment, body: bytes, content_type: str = "application/timestamp-query") -> tuple[int, bytes]:
    request = urllib.request.Request(f"{live.url}/tsa", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Type"] == "application/timestamp-reply"
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _stamp(live: LiveDeployment, data: Path, *query_options: str, name: str = "resp.tsr") -> Path:
    query = live.path(name + ".tsq")
    _openssl("ts", "-query", "-data", str(data), *query_options, "-out", str(query))
    status, body = _post(live, query.read_bytes())
    assert status == 200
    reply = live.path(name)
    reply.write_bytes(body)
    return reply


def _reply_text(reply: Path) -> str:
    return _openssl("ts", "-reply", "-in", str(reply), "-text").stdout


def _verify(live: LiveDeployment, data: Path, reply: Path) -> subprocess.CompletedProcess[str]:
    return _openssl(
        "ts",
        "-verify",
        "-data",
        str(data),
        "-in",
        str(reply),
        "-CAfile",
        str(live.path("chain.pem")),
        "-untrusted",
        str(live.path("tsa.pem")),
        ok=False,
    )


def _set_up(live: LiveDeployment, alg: str) -> Path:
    live.run("ca", "create", "root", "--alg", alg)
    live.run("tsa", "setup", "--ca", "root", "--alg", alg)
    live.run("tsa", "cert", "--out", str(live.path("tsa.pem")), "--chain", str(live.path("chain.pem")))
    data = live.path("prescription.txt")
    data.write_text("处方 2024-001: amoxicillin 500 mg\n")
    return data


@pytest.mark.parametrize("alg", ["rsa2048", "p256"])
def test_openssl_verifies_tokens(live: LiveDeployment, alg: str) -> None:
    data = live.path("prescription.txt")
    data.write_text("x")
    query = live.path("early.tsq")
    _openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query))
    status, body = _post(live, query.read_bytes())
    assert status == 503 and "certseal tsa setup" in json.loads(body)["error"]

    data = _set_up(live, alg)
    certificate = _openssl("x509", "-in", str(live.path("tsa.pem")), "-noout", "-ext", "extendedKeyUsage").stdout
    assert "critical" in certificate and "Time Stamping" in certificate

    reply = _stamp(live, data, "-sha256", "-cert")
    text = _reply_text(reply)
    assert "Status: Granted." in text and "Policy OID: 1.3.6.1.4.1.60350.1.1" in text
    assert "Ordering: no" in text and "Accuracy: 0x01 seconds" in text
    assert "Nonce: 0x" in text and "Hash Algorithm: sha256" in text
    verified = _verify(live, data, reply)
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout
    queried = _openssl(
        "ts", "-verify", "-queryfile", str(live.path("resp.tsr.tsq")), "-in", str(reply),
        "-CAfile", str(live.path("chain.pem")), "-untrusted", str(live.path("tsa.pem")), ok=False,
    )  # fmt: skip
    assert "Verification: OK" in queried.stdout  # the nonce and imprint match the request

    other = live.path("other.txt")
    other.write_text("处方 2024-002\n")
    assert "Verification: OK" not in _verify(live, other, reply).stdout

    body = bytearray(reply.read_bytes())
    token = tsp.TimeStampResp.load(bytes(body))["time_stamp_token"]["content"]
    gen_time = token["encap_content_info"]["content"].parsed["gen_time"]
    where = bytes(body).index(gen_time.dump())
    body[where + 5] ^= 0x01  # one digit of the year inside the signed TSTInfo
    tampered = live.path("tampered.tsr")
    tampered.write_bytes(bytes(body))
    assert "Verification: OK" not in _verify(live, data, tampered).stdout

    no_nonce = _stamp(live, data, "-sha512", "-no_nonce", name="no-nonce.tsr")
    text = _reply_text(no_nonce)
    assert "Nonce: unspecified" in text and "Hash Algorithm: sha512" in text
    assert "Verification: OK" in _verify(live, data, no_nonce).stdout

    no_cert = _stamp(live, data, "-sha256", name="no-cert.tsr")
    assert tsp.TimeStampResp.load(no_cert.read_bytes())["time_stamp_token"]["content"]["certificates"].native is None
    assert "Verification: OK" in _verify(live, data, no_cert).stdout


def test_rejections_over_http(live: LiveDeployment) -> None:
    data = _set_up(live, "p256")
    policy = _reply_text(_stamp(live, data, "-sha256", "-tspolicy", "1.2.3.4", name="policy.tsr"))
    assert "Status: Rejected." in policy and "Failure info: the requested TSA policy is not supported" in policy
    sha1 = _reply_text(_stamp(live, data, "-sha1", name="sha1.tsr"))
    assert "Status: Rejected." in sha1 and "Failure info: unrecognized or unsupported algorithm identifier" in sha1
    status, body = _post(live, b"this is not DER")
    assert status == 200
    garbage = live.path("garbage.tsr")
    garbage.write_bytes(body)
    text = _reply_text(garbage)
    assert "Status: Rejected." in text and "Failure info: the data submitted has the wrong format" in text
    status, body = _post(live, b"x", content_type="text/plain")
    assert status == 415 and "application/timestamp-query" in json.loads(body)["error"]


def test_sm2_token_checked_with_gmalg(live: LiveDeployment) -> None:
    data = _set_up(live, "sm2")
    reply = _stamp(live, data, "-sm3", "-cert")
    response = tsp.TimeStampResp.load(reply.read_bytes())
    assert response["status"]["status"].native == "granted"
    content_info = response["time_stamp_token"]
    assert content_info["content_type"].dotted == "1.2.840.113549.1.7.2"
    signed: cms.SignedData = content_info["content"]
    encapsulated = signed["encap_content_info"]
    assert encapsulated["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"
    tst_der = encapsulated["content"].contents
    tst = tsp.TSTInfo.load(tst_der)

    imprint = tst["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].dotted == SM3_OID
    assert imprint["hashed_message"].native == _sm3(data.read_bytes())

    certificate = x509.Certificate.load(_pem_der(live.path("tsa.pem")))
    assert certificate.extended_key_usage_value.native == ["time_stamping"]
    assert "extended_key_usage" in certificate.critical_extensions
    assert [c.chosen.dump() for c in signed["certificates"]] == [certificate.dump()]
    signer_info = signed["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].dotted == SM3_OID
    assert is_sm2_with_sm3(signer_info["signature_algorithm"])
    assert signer_info["sid"].chosen["serial_number"].native == certificate.serial_number
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attributes["message_digest"].native == _sm3(tst_der)
    assert attributes["content_type"].native == "tst_info"
    cert_id = attributes["signing_certificate_v2"]["certs"][0]
    assert cert_id["cert_hash"].native == hashlib.sha256(certificate.dump()).digest()

    signed_attributes = b"\x31" + signer_info["signed_attrs"].dump()[1:]  # the DER SET OF that was signed
    signature = signer_info["signature"].native
    assert sm2_signature_valid(certificate, signed_attributes, signature)
    altered = bytearray(signed_attributes)
    altered[-1] ^= 0x01
    assert not sm2_signature_valid(certificate, bytes(altered), signature)


def _sm3(data: bytes) -> bytes:
    digest = SM3()
    digest.update(data)
    return bytes(digest.value())


def _pem_der(path: Path) -> bytes:
    from asn1crypto import pem

    return pem.unarmor(path.read_bytes())[2]
