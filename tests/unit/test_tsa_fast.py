"""The TSA hot path (certseal.pki.tsa): the common-shape request reader against the strict one, and tokens from the
template-built TimestampAuthority against a reference copy of the straightforward construction it replaced.

Outside checkers: `openssl ts -query` makes the requests of the matrix, `openssl ts -verify` accepts RSA tokens (and
refuses a tampered one), gmalg checks the SM3 digests and the SM2 signature of SM2 tokens (tests/sm2check.py).
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest
from asn1crypto import algos, cms, core, pem, tsp, x509
from gmalg import SM3
from hypothesis import given, settings
from hypothesis import strategies as st

from certseal.crypto.algorithms import SignatureScheme
from certseal.crypto.hashes import digest
from certseal.crypto.keys import PrivateKey
from certseal.crypto.signer import Signer
from certseal.crypto.tokens.software import SoftwareSigner
from certseal.errors import CertsealError
from certseal.pki import certificates as certs
from certseal.pki import tsa as pki_tsa
from certseal.pki.asn1 import signature_algorithm
from certseal.pki.der import header, positive_integer, tlv
from certseal.pki.names import build_name, parse_dn
from certseal.pki.tsa import (
    TSA_POLICY_OID,
    FailureInfo,
    RequestRejected,
    TimestampAuthority,
    TimestampRequest,
    build_request,
    parse_request,
)
from tests.fixtures.signers import MemoSigner
from tests.sm2check import sm2_signature_valid
from tests.unit.test_cms import issue_leaf, pki_of

OTHER_POLICY = "1.2.3.4.5"
SHA1_OID = "1.3.14.3.2.26"
NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
DATA = "处方 2024-001: amoxicillin 500 mg\n".encode()


# --- the request readers ---------------------------------------------------------------------------------------------


def _outcome(parse: Callable[[], TimestampRequest]) -> TimestampRequest | tuple[FailureInfo, str]:
    try:
        result = parse()
    except RequestRejected as exc:
        return exc.failure, exc.message
    assert isinstance(result, TimestampRequest)
    return result


def _agree(der: bytes, policy: str = TSA_POLICY_OID) -> TimestampRequest | tuple[FailureInfo, str]:
    """The fast reader answers a request as the strict one does, or leaves it to it; parse_request too."""
    general = _outcome(lambda: pki_tsa._parse_any(der, policy))
    fast = pki_tsa._parse_common_shape(der, policy)
    assert fast is None or fast == general
    if fast is not None:
        assert all(type(v) in (str, bytes, int, bool, type(None)) for v in fast)
    assert _outcome(lambda: parse_request(der, policy)) == general
    return general


def _openssl_query(tmp_path: Path, *options: str) -> bytes:
    data = tmp_path / "data.txt"
    data.write_bytes(DATA)
    out = tmp_path / "request.tsq"
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), *options, "-out", str(out)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.read_bytes()


@pytest.mark.parametrize("hash_name", ["sha256", "sm3", "sha384", "sha512", "sha1"])
def test_openssl_queries_take_the_fast_path(tmp_path: Path, hash_name: str) -> None:
    for cert in ([], ["-cert"]):
        for nonce in ([], ["-no_nonce"]):
            for policy in ([], ["-tspolicy", TSA_POLICY_OID], ["-tspolicy", OTHER_POLICY]):
                der = _openssl_query(tmp_path, f"-{hash_name}", *cert, *nonce, *policy)
                outcome = _agree(der)
                fast = pki_tsa._parse_common_shape(der, TSA_POLICY_OID)
                if hash_name == "sha1":
                    assert fast is None and outcome[0] is FailureInfo.BAD_ALG
                elif policy and policy[1] == OTHER_POLICY:
                    assert fast is None and outcome[0] is FailureInfo.UNACCEPTED_POLICY
                else:
                    assert fast is not None
                    assert fast.hashed_message == hashlib.new(hash_name, DATA).digest()
                    assert fast.cert_req is bool(cert) and (fast.nonce is None) is bool(nonce)
                    assert fast.policy == (TSA_POLICY_OID if policy else None)


def _request(
    hash_oid: str = "2.16.840.1.101.3.4.2.1",
    hashed: bytes = b"\1" * 32,
    parameters: bool = True,
    **fields: object,
) -> bytes:
    algorithm: dict[str, object] = {"algorithm": hash_oid}
    if parameters:
        algorithm["parameters"] = core.Null()
    value = {"version": 1, "message_imprint": {"hash_algorithm": algorithm, "hashed_message": hashed}, **fields}
    der: bytes = tsp.TimeStampReq(value).dump()
    return der


HANDMADE = [
    _request(parameters=False),
    _request(nonce=0),
    _request(nonce=-1),
    _request(nonce=127),
    _request(nonce=128),
    _request(nonce=-129),
    _request(nonce=2 ** (8 * 64 - 1) - 1),  # 64 bytes, the longest accepted
    _request(nonce=-(2 ** (8 * 64 - 1))),
    _request(nonce=2 ** (8 * 64 - 1)),  # 65 bytes
    _request(
        "2.16.840.1.101.3.4.2.3", b"\2" * 64, nonce=2 ** (8 * 64 - 1) - 1, req_policy=TSA_POLICY_OID, cert_req=True
    ),  # fmt: skip  (a long-form outer length)
    _request(cert_req=False),
    _request(req_policy=TSA_POLICY_OID, nonce=5, cert_req=True),
    _request(req_policy=OTHER_POLICY),
    _request(req_policy="1.3.6.1.4.1.60350.1.1.1"),  # the configured policy is a prefix of its DER contents
    _request("2.16.840.1.101.3.4.2.1", b"\1" * 31),
    _request("2.16.840.1.101.3.4.2.1", b"\1" * 33),
    _request("2.16.840.1.101.3.4.2.4", b"\1" * 28),  # sha224
    _request(SHA1_OID, b"\1" * 20),
    _request("2.16.840.1.101.3.4.2.2", b"\1" * 48, parameters=False),
    _request(version=2),
    _request(extensions=[{"extn_id": "1.2.3", "critical": False, "extn_value": b"x"}]),
    b"\x30\x80" + _request()[2:] + b"\x00\x00",  # indefinite length
    _request() + b"\x00",
    _request(nonce=5)[:-1],
]


def _edited(der: bytes, old: bytes, new: bytes) -> bytes:
    """`der` (a short-form SEQUENCE) with `old` replaced by `new` in its contents, re-framed."""
    assert der[1] < 0x80 and der.count(old) == 1
    return tlv(0x30, der[2:].replace(old, new))


HANDMADE += [
    _edited(_request(nonce=21), b"\x02\x01\x15", b"\x02\x05\x15"),  # a nonce running past the end
    _edited(_request(nonce=21), b"\x02\x01\x15", b"\x02\x02\x00\x15"),  # non-minimal INTEGERs
    _edited(_request(nonce=-5), b"\x02\x01\xfb", b"\x02\x02\xff\xfb"),
    _edited(_request(nonce=21), b"\x02\x01\x15", b"\x02\x00"),
    _edited(_request(cert_req=True), b"\x01\x01\xff", b"\x01\x01\x01"),  # not a DER BOOLEAN
    _edited(_request(cert_req=True), b"\x01\x01\xff", b"\x01\x01\xff\x04\x00"),  # an unknown field
    _edited(_request(nonce=21, cert_req=True), b"\x02\x01\x15\x01\x01\xff", b"\x01\x01\xff\x02\x01\x15"),
    b"\x30\x81" + _request()[1:],  # a non-minimal outer length
]


@pytest.mark.parametrize("der", HANDMADE)
@pytest.mark.parametrize("policy", [TSA_POLICY_OID, OTHER_POLICY, "1.3.6.01.4.1.60350.1.1", "not an oid"])
def test_handmade_requests_agree(der: bytes, policy: str) -> None:
    _agree(der, policy)


def test_fast_path_results_and_rejections() -> None:
    assert _agree(_request(nonce=2 ** (8 * 64 - 1)))[0] is FailureInfo.BAD_REQUEST
    assert _agree(_request(req_policy=OTHER_POLICY))[0] is FailureInfo.UNACCEPTED_POLICY
    assert _agree(_request(version=2))[0] is FailureInfo.BAD_DATA_FORMAT
    long = _request("2.16.840.1.101.3.4.2.3", b"\2" * 64, nonce=-(2**511), req_policy=TSA_POLICY_OID, cert_req=True)
    assert long[1] == 0x81
    fast = pki_tsa._parse_common_shape(long, TSA_POLICY_OID)
    assert fast is not None and fast.nonce == -(2**511) and fast.cert_req and fast.policy == TSA_POLICY_OID
    assert fast.imprint_der == tsp.TimeStampReq.load(long)["message_imprint"].dump()
    assert fast.nonce_der == core.Integer(-(2**511)).dump()
    # a policy text that no DER spells is refused by the strict reader; the fast one must not accept it either
    assert pki_tsa._parse_common_shape(_request(req_policy=TSA_POLICY_OID), "1.3.6.01.4.1.60350.1.1") is None
    assert parse_request(bytearray(_request(nonce=9))) == parse_request(_request(nonce=9))  # type: ignore[arg-type]
    assert parse_request(_request(nonce=9)).imprint_text == "sha256:" + "01" * 32


SEEDS = [
    build_request(DATA),
    build_request(DATA, "sm3", nonce=2**63 + 1, cert_req=False),
    build_request(DATA, "sha384", nonce=-5, policy=TSA_POLICY_OID),
    build_request(DATA, "sha512", nonce=2**500, policy=TSA_POLICY_OID),
    _request(parameters=False, nonce=0),
    _request(SHA1_OID, b"\1" * 20, cert_req=True),
]


@settings(max_examples=400, deadline=None)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_requests_agree(seed: bytes, data: st.DataObject) -> None:
    out = bytearray(seed)
    for _ in range(data.draw(st.integers(0, 3))):
        where = data.draw(st.integers(0, len(out) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete", "flip"]))
        if action == "set":
            out[where] = data.draw(st.integers(0, 255))
        elif action == "insert":
            out[where:where] = data.draw(st.binary(min_size=1, max_size=3))
        elif action == "delete" and len(out) > 1:
            del out[where]
        else:
            out[where] ^= 1 << data.draw(st.integers(0, 7))
    mutated = bytes(out[: data.draw(st.integers(1, len(out)))])
    _agree(mutated, data.draw(st.sampled_from([TSA_POLICY_OID, OTHER_POLICY])))


# --- the tokens ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tsa:
    root: bytes
    intermediate: bytes
    certificate: bytes
    signer: MemoSigner


@cache
def tsa_of(kind: str) -> Tsa:
    """A TSA certificate under the shared test PKI's intermediate CA (tests/unit/test_cms.py)."""
    pki = pki_of(kind)
    key = PrivateKey.generate(pki.signer.key_algorithm)
    issuer = certs.Issuer(
        build_name(parse_dn("CN=certseal test issuing CA,O=certseal,C=CN")),
        x509.Certificate.load(pki.intermediate).key_identifier,
        pki.intermediate_signer,
    )
    certificate = issue_leaf(issuer, "CN=certseal TSA fast,C=CN", key, "tsa")
    signer = SoftwareSigner("tsa", key, key.algorithm.default_scheme, certificate)
    return Tsa(pki.root, pki.intermediate, certificate, MemoSigner(signer))


