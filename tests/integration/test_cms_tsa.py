"""CAdES-T: CMS signatures timestamped by certseal's own TSA (TsaService in-process, SQLite and PostgreSQL).

`openssl ts -verify -digest H(signature) -token_in` accepts the signatureTimeStampToken of RSA/ECDSA TSAs and
`openssl cms -verify` still accepts the timestamped signature; for an SM2 TSA, pyca/cryptography's SM3 recomputes
the imprint and gmalg (tests/sm2check.py) checks the token's signature.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, pem, tsp, x509
from cryptography.hazmat.primitives import hashes

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.services.ca import CaService
from certseal.services.platform import Platform
from certseal.services.tsa import TsaService
from certseal.signing.cms import (
    add_signature_timestamp,
    check_signer,
    parse,
    rfc3161_timestamper,
    sign,
    timestamp_imprint_matches,
)
from tests.conftest import ACTOR
from tests.sm2check import is_sm2_with_sm3, sm2_signature_valid
from tests.unit.test_cms import CONTENT, flip, pki_of


def _tsa(platform: Platform, algorithm: KeyAlgorithm) -> TsaService:
    CaService(platform).create_ca("root", algorithm, ACTOR)
    service = TsaService(platform)
    service.setup("root", algorithm, ACTOR)
    return service


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


def _pem(path: Path, *ders: bytes) -> Path:
    path.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in ders))
    return path


def _token_verified(tmp_path: Path, tsa: TsaService, token: bytes, digest_hex: str) -> bool:
    info = tsa.active()
    token_file = tmp_path / "token.der"
    token_file.write_bytes(token)
    result = _openssl(
        "ts", "-verify", "-digest", digest_hex, "-in", token_file, "-token_in",
        "-CAfile", _pem(tmp_path / "tsa-chain.pem", *info.chain),
        "-untrusted", _pem(tmp_path / "tsa.pem", info.certificate_der),
    )  # fmt: skip
    return result.returncode == 0 and "Verification: OK" in result.stdout


def _cms_verified(tmp_path: Path, cms_der: bytes, root: bytes) -> bool:
    (tmp_path / "signed.der").write_bytes(cms_der)
    (tmp_path / "content.bin").write_bytes(CONTENT)
    result = _openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "signed.der",
        "-content", tmp_path / "content.bin", "-CAfile", _pem(tmp_path / "root.pem", root), "-out", "/dev/null",
    )  # fmt: skip
    return result.returncode == 0


@pytest.mark.parametrize("tsa_algorithm", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_openssl_verifies_the_signature_timestamp(
    platform: Platform, tmp_path: Path, tsa_algorithm: KeyAlgorithm
) -> None:
    tsa = _tsa(platform, tsa_algorithm)
    p = pki_of("p256")
    der = sign(p.signer, CONTENT, chain=p.chain, timestamper=rfc3161_timestamper(tsa.stamp))
    view = parse(der).signers[0]
    [token] = view.timestamp_tokens
    assert timestamp_imprint_matches(view, token) and check_signer(view, content=CONTENT).valid

    imprint = hashlib.sha256(view.signature).hexdigest()
    assert _token_verified(tmp_path, tsa, token, imprint)
    assert not _token_verified(tmp_path, tsa, token, hashlib.sha256(flip(view.signature, 0)).hexdigest())
    assert _cms_verified(tmp_path, der, p.root), "the unsigned attribute must not disturb the signature"

    other = parse(sign(p.signer, CONTENT)).signers[0]
    assert not timestamp_imprint_matches(other, token)


def test_a_cades_b_signature_becomes_cades_t(platform: Platform, tmp_path: Path) -> None:
    tsa = _tsa(platform, KeyAlgorithm.RSA2048)
    p = pki_of("rsa2048")
    base = sign(p.signer, CONTENT, chain=p.chain, signing_time=None)
    stamped = add_signature_timestamp(base, rfc3161_timestamper(tsa.stamp))
    assert _cms_verified(tmp_path, stamped, p.root)
    view = parse(stamped).signers[0]
    assert view.signature == parse(base).signers[0].signature
    [token] = view.timestamp_tokens
    assert _token_verified(tmp_path, tsa, token, hashlib.sha256(view.signature).hexdigest())
    tst = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    assert tst["nonce"].native is not None and tst["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"


def test_sm2_signature_timestamp_checked_with_gmalg(platform: Platform) -> None:
    tsa = _tsa(platform, KeyAlgorithm.SM2)
    p = pki_of("sm2")
    view = parse(sign(p.signer, CONTENT, chain=p.chain, timestamper=rfc3161_timestamper(tsa.stamp))).signers[0]
    [token] = view.timestamp_tokens
    assert timestamp_imprint_matches(view, token) and check_signer(view, content=CONTENT).valid

    signed = cms.ContentInfo.load(token)["content"]
    tst = tsp.TSTInfo.load(signed["encap_content_info"]["content"].contents)
    sm3 = hashes.Hash(hashes.SM3())
    sm3.update(view.signature)
    assert tst["message_imprint"]["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert tst["message_imprint"]["hashed_message"].native == sm3.finalize()
    signer_info = signed["signer_infos"][0]
    assert is_sm2_with_sm3(signer_info["signature_algorithm"])
    tsa_certificate = x509.Certificate.load(tsa.active().certificate_der)
    signed_attributes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    assert sm2_signature_valid(tsa_certificate, signed_attributes, signer_info["signature"].native)

    other = parse(sign(p.signer, CONTENT)).signers[0]
    assert not timestamp_imprint_matches(other, token)
