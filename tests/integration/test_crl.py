"""CRL numbering and scheduling on SQLite and PostgreSQL; CRLs served at the distribution point URL."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import crl, pem, x509
from sqlalchemy import select

from certseal.crypto.algorithms import KeyAlgorithm
from certseal.errors import ConfigError, NotFound, ValidationError
from certseal.services.ca import CaService, RevocationReason, serial_hex
from certseal.services.crl import CrlPolicy, CrlService
from certseal.services.platform import Platform
from certseal.store.models import AuditEvent, IssuedCrl
from tests.conftest import ACTOR
from tests.fixtures.server import LiveDeployment


def _ca(platform: Platform, name: str = "crl-ca") -> str:
    CaService(platform).create_ca(name, KeyAlgorithm.P256, ACTOR)
    return name


def test_crl_numbers_are_monotonic_and_unique_per_ca(platform: Platform) -> None:
    first, second = _ca(platform, "first"), _ca(platform, "second")
    service = CrlService(platform)
    numbers = [service.generate(first, ACTOR, delta=delta).number for delta in (False, True, True, False, True)]
    assert numbers == [1, 2, 3, 4, 5]
    assert service.generate(second, ACTOR).number == 1  # each CA has its own sequence
    history = service.history(first)
    assert [(i.number, i.delta_base) for i in history] == [(5, 4), (4, None), (3, 1), (2, 1), (1, None)]
    for info in history:
        parsed = crl.CertificateList.load(info.der)
        assert parsed.crl_number_value.native == info.number
        assert (parsed.delta_crl_indicator_value.native if info.is_delta else None) == info.delta_base
    with platform.db.reading() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity == "crl")).all()
        assert len(events) == 6
        assert json.loads(events[1].after or "{}")["delta_base"] == 1


def test_concurrent_generation_never_reuses_a_number(platform: Platform) -> None:
    name = _ca(platform)
    service = CrlService(platform)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            numbers.extend(service.generate(name, ACTOR).number for _ in range(3))
        except BaseException as exc:  # collected, then asserted empty in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(numbers) == list(range(1, 13))
    with platform.db.reading() as session:
        assert sorted(session.scalars(select(IssuedCrl.number))) == list(range(1, 13))


def test_a_delta_crl_needs_a_full_crl_as_its_base(platform: Platform) -> None:
    name = _ca(platform)
    service = CrlService(platform)
    with pytest.raises(ValidationError) as raised:
        service.generate(name, ACTOR, delta=True)
    assert raised.value.field == "delta" and "no full CRL" in raised.value.rule
    with platform.db.reading() as session:
        assert session.scalars(select(IssuedCrl)).all() == []  # nothing numbered, nothing stored
    assert service.generate(name, ACTOR).number == 1
    assert service.generate(name, ACTOR, delta=True).delta_base == 1
    with pytest.raises(NotFound):
        service.generate("no-such-ca", ACTOR)


def test_current_crl_is_reused_until_due_then_renewed(platform: Platform) -> None:
    name = _ca(platform)
    service = CrlService(platform)
    first = service.current(name)
    assert (first.number, first.delta_base) == (1, None)
    assert service.current(name).number == 1  # not due: served again
    delta = service.current(name, delta=True)
    assert (delta.number, delta.delta_base) == (2, 1)
    assert service.latest(name, delta=True) == delta.der
    assert first.next_update - first.this_update == timedelta(days=7)
    assert delta.next_update - delta.this_update == timedelta(days=1)

    eager = CrlService(platform, CrlPolicy(full_validity=timedelta(days=9), renew_margin_full=timedelta(days=8)))
    renewed = eager.current(name)  # 7 days left < 8 days margin: due
    assert renewed.number == 3 and renewed.next_update - renewed.this_update == timedelta(days=9)
    assert eager.current(name).number == 3  # 9 days left: not due
    assert service.current(name, delta=True).delta_base == 3  # the old delta's base is superseded
    with pytest.raises(ConfigError):
        CrlPolicy(delta_validity=timedelta(hours=1), renew_margin_delta=timedelta(hours=1))


def test_revocations_holds_and_releases_reach_full_and_delta_crls(platform: Platform) -> None:
    name = _ca(platform)
    cas, service = CaService(platform), CrlService(platform)
    serials = [
        cas.issue(name, "person", ACTOR, subject=f"CN=p{i}", generate=KeyAlgorithm.P256).serial for i in range(3)
    ]
    cas.revoke(serials[0], RevocationReason.CERTIFICATE_HOLD, ACTOR)
    cas.revoke(serials[1], RevocationReason.KEY_COMPROMISE, ACTOR)
    assert _entries(service.generate(name, ACTOR).der) == {serials[0]: "certificate_hold", serials[1]: "key_compromise"}
    cas.release_hold(serials[0], ACTOR)
    cas.revoke(serials[2], RevocationReason.PRIVILEGE_WITHDRAWN, ACTOR)
    assert _entries(service.generate(name, ACTOR, delta=True).der) == {
        serials[0]: "remove_from_crl",
        serials[2]: "privilege_withdrawn",
    }
    assert _entries(service.generate(name, ACTOR).der) == {
        serials[1]: "key_compromise",
        serials[2]: "privilege_withdrawn",
    }
    assert _entries(service.generate(name, ACTOR, delta=True).der) == {}


def _entries(der: bytes) -> dict[str, str]:
    parsed = crl.CertificateList.load(der)
    return {
        serial_hex(e["user_certificate"].native): e.crl_reason_value.native if e.crl_reason_value else "unspecified"
        for e in parsed["tbs_cert_list"]["revoked_certificates"]
    }


def test_crl_is_served_at_the_distribution_point(live: LiveDeployment) -> None:
    live.run("ca", "create", "rsa-root", "--alg", "rsa2048")
    leaf_pem, ca_pem = live.path("leaf.pem"), live.path("ca.pem")
    live.run("ca", "cert", "rsa-root", "--out", str(ca_pem))
    live.run(
        "cert", "issue", "--ca", "rsa-root", "--profile", "person", "--subject", "CN=赵六",
        "--generate-key", "p256", "--out", str(leaf_pem),
    )  # fmt: skip
    leaf = x509.Certificate.load(pem.unarmor(leaf_pem.read_bytes())[2])
    [url] = leaf.crl_distribution_points[0]["distribution_point"].native
    assert url == f"{live.url}/crl/rsa-root.crl"

    served_before = _get(url)  # none issued yet: the server issues the first on schedule
    assert crl.CertificateList.load(served_before).crl_number_value.native == 1

    live.run("cert", "revoke", serial_hex(leaf.serial_number), "--reason", "key_compromise")
    generated = live.run("crl", "generate", "--ca", "rsa-root", "--out", str(live.path("full.crl")))
    assert "full CRL" in generated.stdout and "2" in generated.stdout
    served = _get(url)
    assert served == live.path("full.crl").read_bytes()
    parsed = crl.CertificateList.load(served)
    assert parsed.issuer == leaf.issuer
    assert [e["user_certificate"].native for e in parsed["tbs_cert_list"]["revoked_certificates"]] == [
        leaf.serial_number
    ]
    crl_pem = live.path("served.pem")
    crl_pem.write_bytes(pem.armor("X509 CRL", served))
    verify = subprocess.run(
        ["openssl", "verify", "-crl_check", "-CAfile", str(ca_pem), "-CRLfile", str(crl_pem), str(leaf_pem)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert verify.returncode != 0 and "certificate revoked" in verify.stdout + verify.stderr

    [freshest] = parsed.freshest_crl_value.native
    delta_url = freshest["distribution_point"][0]
    assert delta_url == f"{live.url}/crl/rsa-root-delta.crl"
    delta = crl.CertificateList.load(_get(delta_url))
    assert delta.delta_crl_indicator_value.native == 2

    live.run("crl", "generate", "--ca", "rsa-root", "--delta", "--pem", "--out", str(live.path("delta.pem")))
    assert live.path("delta.pem").read_bytes().startswith(b"-----BEGIN X509 CRL-----")
    shown = live.run("crl", "show", "--ca", "rsa-root").stdout
    assert "delta" in shown and "full" in shown


def test_unknown_ca_has_no_crl(live: LiveDeployment) -> None:
    for name in ("nope.crl", "nope-delta.crl"):
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{live.url}/crl/{name}")
        assert raised.value.code == 404
        assert "no CA named 'nope'" in json.loads(raised.value.read())["error"]
    failed = live.run("crl", "generate", "--ca", "nope", "--out", str(live.path("x.crl")), ok=False)
    assert failed.returncode != 0 and "no CA named 'nope'" in failed.stderr
    assert not Path(live.path("x.crl")).exists()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:
        assert response.headers["Content-Type"] == "application/pkix-crl"
        body: bytes = response.read()
        return body


def test_crl_validity_comes_from_settings(make_settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from certseal.errors import ConfigError
    from certseal.services.crl import CrlPolicy

    policy = CrlPolicy.from_settings(make_settings(crl_full_validity_hours=48, crl_full_renew_margin_hours=12))
    assert policy.validity(delta=False) == timedelta(hours=48) and policy.margin(delta=False) == timedelta(hours=12)
    with pytest.raises(ConfigError, match="margin"):
        CrlPolicy.from_settings(make_settings(crl_delta_validity_hours=6, crl_delta_renew_margin_hours=6))