def _authorities(tsa: Tsa, include_tsa_name: bool = True) -> tuple[TimestampAuthority, ReferenceAuthority]:
    chain = [tsa.intermediate, tsa.root]
    new = TimestampAuthority(tsa.signer, tsa.certificate, include_tsa_name=include_tsa_name, ca_chain=chain)
    return new, ReferenceAuthority(tsa.signer, tsa.certificate, include_tsa_name=include_tsa_name, ca_chain=chain)


REQUESTS = [
    build_request(DATA),
    build_request(DATA, "sm3", nonce=7),
    build_request(DATA, "sha384", nonce=-(2**200), cert_req=False),
    build_request(DATA, "sha512", nonce=2**511 - 1, policy=TSA_POLICY_OID),
    build_request(DATA, "sha256", nonce=0, cert_req=False, policy=TSA_POLICY_OID),
    _request(parameters=False, nonce=128, cert_req=True),  # the strict reader's path
]
SERIALS = [0, 1, 127, 128, 2**127 | 12345, (1_700_000_000_000 << 80) | 2**79 + 3, 2**159 + 17, 2**1100]
KINDS = ["rsa2048", "sm2", "p256"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("include_tsa_name", [True, False])
def test_tokens_are_byte_identical_to_the_reference(kind: str, include_tsa_name: bool) -> None:
    new, reference = _authorities(tsa_of(kind), include_tsa_name=include_tsa_name)
    shanghai = timezone(timedelta(hours=8))
    times = [NOW, NOW.astimezone(shanghai), NOW.replace(tzinfo=None), datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)]
    for der in REQUESTS:
        request = parse_request(der)
        for serial in SERIALS:
            for moment in times:
                for _ in range(2):  # the same genTime object twice: a batch
                    issued = new.issue(request, serial, moment)
                    expected = reference.issue(request, serial, moment)
                    assert issued == expected
    for der in (REQUESTS[2], REQUESTS[3]):  # canonical DER (asn1crypto re-encodes slowly: two samples)
        response = new.issue(parse_request(der), SERIALS[5], NOW).response_der
        assert tsp.TimeStampResp.load(response).dump(force=True) == response


