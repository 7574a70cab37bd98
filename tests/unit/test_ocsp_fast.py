"""The OCSP fast paths of certseal.pki.ocsp.

- `parse_request` reads the common request (one CertID, at most a nonce) by slicing; it must return exactly what the
  general reader (`parse_request_general`) returns, or raise the same MalformedRequest, for every input: requests built
  with asn1crypto over a matrix of shapes, every single-byte change and truncation of a few of them, and random
  mutations (hypothesis).
- `Responder.sign` assembles headers from length caches; its output must be byte-identical to the previous builder,
  kept below as `_reference_sign`.
- `openssl ocsp` reads and verifies responses the new code builds for requests it parsed (the outside checker).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import algos, core, pem, x509
from asn1crypto import ocsp as asn1_ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.pki import certificates as certs
from certseal.pki import ocsp
from certseal.pki.asn1 import key_identifier, signature_algorithm
from certseal.pki.der import generalized_time, tlv
from certseal.pki.names import build_name
from certseal.pki.profiles import profile
from tests.fixtures.signers import MemoSigner

NOW = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
SM3 = "1.2.156.10197.1.401"
HASH_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, SM3: 32}
SHA256 = next(h for h in ocsp.CERT_ID_HASHES.values() if h.name == "sha256")


# --- requests, built with asn1crypto (not with the code under test) ------------------------------------------


def _cert_id(hash_name: str, params: bool, serial: int, hash_size: int | None = None) -> dict[str, object]:
    size = hash_size or HASH_SIZES[hash_name]
    algorithm: dict[str, object] = {"algorithm": hash_name}
    if params:
        algorithm["parameters"] = core.Null()
    return {
        "hash_algorithm": algos.DigestAlgorithm(algorithm),
        "issuer_name_hash": hashlib.sha512(b"name" + bytes([size])).digest()[:size].ljust(size, b"n"),
        "issuer_key_hash": hashlib.sha512(b"key" + bytes([size])).digest()[:size].ljust(size, b"k"),
        "serial_number": serial,
    }


def _request(
    hash_name: str = "sha1",
    params: bool = True,
    serials: Sequence[int] = (0x1234,),
    nonce: bytes | None = None,
    extensions: Sequence[dict[str, object]] = (),
    requestor: bool = False,
    signature: bool = False,
    hash_size: int | None = None,
) -> bytes:
    tbs: dict[str, object] = {
        "request_list": [{"req_cert": _cert_id(hash_name, params, s, hash_size)} for s in serials],
    }
    request_extensions = list(extensions)
    if nonce is not None:
        request_extensions.insert(0, {"extn_id": "nonce", "extn_value": core.OctetString(nonce)})
    if request_extensions:
        tbs["request_extensions"] = request_extensions
    if requestor:
        tbs["requestor_name"] = x509.GeneralName({"dns_name": "client.example"})
    request: dict[str, object] = {"tbs_request": tbs}
    if signature:
        request["optional_signature"] = {"signature_algorithm": {"algorithm": "sha256_rsa"}, "signature": b"\x01" * 8}
    return bytes(asn1_ocsp.OCSPRequest(request).dump())


def _with_version(der: bytes) -> bytes:
    """The same request with version v1 written out ([0] EXPLICIT INTEGER 0; asn1crypto omits the DEFAULT)."""
    tbs = asn1_ocsp.OCSPRequest.load(der)["tbs_request"]
    return tlv(0x30, tlv(0x30, b"\xa0\x03\x02\x01\x00" + tbs.contents))


SERIALS = [
    0,
    1,
    0x7F,
    0x80,  # 00 80: a sign byte
    -1,
    -0x80,
    -0x81,
    int.from_bytes(bytes.fromhex("7f") + os.urandom(19), "big"),  # 20 bytes
    (1 << 159) | 5,  # 20 bytes with the top bit set: 21 bytes, leading 00
    0x00FF,  # 00 FF
    (1 << 311) | 1,  # 40 bytes with the sign byte: the longest accepted
    1 << 319,  # 41 bytes: refused
]
NONCES: list[bytes | None] = [None, b"", b"\x00", os.urandom(16), os.urandom(32), os.urandom(127), os.urandom(128)]
NONCES += [os.urandom(129), os.urandom(200)]  # longer than RFC 9654 allows: refused
OTHER = {"extn_id": "1.3.6.1.4.1.99999.1", "extn_value": core.OctetString(b"x").dump()}
OTHER_CRITICAL = {**OTHER, "critical": True}
PREFERRED = {
    "extn_id": "preferred_signature_algorithms",
    "extn_value": [{"sig_identifier": {"algorithm": "sha256_rsa"}}],
}


def _outcome(parse: Callable[[bytes], ocsp.OcspRequest], der: bytes) -> tuple[str, object]:
    try:
        return "ok", parse(der)
    except ocsp.MalformedRequest as exc:
        return "malformed", exc.message


def _agree(der: bytes) -> tuple[str, object]:
    """Both readers give the same answer (and the same types): the result."""
    fast, general = _outcome(ocsp.parse_request, der), _outcome(ocsp.parse_request_general, der)
    assert fast == general, der.hex()
    if fast[0] == "ok":
        assert isinstance(fast[1], ocsp.OcspRequest) and isinstance(general[1], ocsp.OcspRequest)
        assert all(type(c) is ocsp.CertRequest for c in fast[1].certs)
    return fast


def _is_common(hash_name: str, serial: int, nonce: bytes | None) -> bool:
    """The shapes the fast reader must take itself: SHA-1/SHA-256, serials up to 20 bytes, valid nonces."""
    return (
        hash_name in ("sha1", "sha256")
        and len(core.Integer(serial).contents) <= 21
        and (nonce is None or len(nonce) <= ocsp.MAX_NONCE)
    )


@pytest.mark.parametrize("hash_name", list(HASH_SIZES))
def test_matrix_of_one_cert_requests(hash_name: str) -> None:
    for params, serial, nonce in itertools.product((True, False), SERIALS, NONCES):
        der = _request(hash_name, params, [serial], nonce)
        status, result = _agree(der)
        refused = len(core.Integer(serial).contents) > 40 or (nonce is not None and len(nonce) > ocsp.MAX_NONCE)
        assert status == ("malformed" if refused else "ok"), (params, serial, nonce)
        if _is_common(hash_name, serial, nonce):
            assert ocsp._parse_common(der) == result  # taken by the fast reader, not passed on
        if isinstance(result, ocsp.OcspRequest):
            (cert,) = result.certs
            parsed = asn1_ocsp.OCSPRequest.load(der)
            single = parsed["tbs_request"]["request_list"][0]["req_cert"]
            assert cert.der == single.dump() and cert.serial == serial
            assert cert.hash_algorithm.name == (hash_name if hash_name != SM3 else "sm3")
            assert cert.issuer_name_hash == single["issuer_name_hash"].native
            assert cert.issuer_key_hash == single["issuer_key_hash"].native
            expected_nonce = None if nonce is None else parsed["tbs_request"]["request_extensions"][0].dump()
            assert result.nonce_extension == expected_nonce


@pytest.mark.parametrize("hash_name", ["sha1", "sha256"])
def test_other_request_shapes_go_to_the_general_reader(hash_name: str) -> None:
    nonce = os.urandom(16)
    shapes = {
        "extra extension": (_request(hash_name, nonce=nonce, extensions=[OTHER]), "ok"),
        "extra extension only": (_request(hash_name, extensions=[OTHER]), "ok"),
        "preferred algorithms": (_request(hash_name, nonce=nonce, extensions=[PREFERRED]), "ok"),
        "critical unknown": (_request(hash_name, nonce=nonce, extensions=[OTHER_CRITICAL]), "malformed"),
        "two nonces": (_request(hash_name, nonce=nonce, extensions=[{"extn_id": "nonce", "extn_value": b"1"}]), "x"),
        "requestorName": (_request(hash_name, nonce=nonce, requestor=True), "ok"),
        "two CertIDs": (_request(hash_name, serials=[5, 6], nonce=nonce), "ok"),
        "64 CertIDs": (_request(hash_name, serials=range(1, 65)), "ok"),
        "65 CertIDs": (_request(hash_name, serials=range(1, 66)), "malformed"),
        "signed": (_request(hash_name, nonce=nonce, signature=True), "ok"),
        "version": (_with_version(_request(hash_name, nonce=nonce)), "ok"),
        "short hashes": (_request(hash_name, hash_size=16), "malformed"),
        "no CertID": (_request(hash_name, serials=[]), "malformed"),
    }
    for name, (der, expected) in shapes.items():
        status, result = _agree(der)
        assert ocsp._parse_common(der) is None, name
        assert status == ("malformed" if expected == "x" else expected), name
        if name in ("extra extension", "requestorName", "signed", "version", "preferred algorithms"):
            plain = ocsp.parse_request(_request(hash_name, nonce=nonce))
            assert isinstance(result, ocsp.OcspRequest) and result.certs == plain.certs, name
            assert result.nonce_extension == plain.nonce_extension, name


def test_bytes_like_input_and_errors_name_the_rule() -> None:
    der = _request(nonce=b"n" * 16)
    assert ocsp.parse_request(bytearray(der)) == ocsp.parse_request(der)
    with pytest.raises(ocsp.MalformedRequest, match="trailing bytes"):
        ocsp.parse_request(der + b"\x00")
    with pytest.raises(ocsp.MalformedRequest, match="the nonce must be 1 to 128 bytes"):
        ocsp.parse_request(_request(nonce=b"n" * 129))
    with pytest.raises(ocsp.MalformedRequest, match="longer than 40 bytes"):
        ocsp.parse_request(_request(serials=[1 << 319]))


BASES = [
    _request("sha1", True, [0x1234_5678_9ABC_DEF0_1122_3344_5566_7788], os.urandom(16)),  # as `openssl ocsp` sends
    _request("sha256", False, [(1 << 159) | 7], os.urandom(120)),  # long-form lengths on the outside
    _request("sha1", False, [0x80], None),
]


@pytest.mark.parametrize("base", BASES, ids=["openssl-like", "sha256-long-nonce", "no-nonce"])
def test_every_single_byte_change_and_truncation(base: bytes) -> None:
    assert ocsp._parse_common(base) is not None
    accepted = 0
    for position in range(len(base)):
        for value in range(256):
            if value != base[position]:
                accepted += _agree(base[:position] + bytes((value,)) + base[position + 1 :])[0] == "ok"
        _agree(base[:position])
        _agree(base[:position] + base[position + 1 :])
        _agree(base[:position] + b"\x00" + base[position:])
    assert accepted  # some changes (inside hashes, serial and nonce values) are still well-formed requests


def test_inner_lengths_running_past_consistent_outer_ones() -> None:
    """Outer headers rewritten to fit a cut request, the inner ones still claiming the whole CertID."""
    for base in BASES:
        tbs = asn1_ocsp.OCSPRequest.load(base)["tbs_request"].contents
        outcomes = [_agree(tlv(0x30, tlv(0x30, tbs[:-cut])))[0] for cut in range(1, len(tbs) - 8)]
        assert outcomes.count("ok") == (base != BASES[2])  # only the cut of the whole nonce extension is well formed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([*BASES, _request("sha256", True, [1], b""), _request("sha1", True, [-5], os.urandom(32))]),
    changes=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.integers(0, 400),
    tail=st.binary(max_size=4),
)
def test_random_mutations_agree(base: bytes, changes: list[tuple[int, int]], cut: int, tail: bytes) -> None:
    mutated = bytearray(base)
    for position, value in changes:
        mutated[position % len(mutated)] = value
    _agree(bytes(mutated))
    _agree(bytes(mutated[: cut % (len(mutated) + 1)]) + tail)


# --- responses: byte-identical to the previous builder ---------------------------------------------------------


def _reference_status(status: ocsp.CertStatus) -> bytes:
    """CertStatus.der() as it was."""
    if status.kind == "good":
        return b"\x80\x00"
    if status.kind == "unknown":
        return b"\x82\x00"
    assert status.revoked_at is not None
    reason = b"" if status.reason is None else tlv(0xA0, b"\x0a\x01" + bytes((status.reason,)))
    return tlv(0xA1, generalized_time(status.revoked_at) + reason)


def _reference_sign(
    responder: ocsp.Responder,
    answers: Sequence[ocsp.SingleAnswer],
    produced_at: datetime,
    nonce_extension: bytes | None,
) -> bytes:
    """Responder.sign as it was before the length caches (kept verbatim apart from the status DER)."""
    singles = b"".join(
        tlv(
            0x30,
            a.cert_id_der
            + _reference_status(a.status)
            + generalized_time(a.this_update)
            + tlv(0xA0, generalized_time(a.next_update)),
        )
        for a in answers
    )
    extensions = b"" if nonce_extension is None else tlv(0xA1, tlv(0x30, nonce_extension))
    responder_id = tlv(0xA2, tlv(0x04, responder.key_hash))
    tbs = tlv(0x30, responder_id + generalized_time(produced_at) + tlv(0x30, singles) + extensions)
    signature = tlv(0x03, b"\x00" + responder.signer.sign(tbs))
    algorithm = signature_algorithm(responder.signer.scheme).dump()
    certs_der = (
        b"" if responder.delegated_certificate is None else tlv(0xA0, tlv(0x30, responder.delegated_certificate))
    )
    basic = tlv(0x30, tbs + algorithm + signature + certs_der)
    response_bytes = tlv(0xA0, tlv(0x30, ocsp._oid(ocsp.BASIC_RESPONSE_OID) + tlv(0x04, basic)))
    return tlv(0x30, b"\x0a\x01\x00" + response_bytes)


@dataclass(frozen=True)
class Pki:
    ca_key: PrivateKey
    ca_der: bytes
    ca_issuer: certs.Issuer
    responder_key: PrivateKey
    responder_der: bytes  # a delegated responder certificate issued by the CA (ocspSigning, ocsp-nocheck)


def _subject(text: str, key: PrivateKey) -> certs.Subject:
    return certs.Subject(build_name({"common_name": text}), key.public_key)


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key = PrivateKey.generate(KeyAlgorithm.RSA2048)
    signer = SoftwareSigner("ca", ca_key, SignatureScheme.RSA_PKCS1_SHA256)
    subject = _subject("Fast OCSP Test CA", ca_key)
    issuer = certs.self_signed_issuer(subject, signer)
    validity = certs.Validity.starting(datetime.now(UTC), 30)
    ca_der = certs.issue(issuer, subject, profile("root-ca"), validity, certs.new_serial())
    responder_key = PrivateKey.generate(KeyAlgorithm.P256)
    responder_der = certs.issue(
        issuer, _subject("Fast OCSP responder", responder_key), profile("ocsp-responder"), validity, certs.new_serial()
    )
    return Pki(ca_key, ca_der, issuer, responder_key, responder_der)


def _responders(pki: Pki) -> Iterator[tuple[str, ocsp.Responder]]:
    yield "rsa-ca", ocsp.Responder(MemoSigner(SoftwareSigner("ca", pki.ca_key, SignatureScheme.RSA_PKCS1_SHA256)))
    yield "rsa-pss", ocsp.Responder(MemoSigner(SoftwareSigner("ca", pki.ca_key, SignatureScheme.RSA_PSS_SHA256)))
    p256 = SoftwareSigner("responder", pki.responder_key, SignatureScheme.ECDSA_SHA256)
    yield "delegated-p256", ocsp.Responder(MemoSigner(p256), pki.responder_der)
    sm2 = PrivateKey.generate(KeyAlgorithm.SM2)
    yield "sm2", ocsp.Responder(MemoSigner(SoftwareSigner("sm2", sm2, SignatureScheme.SM2_SM3)))


STATUSES = [
    ocsp.GOOD,
    ocsp.UNKNOWN,
    ocsp.revoked(NOW - timedelta(days=3), None),
    ocsp.revoked(NOW - timedelta(days=3, seconds=1), 1),
    ocsp.revoked(datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC), 6),
    ocsp.CertStatus("revoked", datetime(2030, 1, 1, tzinfo=UTC), 10),
]


def _nonce_extension(value: bytes) -> bytes:
    return bytes(asn1_ocsp.TBSRequestExtension({"extn_id": "nonce", "extn_value": core.OctetString(value)}).dump())


def test_responses_are_byte_identical_to_the_previous_builder(pki: Pki) -> None:
    hashes = ocsp.IssuerHashes.of(pki.ca_der)
    cert_ids = [hashes.cert_id(s) for s in (1, 0x80, (1 << 159) | 3)] + [hashes.cert_id(7, SHA256)]
    next_update = NOW + timedelta(hours=24)
    nonces = [None, _nonce_extension(b"\x01"), _nonce_extension(os.urandom(16)), _nonce_extension(os.urandom(128))]
    compared = 0
    for name, responder in _responders(pki):
        for status, cert_id, nonce in itertools.product(STATUSES, cert_ids, nonces):
            for this_update in (NOW, NOW.replace(), NOW - timedelta(minutes=1)):  # producedAt itself, equal, earlier
                answers = [ocsp.SingleAnswer(cert_id, status, this_update, next_update)]
                assert responder.sign(answers, NOW, nonce) == _reference_sign(responder, answers, NOW, nonce), name
                compared += 1
        many = [ocsp.SingleAnswer(c, s, NOW, next_update) for c, s in zip(cert_ids * 30, STATUSES * 20, strict=False)]
        for answers in (many[:2], many[:3], many):  # the multi-answer path, up to three-byte lengths
            for nonce in nonces:
                assert responder.sign(answers, NOW, nonce) == _reference_sign(responder, answers, NOW, nonce), name
                compared += 1
    assert compared == 4 * (len(STATUSES) * len(cert_ids) * len(nonces) * 3 + 3 * len(nonces))


def test_status_der_and_identity() -> None:
    for status in STATUSES:
        assert status.der() == status.encoded == _reference_status(status)
    assert ocsp.revoked(NOW, 1) == ocsp.revoked(NOW, 1) and ocsp.revoked(NOW, 1) != ocsp.revoked(NOW, 2)
    assert hash(ocsp.revoked(NOW, 1)) == hash(ocsp.revoked(NOW.replace(microsecond=0), 1))
    assert "encoded" not in repr(ocsp.GOOD)


def test_responses_read_back(pki: Pki) -> None:
    """asn1crypto (strict) reads what the new builder writes: the fields it was given, and a valid signature."""
    responder = ocsp.Responder(SoftwareSigner("ca", pki.ca_key, SignatureScheme.RSA_PKCS1_SHA256))
    request = ocsp.parse_request(_ca_request(pki, 0xABCDEF, os.urandom(32)))
    (cert,) = request.certs
    status = ocsp.revoked(NOW - timedelta(days=1), 1)
    der = responder.sign(
        [ocsp.SingleAnswer(cert.der, status, NOW, NOW + timedelta(days=1))], NOW, request.nonce_extension
    )
    parsed = ocsp.read_response(der)
    assert parsed.status is ocsp.ResponseStatus.SUCCESSFUL and parsed.nonce_extension == request.nonce_extension
    assert parsed.responder_key_hash == key_identifier(pki.ca_key.public_key)
    assert parsed.produced_at == NOW.replace(microsecond=0)
    (single,) = parsed.singles
    assert single.cert_id_der == cert.der and single.status == status
    basic = asn1_ocsp.OCSPResponse.load(der, strict=True).basic_ocsp_response
    PublicKey(pki.ca_key.public_key.spki_der).verify(basic["signature"].native, basic["tbs_response_data"].dump())


# --- the outside checker: openssl ocsp -------------------------------------------------------------------------


def _ca_request(pki: Pki, serial: int, nonce: bytes | None, hash_name: str = "sha1") -> bytes:
    """A request for `serial` under the test CA, built by asn1crypto with the CA's real hashes."""
    ca = x509.Certificate.load(pki.ca_der)
    cert_id: dict[str, object] = {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_name, "parameters": core.Null()}),
        "issuer_name_hash": hashlib.new(hash_name, ca.subject.dump()).digest(),
        "issuer_key_hash": hashlib.new(hash_name, ca.public_key["public_key"].contents[1:]).digest(),
        "serial_number": serial,
    }
    tbs: dict[str, object] = {"request_list": [{"req_cert": cert_id}]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": core.OctetString(nonce)}]
    return bytes(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def _openssl_ocsp(tmp_path: Path, ca_der: bytes, request: bytes, response: bytes, *args: str) -> str:
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", ca_der))
    (tmp_path / "req.der").write_bytes(request)
    (tmp_path / "resp.der").write_bytes(response)
    result = subprocess.run(
        ["openssl", "ocsp", "-reqin", str(tmp_path / "req.der"), "-respin", str(tmp_path / "resp.der"),
         "-CAfile", str(tmp_path / "ca.pem"), "-issuer", str(tmp_path / "ca.pem"), "-resp_text", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return result.stdout + result.stderr


def _answer(pki: Pki, responder: ocsp.Responder, request_der: bytes, status: ocsp.CertStatus) -> bytes:
    request = ocsp.parse_request(request_der)
    assert ocsp._parse_common(request_der) == request  # the fast reader read it
    answers = [ocsp.SingleAnswer(c.der, status, NOW, NOW + timedelta(hours=24)) for c in request.certs]
    return responder.sign(answers, datetime.now(UTC), request.nonce_extension)


@pytest.mark.parametrize("delegated", [False, True], ids=["ca-key", "delegated"])
def test_openssl_verifies_responses_to_parsed_requests(pki: Pki, tmp_path: Path, delegated: bool) -> None:
    if delegated:
        signer = SoftwareSigner("responder", pki.responder_key, SignatureScheme.ECDSA_SHA256)
        responder = ocsp.Responder(signer, pki.responder_der)
    else:
        responder = ocsp.Responder(SoftwareSigner("ca", pki.ca_key, SignatureScheme.RSA_PKCS1_SHA256))
    cases = [
        (0x1234ABCD, os.urandom(16), "sha1", ocsp.GOOD, "Cert Status: good"),
        ((1 << 159) | 9, os.urandom(32), "sha256", ocsp.revoked(NOW - timedelta(days=2), 1), "Reason: keyCompromise"),
        (0x42, os.urandom(128), "sha1", ocsp.revoked(NOW - timedelta(days=2), None), "Cert Status: revoked"),
        (0x43, None, "sha256", ocsp.UNKNOWN, "Cert Status: unknown"),
    ]
    for serial, nonce, hash_name, status, expected in cases:
        request = _ca_request(pki, serial, nonce, hash_name)
        response = _answer(pki, responder, request, status)
        text = _openssl_ocsp(tmp_path, pki.ca_der, request, response)
        assert "Response verify OK" in text, text
        assert expected in text and f"Serial Number: {serial:X}" in text, text
        assert "Nonce Verify error" not in text and "WARNING: no nonce" not in text, text
        assert ("OCSP Nonce:" in text) == (nonce is not None), text
        if nonce is not None:  # printed as 04 LL <nonce>, hex in lines that end in '\\'
            assert nonce.hex().upper() in "".join(text.split()).replace("\\", "").upper(), text
        assert f"Responder Id: {responder.key_hash.hex().upper()}" in text, text


def test_openssl_rejects_tampered_responses(pki: Pki, tmp_path: Path) -> None:
    responder = ocsp.Responder(SoftwareSigner("ca", pki.ca_key, SignatureScheme.RSA_PKCS1_SHA256))
    request = _ca_request(pki, 0x77, os.urandom(16))
    response = _answer(pki, responder, request, ocsp.GOOD)
    assert "Response verify OK" in _openssl_ocsp(tmp_path, pki.ca_der, request, response)
    tampered = bytearray(response)
    tampered[-5] ^= 0x01  # inside the signature
    text = _openssl_ocsp(tmp_path, pki.ca_der, request, bytes(tampered))
    assert "Response Verify Failure" in text and "Response verify OK" not in text, text
    other = _ca_request(pki, 0x77, os.urandom(16))  # the same certificate, another nonce
    text = _openssl_ocsp(tmp_path, pki.ca_der, other, response)
    assert "Nonce Verify error" in text, text
    stranger = PrivateKey.generate(KeyAlgorithm.P256)
    wrong = ocsp.Responder(SoftwareSigner("x", stranger, SignatureScheme.ECDSA_SHA256))
    text = _openssl_ocsp(tmp_path, pki.ca_der, request, _answer(pki, wrong, request, ocsp.GOOD))
    assert "Response Verify Failure" in text and "Response verify OK" not in text, text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1950, 1, 1), timezones=st.just(UTC)), min_size=1, max_size=6))
def test_generalized_time_from_memory_is_asn1cryptos(moments: list[datetime]) -> None:
    """The last two datetime objects are remembered by identity (a batch of OCSP answers shares two): asked again,
    in any order and among others, each still gets its own GeneralizedTime."""
    for moment in moments + moments[::-1] + moments:
        expected = core.GeneralizedTime(moment.replace(microsecond=0)).dump()
        assert generalized_time(moment) == expected
        assert generalized_time(moment) == expected
