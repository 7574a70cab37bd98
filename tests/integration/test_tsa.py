"""TsaService over SQLite and PostgreSQL, and POST /tsa through the FastAPI app."""

from __future__ import annotations

import hashlib

import pytest
from asn1crypto import cms, core, tsp, x509
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki import tsa as pki_tsa
from certseal.pki.tsa import TSA_POLICY_OID, build_request
from certseal.services import tsa as tsa_service
from certseal.services.ca import CaService, RevocationReason
from certseal.services.platform import Platform
from certseal.services.tsa import TsaNotConfigured, TsaService
from certseal.store.models import TimestampRecord
from certseal.web.app import create_app
from tests.conftest import ACTOR

DATA = b"a prescription to be timestamped\n"


def _setup(platform: Platform, alg: KeyAlgorithm = KeyAlgorithm.P256) -> TsaService:
    CaService(platform).create_ca("root", alg, ACTOR)
    service = TsaService(platform)
    service.setup("root", alg, ACTOR)
    return service


def _response(der: bytes) -> tsp.TimeStampResp:
    response = tsp.TimeStampResp.load(der)
    assert response.dump(force=True) == der, "the response is not canonical DER"
    return response


def _failure(der: bytes) -> tuple[str, set[str]]:
    outer = core.Sequence.load(der)  # asn1crypto's TimeStampResp wrongly requires a token
    assert len(outer) == 1 and outer.dump(force=True) == der
    status = tsp.PKIStatusInfo.load(outer[0].dump())
    assert status.dump(force=True) == outer[0].dump()
    assert status["status"].native == "rejection" and status["status_string"].native
    return status["status"].native, set(status["fail_info"].native)


def _signed_data(response: tsp.TimeStampResp) -> cms.SignedData:
    assert response["status"]["status"].native == "granted"
    token = response["time_stamp_token"]
    assert token["content_type"].dotted == "1.2.840.113549.1.7.2"
    return token["content"]


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.SM2])
def test_setup_and_stamp(platform: Platform, alg: KeyAlgorithm) -> None:
    service = _setup(platform, alg)
    info = service.active()
    assert info.algorithm is alg and info.chain == [CaService(platform).get_ca("root").certificate_der]
    certificate = x509.Certificate.load(info.certificate_der)
    assert certificate.extended_key_usage_value.native == ["time_stamping"]
    assert certificate.critical_extensions >= {"extended_key_usage"}

    hash_name = "sm3" if alg is KeyAlgorithm.SM2 else "sha256"
    signed = _signed_data(_response(service.stamp(build_request(DATA, hash_name, nonce=2**70 + 5))))
    tst = signed["encap_content_info"]["content"].parsed
    assert signed["encap_content_info"]["content_type"].native == "tst_info"
    assert tst["version"].native == "v1" and tst["policy"].dotted == TSA_POLICY_OID
    assert tst["message_imprint"]["hashed_message"].native == pki_tsa.digest(hash_name, DATA)
    assert tst["nonce"].native == 2**70 + 5 and tst["ordering"].native is False
    assert tst["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert tst["tsa"].chosen == certificate.subject
    assert [c.chosen.dump() for c in signed["certificates"]] == [info.certificate_der]
    signer_info = signed["signer_infos"][0]
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert set(attributes) == {"content_type", "message_digest", "signing_time", "signing_certificate_v2"}
    cert_id = attributes["signing_certificate_v2"]["certs"][0]
    assert cert_id["cert_hash"].native == hashlib.sha256(info.certificate_der).digest()
    assert cert_id["issuer_serial"]["serial_number"].native == certificate.serial_number
    expected_digest = "sm3" if alg is KeyAlgorithm.SM2 else "sha256"
    assert signer_info["digest_algorithm"]["algorithm"].native == expected_digest
    assert attributes["message_digest"].native == pki_tsa.digest(
        expected_digest, signed["encap_content_info"]["content"].contents
    )

    with platform.db.reading() as session:
        rows = session.scalars(select(TimestampRecord)).all()
    assert len(rows) == 1 and rows[0].tsa == "default"
    assert rows[0].message_imprint == f"{hash_name}:{pki_tsa.digest(hash_name, DATA).hex()}"
    assert int(rows[0].serial, 16) == tst["serial_number"].native
    assert rows[0].gen_time == tst["gen_time"].native and rows[0].created_by == "tsa"


def test_no_certificate_without_cert_req_and_no_nonce(platform: Platform) -> None:
    service = _setup(platform)
    signed = _signed_data(_response(service.stamp(build_request(DATA, "sha512", cert_req=False))))
    tst = signed["encap_content_info"]["content"].parsed
    assert signed["certificates"].native is None and tst["nonce"].native is None


def test_200_serials_are_unique_and_recorded(platform: Platform) -> None:
    service = _setup(platform)
    request = build_request(DATA, nonce=7)
    serials = set()
    for _ in range(200):
        signed = _signed_data(tsp.TimeStampResp.load(service.stamp(request)))
        serials.add(signed["encap_content_info"]["content"].parsed["serial_number"].native)
    with platform.db.reading() as session:
        stored = set(session.scalars(select(TimestampRecord.serial)))
        assert session.scalar(select(func.count()).select_from(TimestampRecord)) == 200
    assert len(serials) == 200 and {int(s, 16) for s in stored} == serials


def test_a_serial_collision_draws_another(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    service = _setup(platform)
    service.stamp(build_request(DATA))
    with platform.db.reading() as session:
        taken = int(session.scalars(select(TimestampRecord.serial)).one(), 16)
    draws = iter([[taken], [taken], [12345]])
    monkeypatch.setattr(tsa_service, "token_serials", lambda count: next(draws))
    signed = _signed_data(_response(service.stamp(build_request(DATA))))
    assert signed["encap_content_info"]["content"].parsed["serial_number"].native == 12345


def test_rejections(platform: Platform) -> None:
    service = _setup(platform)
    sha1 = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha1"}, "hashed_message": b"\1" * 20},
        }
    ).dump()
    assert _failure(service.stamp(sha1)) == ("rejection", {"bad_alg"})
    short = tsp.TimeStampReq(
        {"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\1" * 20}}
    ).dump()
    assert _failure(service.stamp(short)) == ("rejection", {"bad_data_format"})
    assert _failure(service.stamp(build_request(DATA, policy="1.2.3.4"))) == ("rejection", {"unaccepted_policy"})
    assert _failure(service.stamp(b"garbage")) == ("rejection", {"bad_data_format"})
    assert _failure(service.stamp(b"")) == ("rejection", {"bad_data_format"})
    assert _failure(service.stamp(build_request(DATA) + b"\0")) == ("rejection", {"bad_data_format"})
    v2 = tsp.TimeStampReq.load(build_request(DATA)).copy()
    v2["version"] = 2
    assert _failure(service.stamp(v2.dump(force=True))) == ("rejection", {"bad_data_format"})
    with_extension = tsp.TimeStampReq.load(build_request(DATA)).copy()
    with_extension["extensions"] = [{"extn_id": "1.2.3.4", "extn_value": b"x"}]
    assert _failure(service.stamp(with_extension.dump(force=True))) == ("rejection", {"unaccepted_extensions"})
    granted = _signed_data(_response(service.stamp(build_request(DATA, policy=TSA_POLICY_OID))))
    assert granted["encap_content_info"]["content"].parsed["policy"].dotted == TSA_POLICY_OID
    with platform.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(TimestampRecord)) == 1


