"""Crypto core: algorithms, keys, the Signer interface and the tokens that hold keys."""
