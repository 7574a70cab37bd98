"""CmsSigningService end to end with registered seals and the in-process TSA; outside checkers judge the output:
`openssl cms -verify` (RSA, P-256: digest path, file path detached and attached), `openssl ts -verify` (the CAdES-T
signature timestamp, taken out of the unsigned attribute with asn1crypto) and gmalg through tests/sm2check.py (SM2
over the DER signed attributes, with the SM3 message digest recomputed by pyca/cryptography).

The helpers at the top (SealDeployment, openssl_cms_accepts, timestamp_token, …) are shared with the API and CLI
tests of CMS signing.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core, pem, x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, select

from certseal.config import Settings
from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import Forbidden, NotFound, ValidationError
from certseal.services.audit import Actor
from certseal.services.cms_signing import CmsLevel, CmsSigningService, parse_hex_digest
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent
from tests.conftest import ACTOR, TEST_AUDIT_KEY, TEST_KEK
from tests.integration.test_pdf_sealing import make_seal, setup_tsa
from tests.sm2check import is_sm2_with_sm3, sm2_signature_valid

CONTENT = b"drug-distribution license 2025-0042, renewal request\n" * 20
SEALS = {KeyAlgorithm.RSA2048: "rsa-seal", KeyAlgorithm.P256: "p256-seal", KeyAlgorithm.SM2: "sm2-seal"}
TSA_TOKEN_OID = "1.2.840.113549.1.9.16.2.14"


# --- shared helpers -----------------------------------------------------------------------------------------------


def run_openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


def openssl_cms_accepts(
    signature: bytes, root: Path, directory: Path, content: bytes | None = None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`openssl cms -verify -binary -inform DER -CAfile root [-content FILE]`; the caller reads returncode."""
    signed = directory / "check.p7s"
    signed.write_bytes(signature)
    args: list[str | Path] = ["cms", "-verify", "-binary", "-inform", "DER", "-in", signed, "-CAfile", root]
    args += ["-out", directory / "verified.bin", *extra]
    if content is not None:
        (directory / "content.bin").write_bytes(content)
        args += ["-content", directory / "content.bin"]
    return run_openssl(*args)


def signer_info(der: bytes) -> asn1_cms.SignerInfo:
    [info] = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"]
    return info


def timestamp_token(der: bytes) -> bytes:
    """The signatureTimeStampToken of the one SignerInfo, read with asn1crypto."""
    attributes = signer_info(der)["unsigned_attrs"]
    tokens: list[bytes] = [a["values"][0].dump() for a in attributes if a["type"].dotted == TSA_TOKEN_OID]
    assert len(tokens) == 1
    return tokens[0]


def openssl_ts_accepts(token: bytes, imprint: bytes, root: Path, directory: Path) -> bool:
    (directory / "token.der").write_bytes(token)
    result = run_openssl(
        "ts", "-verify", "-digest", imprint.hex(), "-in", directory / "token.der", "-token_in", "-CAfile", root
    )
    return result.returncode == 0 and "Verification: OK" in result.stdout


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def gmalg_accepts(der: bytes, certificate: bytes, content: bytes) -> bool:
    """gmalg: the SM2 signature over the DER signed attributes, whose message-digest must be SM3(content)."""
    info = signer_info(der)
    assert is_sm2_with_sm3(info["signature_algorithm"])
    signed_attributes = b"\x31" + info["signed_attrs"].dump()[1:]
    digests = [a["values"][0].native for a in info["signed_attrs"] if a["type"].native == "message_digest"]
    return digests == [sm3(content)] and sm2_signature_valid(
        x509.Certificate.load(certificate), signed_attributes, info["signature"].native
    )


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def sign_events(platform: Platform) -> list[dict[str, object]]:
    with platform.db.reading() as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "seal", AuditEvent.action == "sign_cms")
            .order_by(AuditEvent.seq)
        )
        return [{"actor": row.actor, "seal": row.entity_id, **json.loads(row.after or "{}")} for row in rows]


