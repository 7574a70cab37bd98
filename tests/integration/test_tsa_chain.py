"""A TSA certified by an intermediate CA: with certReq its tokens carry the intermediate (never the root), so
`openssl ts -verify -CAfile root.pem` accepts them without -untrusted; without certReq, or with the TSA certificate
alone, OpenSSL cannot build the chain."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import pem, tsp, x509
from fastapi.testclient import TestClient

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.pki.tsa import build_request
from certseal.services.ca import CaService
from certseal.services.pdf_sealing import AtPosition, PadesLevel, PdfSealingService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.signing.pdf.reader import PdfDocument
from certseal.signing.pdf.sealing import signatures
from certseal.web.app import create_app
from tests import pdfdocs
from tests.conftest import ACTOR
from tests.integration.test_pdf_sealing import assert_valid_seals, ensure_cas, make_seal

DATA = "处方 2024-017: amoxicillin 500 mg\n".encode()
QUERY = {"Content-Type": "application/timestamp-query"}


@dataclass
class Pki:
    platform: Platform
    root: bytes
    intermediate: bytes
    tsa: bytes
    client: TestClient

    def stamp(self, data: bytes = DATA, cert_req: bool = True, hash_name: str = "sha256") -> bytes:
        response = self.client.post("/tsa", content=build_request(data, hash_name, cert_req=cert_req), headers=QUERY)
        assert response.status_code == 200, response.text
        der = response.content
        assert tsp.TimeStampResp.load(der).dump(force=True) == der, "the response is not canonical DER"
        return der


def _pki(platform: Platform, alg: KeyAlgorithm) -> Pki:
    cas = CaService(platform)
    root = cas.create_ca("root", alg, ACTOR).certificate_der
    intermediate = cas.create_ca("issuing", alg, ACTOR, parent="root").certificate_der
    tsa = TsaService(platform).setup("issuing", alg, ACTOR).certificate_der
    return Pki(platform, root, intermediate, tsa, TestClient(create_app(platform)))


@pytest.fixture
def make_pki(make_settings: Callable[..., Settings]) -> Iterator[Callable[[KeyAlgorithm], Pki]]:
    platforms: list[Platform] = []

    def make(alg: KeyAlgorithm) -> Pki:
        platform = Platform(make_settings())
        platform.db.migrate()
        platforms.append(platform)
        return _pki(platform, alg)

    yield make
    for platform in platforms:
        platform.close()


def _certificates(response_der: bytes) -> list[bytes]:
    signed = tsp.TimeStampResp.load(response_der)["time_stamp_token"]["content"]
    return [choice.chosen.dump() for choice in signed["certificates"] or []]


def _openssl_verify(
    tmp_path: Path, reply: bytes, data: bytes, ca_file: bytes, *extra: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "resp.tsr").write_bytes(reply)
    (tmp_path / "data.txt").write_bytes(data)
    (tmp_path / "ca.pem").write_bytes(pem.armor("CERTIFICATE", ca_file))
    command = ["openssl", "ts", "-verify", "-in", "resp.tsr", "-data", "data.txt", "-CAfile", "ca.pem", *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256, KeyAlgorithm.SM2])
def test_the_token_carries_the_intermediate_not_the_root(
    make_pki: Callable[[KeyAlgorithm], Pki], alg: KeyAlgorithm
) -> None:
    pki = make_pki(alg)
    assert CaService(pki.platform).ca_chain("issuing") == [pki.intermediate, pki.root]
    reply = pki.stamp(hash_name="sm3" if alg is KeyAlgorithm.SM2 else "sha256")
    carried = _certificates(reply)
    assert sorted(carried) == carried, "a SET OF is in DER order"
    assert set(carried) == {pki.tsa, pki.intermediate} and len(carried) == 2
    assert pki.root not in carried
    tsa = x509.Certificate.load(pki.tsa)
    assert tsa.issuer == x509.Certificate.load(pki.intermediate).subject
    assert _certificates(pki.stamp(cert_req=False, hash_name="sm3" if alg is KeyAlgorithm.SM2 else "sha256")) == []


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_openssl_verifies_with_the_root_alone(
    make_pki: Callable[[KeyAlgorithm], Pki], alg: KeyAlgorithm, tmp_path: Path
) -> None:
    pki = make_pki(alg)
    reply = pki.stamp()
    accepted = _openssl_verify(tmp_path, reply, DATA, pki.root)
    assert accepted.returncode == 0 and "Verification: OK" in accepted.stdout, accepted.stderr

    tampered = _openssl_verify(tmp_path, reply, DATA + b"x", pki.root)
    assert tampered.returncode != 0 and "message imprint mismatch" in tampered.stderr
    other_root = CaService(pki.platform).create_ca("other", alg, ACTOR).certificate_der
    untrusted_root = _openssl_verify(tmp_path, reply, DATA, other_root)
    assert untrusted_root.returncode != 0 and "certificate verify error" in untrusted_root.stderr


def test_without_the_intermediate_openssl_cannot_build_the_chain(
    make_pki: Callable[[KeyAlgorithm], Pki], tmp_path: Path
) -> None:
    """What tokens looked like before: the TSA certificate alone (here given by -untrusted) is not enough."""
    pki = make_pki(KeyAlgorithm.P256)
    (tmp_path / "tsa.pem").write_bytes(pem.armor("CERTIFICATE", pki.tsa))
    bare = pki.stamp(cert_req=False)
    refused = _openssl_verify(tmp_path, bare, DATA, pki.root, "-untrusted", "tsa.pem")
    assert refused.returncode != 0 and "unable to get local issuer certificate" in refused.stderr
    (tmp_path / "chain.pem").write_bytes(pem.armor("CERTIFICATE", pki.tsa) + pem.armor("CERTIFICATE", pki.intermediate))
    with_chain = _openssl_verify(tmp_path, bare, DATA, pki.root, "-untrusted", "chain.pem")
    assert with_chain.returncode == 0 and "Verification: OK" in with_chain.stdout, with_chain.stderr


def test_a_tsa_under_the_root_carries_only_its_own_certificate(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    platform = Platform(make_settings())
    platform.db.migrate()
    try:
        root = CaService(platform).create_ca("root", KeyAlgorithm.P256, ACTOR).certificate_der
        tsa = TsaService(platform).setup("root", KeyAlgorithm.P256, ACTOR).certificate_der
        reply = TsaService(platform).stamp(build_request(DATA))
        assert _certificates(reply) == [tsa]
        accepted = _openssl_verify(tmp_path, reply, DATA, root)
        assert accepted.returncode == 0 and "Verification: OK" in accepted.stdout, accepted.stderr
    finally:
        platform.close()


def test_a_b_t_seal_from_a_tsa_under_an_intermediate_validates_offline(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """The PAdES B-T signature timestamp: OpenSSL checks the token against the root alone (no DSS, no -untrusted)."""
    platform = Platform(make_settings())
    platform.db.migrate()
    try:
        make_seal(platform)
        root, intermediate = ensure_cas(platform, KeyAlgorithm.RSA2048)
        TsaService(platform).setup(intermediate, KeyAlgorithm.RSA2048, ACTOR)
        sealed = (
            PdfSealingService(platform)
            .seal(pdfdocs.one_page(), "official", ACTOR, AtPosition(1, 300, 300), PadesLevel.B_T)
            .pdf
        )
        root_der = CaService(platform).get_ca(root).certificate_der
    finally:
        platform.close()
    assert_valid_seals(sealed, 1)
    (signature,) = signatures(PdfDocument(sealed))
    signer = asn1_cms.ContentInfo.load(signature.contents)["content"]["signer_infos"][0]
    (token,) = [a["values"][0] for a in signer["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    (tmp_path / "token.der").write_bytes(token.dump())
    (tmp_path / "root.pem").write_bytes(pem.armor("CERTIFICATE", root_der))
    imprint = hashlib.sha256(signer["signature"].native).hexdigest()
    command = ["openssl", "ts", "-verify", "-token_in", "-in", "token.der", "-CAfile", "root.pem", "-digest"]
    accepted = subprocess.run([*command, imprint], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert accepted.returncode == 0 and "Verification: OK" in accepted.stdout, accepted.stderr
    wrong = subprocess.run([*command, "00" * 32], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert wrong.returncode != 0 and "message imprint mismatch" in wrong.stderr
