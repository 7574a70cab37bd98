"""OcspService.answer_many (the requests of one event-loop turn, read first and signed one after another): each
answer is what `answer` gives for the same request, in the same order; signed answers checked by `openssl ocsp`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asn1crypto import ocsp, pem

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ca import CaService, RevocationReason
from certseal.services.ocsp import OcspService
from certseal.services.platform import Platform
from tests.conftest import ACTOR
from tests.integration.test_ocsp import _request, _statuses


def _openssl_verifies(tmp_path: Path, ca_der: bytes, response: bytes) -> bool:
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", ca_der))
    (tmp_path / "resp.der").write_bytes(response)
    result = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp_path / "resp.der"), "-issuer", str(tmp_path / "ca.pem"),
         "-CAfile", str(tmp_path / "ca.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return "Response verify OK" in result.stdout + result.stderr


def _nonce(response: bytes) -> bytes | None:
    data = ocsp.OCSPResponse.load(response).basic_ocsp_response["tbs_response_data"]
    for extension in data["response_extensions"]:
        if extension["extn_id"].native == "nonce":
            return bytes(extension["extn_value"].parsed.native)
    return None


def test_answer_many_answers_each_as_answer_does(platform: Platform, tmp_path: Path) -> None:
    cas = CaService(platform)
    ca = cas.create_ca("batch-ca", KeyAlgorithm.P256, ACTOR)
    other = cas.create_ca("other-ca", KeyAlgorithm.P256, ACTOR)
    issued = [cas.issue("batch-ca", "person", ACTOR, subject=f"CN=B{i}", generate=KeyAlgorithm.P256) for i in range(2)]
    cas.revoke(issued[1].serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    serials = [int(leaf.serial, 16) for leaf in issued]
    service = OcspService(platform)
    requests = [
        ("batch-ca", _request(ca.certificate_der, [serials[0]], nonce=b"first nonce")),
        ("no-such-ca", _request(ca.certificate_der, [serials[0]], nonce=b"x")),
        ("batch-ca", b"\x30\x03garbage"),
        ("batch-ca", _request(ca.certificate_der, [serials[1]])),  # no nonce: the pre-produced response
        ("batch-ca", _request(other.certificate_der, [1], nonce=b"y")),  # another CA's certificate
        ("batch-ca", _request(ca.certificate_der, [serials[1], 0x1234, serials[0]], nonce=b"several")),
    ]
    answers = service.answer_many(requests)
    assert answers[1] is None  # the URL names no CA: HTTP 404
    assert answers[2] is not None and answers[2].status.name == "MALFORMED_REQUEST"
    assert answers[4] is not None and answers[4].status.name == "UNAUTHORIZED"
    first, plain, several = answers[0], answers[3], answers[5]
    assert first is not None and plain is not None and several is not None
    assert _statuses(first.der) == [("good", None)] and _nonce(first.der) == b"first nonce" and not first.cacheable
    assert _statuses(plain.der) == [("revoked", "key_compromise")] and plain.cacheable
    assert plain.der == service.answer("batch-ca", requests[3][1]).der  # the same stored bytes
    assert _statuses(several.der) == [("revoked", "key_compromise"), ("unknown", None), ("good", None)]
    assert _nonce(several.der) == b"several"
    for answer in (first, plain, several):
        assert _openssl_verifies(tmp_path, ca.certificate_der, answer.der)
    tampered = bytearray(first.der)
    tampered[-10] ^= 0x01
    assert not _openssl_verifies(tmp_path, ca.certificate_der, bytes(tampered))
    assert not _openssl_verifies(tmp_path, other.certificate_der, first.der)
    assert service.answer_many([]) == []


class _FailingSigner:
    """Stands for a token that stops answering (an HSM unplugged): every signature raises."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def sign(self, data: bytes) -> bytes:
        raise RuntimeError("token removed")


def test_a_failing_signer_fails_its_own_answers_only(platform: Platform, tmp_path: Path) -> None:
    """The batch builds every ResponseData, then signs them one after another: a signer that raises gives
    internalError to its requests, and the others in the same batch are signed and verify."""
    cas = CaService(platform)
    good_ca = cas.create_ca("good-ca", KeyAlgorithm.P256, ACTOR)
    broken_ca = cas.create_ca("broken-ca", KeyAlgorithm.P256, ACTOR)
    good_leaf = int(cas.issue("good-ca", "person", ACTOR, subject="CN=G", generate=KeyAlgorithm.P256).serial, 16)
    broken_leaf = int(cas.issue("broken-ca", "person", ACTOR, subject="CN=X", generate=KeyAlgorithm.P256).serial, 16)
    service = OcspService(platform)
    good = ("good-ca", _request(good_ca.certificate_der, [good_leaf], nonce=b"good"))
    broken = ("broken-ca", _request(broken_ca.certificate_der, [broken_leaf], nonce=b"broken"))
    service.answer_many([good, broken])  # loads both responders
    responder = service._state.responders["broken-ca"].responder
    responder.signer = _FailingSigner(responder.signer)  # type: ignore[assignment]
    answers = service.answer_many([good, broken, good])
    assert [a.status.name if a else None for a in answers] == ["SUCCESSFUL", "INTERNAL_ERROR", "SUCCESSFUL"]
    for answer in (answers[0], answers[2]):
        assert answer is not None and _statuses(answer.der) == [("good", None)] and _nonce(answer.der) == b"good"
        assert _openssl_verifies(tmp_path, good_ca.certificate_der, answer.der)
    assert answers[1] is not None and ocsp.OCSPResponse.load(answers[1].der)["response_status"].native == (
        "internal_error"
    )