def event_count(platform: Platform) -> int:
    with platform.db.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@dataclass
class SealDeployment:
    """Three seals (RSA, P-256, SM2) usable by ACTOR, their roots as PEM files, and an RSA TSA."""

    platform: Platform
    directory: Path
    certificates: dict[str, bytes]
    roots: dict[str, Path]

    @property
    def service(self) -> CmsSigningService:
        return CmsSigningService(self.platform)


def seal_deployment(platform: Platform, directory: Path, users: tuple[str, ...] = (ACTOR.name,)) -> SealDeployment:
    certificates, roots = {}, {}
    for alg, name in SEALS.items():
        seal = make_seal(platform, alg, name, users=users)
        certificates[name] = seal.certificate
        roots[name] = directory / f"{name}-root.pem"
        roots[name].write_bytes(pem.armor("CERTIFICATE", seal.root))
    tsa_root = setup_tsa(platform, KeyAlgorithm.RSA2048)
    roots["tsa"] = directory / "tsa-root.pem"
    roots["tsa"].write_bytes(pem.armor("CERTIFICATE", tsa_root))
    return SealDeployment(platform, directory, certificates, roots)


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealDeployment]:
    """One deployment for the module (keys and CAs cost time): SQLite; the database test below runs on both."""
    directory = tmp_path_factory.mktemp("cms-signing")
    (directory / "var").mkdir()
    platform = Platform(Settings(home=directory / "var", kek=TEST_KEK, audit_key=TEST_AUDIT_KEY))
    platform.db.migrate()
    yield seal_deployment(platform, directory)
    platform.close()


