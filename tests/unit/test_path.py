"""Path building and validation over in-memory PKIs: cross-certificates, cycles, constraints, failures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.crypto.keys import PrivateKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.pki import certificates as certs
from certseal.pki.names import build_name, name_to_text, parse_dn
from certseal.pki.path import (
    MAX_CANDIDATES,
    Indication,
    SubIndication,
    _within,
    build_paths,
    find_path,
    load_certificate,
)
from certseal.pki.profiles import profile

NOW = datetime.now(UTC)
YEAR = certs.Validity(NOW - timedelta(days=60), NOW + timedelta(days=365))


@dataclass
class Ca:
    key: PrivateKey
    name: x509.Name
    certificate: x509.Certificate

    @property
    def issuer(self) -> certs.Issuer:
        signer = SoftwareSigner("k", self.key, self.key.algorithm.default_scheme)
        return certs.Issuer(self.name, self.certificate.key_identifier, signer)


def dn(text: str) -> x509.Name:
    return build_name(parse_dn(text))


def issue(
    issuer: Ca,
    subject: x509.Name,
    key: PrivateKey,
    kind: str = "cross-ca",
    validity: certs.Validity = YEAR,
    path_len: int | None = None,
    constraints: certs.NameConstraints | None = None,
) -> x509.Certificate:
    der = certs.issue(
        issuer.issuer,
        certs.Subject(subject, key.public_key),
        profile(kind),
        validity,
        certs.new_serial(),
        path_len,
        constraints,
    )
    return load_certificate(der)


def root(text: str, key: PrivateKey) -> Ca:
    subject = certs.Subject(dn(text), key.public_key)
    signer = SoftwareSigner("k", key, key.algorithm.default_scheme)
    der = certs.issue(certs.self_signed_issuer(subject, signer), subject, profile("root-ca"), YEAR, certs.new_serial())
    return Ca(key, subject.name, load_certificate(der))


def sub_ca(parent: Ca, text: str, key: PrivateKey, kind: str = "intermediate-ca") -> Ca:
    return Ca(key, dn(text), issue(parent, dn(text), key, kind))


def leaf(issuer: Ca, text: str, key: PrivateKey, validity: certs.Validity = YEAR) -> x509.Certificate:
    return issue(issuer, dn(text), key, "person", validity)


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    rsa = [PrivateKey.generate(KeyAlgorithm.RSA2048) for _ in range(3)]
    return {
        "a": rsa[0],
        "c": rsa[1],
        "x": rsa[2],
        "b": PrivateKey.generate(KeyAlgorithm.SM2),
        "i": PrivateKey.generate(KeyAlgorithm.SM2),
        "leaf": PrivateKey.generate(KeyAlgorithm.SM2),
    }


@dataclass
class World:
    a: Ca
    b: Ca
    c: Ca
    a_b: x509.Certificate  # issued by A for B's key
    b_a: x509.Certificate
    c_a: x509.Certificate
    leaf: x509.Certificate  # issued by B

    @property
    def pool(self) -> list[x509.Certificate]:
        return [self.a.certificate, self.b.certificate, self.c.certificate, self.a_b, self.b_a, self.c_a]


@pytest.fixture(scope="module")
def world(keys: dict[str, PrivateKey]) -> World:
    a = root("CN=Root A,O=Alpha,C=CN", keys["a"])
    b = root("CN=Root B,O=Beta,C=CN", keys["b"])
    c = root("CN=Root C,O=Gamma,C=CN", keys["c"])
    return World(
        a,
        b,
        c,
        issue(a, b.name, keys["b"]),
        issue(b, a.name, keys["a"]),
        issue(c, a.name, keys["a"]),
        leaf(b, "CN=Zhang San,O=Beta,C=CN", keys["leaf"]),
    )


def subjects(path: tuple[x509.Certificate, ...]) -> list[str]:
    return [name_to_text(c.subject) for c in path]


def test_sm2_leaf_validates_to_rsa_anchor_through_the_cross_certificate(world: World) -> None:
    result = find_path(world.leaf, world.pool, [world.a.certificate])
    assert result.indication is Indication.PASSED and result.sub_indication is None
    assert [c.dump() for c in result.path] == [world.leaf.dump(), world.a_b.dump(), world.a.certificate.dump()]


def test_own_root_anchor_gives_the_direct_path(world: World) -> None:
    result = find_path(world.leaf, world.pool, [world.a.certificate, world.b.certificate])
    assert result.passed and [c.dump() for c in result.path] == [world.leaf.dump(), world.b.certificate.dump()]


def test_two_cross_certificates_reach_the_third_issuer(world: World) -> None:
    result = find_path(world.leaf, world.pool, [world.c.certificate])
    assert result.passed
    assert [c.dump() for c in result.path] == [
        world.leaf.dump(),
        world.a_b.dump(),
        world.c_a.dump(),
        world.c.certificate.dump(),
    ]
    assert result.subjects[-1] == "C=CN, O=Gamma, CN=Root C"


def test_builder_finds_every_cross_certified_route(world: World, keys: dict[str, PrivateKey]) -> None:
    c_b = issue(world.c, world.b.name, keys["b"])
    anchors = [world.a.certificate, world.c.certificate]
    complete = [subjects(p) for p, ok in build_paths(world.leaf, [*world.pool, c_b], anchors) if ok]
    via_a = ["C=CN, O=Beta, CN=Root B", "C=CN, O=Alpha, CN=Root A"]
    via_c = ["C=CN, O=Beta, CN=Root B", "C=CN, O=Gamma, CN=Root C"]
    assert [s[1:] for s in complete if len(s) == 3] == [via_a, via_c]


def test_cycles_terminate_without_an_anchor(world: World) -> None:
    result = find_path(world.leaf, world.pool * 3, [])
    assert result.indication is Indication.INDETERMINATE
    assert result.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert 0 < len(result.rejected) <= MAX_CANDIDATES
    for rejection in result.rejected:  # no path repeats a CA (here every CA has its own subject)
        assert len(rejection.path) == len(set(rejection.path))


def test_a_full_mesh_of_cross_certificates_stays_bounded() -> None:
    keys = [PrivateKey.generate(KeyAlgorithm.SM2) for _ in range(6)]
    cas = [root(f"CN=Mesh {i},C=CN", key) for i, key in enumerate(keys)]
    mesh = [issue(a, b.name, b.key) for a in cas for b in cas if a is not b]
    bottom = leaf(cas[0], "CN=Mesh Leaf,C=CN", keys[1])
    started = time.monotonic()
    result = find_path(bottom, [*mesh, *(c.certificate for c in cas)], [])
    assert result.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert len(result.rejected) == MAX_CANDIDATES and time.monotonic() - started < 5
    outsider = root("CN=Outsider,C=CN", keys[2])
    bridge = issue(outsider, cas[5].name, keys[5])
    assert find_path(bottom, [*mesh, bridge], [outsider.certificate]).passed


def test_unknown_ca_finds_no_chain(keys: dict[str, PrivateKey], world: World) -> None:
    stranger = root("CN=Stranger,C=CN", keys["x"])
    orphan = leaf(stranger, "CN=Orphan,C=CN", keys["leaf"])
    result = find_path(orphan, world.pool, [world.a.certificate])
    assert result.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND and not result.passed
    assert "no path" in result.message and "Orphan" in result.message


def test_name_constraints_permitted_and_excluded(world: World, keys: dict[str, PrivateKey]) -> None:
    allowed = certs.NameConstraints(permitted=(dn("C=CN,O=Allowed"),), excluded=(dn("C=CN,O=Allowed,OU=Banned"),))
    a_b = issue(world.a, world.b.name, keys["b"], constraints=allowed)
    anchors, pool = [world.a.certificate], [a_b]
    good = leaf(world.b, "CN=Li,OU=Ward 3,O=Allowed,C=CN", keys["leaf"])
    assert find_path(good, pool, anchors).passed
    for text, words in (
        ("CN=Li,O=Other,C=CN", "outside the permitted"),
        ("CN=Li,OU=Banned,O=Allowed,C=CN", "excluded"),
    ):
        result = find_path(leaf(world.b, text, keys["leaf"]), pool, anchors)
        assert result.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE, result
        assert result.indication is Indication.INDETERMINATE and words in result.message


def test_dn_prefix_semantics() -> None:
    assert _within(dn("CN=x,O=Allowed,C=CN"), dn("C=CN,O=Allowed"))
    assert _within(dn("O=allowed,C=CN"), dn("C=CN,O=Allowed"))  # RFC 5280 7.1: case-insensitive comparison
    assert not _within(dn("CN=x,O=Allowed,C=CN"), dn("O=Allowed"))  # O is not the first RDN
    assert not _within(dn("C=CN"), dn("C=CN,O=Allowed"))


def test_path_length_zero_forbids_an_extra_intermediate(world: World, keys: dict[str, PrivateKey]) -> None:
    a_b = issue(world.a, world.b.name, keys["b"], path_len=0)
    inner = sub_ca(world.b, "CN=Issuing B1,O=Beta,C=CN", keys["i"])
    deep = leaf(inner, "CN=Wang,O=Beta,C=CN", keys["leaf"])
    anchors = [world.a.certificate]
    assert find_path(world.leaf, [a_b], anchors).passed
    result = find_path(deep, [a_b, inner.certificate], anchors)
    assert result.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "allows 0" in result.message
    assert find_path(deep, [issue(world.a, world.b.name, keys["b"], path_len=1), inner.certificate], anchors).passed


def test_expired_and_not_yet_valid_cross_certificates(world: World, keys: dict[str, PrivateKey]) -> None:
    past = certs.Validity(NOW - timedelta(days=30), NOW - timedelta(days=1))
    expired = issue(world.a, world.b.name, keys["b"], validity=past)
    result = find_path(world.leaf, [expired], [world.a.certificate])
    assert result.sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE and "expired" in result.message
    assert find_path(world.leaf, [expired], [world.a.certificate], at=NOW - timedelta(days=2)).passed
    later = find_path(world.leaf, [world.a_b], [world.a.certificate], at=NOW - timedelta(days=100))
    assert later.sub_indication is SubIndication.NOT_YET_VALID


def test_tampered_cross_certificate_fails_its_signature(world: World) -> None:
    der = bytearray(world.a_b.dump())
    der[15] ^= 0x01  # inside the serial number of the TBSCertificate
    tampered = x509.Certificate.load(bytes(der))
    result = find_path(world.leaf, [tampered], [world.a.certificate])
    assert result.indication is Indication.FAILED and result.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert "does not verify" in result.message


def test_a_valid_route_wins_over_a_rejected_one(world: World, keys: dict[str, PrivateKey]) -> None:
    past = certs.Validity(NOW - timedelta(days=30), NOW - timedelta(days=1))
    expired = issue(world.a, world.b.name, keys["b"], validity=past)
    result = find_path(world.leaf, [expired, world.a_b], [world.a.certificate])
    assert result.passed and result.path[1].dump() == world.a_b.dump()
    assert [r.sub_indication for r in result.rejected] == [SubIndication.OUT_OF_BOUNDS_NO_POE]
    assert "expired" in str(result.rejected[0])


def test_end_entity_cannot_issue(world: World, keys: dict[str, PrivateKey]) -> None:
    fake_ca = Ca(keys["leaf"], world.leaf.subject, world.leaf)
    grandchild = leaf(fake_ca, "CN=Grandchild,C=CN", keys["i"])
    result = find_path(grandchild, [world.leaf, world.a_b], [world.a.certificate])
    assert result.sub_indication is SubIndication.CHAIN_CONSTRAINTS_FAILURE and "not a CA" in result.message


def test_depth_is_bounded(keys: dict[str, PrivateKey]) -> None:
    top = root("CN=Top,C=CN", keys["a"])
    chain, current = [], top
    for depth in range(5):
        current = sub_ca(current, f"CN=Level {depth},C=CN", keys["i"] if depth % 2 else keys["c"], "cross-ca")
        chain.append(current.certificate)
    bottom = leaf(current, "CN=Bottom,C=CN", keys["leaf"])
    assert find_path(bottom, chain, [top.certificate]).passed
    shallow = find_path(bottom, chain, [top.certificate], max_depth=3)
    assert shallow.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_the_anchor_itself_validates(world: World) -> None:
    result = find_path(world.a.certificate, world.pool, [world.a.certificate])
    assert result.passed and len(result.path) == 1


def test_load_certificate_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"not a DER X\.509 certificate"):
        load_certificate(b"\x30\x03\x02\x01\x01")
