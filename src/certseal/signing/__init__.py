"""Signature formats over the one Signer interface: CMS, PDF (PAdES and SM2 seals), OFD (GB/T 38540), verification."""