# --- RSA and P-256: openssl cms -verify -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_digest_path_accepted_by_openssl(deployment: SealDeployment, tmp_path: Path, alg: KeyAlgorithm) -> None:
    seal = SEALS[alg]
    result = deployment.service.sign(seal, ACTOR, digest=hashlib.sha256(CONTENT).digest(), digest_algorithm="sha256")
    assert result.detached and result.level is CmsLevel.B and result.digest_algorithm == "sha256"
    root = deployment.roots[seal]
    checked = openssl_cms_accepts(result.der, root, tmp_path, CONTENT)
    assert checked.returncode == 0, checked.stderr
    assert openssl_cms_accepts(result.der, root, tmp_path, CONTENT.replace(b"0042", b"0043")).returncode != 0


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_file_path_detached_accepted_by_openssl(deployment: SealDeployment, tmp_path: Path, alg: KeyAlgorithm) -> None:
    seal = SEALS[alg]
    result = deployment.service.sign(seal, ACTOR, content=CONTENT)
    assert result.detached and result.message_digest == hashlib.sha256(CONTENT).digest()
    root = deployment.roots[seal]
    checked = openssl_cms_accepts(result.der, root, tmp_path, CONTENT)
    assert checked.returncode == 0, checked.stderr
    assert openssl_cms_accepts(result.der, root, tmp_path, CONTENT + b"\n").returncode != 0
    assert openssl_cms_accepts(result.der, deployment.roots["sm2-seal"], tmp_path, CONTENT).returncode != 0


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA2048, KeyAlgorithm.P256])
def test_file_path_attached_accepted_by_openssl(deployment: SealDeployment, tmp_path: Path, alg: KeyAlgorithm) -> None:
    seal = SEALS[alg]
    result = deployment.service.sign(seal, ACTOR, content=CONTENT, detached=False)
    assert not result.detached
    root = deployment.roots[seal]
    checked = openssl_cms_accepts(result.der, root, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert (tmp_path / "verified.bin").read_bytes() == CONTENT
    at = result.der.index(b"renewal")
    assert openssl_cms_accepts(flip(result.der, at), root, tmp_path).returncode != 0


def test_cades_b_attributes(deployment: SealDeployment) -> None:
    """CAdES-B as asn1crypto reads it: content-type, message-digest, signing-certificate-v2 naming our certificate."""
    result = deployment.service.sign("rsa-seal", ACTOR, content=CONTENT)
    attributes = {a["type"].native: a["values"][0] for a in signer_info(result.der)["signed_attrs"]}
    assert set(attributes) == {"content_type", "message_digest", "signing_certificate_v2", "signing_time"}
    [cert_id] = attributes["signing_certificate_v2"]["certs"]
    assert cert_id["cert_hash"].native == hashlib.sha256(deployment.certificates["rsa-seal"]).digest()
    assert isinstance(signer_info(result.der)["unsigned_attrs"], core.Void)  # CAdES-B: no timestamp


# --- SM2: gmalg -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["digest", "detached", "attached"])
def test_sm2_checked_by_gmalg(deployment: SealDeployment, path: str) -> None:
    certificate = deployment.certificates["sm2-seal"]
    if path == "digest":
        result = deployment.service.sign("sm2-seal", ACTOR, digest=sm3(CONTENT), digest_algorithm="sm3")
    else:
        result = deployment.service.sign("sm2-seal", ACTOR, content=CONTENT, detached=path == "detached")
    assert result.digest_algorithm == "sm3" and result.message_digest == sm3(CONTENT)
    info = asn1_cms.ContentInfo.load(result.der)
    assert info["content_type"].dotted == "1.2.156.10197.6.1.4.2.2"  # GB/T 35275 signedData
    encapsulated = info["content"]["encap_content_info"]
    assert (encapsulated["content"].native is None) is (path != "attached")
    assert gmalg_accepts(result.der, certificate, CONTENT)
    assert not gmalg_accepts(result.der, certificate, CONTENT[:-1])
    assert not gmalg_accepts(flip(result.der, len(result.der) - 3), certificate, CONTENT)
    _, _, root_sm2 = pem.unarmor(deployment.roots["sm2-seal"].read_bytes())
    assert not gmalg_accepts(result.der, root_sm2, CONTENT)  # another SM2 key


# --- CAdES-T: openssl ts -verify ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [KeyAlgorithm.P256, KeyAlgorithm.SM2])
def test_cades_t_timestamp_accepted_by_openssl_ts(
    deployment: SealDeployment, tmp_path: Path, alg: KeyAlgorithm
) -> None:
    seal = SEALS[alg]
    digest_of = sm3 if alg is KeyAlgorithm.SM2 else (lambda data: hashlib.sha256(data).digest())
    result = deployment.service.sign(seal, ACTOR, digest=digest_of(CONTENT), timestamp=True)
    assert result.level is CmsLevel.T
    token = timestamp_token(result.der)
    signature = signer_info(result.der)["signature"].native
    assert openssl_ts_accepts(token, digest_of(signature), deployment.roots["tsa"], tmp_path)
    assert not openssl_ts_accepts(token, digest_of(flip(signature, 5)), deployment.roots["tsa"], tmp_path)
    if alg is KeyAlgorithm.SM2:
        assert gmalg_accepts(result.der, deployment.certificates[seal], CONTENT)
    else:
        checked = openssl_cms_accepts(result.der, deployment.roots[seal], tmp_path, CONTENT)
        assert checked.returncode == 0, checked.stderr


# --- negatives: nothing is signed, nothing recorded -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("seal", "kwargs", "field", "words"),
    [
        ("rsa-seal", {"digest": b"\x01" * 31}, "digest", "32 bytes"),
        ("rsa-seal", {"digest": b"\x01" * 48, "digest_algorithm": "sha256"}, "digest", "got 48"),
        ("rsa-seal", {"digest": b"\x01" * 32, "digest_algorithm": "sm3"}, "digest_algorithm", "signs sha256"),
        ("sm2-seal", {"digest": b"\x01" * 32, "digest_algorithm": "sha256"}, "digest_algorithm", "SM2 seal"),
        ("sm2-seal", {"content": CONTENT, "digest_algorithm": "sha256"}, "digest_algorithm", "signs sm3"),
        ("rsa-seal", {"digest": b"\x01" * 64, "digest_algorithm": "sha512"}, "digest_algorithm", "sha256, sm3"),
        ("rsa-seal", {"digest": b"\x01" * 32, "content": CONTENT}, "input", "exactly one"),
        ("rsa-seal", {}, "input", "exactly one"),
        ("rsa-seal", {"digest": b"\x01" * 32, "detached": False}, "detached", "detached"),
    ],
)
def test_bad_input_is_refused_and_not_recorded(
    deployment: SealDeployment, seal: str, kwargs: dict[str, object], field: str, words: str
) -> None:
    before = event_count(deployment.platform)
    with pytest.raises(ValidationError) as raised:
        deployment.service.sign(seal, ACTOR, **kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field and words in raised.value.rule, raised.value.message
    assert event_count(deployment.platform) == before


def test_hex_digests() -> None:
    assert parse_hex_digest("AB:cd 01") == b"\xab\xcd\x01"
    with pytest.raises(ValidationError, match="digest: must be hex"):
        parse_hex_digest("xyz")
    with pytest.raises(ValidationError, match="at most 64 bytes"):
        parse_hex_digest("00" * 65)


def test_an_unknown_seal_is_not_found(deployment: SealDeployment) -> None:
    with pytest.raises(NotFound, match="no seal named 'nope'"):
        deployment.service.sign("nope", ACTOR, digest=hashlib.sha256(CONTENT).digest())


def test_an_actor_who_is_not_a_user_is_forbidden(deployment: SealDeployment) -> None:
    before = event_count(deployment.platform)
    with pytest.raises(Forbidden, match="mallory"):
        deployment.service.sign("rsa-seal", Actor("mallory", "pytest"), content=CONTENT)
    assert event_count(deployment.platform) == before


def test_timestamp_without_a_tsa_names_the_field_and_the_command(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    platform = Platform(make_settings())
    platform.db.migrate()
    try:
        make_seal(platform, KeyAlgorithm.P256, "p256-seal")
        with pytest.raises(ValidationError) as raised:
            CmsSigningService(platform).sign("p256-seal", ACTOR, content=CONTENT, timestamp=True)
        assert raised.value.field == "timestamp" and "certseal tsa setup" in raised.value.rule
        assert sign_events(platform) == []
        assert CmsSigningService(platform).sign("p256-seal", ACTOR, content=CONTENT).level is CmsLevel.B
    finally:
        platform.close()


# --- the audit record, on both databases ---------------------------------------------------------------------------


def test_audited_on_both_databases(platform: Platform, tmp_path: Path) -> None:
    seal = make_seal(platform, KeyAlgorithm.P256, "p256-seal")
    root = tmp_path / "root.pem"
    root.write_bytes(pem.armor("CERTIFICATE", seal.root))
    digest = hashlib.sha256(CONTENT).digest()
    by_digest = CmsSigningService(platform).sign("p256-seal", ACTOR, digest=digest)
    attached = CmsSigningService(platform).sign("p256-seal", ACTOR, content=CONTENT, detached=False)
    for result, content in ((by_digest, CONTENT), (attached, None)):
        checked = openssl_cms_accepts(result.der, root, tmp_path, content)
        assert checked.returncode == 0, checked.stderr
    events = sign_events(platform)
    assert events == [
        {
            "actor": ACTOR.name,
            "seal": "p256-seal",
            "input": input_kind,
            "digest_algorithm": "sha256",
            "message_digest": digest.hex(),
            "detached": detached,
            "level": "CAdES-B",
            "cms_sha256": hashlib.sha256(result.der).hexdigest(),
        }
        for input_kind, detached, result in (("digest", True, by_digest), ("content", False, attached))
    ]
