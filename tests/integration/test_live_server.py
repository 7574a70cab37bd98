from __future__ import annotations

import urllib.error
import urllib.request

from asn1crypto import x509

from tests.fixtures.server import LiveDeployment


def test_ca_certificate_is_served_at_the_aia_url(live: LiveDeployment) -> None:
    live.run("ca", "create", "rsa-root", "--alg", "rsa2048")
    live.run(
        "cert",
        "issue",
        "--ca",
        "rsa-root",
        "--profile",
        "person",
        "--subject",
        "CN=王五",
        "--generate-key",
        "p256",
        "--out",
        str(live.path("leaf.pem")),
    )
    leaf = x509.Certificate.load(_der(live.path("leaf.pem").read_bytes()))
    issuers = [
        a["access_location"]
        for a in leaf.authority_information_access_value.native
        if a["access_method"] == "ca_issuers"
    ]
    assert issuers == [f"{live.url}/ca/rsa-root.crt"]
    with urllib.request.urlopen(issuers[0]) as response:
        ca = x509.Certificate.load(response.read())
    assert ca.subject == leaf.issuer
    try:
        urllib.request.urlopen(f"{live.url}/ca/nope.crt")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        raise AssertionError("unknown CA served")


def _der(pem_bytes: bytes) -> bytes:
    from asn1crypto import pem

    return pem.unarmor(pem_bytes)[2]