def test_times_after_2049_are_refused_as_before() -> None:
    new, reference = _authorities(tsa_of("rsa2048"))
    request = parse_request(REQUESTS[0])
    for authority in (new, reference):
        with pytest.raises(CertsealError, match="2049"):
            authority.issue(request, 1, datetime(2050, 1, 1, tzinfo=UTC))


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["rsa2048", "sm2"]),
    hash_name=st.sampled_from(["sha256", "sm3", "sha384", "sha512"]),
    nonce=st.none() | st.integers(-(2**511), 2**511 - 1),
    cert_req=st.booleans(),
    policy=st.sampled_from([None, TSA_POLICY_OID]),
    serial=st.integers(0, 2**400),
    moment=st.datetimes(datetime(1990, 1, 1), datetime(2049, 12, 30), timezones=st.sampled_from([UTC, None])),
)
def test_random_tokens_are_byte_identical(
    kind: str, hash_name: str, nonce: int | None, cert_req: bool, policy: str | None, serial: int, moment: datetime
) -> None:
    new, reference = _authorities(tsa_of(kind))
    request = parse_request(build_request(DATA, hash_name, nonce=nonce, cert_req=cert_req, policy=policy))
    assert new.issue(request, serial, moment) == reference.issue(request, serial, moment)


# --- the outside checkers --------------------------------------------------------------------------------------------


