from __future__ import annotations

import subprocess
import sys

import pytest

from certseal.crypto.algorithms import SignatureScheme
from certseal.pki.asn1 import scheme_of, signature_algorithm


@pytest.mark.parametrize("scheme", list(SignatureScheme))
def test_every_scheme_round_trips_through_its_algorithm_identifier(scheme: SignatureScheme) -> None:
    assert scheme_of(signature_algorithm(scheme)) is scheme


def test_pss_identifier_in_a_fresh_process() -> None:
    """Registering the SM OIDs once broke asn1crypto's reverse maps until something rebuilt them."""
    code = (
        "from certseal.crypto.algorithms import SignatureScheme as S; from certseal.pki.asn1 import "
        "signature_algorithm as a; print(a(S.RSA_PSS_SHA256)['algorithm'].dotted, a(S.SM2_SM3).dump().hex())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "1.2.840.113549.1.1.10"
    assert result.stdout.split()[1] == "300a06082a811ccf55018375"
