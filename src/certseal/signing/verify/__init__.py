"""Verification of signatures (CMS, PDF, later OFD) into reports in the EU DSS vocabulary.

- report.py: the VerificationReport / SignatureReport model, to_json();  html.py: the same as a readable page.
- certificates.py: chain to a trust anchor, revocation at the signing time, signature timestamps.
- cms.py: a CMS SignerInfo judged (shared by CMS files and PDF signatures);  pdf.py: every PDF signature, with the
  changes made after signing.
The use case (file kind detection, the deployment's trust and OCSP responders) is services/verification.py.
"""

from certseal.signing.verify.html import render_html
from certseal.signing.verify.report import (
    FileKind,
    Indication,
    SignatureReport,
    SubIndication,
    VerificationReport,
)

__all__ = ["FileKind", "Indication", "SignatureReport", "SubIndication", "VerificationReport", "render_html"]
