"""OCSP service on SQLite and PostgreSQL: statuses, the pre-produced cache never contradicting the certificates
table, delegation, refresh; and the strict request parser.  Responses are read back with asn1crypto."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from asn1crypto import algos, core, ocsp, x509
from sqlalchemy import text

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PublicKey
from certseal.pki import ocsp as pki_ocsp
from certseal.services.ca import CaService, RevocationReason
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from certseal.store.models import OcspResponse
from tests.conftest import ACTOR


def _request(
    ca_der: bytes, serials: list[int], nonce: bytes | None = None, hash_name: str = "sha1", params: bool = True
) -> bytes:
    """An OCSPRequest built with asn1crypto (not with the code under test)."""
    ca = x509.Certificate.load(ca_der)
    name_hash = hashlib.new(hash_name, ca.subject.dump()).digest()
    key_hash = hashlib.new(hash_name, ca.public_key["public_key"].contents[1:]).digest()
    algorithm = {"algorithm": hash_name, "parameters": core.Null()} if params else {"algorithm": hash_name}
    tbs: dict[str, object] = {
        "request_list": [
            {
                "req_cert": {
                    "hash_algorithm": algos.DigestAlgorithm(algorithm),
                    "issuer_name_hash": name_hash,
                    "issuer_key_hash": key_hash,
                    "serial_number": serial,
                }
            }
            for serial in serials
        ]
    }
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": core.OctetString(nonce)}]
    return bytes(ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def _statuses(der: bytes) -> list[tuple[str, object]]:
    response = ocsp.OCSPResponse.load(der)
    assert response["response_status"].native == "successful"
    singles = response.basic_ocsp_response["tbs_response_data"]["responses"]
    result: list[tuple[str, object]] = []
    for single in singles:
        status = single["cert_status"]
        reason = status.chosen["revocation_reason"].native if status.name == "revoked" else None
        result.append((status.name, reason))
    return result


def _verify(der: bytes, signer_cert_der: bytes) -> None:
    basic = ocsp.OCSPResponse.load(der).basic_ocsp_response
    signature = basic["signature"].native
    PublicKey(x509.Certificate.load(signer_cert_der).public_key.dump()).verify(
        signature, basic["tbs_response_data"].dump()
    )


@pytest.fixture
def pki(platform: Platform) -> tuple[CaService, OcspService, bytes, list[str]]:
    cas = CaService(platform)
    ca = cas.create_ca("ocsp-ca", KeyAlgorithm.P256, ACTOR)
    serials = [
        cas.issue("ocsp-ca", "person", ACTOR, subject=f"CN=P{i}", generate=KeyAlgorithm.P256).serial for i in range(3)
    ]
    return cas, OcspService(platform), ca.certificate_der, serials


def test_cache_never_reports_a_revoked_certificate_as_good(
    platform: Platform, pki: tuple[CaService, OcspService, bytes, list[str]]
) -> None:
    cas, service, ca_der, serials = pki
    report = service.refresh_all("ocsp-ca")
    assert (report.certificates, report.produced) == (3, 3)
    assert service.refresh_all("ocsp-ca").produced == 0  # idempotent
    request = _request(ca_der, [int(serials[0], 16)])
    first = service.answer("ocsp-ca", request)
    assert first.cacheable and _statuses(first.der) == [("good", None)]
    assert service.respond("ocsp-ca", request) == first.der  # served from the cache
    _verify(first.der, ca_der)

    cas.revoke(serials[0], RevocationReason.KEY_COMPROMISE, ACTOR)
    # the in-process copy, the stored row and a second service (another worker) all see the revocation
    assert _statuses(service.respond("ocsp-ca", request)) == [("revoked", "key_compromise")]
    other_worker = Platform(platform.settings)
    try:
        assert _statuses(OcspService(other_worker).respond("ocsp-ca", request)) == [("revoked", "key_compromise")]
    finally:
        other_worker.close()
    with platform.db.reading() as session:
        stored = session.get(OcspResponse, serials[0])
        assert stored is not None and _statuses(stored.response_der) == [("revoked", "key_compromise")]

    # a stale "good" row written behind the service's back (e.g. a racing refresh) is not served either
    with platform.db.transaction() as session:
        row = session.get(OcspResponse, serials[0])
        assert row is not None
        row.response_der = first.der
    fresh_process = Platform(platform.settings)
    try:
        assert _statuses(OcspService(fresh_process).respond("ocsp-ca", request)) == [("revoked", "key_compromise")]
    finally:
        fresh_process.close()

    # hold and release
    hold_request = _request(ca_der, [int(serials[1], 16)])
    assert _statuses(service.respond("ocsp-ca", hold_request)) == [("good", None)]
    cas.revoke(serials[1], RevocationReason.CERTIFICATE_HOLD, ACTOR)
    assert _statuses(service.respond("ocsp-ca", hold_request)) == [("revoked", "certificate_hold")]
    cas.release_hold(serials[1], ACTOR)
    assert _statuses(service.respond("ocsp-ca", hold_request)) == [("good", None)]
    assert service.refresh_all("ocsp-ca").produced == 0  # the read path already re-produced what changed


def test_nonce_multi_cert_unknown_and_sha256_cert_ids(pki: tuple[CaService, OcspService, bytes, list[str]]) -> None:
    cas, service, ca_der, serials = pki
    cas.revoke(serials[2], RevocationReason.UNSPECIFIED, ACTOR)
    nonce = os.urandom(16)
    answer = service.answer("ocsp-ca", _request(ca_der, [int(s, 16) for s in serials] + [12345], nonce))
    assert not answer.cacheable
    assert _statuses(answer.der) == [("good", None), ("good", None), ("revoked", None), ("unknown", None)]
    response = ocsp.OCSPResponse.load(answer.der)
    assert response.nonce_value.native == nonce
    _verify(answer.der, ca_der)
    for hash_name in ("sha256", "sha512", "sm3"):
        for params in (True, False):
            request = _request(ca_der, [int(serials[0], 16)], hash_name=hash_name, params=params)
            der = service.respond("ocsp-ca", request)
            assert _statuses(der) == [("good", None)]
            single = ocsp.OCSPResponse.load(der).basic_ocsp_response["tbs_response_data"]["responses"][0]
            assert (
                single["cert_id"].dump()
                == ocsp.OCSPRequest.load(request)["tbs_request"]["request_list"][0]["req_cert"].dump()
            )


def test_errors_unauthorized_and_malformed(
    platform: Platform, pki: tuple[CaService, OcspService, bytes, list[str]]
) -> None:
    cas, service, ca_der, serials = pki
    other = cas.create_ca("other-ca", KeyAlgorithm.P256, ACTOR)
    unauthorized = service.respond("ocsp-ca", _request(other.certificate_der, [int(serials[0], 16)]))
    assert ocsp.OCSPResponse.load(unauthorized)["response_status"].native == "unauthorized"
    good = _request(ca_der, [int(serials[0], 16)])
    for bad in (b"", b"\x30\x80\x00\x00", good + b"\x00", good[:-1], b"\x30\x03\x30\x01\x00"):
        der = service.respond("ocsp-ca", bad)
        assert ocsp.OCSPResponse.load(der)["response_status"].native == "malformed_request"
        assert der == bytes.fromhex("30030a0101")
    with pytest.raises(Exception, match="no CA named"):
        service.respond("nope", good)


def test_delegated_responder_and_fallback(
    platform: Platform, pki: tuple[CaService, OcspService, bytes, list[str]]
) -> None:
    cas, service, ca_der, serials = pki
    request = _request(ca_der, [int(serials[0], 16)])
    by_ca = service.respond("ocsp-ca", request)
    info = service.delegate("ocsp-ca", ACTOR, KeyAlgorithm.RSA2048)
    assert info.delegated and info.certificate_der is not None and info.algorithm == "rsa2048"
    delegated = service.respond("ocsp-ca", request)
    basic = ocsp.OCSPResponse.load(delegated).basic_ocsp_response
    assert [c.dump() for c in basic["certs"]] == [info.certificate_der]
    assert basic["signature_algorithm"].signature_algo == "rsassa_pkcs1v15"
    _verify(delegated, info.certificate_der)
    assert delegated != by_ca  # the CA-signed cached response was replaced
    with platform.db.reading() as session:
        audited = session.execute(text("SELECT count(*) FROM audit_events WHERE entity = 'ocsp_responder'")).scalar()
    assert audited == 1
    assert info.serial is not None
    cas.revoke(info.serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    assert not service.responder_info("ocsp-ca").delegated  # falls back to the CA key
    fallback = service.respond("ocsp-ca", request)
    _verify(fallback, ca_der)
    assert len(ocsp.OCSPResponse.load(fallback).basic_ocsp_response["certs"]) == 0


def test_responses_near_next_update_are_produced_again(platform: Platform) -> None:
    cas = CaService(platform)
    ca = cas.create_ca("short-ca", KeyAlgorithm.SM2, ACTOR)
    serial = cas.issue("short-ca", "person", ACTOR, subject="CN=S", generate=KeyAlgorithm.SM2).serial
    request = _request(ca.certificate_der, [int(serial, 16)])
    first = OcspService(platform).respond("short-ca", request)
    assert OcspService(platform).respond("short-ca", request) == first
    assert OcspService(platform).refresh_all("short-ca").produced == 0
    # responses valid for an hour, re-produced when less than 25 hours are left: always due
    due = OcspService(platform, validity=timedelta(hours=1), refresh_before=timedelta(hours=25))
    second = due.respond("short-ca", request)
    assert second != first and _statuses(second) == [("good", None)]
    assert due.refresh_all("short-ca").produced == 1
    next_update = ocsp.OCSPResponse.load(second).basic_ocsp_response["tbs_response_data"]["responses"][0]["next_update"]
    this_update = ocsp.OCSPResponse.load(second).basic_ocsp_response["tbs_response_data"]["responses"][0]["this_update"]
    assert next_update.native - this_update.native == timedelta(hours=1)


def _tlv(tag: int, content: bytes) -> bytes:
    assert len(content) < 128
    return bytes((tag, len(content))) + content


def _raw_request(
    serial: bytes = b"\x01\xf4", params: bytes = b"\x05\x00", hash_oid: bytes = b"\x2b\x0e\x03\x02\x1a"
) -> bytes:
    cert_id = _tlv(
        0x30,
        _tlv(0x30, _tlv(0x06, hash_oid) + params)
        + _tlv(0x04, b"\x11" * 20)
        + _tlv(0x04, b"\x22" * 20)
        + _tlv(0x02, serial),
    )
    return _tlv(0x30, _tlv(0x30, _tlv(0x30, _tlv(0x30, cert_id))))


def test_parser_is_strict() -> None:
    good = _raw_request()
    parsed = pki_ocsp.parse_request(good)
    assert parsed.certs[0].serial == 500 and parsed.nonce_extension is None
    assert parsed.certs[0].hash_algorithm.name == "sha1"
    assert parsed.certs[0].der == good[8:]
    assert pki_ocsp.parse_request(_raw_request(params=b"")).certs[0].serial == 500
    bad = [
        good + b"\x00",  # trailing bytes
        b"\x30\x80" + good[2:] + b"\x00\x00",  # indefinite length
        b"\x30\x81" + good[1:],  # length not minimal
        bytes.fromhex("300430023000"),  # empty requestList
        _raw_request(serial=b"\x00\x01\xf4"),  # INTEGER not minimal
        _raw_request(serial=b""),  # empty INTEGER
        _raw_request(hash_oid=b"\x2b\x0e\x03\x02\x1b"),  # unknown hash algorithm
        _raw_request(params=b"\x01\x01\x00"),  # parameters neither absent nor NULL
        good[:-1],  # truncated
    ]
    for der in bad:
        with pytest.raises(pki_ocsp.MalformedRequest):
            pki_ocsp.parse_request(der)
