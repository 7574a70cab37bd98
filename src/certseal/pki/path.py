"""Certification path building and validation (RFC 5280 section 6) over asn1crypto certificates.

From a leaf, candidate issuers are found by name (and AKI/SKI when both are present) among trust anchors and a pool
of intermediate and cross-certificates; every path is built depth first (cycle-safe, bounded) and validated in turn.
The first valid path wins; otherwise every rejected candidate is reported with its reason, in the EU DSS vocabulary.
Trust anchors are full certificates and, as OpenSSL does, their own validity, path length and name constraints apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import x509

from certseal.crypto.keys import PublicKey
from certseal.errors import CryptoError
from certseal.pki.asn1 import scheme_of
from certseal.pki.names import name_to_text

MAX_DEPTH = 8  # certificates between the leaf and the anchor, anchor included
MAX_CANDIDATES = 64  # complete or dead-end paths examined before giving up

# Extensions whose meaning the validator knows (a critical extension outside this set makes a certificate unusable)
_UNDERSTOOD = frozenset(
    {
        "basic_constraints",
        "key_usage",
        "extended_key_usage",
        "name_constraints",
        "subject_alt_name",
        "certificate_policies",
        "policy_constraints",
        "policy_mappings",
        "inhibit_any_policy",
        "key_identifier",
        "authority_key_identifier",
    }
)


class Indication(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(StrEnum):
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"  # a certificate had expired at the validation time
    NOT_YET_VALID = "NOT_YET_VALID"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    FORMAT_FAILURE = "FORMAT_FAILURE"
    # signature validation (ETSI EN 319 102-1 table 5, as EU DSS reports them)
    HASH_FAILURE = "HASH_FAILURE"  # the signed data's digest differs from the one signed
    REVOKED = "REVOKED"  # the signing certificate was revoked before the time the signature claims or is proven
    REVOKED_NO_POE = "REVOKED_NO_POE"  # revoked, and no proof that the signature existed before the revocation
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"  # the same for a CA certificate of the chain
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    TRY_LATER = "TRY_LATER"  # no revocation information can be had now
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"  # detached content missing

    @property
    def indication(self) -> Indication:
        return Indication.FAILED if self in _FAILED else Indication.INDETERMINATE


_FAILED = frozenset(
    {
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.FORMAT_FAILURE,
        SubIndication.HASH_FAILURE,
        SubIndication.REVOKED,
    }
)


@dataclass(frozen=True)
class Rejection:
    """One candidate path that did not validate: its subjects (leaf first) and why."""

    path: tuple[str, ...]
    sub_indication: SubIndication
    reason: str

    def __str__(self) -> str:
        return f"{' <- '.join(self.path)}: {self.sub_indication.value}: {self.reason}"


@dataclass(frozen=True)
class PathResult:
    indication: Indication
    sub_indication: SubIndication | None
    message: str
    path: tuple[x509.Certificate, ...] = field(default=(), repr=False)  # leaf first, anchor last; empty unless PASSED
    rejected: tuple[Rejection, ...] = ()

    @property
    def passed(self) -> bool:
        return self.indication is Indication.PASSED

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(name_to_text(c.subject) for c in self.path)


class _Rejected(Exception):
    def __init__(self, sub_indication: SubIndication, reason: str) -> None:
        super().__init__(reason)
        self.sub_indication = sub_indication
        self.reason = reason


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse DER strictly; a ValueError names what is wrong."""
    try:
        certificate = x509.Certificate.load(der, strict=True)
        certificate.native  # noqa: B018 - parses every field now, so a malformed one fails here
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a DER X.509 certificate: {exc}") from None
    return certificate


