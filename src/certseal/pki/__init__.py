"""PKI: certificate authorities, profiles, issuance, CRL, OCSP, TSA, path building.  ASN.1 via asn1crypto."""