def _openssl_verify(tmp_path: Path, tsa: Tsa, reply: bytes, *inputs: str, untrusted: bool = False) -> bool:
    (tmp_path / "root.pem").write_bytes(pem.armor("CERTIFICATE", tsa.root))
    (tmp_path / "untrusted.pem").write_bytes(
        pem.armor("CERTIFICATE", tsa.certificate) + pem.armor("CERTIFICATE", tsa.intermediate)
    )
    (tmp_path / "reply.tsr").write_bytes(reply)
    command = ["openssl", "ts", "-verify", *inputs, "-in", str(tmp_path / "reply.tsr")]
    command += ["-CAfile", str(tmp_path / "root.pem")]
    if untrusted:
        command += ["-untrusted", str(tmp_path / "untrusted.pem")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return result.returncode == 0 and "Verification: OK" in result.stdout


@pytest.mark.parametrize("options", [["-sha256", "-cert"], ["-sha512", "-no_nonce", "-tspolicy", TSA_POLICY_OID]])
def test_openssl_verifies_rsa_tokens(tmp_path: Path, options: list[str]) -> None:
    tsa = tsa_of("rsa2048")
    authority = TimestampAuthority(tsa.signer, tsa.certificate, ca_chain=[tsa.intermediate, tsa.root])
    query = _openssl_query(tmp_path, *options)
    (tmp_path / "query.tsq").write_bytes(query)
    reply = authority.issue(parse_request(query), random.getrandbits(127), datetime.now(UTC)).response_der
    untrusted = "-cert" not in options
    data = str(tmp_path / "data.txt")
    assert _openssl_verify(tmp_path, tsa, reply, "-data", data, untrusted=untrusted)
    assert _openssl_verify(tmp_path, tsa, reply, "-queryfile", str(tmp_path / "query.tsq"), untrusted=untrusted)

    other = tmp_path / "other.txt"
    other.write_bytes(DATA + b"!")
    assert not _openssl_verify(tmp_path, tsa, reply, "-data", str(other), untrusted=untrusted)
    tst = _signed_data(reply)["encap_content_info"]["content"].contents
    where = reply.index(tst) + tst.index(b"\x18\x0f") + 5  # a digit of genTime's year, inside the signed TSTInfo
    tampered = reply[:where] + bytes((reply[where] ^ 1,)) + reply[where + 1 :]
    assert not _openssl_verify(tmp_path, tsa, tampered, "-data", data, untrusted=untrusted)


def _signed_data(reply: bytes) -> cms.SignedData:
    response = tsp.TimeStampResp.load(reply)
    assert response["status"]["status"].native == "granted"
    signed: cms.SignedData = response["time_stamp_token"]["content"]
    return signed


def _sm3(data: bytes) -> bytes:
    h = SM3()
    h.update(data)
    return bytes(h.value())


@pytest.mark.parametrize("cert_req", [True, False])
def test_gmalg_checks_sm2_tokens(tmp_path: Path, cert_req: bool) -> None:
    tsa = tsa_of("sm2")
    authority = TimestampAuthority(tsa.signer.inner, tsa.certificate, ca_chain=[tsa.intermediate, tsa.root])
    query = _openssl_query(tmp_path, "-sm3", *(["-cert"] if cert_req else []))
    reply = authority.issue(parse_request(query), 2**120 + 1, datetime.now(UTC)).response_der
    signed = _signed_data(reply)
    tst_der = signed["encap_content_info"]["content"].contents
    tst = tsp.TSTInfo.load(tst_der)
    assert tst["message_imprint"]["hashed_message"].native == _sm3(DATA)
    expected = [tsa.certificate, tsa.intermediate] if cert_req else []
    assert sorted(c.chosen.dump() for c in signed["certificates"] or []) == sorted(expected)
    signer_info = signed["signer_infos"][0]
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attributes["message_digest"].native == _sm3(tst_der)
    signed_attributes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    certificate = x509.Certificate.load(tsa.certificate)
    signature = signer_info["signature"].native
    assert sm2_signature_valid(certificate, signed_attributes, signature)
    altered = signed_attributes.replace(attributes["message_digest"].native, _sm3(tst_der + b"x"))
    assert not sm2_signature_valid(certificate, altered, signature)


# --- the reference: TimestampAuthority as it was before the hot path was templated (commit 4a09dfe), verbatim --------

_SEQUENCE, _SET, _OCTETS, _CONTEXT_0 = 0x30, 0x31, 0x04, 0xA0
_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()
_TST_INFO_OID = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_SIGNED_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)
ACCURACY_SECONDS = 1