def test_no_tsa_and_revoked_tsa(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TsaNotConfigured, match="certseal tsa setup"):
        TsaService(platform).stamp(build_request(DATA))
    service = _setup(platform)
    service.stamp(build_request(DATA))
    CaService(platform).revoke(service.active().serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    monkeypatch.setattr(tsa_service, "RELOAD_SECONDS", 0.0)
    with pytest.raises(TsaNotConfigured):
        service.stamp(build_request(DATA))


def test_setup_again_replaces_the_key(platform: Platform) -> None:
    service = _setup(platform, KeyAlgorithm.RSA2048)
    first = service.active()
    service.stamp(build_request(DATA))
    CaService(platform).create_ca("sm2-root", KeyAlgorithm.SM2, ACTOR)
    second = TsaService(platform).setup("sm2-root", KeyAlgorithm.SM2, ACTOR)
    assert second.serial != first.serial and service.active().algorithm is KeyAlgorithm.SM2
    signed = _signed_data(_response(service.stamp(build_request(DATA, "sm3"))))
    assert signed["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    other = TsaService(platform, "other")
    with pytest.raises(TsaNotConfigured, match="'other'"):
        other.active()


def test_http_endpoint(platform: Platform) -> None:
    client = TestClient(create_app(platform))
    request = build_request(DATA, nonce=99)
    query = {"Content-Type": "application/timestamp-query"}
    unconfigured = client.post("/tsa", content=request, headers=query)
    assert unconfigured.status_code == 503 and "certseal tsa setup" in unconfigured.json()["error"]
    _setup(platform)
    wrong_type = client.post("/tsa", content=request, headers={"Content-Type": "application/octet-stream"})
    assert wrong_type.status_code == 415 and "application/timestamp-query" in wrong_type.json()["error"]
    assert client.post("/tsa", content=request).status_code == 415
    granted = client.post("/tsa", content=request, headers=query)
    assert granted.status_code == 200 and granted.headers["content-type"] == "application/timestamp-reply"
    assert _signed_data(_response(granted.content))["encap_content_info"]["content"].parsed["nonce"].native == 99
    garbage = client.post("/tsa", content=b"\x30\x82\xff\xff garbage", headers=query)
    assert garbage.status_code == 200 and _failure(garbage.content) == ("rejection", {"bad_data_format"})


def test_policy_oid_comes_from_settings(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        make_settings(tsa_policy_oid="not an oid")
    platform = Platform(make_settings(f"sqlite:///{tmp_path / 'var' / 'policy.db'}", tsa_policy_oid="1.2.156.1.2.3"))
    platform.db.migrate()
    service = _setup(platform)
    granted = _signed_data(_response(service.stamp(build_request(hashlib.sha256(b"x").digest(), "sha256"))))
    assert granted["encap_content_info"]["content"].parsed["policy"].dotted == "1.2.156.1.2.3"
    other_policy = build_request(hashlib.sha256(b"x").digest(), "sha256", policy=TSA_POLICY_OID)
    assert _failure(service.stamp(other_policy))[1] == {"unaccepted_policy"}
    platform.close()
