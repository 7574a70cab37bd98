"""Crypto tokens: where private keys live (software token, PKCS#11)."""