def find_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime | None = None,
    max_depth: int = MAX_DEPTH,
) -> PathResult:
    """The first valid path from `leaf` to one of `anchors`, or why none is."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    rejected: list[Rejection] = []
    complete = 0
    for path, reached_anchor in build_paths(leaf, intermediates, anchors, max_depth):
        subjects = tuple(name_to_text(c.subject) for c in path)
        if not reached_anchor:
            rejected.append(
                Rejection(
                    subjects,
                    SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                    f"no trust anchor issued {name_to_text(path[-1].subject)!r}, no certificate not yet in this path "
                    f"leads further (at most {max_depth} certificates above the leaf)",
                )
            )
            continue
        complete += 1
        try:
            validate_path(path, moment)
        except _Rejected as exc:
            rejected.append(Rejection(subjects, exc.sub_indication, exc.reason))
            continue
        return PathResult(Indication.PASSED, None, "valid path to a trust anchor", path, tuple(rejected))
    if complete == 0:
        return PathResult(
            Indication.INDETERMINATE,
            SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
            f"no path from {name_to_text(leaf.subject)!r} to a trust anchor",
            rejected=tuple(rejected),
        )
    first = next(r for r in rejected if r.sub_indication is not SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    return PathResult(first.sub_indication.indication, first.sub_indication, first.reason, rejected=tuple(rejected))


def build_paths(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    max_depth: int = MAX_DEPTH,
) -> Iterator[tuple[tuple[x509.Certificate, ...], bool]]:
    """Every candidate path (leaf first) with whether it ends at an anchor; anchors are tried before the pool.

    A path never holds the same (subject, public key) twice, so cross-certificates A->B and B->A cannot loop;
    at most `max_depth` certificates follow the leaf and at most MAX_CANDIDATES paths are produced.
    """
    anchor_index = _by_subject(anchors)
    pool_index = _by_subject(_unique(intermediates))
    anchor_ders = {a.dump() for a in anchors}
    produced = 0

    def extend(
        path: tuple[x509.Certificate, ...], seen: frozenset[tuple[str, bytes]]
    ) -> Iterator[tuple[tuple[x509.Certificate, ...], bool]]:
        nonlocal produced
        if produced >= MAX_CANDIDATES:
            return
        current = path[-1]
        extended = False
        for anchor in _issuers_of(current, anchor_index):
            if produced >= MAX_CANDIDATES:
                return
            if current.dump() == anchor.dump():
                continue
            produced += 1
            extended = True
            yield (*path, anchor), True
        if len(path) < max_depth:
            for issuer in _issuers_of(current, pool_index):
                key = _identity(issuer)
                if key in seen or issuer.dump() in anchor_ders:
                    continue
                extended = True
                yield from extend((*path, issuer), seen | {key})
        if not extended and produced < MAX_CANDIDATES:
            produced += 1
            yield path, False

    if leaf.dump() in anchor_ders:
        yield (leaf,), True
        return
    yield from extend((leaf,), frozenset({_identity(leaf)}))


def validate_path(path: Sequence[x509.Certificate], at: datetime) -> None:
    """Raise _Rejected unless `path` (leaf first, trust anchor last) is valid at `at`."""
    anchor_position = len(path) - 1
    for position, certificate in enumerate(path):
        label = _label(certificate, position, anchor_position)
        _check_format(certificate, label)
        _check_time(certificate, label, at)
        if position < anchor_position:
            _check_signature(certificate, path[position + 1], label)
        if position > 0:
            _check_ca(certificate, label)
            _check_path_length(path, position, label)
            _check_name_constraints(path, position, label)


def _check_format(certificate: x509.Certificate, label: str) -> None:
    unknown = sorted(
        extension["extn_id"].native
        for extension in certificate["tbs_certificate"]["extensions"]
        if extension["critical"].native and extension["extn_id"].native not in _UNDERSTOOD
    )
    if unknown:
        raise _Rejected(SubIndication.FORMAT_FAILURE, f"{label} has unknown critical extension(s) {unknown}")
    if certificate["signature_algorithm"].dump() != certificate["tbs_certificate"]["signature"].dump():
        raise _Rejected(SubIndication.FORMAT_FAILURE, f"{label}: the two signature algorithm fields differ")


def _check_time(certificate: x509.Certificate, label: str, at: datetime) -> None:
    validity = certificate["tbs_certificate"]["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    if at < not_before:
        raise _Rejected(SubIndication.NOT_YET_VALID, f"{label} is not valid before {not_before:%Y-%m-%d %H:%M:%S}Z")
    if at > not_after:
        raise _Rejected(SubIndication.OUT_OF_BOUNDS_NO_POE, f"{label} expired on {not_after:%Y-%m-%d %H:%M:%S}Z")


def _check_signature(certificate: x509.Certificate, issuer: x509.Certificate, label: str) -> None:
    if certificate.issuer != issuer.subject:
        raise _Rejected(SubIndication.CHAIN_CONSTRAINTS_FAILURE, f"{label}: issuer name differs from the next subject")
    try:
        scheme = scheme_of(certificate["signature_algorithm"])
        key = PublicKey(issuer.public_key.dump())
        key.verify(certificate.signature, certificate["tbs_certificate"].dump(), scheme)
    except (CryptoError, ValueError) as exc:
        message = getattr(exc, "message", str(exc))
        raise _Rejected(
            SubIndication.SIG_CRYPTO_FAILURE,
            f"signature of {label} does not verify with the key of {name_to_text(issuer.subject)!r}: {message}",
        ) from None


def _check_ca(certificate: x509.Certificate, label: str) -> None:
    constraints = certificate.basic_constraints_value
    if constraints is None or not constraints["ca"].native:
        raise _Rejected(SubIndication.CHAIN_CONSTRAINTS_FAILURE, f"{label} issues certificates but is not a CA")
    usage = certificate.key_usage_value
    if usage is not None and "key_cert_sign" not in usage.native:
        raise _Rejected(SubIndication.CHAIN_CONSTRAINTS_FAILURE, f"{label} lacks the keyCertSign key usage")


def _check_path_length(path: Sequence[x509.Certificate], position: int, label: str) -> None:
    """RFC 5280 4.2.1.9: non-self-issued intermediates below this CA, the leaf excluded, within pathLenConstraint."""
    constraints = path[position].basic_constraints_value
    limit = constraints["path_len_constraint"].native if constraints is not None else None
    if limit is None:
        return
    below = sum(1 for c in path[1:position] if not c.self_issued)
    if below > limit:
        raise _Rejected(
            SubIndication.CHAIN_CONSTRAINTS_FAILURE,
            f"{label} allows {limit} intermediate CA certificate(s) below it, the path has {below}",
        )


def _check_name_constraints(path: Sequence[x509.Certificate], position: int, label: str) -> None:
    """RFC 5280 4.2.1.10 for directoryName subtrees: every subject below this CA within permitted, outside excluded."""
    constraints = path[position].name_constraints_value
    if constraints is None:
        return
    permitted = _directory_names(constraints["permitted_subtrees"])
    excluded = _directory_names(constraints["excluded_subtrees"])
    other_forms = _other_forms(constraints["permitted_subtrees"]) | _other_forms(constraints["excluded_subtrees"])
    for index in range(position):
        subject = path[index]
        if index > 0 and subject.self_issued:
            continue  # self-issued intermediates (key rollover) are exempt, the leaf never is
        names = [subject.subject] if len(subject.subject.chosen) > 0 else []
        san = subject.subject_alt_name_value
        for general_name in san or ():
            if general_name.name == "directory_name":
                names.append(general_name.chosen)
            elif general_name.name in other_forms:
                raise _Rejected(
                    SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                    f"{label} constrains {general_name.name} names, which this validator does not check",
                )
        who = name_to_text(subject.subject) or "the certificate"
        for name in names:
            if permitted and not any(_within(name, base) for base in permitted):
                raise _Rejected(
                    SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                    f"{name_to_text(name)!r} is outside the permitted subtrees of {label} (name constraints, {who})",
                )
            for base in excluded:
                if _within(name, base):
                    raise _Rejected(
                        SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                        f"{name_to_text(name)!r} is in the excluded subtree {name_to_text(base)!r} of {label} "
                        f"(name constraints)",
                    )


def _directory_names(subtrees: x509.GeneralSubtrees) -> list[x509.Name]:
    if subtrees.native is None:
        return []
    return [s["base"].chosen for s in subtrees if s["base"].name == "directory_name"]


def _other_forms(subtrees: x509.GeneralSubtrees) -> set[str]:
    if subtrees.native is None:
        return set()
    return {str(s["base"].name) for s in subtrees if s["base"].name != "directory_name"}


def _within(name: x509.Name, base: x509.Name) -> bool:
    """DN prefix semantics: `base`'s RDNs are the first RDNs of `name`, compared as RFC 5280 7.1 prescribes."""
    rdns, base_rdns = list(name.chosen), list(base.chosen)
    return len(base_rdns) <= len(rdns) and all(rdns[i] == base_rdns[i] for i in range(len(base_rdns)))


