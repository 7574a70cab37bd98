"""E-license domain: types as data, lifecycle, numbering, identifiers, validation, masking, QR payloads."""
