"""SealService on SQLite and PostgreSQL: registry, rules, audit, and signer_for checked by OpenSSL and gmalg."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import pem, x509
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.errors import AlreadyExists, Forbidden, NotFound, ValidationError
from certseal.pki import certificates as certs
from certseal.pki.names import parse_dn
from certseal.pki.profiles import CertificateProfile, profile
from certseal.seals.image import RoundSealDesign, check_seal_png
from certseal.seals.model import (
    SealStatus,
    SealType,
    check_users,
    normalise_seal_code,
)
from certseal.services.audit import Actor
from certseal.services.ca import CaService, RevocationReason
from certseal.services.keys import KeyService
from certseal.services.platform import Platform
from certseal.services.seals import SealService
from certseal.store.models import AuditEvent, Seal, utcnow
from tests.conftest import ACTOR
from tests.sm2check import sm2_signature_valid

UNIT = "某某市药品监督管理局"
SUBJECT = f"CN={UNIT}电子证照专用章,O={UNIT},C=CN"
SM2_ID = "distid:1234567812345678"
DATA = "一份电子证照的待签数据".encode()
ALICE = Actor("alice", "pytest")


def small_png(opaque: bool = False, size: tuple[int, int] = (240, 240)) -> bytes:
    """A red ring on a transparent (or white) background."""
    image = Image.new("RGBA", size, (255, 255, 255, 255) if opaque else (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((8, 8, size[0] - 8, size[1] - 8), outline=(230, 0, 18, 255), width=10)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Pki:
    """A root and an intermediate CA, and seal certificates issued by the intermediate with token keys."""

    def __init__(self, platform: Platform, algorithm: KeyAlgorithm = KeyAlgorithm.SM2) -> None:
        self.platform = platform
        self.algorithm = algorithm
        self.cas = CaService(platform)
        self.cas.create_ca("root", algorithm, ACTOR)
        self.cas.create_ca("sub", algorithm, ACTOR, parent="root")

    def seal_certificate(self, subject: str = SUBJECT) -> tuple[bytes, str]:
        info = self.cas.issue("sub", "seal", ACTOR, subject=subject, generate=self.algorithm)
        return info.certificate_der, info.serial

    def built(self, profile_: CertificateProfile, not_before_days: int, not_after_days: int) -> bytes:
        """A certificate signed by 'sub' outside CaService (to get validities and usages it would not issue), for a
        key generated in the token."""
        label = f"odd-{profile_.name}-{not_after_days}"
        public_key = KeyService(self.platform).generate(label, self.algorithm, "software", ACTOR).public_key
        now = utcnow()
        validity = certs.Validity(now + timedelta(days=not_before_days), now + timedelta(days=not_after_days))
        subject = certs.subject_from(parse_dn(SUBJECT), public_key)
        return certs.issue(self.cas.issuer("sub"), subject, profile_, validity, certs.new_serial())


@pytest.fixture
def pki(platform: Platform) -> Pki:
    return Pki(platform)


def counts(platform: Platform) -> tuple[int, int]:
    with platform.db.reading() as session:
        seals = session.scalar(select(func.count()).select_from(Seal)) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        return seals, events


def seal_events(platform: Platform, name: str) -> list[AuditEvent]:
    with platform.db.reading() as session:
        query = select(AuditEvent).where(AuditEvent.entity == "seal", AuditEvent.entity_id == name)
        return list(session.scalars(query.order_by(AuditEvent.seq)))


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=60)


def write_pem(path: Path, *ders: bytes) -> Path:
    path.write_bytes(b"".join(pem.armor("CERTIFICATE", der) for der in ders))
    return path


# --- creating and using a seal ------------------------------------------------------------------------------------


def test_drawn_seal_signs_and_openssl_and_gmalg_verify(platform: Platform, pki: Pki, tmp_path: Path) -> None:
    der, serial = pki.seal_certificate()
    service = SealService(platform)
    info = service.create(
        "fda-license",
        pem.armor("CERTIFICATE", der),
        ACTOR,
        seal_type=SealType.LICENSE,
        code="3201-0000-12345",
        design=RoundSealDesign(UNIT, "电子证照专用章"),
        users=["tester", "api:his-gateway"],
    )
    leaf = x509.Certificate.load(der)
    assert info.code == "3201000012345" and info.type is SealType.LICENSE and info.status is SealStatus.ACTIVE
    assert info.title == f"{UNIT}电子证照专用章"
    assert info.key_label == f"cert-{serial}"  # found from the certificate's public key
    assert (info.not_before, info.not_after) == (leaf.not_valid_before, leaf.not_valid_after)
    assert (info.width_mm, info.height_mm) == (42.0, 42.0) and info.users == ("tester", "api:his-gateway")
    assert check_seal_png(service.image("fda-license")).width_px == 992
    [event] = seal_events(platform, "fda-license")
    after = json.loads(event.after or "{}")
    assert event.action == "create" and event.actor == "tester" and after["key_label"] == info.key_label

    use = service.signer_for("fda-license", ACTOR)
    assert use.info == info and use.signer.certificate == der and use.signer.key_label == info.key_label
    assert use.chain == [pki.cas.get_ca("sub").certificate_der, pki.cas.get_ca("root").certificate_der]
    assert use.image == service.image("fda-license") and use.image_size_mm == (42.0, 42.0)
    signature = use.signer.sign(DATA)
    # outside checkers: gmalg for the signature, the OpenSSL CLI for the signature and the chain handed out
    assert sm2_signature_valid(leaf, DATA, signature)
    assert not sm2_signature_valid(leaf, DATA + b"!", signature)
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "tampered").write_bytes(DATA + b"!")
    (tmp_path / "sig").write_bytes(signature)
    write_pem(tmp_path / "leaf.pem", der)
    assert (
        openssl("x509", "-in", tmp_path / "leaf.pem", "-pubkey", "-noout", "-out", tmp_path / "pub.pem").returncode == 0
    )
    verify = ["dgst", "-sm3", "-verify", tmp_path / "pub.pem", "-sigopt", SM2_ID, "-signature", tmp_path / "sig"]
    assert b"Verified OK" in openssl(*verify, tmp_path / "data").stdout
    assert openssl(*verify, tmp_path / "tampered").returncode != 0
    # OpenSSL 3.0 applies -vfyopt to one signature per run: check each link of the chain handed out
    sub, root = write_pem(tmp_path / "sub.pem", use.chain[0]), write_pem(tmp_path / "root.pem", use.chain[1])
    assert openssl("verify", "-vfyopt", SM2_ID, "-CAfile", root, sub).returncode == 0
    link = ["verify", "-partial_chain", "-vfyopt", SM2_ID, "-CAfile"]
    assert openssl(*link, sub, tmp_path / "leaf.pem").returncode == 0
    assert openssl(*link, root, tmp_path / "leaf.pem").returncode != 0, "the leaf's issuer is the intermediate"


def test_p256_seal_with_uploaded_image_verified_by_openssl(platform: Platform, tmp_path: Path) -> None:
    pki = Pki(platform, KeyAlgorithm.P256)
    der, _ = pki.seal_certificate()
    png = small_png(size=(400, 300))
    info = SealService(platform).create("contract", der, ACTOR, seal_type=SealType.CONTRACT, image_png=png)
    assert (info.width_mm, info.height_mm) == (42.0, 31.5)  # 42 mm wide, height in proportion
    assert info.title == f"{UNIT}合同专用章" and len(info.code) == 16
    use = SealService(platform).signer_for("contract", "tester")
    assert use.image == png
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "sig").write_bytes(use.signer.sign(DATA))
    write_pem(tmp_path / "leaf.pem", der)
    assert (
        openssl("x509", "-in", tmp_path / "leaf.pem", "-pubkey", "-noout", "-out", tmp_path / "pub.pem").returncode == 0
    )
    verify = ["dgst", "-sha256", "-verify", tmp_path / "pub.pem", "-signature", tmp_path / "sig", tmp_path / "data"]
    assert b"Verified OK" in openssl(*verify).stdout
    (tmp_path / "data").write_bytes(DATA + b"!")
    assert openssl(*verify).returncode != 0


def test_list_users_and_disable_are_audited(platform: Platform, pki: Pki) -> None:
    service = SealService(platform)
    service.create("b-seal", pki.seal_certificate()[0], ACTOR, image_png=small_png())
    service.create("a-seal", pki.seal_certificate()[0], ACTOR, image_png=small_png(), users=["alice"])
    assert [s.name for s in service.list()] == ["a-seal", "b-seal"]
    assert service.get("b-seal").users == ("tester",)

    info = service.set_users("b-seal", ACTOR, add=["alice", "api:his"], remove=["tester"])
    assert info.users == ("alice", "api:his") and info.updated_by == "tester"
    assert service.set_users("b-seal", ACTOR, users=["bob"]).users == ("bob",)
    service.set_users("b-seal", ACTOR, add=["bob"])  # no change, no event
    with pytest.raises(ValidationError, match="at least one user"):
        service.set_users("b-seal", ACTOR, remove=["bob"])
    with pytest.raises(ValidationError, match="not a user"):
        service.set_users("b-seal", ACTOR, remove=["carol"])
    with pytest.raises(ValidationError) as error:
        service.set_users("b-seal", ACTOR, add=["bad name"])
    assert error.value.field == "users"
    events = seal_events(platform, "b-seal")
    assert [e.action for e in events] == ["create", "update", "update"]
    assert json.loads(events[1].before or "{}") == {"users": ["tester"]}
    assert json.loads(events[1].after or "{}") == {"users": ["alice", "api:his"]}

    assert service.signer_for("b-seal", Actor("bob", "x")).info.name == "b-seal"
    assert service.disable("b-seal", ACTOR).status is SealStatus.DISABLED
    service.disable("b-seal", ACTOR)
    assert [e.action for e in seal_events(platform, "b-seal")][-1:] == ["disable"]
    assert len(seal_events(platform, "b-seal")) == 4
    with pytest.raises(Forbidden, match="'b-seal' is disabled"):
        service.signer_for("b-seal", "bob")
    assert service.get("a-seal").status is SealStatus.ACTIVE
    with platform.db.reading() as session:
        assert platform.audit.verify(session).ok


def test_signer_for_refuses_who_and_when_it_must(platform: Platform, pki: Pki) -> None:
    service = SealService(platform)
    der, serial = pki.seal_certificate()
    start, end = utcnow() + timedelta(days=1), utcnow() + timedelta(days=30)
    service.create("later", der, ACTOR, image_png=small_png(), users=["alice"], not_before=start, not_after=end)
    with pytest.raises(Forbidden) as error:
        service.signer_for("later", "mallory", at=start + timedelta(hours=1))
    assert "'mallory'" in error.value.message and "'later'" in error.value.message
    with pytest.raises(Forbidden, match="valid from"):
        service.signer_for("later", ALICE)  # now: not yet
    with pytest.raises(Forbidden, match="valid from"):
        service.signer_for("later", ALICE, at=end + timedelta(seconds=1))
    assert service.signer_for("later", ALICE, at=start + timedelta(hours=1)).info.name == "later"
    with pytest.raises(NotFound, match="no seal named 'nope'"):
        service.signer_for("nope", ALICE)
    pki.cas.revoke(serial, RevocationReason.KEY_COMPROMISE, ACTOR)
    with pytest.raises(Forbidden, match="revoked"):
        service.signer_for("later", ALICE, at=start + timedelta(hours=1))


# --- what a seal may not be -----------------------------------------------------------------------------------------


def _refused(platform: Platform, field: str, rule: str, certificate: bytes, **kwargs: object) -> None:
    """create() raises ValidationError(field, …rule…) and stores nothing (no seal, no audit event)."""
    before = counts(platform)
    kwargs.setdefault("image_png", small_png())
    with pytest.raises(ValidationError) as error:
        SealService(platform).create(kwargs.pop("name", "bad"), certificate, ACTOR, **kwargs)  # type: ignore[arg-type]
    assert error.value.field == field and rule in error.value.rule, error.value.message
    assert counts(platform) == before


def test_bad_images_are_refused(platform: Platform, pki: Pki) -> None:
    der, _ = pki.seal_certificate()
    _refused(platform, "image", "corner pixel", der, image_png=small_png(opaque=True))
    _refused(platform, "image", "PNG signature", der, image_png=b"\xff\xd8\xff\xe0 a JPEG")
    _refused(platform, "image", "at least 200 px", der, image_png=small_png(size=(150, 150)))
    _refused(platform, "image", "not both", der, design=RoundSealDesign(UNIT))
    _refused(platform, "image", "not both", der, image_png=None)
    _refused(
        platform,
        "height_mm",
        "as high as it is wide",
        der,
        image_png=None,
        design=RoundSealDesign(UNIT),
        size_mm=(42, 40),
    )
    _refused(platform, "width_mm", "between 5 and 100", der, size_mm=(200, 200))


def test_bad_certificates_are_refused(platform: Platform, pki: Pki, tmp_path: Path) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", tmp_path / "k.pem",
        "-subj", "/CN=stranger", "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "basicConstraints=critical,CA:FALSE", "-days", "30",
        "-out", tmp_path / "stranger.pem",
    )  # fmt: skip
    stranger = (tmp_path / "stranger.pem").read_bytes()
    _refused(platform, "certificate", "does not chain to a CA", stranger)

    outside_key = PrivateKey.generate(KeyAlgorithm.SM2).public_key  # a key no token of ours holds
    no_key = pki.cas.issue("sub", "seal", ACTOR, subject=SUBJECT, public_key=outside_key).certificate_der
    _refused(platform, "certificate", "matches no key in this deployment's tokens", no_key)

    _refused(platform, "certificate", "expired on", pki.built(profile("seal"), -60, -1))
    _refused(platform, "certificate", "is not valid before", pki.built(profile("seal"), 2, 60))
    encipher_only = CertificateProfile("encipherment", "test", frozenset({"key_encipherment"}))
    _refused(platform, "certificate", "digitalSignature or nonRepudiation", pki.built(encipher_only, 0, 30))
    _refused(platform, "certificate", "is a CA certificate", pki.cas.get_ca("sub").certificate_der)
    der, serial = pki.seal_certificate()
    two = pem.armor("CERTIFICATE", der) + pem.armor("CERTIFICATE", der)
    _refused(platform, "certificate", "exactly one certificate", two)
    _refused(platform, "certificate", "not a DER X.509 certificate", b"0\x03\x02\x01\x00")
    cert = x509.Certificate.load(der)
    _refused(platform, "not_after", "must not be after", der, not_after=cert.not_valid_after + timedelta(days=1))
    _refused(platform, "not_before", "must not be before", der, not_before=cert.not_valid_before - timedelta(days=1))
    _refused(
        platform,
        "not_after",
        "in the past",
        der,
        not_before=cert.not_valid_before,
        not_after=utcnow() - timedelta(minutes=1),
    )
    pki.cas.revoke(serial, RevocationReason.CERTIFICATE_HOLD, ACTOR)
    _refused(platform, "certificate", "is on hold", der)


def test_names_codes_and_users_follow_the_rules(platform: Platform, pki: Pki) -> None:
    der, _ = pki.seal_certificate()
    _refused(platform, "name", "lower-case letters", der, name="Bad Name")
    _refused(platform, "code", "13-20 digits or upper-case letters", der, code="12345")
    _refused(platform, "code", "13-20 digits", der, code="3201000012345é")
    _refused(platform, "users", "actor name", der, users=["two words"])
    _refused(platform, "users", "at least one user", der, users=[])
    _refused(platform, "title", "1-100 characters", der, title="章" * 101)
    service = SealService(platform)
    service.create("first", der, ACTOR, image_png=small_png(), code="320100001234X")
    other, _ = pki.seal_certificate()
    before = counts(platform)
    with pytest.raises(AlreadyExists, match="a seal named 'first' exists already"):
        service.create("first", other, ACTOR, image_png=small_png())
    with pytest.raises(AlreadyExists, match="already used by seal 'first'"):
        service.create("second", other, ACTOR, image_png=small_png(), code="320100001234x")
    assert counts(platform) == before
    with pytest.raises(NotFound):
        service.get("missing")
    with pytest.raises(NotFound):
        service.disable("missing", ACTOR)


def test_model_rules() -> None:
    assert normalise_seal_code(" 3201 0000 1234 5 ") == "3201000012345"
    assert normalise_seal_code("a1b2c3d4e5f6g7h8i9j0") == "A1B2C3D4E5F6G7H8I9J0"
    for bad in ("320100001234", "3201000012345678901234", "3201_000012345"):
        with pytest.raises(ValidationError):
            normalise_seal_code(bad)
    assert SealType.parse("License") is SealType.LICENSE and SealType.LICENSE.label == "电子证照专用章"
    assert SealType.PERSONAL.ses_type == 2 and SealType.OFFICIAL.ses_type == 1
    with pytest.raises(ValidationError, match="official, license, contract, personal"):
        SealType.parse("round")
    assert check_users(["alice", "api:his-gateway", "alice", "张三"]) == ("alice", "api:his-gateway", "张三")
