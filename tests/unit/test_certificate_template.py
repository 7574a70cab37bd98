"""The pre-encoded certificate template builds exactly the bytes the asn1crypto reference builder (`issue`) builds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from asn1crypto import x509

from certseal.crypto.algorithms import KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.pki import certificates as certs
from certseal.pki.names import build_name
from certseal.pki.profiles import profiles
from tests.fixtures.signers import MemoSigner

ALGORITHMS = (KeyAlgorithm.RSA2048, KeyAlgorithm.P256, KeyAlgorithm.SM2)
URLS = (
    certs.IssuerUrls(),
    certs.IssuerUrls(crl="http://ca.example.cn/crl/sub.crl"),
    certs.IssuerUrls(ocsp="http://ca.example.cn/ocsp/sub"),
    certs.IssuerUrls(
        crl="http://ca.example.cn/crl/sub.crl",
        ocsp="http://ca.example.cn/ocsp/sub",
        ca_issuers="http://ca.example.cn/ca/sub.crt",
    ),
)
SANS = (
    ("dns", "example.cn"),
    ("dns", "*.药监.example.cn"),
    ("email", "zhang.san@example.cn"),
    ("email", "li.si@医院.cn"),
    ("ip", "10.0.0.1"),
    ("ip", "2001:db8::1"),
    ("uri", "https://example.cn/a?b=c"),
)
ATTRIBUTES = {
    "common_name": ("张三", "Zhang San", "某药业", "x" * 64),
    "organization_name": ("某医院", "Example Hospital Co., Ltd."),
    "organizational_unit_name": ("药剂科", "IT"),
    "country_name": ("CN", "DE"),
    "serial_number": ("91110000600037341L",),
    "locality_name": ("北京",),
    "email_address": ("a@example.cn",),
}


@pytest.fixture(scope="module")
def subject_keys() -> list[PublicKey]:
    return [PrivateKey.generate(a).public_key for a in ALGORITHMS for _ in range(2)]


def _issuer(
    rng: random.Random,
    algorithm: KeyAlgorithm,
    scheme: SignatureScheme | None = None,
    urls: certs.IssuerUrls = URLS[-1],
) -> certs.Issuer:
    key = PrivateKey.generate(algorithm)
    signer = MemoSigner(SoftwareSigner("ca", key, scheme or algorithm.default_scheme))
    name = build_name(
        {"common_name": f"测试CA {rng.randrange(1000)}", "organization_name": "省药监局", "country_name": "CN"}
    )
    return certs.Issuer(name, rng.randbytes(20), signer, urls)


def _moment(rng: random.Random) -> datetime:
    start = datetime(1950, 1, 1, tzinfo=UTC)
    moment = start + timedelta(seconds=rng.randrange(int(timedelta(days=365 * 200).total_seconds())))
    moment = moment.replace(microsecond=rng.choice((0, rng.randrange(1_000_000))))
    return moment.astimezone(timezone(timedelta(hours=rng.choice((0, 8, -5)))))


def _serial(rng: random.Random) -> int:
    return rng.choice(
        (certs.new_serial(), rng.randrange(1, 256), 0x7F, 0x80, 0xFF, 0x100, 1 << rng.randrange(1, 160), 1)
    )


def _subject(rng: random.Random, keys: list[PublicKey]) -> certs.Subject:
    chosen = rng.sample(sorted(ATTRIBUTES), rng.randrange(1, len(ATTRIBUTES) + 1))
    attributes = {name: rng.choice(ATTRIBUTES[name]) for name in chosen}
    san = rng.sample(SANS, rng.randrange(0, 4)) if rng.random() < 0.6 else []
    return certs.subject_from(attributes, rng.choice(keys), san)


@pytest.mark.parametrize(
    ("algorithm", "scheme"),
    [
        (KeyAlgorithm.RSA2048, None),
        (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PSS_SHA256),
        (KeyAlgorithm.P256, None),
        (KeyAlgorithm.SM2, None),
    ],
)
def test_template_matches_reference_builder(
    subject_keys: list[PublicKey], algorithm: KeyAlgorithm, scheme: SignatureScheme | None
) -> None:
    rng = random.Random(f"{algorithm}-{scheme}")
    checked = 0
    for urls in URLS:
        issuer = _issuer(rng, algorithm, scheme, urls)
        for kind in profiles().values():
            template = certs.CertificateTemplate(issuer, kind)
            for _ in range(12):
                subject = _subject(rng, subject_keys)
                not_before = _moment(rng)
                validity = certs.Validity(not_before, not_before + timedelta(days=rng.randrange(1, 40000)))
                serial = _serial(rng)
                expected = certs.issue(issuer, subject, kind, validity, serial)
                assert template.issue(subject, validity, serial) == expected
                checked += 1
    assert checked == len(URLS) * len(profiles()) * 12


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2049, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2050, 1, 1, tzinfo=UTC),
        datetime(2050, 1, 1, 7, 59, 59, tzinfo=timezone(timedelta(hours=8))),
        datetime(2050, 1, 1, 8, 0, 0, tzinfo=timezone(timedelta(hours=8))),
        datetime(1950, 1, 2, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_utc_time_and_generalized_time_boundaries(subject_keys: list[PublicKey], moment: datetime) -> None:
    rng = random.Random(str(moment))
    issuer = _issuer(rng, KeyAlgorithm.P256)
    kind = profiles()["person"]
    subject = certs.subject_from({"common_name": "边界"}, subject_keys[0])
    for validity in (certs.Validity(moment, moment), certs.Validity(moment - timedelta(days=1), moment)):
        expected = certs.issue(issuer, subject, kind, validity, 5)
        assert certs.CertificateTemplate(issuer, kind).issue(subject, validity, 5) == expected
    loaded = x509.Certificate.load(expected)
    assert loaded["tbs_certificate"]["validity"]["not_after"].name == (
        "utc_time" if moment < datetime(2050, 1, 1, tzinfo=UTC) else "general_time"
    )


def test_years_before_1950_are_refused_like_the_reference(subject_keys: list[PublicKey]) -> None:
    issuer = _issuer(random.Random(1), KeyAlgorithm.P256)
    kind = profiles()["person"]
    subject = certs.subject_from({"common_name": "early"}, subject_keys[0])
    early = certs.Validity(datetime(1949, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="1950"):
        certs.issue(issuer, subject, kind, early, 1)
    with pytest.raises(ValueError, match="1950"):
        certs.CertificateTemplate(issuer, kind).issue(subject, early, 1)


def test_issuer_own_key_follows_the_reference(subject_keys: list[PublicKey]) -> None:
    """A certificate for the issuer's own key omits AKI exactly when the reference does (same name too)."""
    key = PrivateKey.generate(KeyAlgorithm.P256)
    subject = certs.subject_from({"common_name": "self"}, key.public_key)
    issuer = certs.self_signed_issuer(subject, MemoSigner(SoftwareSigner("ca", key, key.algorithm.default_scheme)))
    validity = certs.Validity.starting(datetime.now(UTC), 10)
    for kind in profiles().values():
        for candidate in (subject, certs.subject_from({"common_name": "other"}, key.public_key)):
            expected = certs.issue(issuer, candidate, kind, validity, 9)
            assert certs.CertificateTemplate(issuer, kind).issue(candidate, validity, 9) == expected