def _issuers_of(certificate: x509.Certificate, index: dict[str, list[x509.Certificate]]) -> list[x509.Certificate]:
    """Candidates named as `certificate`'s issuer; those whose SKI matches its AKI first, mismatching ones never."""
    candidates = index.get(certificate.issuer.hashable, [])
    wanted = certificate.authority_key_identifier
    if wanted is None:
        return list(candidates)
    matching = [c for c in candidates if c.key_identifier == wanted]
    unknown = [c for c in candidates if c.key_identifier is None]
    return matching + unknown


def _by_subject(certificates: Sequence[x509.Certificate]) -> dict[str, list[x509.Certificate]]:
    index: dict[str, list[x509.Certificate]] = {}
    for certificate in certificates:
        index.setdefault(certificate.subject.hashable, []).append(certificate)
    return index


def _unique(certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    result = []
    for certificate in certificates:
        der = certificate.dump()
        if der not in seen:
            seen.add(der)
            result.append(certificate)
    return result


def _identity(certificate: x509.Certificate) -> tuple[str, bytes]:
    return certificate.subject.hashable, certificate.public_key.dump()


def _label(certificate: x509.Certificate, position: int, anchor_position: int) -> str:
    role = "leaf" if position == 0 else "trust anchor" if position == anchor_position else "CA certificate"
    serial = format(certificate.serial_number, "X")
    return f"{role} {name_to_text(certificate.subject)!r} (serial {serial})"