def _certificate_set(certificate_der: bytes, ca_chain: Sequence[bytes]) -> bytes:
    """SignedData's [0] IMPLICIT CertificateSet: the TSA certificate and the intermediates of its chain."""
    intermediates = [der for der in ca_chain if not x509.Certificate.load(der).self_issued and der != certificate_der]
    members = sorted({certificate_der, *intermediates})  # DER orders a SET OF by the encodings
    return tlv(_CONTEXT_0, b"".join(members))


def _attribute_prefix(kind: str, value: object, tail: int) -> bytes:
    """The DER of an attribute without its last `tail` bytes (the part that changes per token)."""
    der: bytes = cms.CMSAttribute({"type": kind, "values": [value]}).dump()
    return der[:-tail]


class ReferenceAuthority:
    """One TSA key and certificate, with the token's fixed parts encoded once.

    `ca_chain`: the certificates of the CAs above the TSA certificate, issuer first (CaService.ca_chain); the
    intermediates among them go into tokens with the TSA certificate, self-signed roots do not."""

    def __init__(
        self,
        signer: Signer,
        certificate_der: bytes,
        policy: str = TSA_POLICY_OID,
        include_tsa_name: bool = True,
        ca_chain: Sequence[bytes] = (),
    ) -> None:
        certificate = x509.Certificate.load(certificate_der)
        self.signer = signer
        self.certificate_der = certificate_der
        self.policy = policy
        scheme = signer.scheme
        self._digest_name = scheme.digest_name
        digest_length = len(digest(self._digest_name, b""))
        digest_algorithm = algos.DigestAlgorithm(
            {"algorithm": "sm3" if scheme is SignatureScheme.SM2_SM3 else "sha256"}
        )
        self._signature_algorithm = signature_algorithm(scheme).dump()

        self._tst_head = core.Integer(1).dump() + core.ObjectIdentifier(policy).dump()
        accuracy = tsp.Accuracy({"seconds": ACCURACY_SECONDS}).dump()
        tsa_name = tlv(_CONTEXT_0, x509.GeneralName(name="directory_name", value=certificate.subject).dump())
        self._accuracy = accuracy
        self._tst_tail = tsa_name if include_tsa_name else b""

        self._content_type_attr = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        self._message_digest_prefix = _attribute_prefix("message_digest", b"\0" * digest_length, digest_length)
        self._signing_time_prefix = _attribute_prefix(
            "signing_time", cms.Time({"utc_time": datetime(2000, 1, 1, tzinfo=UTC)}), 13
        )
        cert_id = tsp.ESSCertIDv2(
            {
                "cert_hash": digest("sha256", certificate_der),
                "issuer_serial": {
                    "issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
                    "serial_number": certificate.serial_number,
                },
            }
        )
        self._signing_certificate_attr = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [cert_id]})]}
        ).dump()

        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        )
        self._signer_info_head = core.Integer(1).dump() + sid.dump() + digest_algorithm.dump()
        self._signed_data_head = core.Integer(3).dump() + tlv(_SET, digest_algorithm.dump())
        self._certificates = _certificate_set(certificate_der, ca_chain)
        self._signer_info_fixed = len(self._signer_info_head) + len(self._signature_algorithm)

    def issue(self, request: TimestampRequest, serial: int, gen_time: datetime) -> pki_tsa.IssuedToken:
        """The DER TimeStampResp (status granted) for a checked request.

        Every length is worked out from the pieces and the response joined once: no piece is copied into each of
        the ten structures around it."""
        gen_time = gen_time.astimezone(UTC).replace(microsecond=0)
        generalized, signing_time = _token_times(gen_time)
        tst_body = b"".join(
            (
                self._tst_head,
                request.imprint_der,
                positive_integer(serial),
                generalized,
                self._accuracy,
                request.nonce_der or b"",
                self._tst_tail,
            )
        )
        tst_info = header(_SEQUENCE, len(tst_body)) + tst_body
        attributes = sorted(
            (
                self._content_type_attr,
                self._message_digest_prefix + digest(self._digest_name, tst_info),
                self._signing_time_prefix + signing_time,
                self._signing_certificate_attr,
            )
        )  # DER orders a SET OF by the encodings
        signed_attributes = b"".join(attributes)
        signature = self.signer.sign(header(_SET, len(signed_attributes)) + signed_attributes)

        attributes_header = header(_CONTEXT_0, len(signed_attributes))
        signature_header = header(_OCTETS, len(signature))
        signer_info_length = (
            self._signer_info_fixed
            + len(attributes_header)
            + len(signed_attributes)
            + len(signature_header)
            + len(signature)
        )
        signer_info_header = header(_SEQUENCE, signer_info_length)
        signer_infos_header = header(_SET, len(signer_info_header) + signer_info_length)
        tst_octets_header = header(_OCTETS, len(tst_info))
        tst_explicit_header = header(_CONTEXT_0, len(tst_octets_header) + len(tst_info))
        encapsulated_length = len(_TST_INFO_OID) + len(tst_explicit_header) + len(tst_octets_header) + len(tst_info)
        encapsulated_header = header(_SEQUENCE, encapsulated_length)
        certificates = self._certificates if request.cert_req else b""
        signed_data_length = (
            len(self._signed_data_head)
            + len(encapsulated_header)
            + encapsulated_length
            + len(certificates)
            + len(signer_infos_header)
            + len(signer_info_header)
            + signer_info_length
        )
        signed_data_header = header(_SEQUENCE, signed_data_length)
        content_header = header(_CONTEXT_0, len(signed_data_header) + signed_data_length)
        token_length = len(_SIGNED_DATA_OID) + len(content_header) + len(signed_data_header) + signed_data_length
        token_header = header(_SEQUENCE, token_length)
        response = b"".join(
            (
                header(_SEQUENCE, len(_GRANTED) + len(token_header) + token_length),
                _GRANTED,
                token_header,
                _SIGNED_DATA_OID,
                content_header,
                signed_data_header,
                self._signed_data_head,
                encapsulated_header,
                _TST_INFO_OID,
                tst_explicit_header,
                tst_octets_header,
                tst_info,
                certificates,
                signer_infos_header,
                signer_info_header,
                self._signer_info_head,
                attributes_header,
                signed_attributes,
                self._signature_algorithm,
                signature_header,
                signature,
            )
        )
        return pki_tsa.IssuedToken(response, serial, gen_time)


_TIMES: dict[datetime, tuple[bytes, bytes]] = {}  # a busy TSA stamps many tokens in the same second


def _token_times(moment: datetime) -> tuple[bytes, bytes]:
    """genTime (GeneralizedTime TLV) and the signingTime UTCTime text of a whole-second UTC moment."""
    times = _TIMES.get(moment)
    if times is None:
        if moment >= _UTC_TIME_LIMIT:
            raise CertsealError("signingTime after 2049 needs GeneralizedTime; this TSA encodes UTCTime only")
        if len(_TIMES) >= 64:
            _TIMES.clear()
        generalized = tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())
        times = _TIMES[moment] = (generalized, moment.strftime("%y%m%d%H%M%SZ").encode())
    return times
