"""Use cases: each owns its transaction, its audit records and its authorisation checks."""
