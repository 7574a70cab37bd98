"""certseal CMS against the OpenSSL CLI: `openssl cms -verify` accepts what we sign (RSA, RSA-PSS, ECDSA P-256;
attached and detached; CAdES-B and plain) and refuses it with one content byte changed; `-cmsout -print` shows
the attributes; our parse()/check_signer() accept what `openssl cms -sign` makes and refuse it tampered."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem

from certseal.crypto.algorithms import SignatureScheme
from certseal.signing.cms import check_signer, parse, sign, sign_digest
from tests.unit.test_cms import CONTENT, NOW, Pki, flip, pki_of

KINDS = ["rsa2048", "rsa-pss", "p256"]


def _openssl(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
    if ok and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _pem(path: Path, *ders: bytes) -> Path:
    path.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in ders))
    return path


class Files:
    """A PKI's certificates (and the leaf's key) as PEM files, the content, and a place for CMS files."""

    def __init__(self, directory: Path, p: Pki) -> None:
        self.directory = directory
        self.pki = p
        self.root = _pem(directory / "root.pem", p.root)
        self.leaf = _pem(directory / "leaf.pem", p.leaf)
        self.chain = _pem(directory / "chain.pem", p.intermediate)
        self.key = directory / "leaf.key"
        self.key.write_bytes(pem.armor("PRIVATE KEY", p.signer.key.pkcs8_der()))
        self.content = directory / "content.txt"
        self.content.write_bytes(CONTENT)

    def write(self, name: str, data: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(data)
        return path

    def verify(self, cms_der: bytes, content: bytes | None = None) -> subprocess.CompletedProcess[str]:
        args: list[str | Path] = ["cms", "-verify", "-binary", "-inform", "DER", "-in", self.write("s.der", cms_der)]
        args += ["-CAfile", self.root, "-out", self.directory / "out.bin"]
        if content is not None:
            args += ["-content", self.write("detached.bin", content)]
        return _openssl(*args, ok=False)


@pytest.fixture(scope="module", params=KINDS)
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp(request.param), pki_of(request.param))


def _verified(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and "CMS Verification successful" in result.stderr


@pytest.mark.parametrize("detached", [True, False], ids=["detached", "attached"])
@pytest.mark.parametrize("cades", [True, False], ids=["cades", "plain"])
def test_openssl_verifies_our_cms(files: Files, detached: bool, cades: bool) -> None:
    p = files.pki
    der = sign(p.signer, CONTENT, detached=detached, chain=p.chain, cades=cades, signing_time=NOW)
    result = files.verify(der, CONTENT if detached else None)
    assert _verified(result), result.stderr
    if not detached:
        assert (files.directory / "out.bin").read_bytes() == CONTENT
    changed = flip(CONTENT, 5)
    if detached:
        assert not _verified(files.verify(der, changed))
    else:
        assert not _verified(files.verify(der.replace(CONTENT, changed)))
    assert not _verified(files.verify(flip(der, len(der) - 3)))  # a signature byte


@pytest.mark.parametrize("cades", [True, False], ids=["cades", "plain"])
def test_openssl_prints_the_attributes(files: Files, cades: bool) -> None:
    der = sign(files.pki.signer, CONTENT, cades=cades, signing_time=NOW if not cades else None)
    text = _openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", files.write("p.der", der)).stdout
    signed_attributes = text[text.index("signedAttrs:") : text.index("signatureAlgorithm:", text.index("signedAttrs:"))]
    assert "object: contentType (1.2.840.113549.1.9.3)" in signed_attributes
    assert "OBJECT:pkcs7-data (1.2.840.113549.1.7.1)" in signed_attributes
    assert "object: messageDigest (1.2.840.113549.1.9.4)" in signed_attributes
    assert ("id-smime-aa-signingCertificateV2 (1.2.840.113549.1.9.16.2.47)" in signed_attributes) is cades
    assert ("object: signingTime (1.2.840.113549.1.9.5)" in signed_attributes) is not cades
    assert "algorithm: sha256 (2.16.840.1.101.3.4.2.1)" in text and "unsignedAttrs:\n          <ABSENT>" in text
    expected_signature = {
        SignatureScheme.RSA_PKCS1_SHA256: "sha256WithRSAEncryption (1.2.840.113549.1.1.11)",
        SignatureScheme.RSA_PSS_SHA256: "rsassaPss (1.2.840.113549.1.1.10)",
        SignatureScheme.ECDSA_SHA256: "ecdsa-with-SHA256 (1.2.840.10045.4.3.2)",
    }
    assert f"algorithm: {expected_signature[files.pki.signer.scheme]}" in text


def test_sign_digest_for_a_hash_only_client(files: Files) -> None:
    p = files.pki
    der = sign_digest(p.signer, hashlib.sha256(CONTENT).digest(), digest_algorithm="sha256", chain=p.chain)
    assert _verified(files.verify(der, CONTENT))
    assert not _verified(files.verify(der, CONTENT + b"!"))


@pytest.mark.parametrize("options", [(), ("-nodetach",), ("-keyid",), ("-noattr",)], ids=str)
def test_our_checker_accepts_openssl_cms(files: Files, options: tuple[str, ...]) -> None:
    p = files.pki
    pss = p.signer.scheme is SignatureScheme.RSA_PSS_SHA256
    extra = ["-keyopt", "rsa_padding_mode:pss"] if pss else []  # applies to the key before it
    out = files.directory / "theirs.der"
    _openssl(
        "cms", "-sign", "-binary", "-in", files.content, "-signer", files.leaf, "-inkey", files.key, *extra,
        "-certfile", files.chain, "-md", "sha256", "-outform", "DER", "-out", out, *options,
    )  # fmt: skip
    theirs = out.read_bytes()
    attached = "-nodetach" in options
    signed = parse(theirs)
    assert signed.content == (CONTENT if attached else None)
    view = signed.signers[0]
    assert view.signer_certificate == p.leaf, "the sid (issuerAndSerialNumber or subjectKeyIdentifier) names the leaf"
    assert (view.sid_key_identifier is not None) is ("-keyid" in options)
    assert (view.signed_attributes_der is None) is ("-noattr" in options)
    assert view.scheme is p.signer.scheme
    content = None if attached else CONTENT
    check = check_signer(view, content=content)
    assert check.valid, check

    assert not check_signer(view, content=flip(CONTENT, 0)).valid
    tampered = parse(flip(theirs, theirs.index(view.signature) + 10)).signers[0]
    assert not check_signer(tampered, content=CONTENT).signature_valid
    if view.signed_attributes_der is not None:
        body = view.signed_attributes_der[1:]  # as in the SignerInfo, after its [0] tag
        last = theirs.index(body) + len(body) - 1  # the last byte of the last signed attribute
        changed = parse(flip(theirs, last)).signers[0]
        assert not check_signer(changed, content=CONTENT).valid
