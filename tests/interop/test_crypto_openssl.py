"""certseal keys, signatures and SM2 encryption checked by the OpenSSL 3 command line, in both directions."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from certseal.crypto.algorithms import SM2_DEFAULT_ID, KeyAlgorithm, SignatureScheme
from certseal.crypto.keys import PrivateKey, PublicKey
from certseal.crypto.sm2 import SM2Cipher
from certseal.errors import DecryptionFailed, InvalidSignature

ALICE_ID = b"ALICE123@YAHOO.COM"
MESSAGE = b"certseal interop message \x00\xff" * 5

Run = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def openssl(tmp_path: Path) -> Run:
    """Run `openssl ARGS` in tmp_path; check=True raises with OpenSSL's stderr in the message."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(["openssl", *args], cwd=tmp_path, capture_output=True, timeout=60)
        if check and proc.returncode != 0:
            pytest.fail(f"openssl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        return proc

    return run


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _write_key(tmp_path: Path, openssl: Run, key: PrivateKey, stem: str) -> tuple[str, str]:
    """Write key.der (PKCS#8 from certseal), key.pem (converted by openssl) and pub.pem (from certseal)."""
    (tmp_path / f"{stem}.der").write_bytes(key.pkcs8_der())
    openssl("pkey", "-inform", "DER", "-in", f"{stem}.der", "-out", f"{stem}.pem")
    (tmp_path / f"{stem}.pub.pem").write_bytes(key.public_key.pem())
    return f"{stem}.pem", f"{stem}.pub.pem"


def _openssl_key(tmp_path: Path, openssl: Run, *genpkey: str) -> tuple[bytes, bytes]:
    """Generate with `openssl genpkey`; return (private key PEM, public key PEM)."""
    openssl("genpkey", *genpkey, "-out", "k.pem")
    openssl("pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem")
    return (tmp_path / "k.pem").read_bytes(), (tmp_path / "pub.pem").read_bytes()


# --- SM2 signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize("distid", [SM2_DEFAULT_ID, ALICE_ID])
def test_certseal_sm2_signature_verified_by_openssl(tmp_path: Path, openssl: Run, distid: bytes) -> None:
    key = PrivateKey.generate(KeyAlgorithm.SM2)
    _, pub = _write_key(tmp_path, openssl, key, "sm2")
    (tmp_path / "msg").write_bytes(MESSAGE)
    sig = key.sign(MESSAGE, sm2_id=distid)
    (tmp_path / "sig.der").write_bytes(sig)
    (tmp_path / "bad.der").write_bytes(_flip(sig, len(sig) - 1))
    opt = f"distid:{distid.decode()}"

    ok = openssl("dgst", "-sm3", "-verify", pub, "-sigopt", opt, "-signature", "sig.der", "msg")
    assert b"Verified OK" in ok.stdout
    bad = openssl("dgst", "-sm3", "-verify", pub, "-sigopt", opt, "-signature", "bad.der", "msg", check=False)
    assert bad.returncode != 0 and b"Verified OK" not in bad.stdout
    # OpenSSL 3.0's default ID is empty: without -sigopt the standard-ID signature must not verify
    plain = openssl("dgst", "-sm3", "-verify", pub, "-signature", "sig.der", "msg", check=False)
    assert plain.returncode != 0
    other = "distid:1234567812345678" if distid != SM2_DEFAULT_ID else "distid:ALICE123@YAHOO.COM"
    wrong_id = openssl("dgst", "-sm3", "-verify", pub, "-sigopt", other, "-signature", "sig.der", "msg", check=False)
    assert wrong_id.returncode != 0


@pytest.mark.parametrize("distid", [SM2_DEFAULT_ID, ALICE_ID])
def test_openssl_sm2_signature_verified_by_certseal(tmp_path: Path, openssl: Run, distid: bytes) -> None:
    private_pem, public_pem = _openssl_key(tmp_path, openssl, "-algorithm", "SM2")
    (tmp_path / "msg").write_bytes(MESSAGE)
    openssl("dgst", "-sm3", "-sign", "k.pem", "-sigopt", f"distid:{distid.decode()}", "-out", "sig.der", "msg")
    sig = (tmp_path / "sig.der").read_bytes()

    pub = PublicKey.from_pem_or_der(public_pem)
    assert pub.algorithm is KeyAlgorithm.SM2
    pub.verify(sig, MESSAGE, sm2_id=distid)
    key = PrivateKey.from_pem_or_der(private_pem)
    assert key.algorithm is KeyAlgorithm.SM2
    assert key.public_key == pub
    key.public_key.verify(sig, MESSAGE, sm2_id=distid)

    with pytest.raises(InvalidSignature):
        pub.verify(_flip(sig, len(sig) - 1), MESSAGE, sm2_id=distid)
    with pytest.raises(InvalidSignature):
        pub.verify(sig, _flip(MESSAGE, 0), sm2_id=distid)
    with pytest.raises(InvalidSignature):
        pub.verify(sig, MESSAGE, sm2_id=b"1234567812345679")


def test_openssl_sm2_signature_with_empty_id(tmp_path: Path, openssl: Run) -> None:
    """Without -sigopt OpenSSL 3.0 signs with an empty ID; certseal verifies it only when told so."""
    _, public_pem = _openssl_key(tmp_path, openssl, "-algorithm", "SM2")
    (tmp_path / "msg").write_bytes(MESSAGE)
    openssl("dgst", "-sm3", "-sign", "k.pem", "-out", "sig.der", "msg")
    sig = (tmp_path / "sig.der").read_bytes()
    pub = PublicKey.from_pem_or_der(public_pem)
    pub.verify(sig, MESSAGE, sm2_id=b"")
    with pytest.raises(InvalidSignature):
        pub.verify(sig, MESSAGE)


def test_certseal_sm2_digest_signature_verified_by_openssl(tmp_path: Path, openssl: Run) -> None:
    """sign_digest(e) with e = SM3(Z || M) is an ordinary SM2 signature over M."""
    key = PrivateKey.generate(KeyAlgorithm.SM2)
    _, pub = _write_key(tmp_path, openssl, key, "sm2")
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "sig.der").write_bytes(key.sign_digest(key.public_key.sm2_message_digest(MESSAGE)))
    openssl("dgst", "-sm3", "-verify", pub, "-sigopt", "distid:1234567812345678", "-signature", "sig.der", "msg")


# --- SM2 encryption -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 32, 1000])
def test_certseal_sm2_encryption_decrypted_by_openssl(tmp_path: Path, openssl: Run, size: int) -> None:
    key = PrivateKey.generate(KeyAlgorithm.SM2)
    private, _ = _write_key(tmp_path, openssl, key, "sm2")
    pt = bytes((i * 31 + 7) & 0xFF for i in range(size))
    ct = key.public_key.encrypt_sm2(pt)
    (tmp_path / "ct.der").write_bytes(ct)
    openssl("pkeyutl", "-decrypt", "-inkey", private, "-in", "ct.der", "-out", "pt")
    assert (tmp_path / "pt").read_bytes() == pt
    # OpenSSL must also refuse a flipped C2 byte: it checks C3 over the recovered plaintext
    (tmp_path / "bad.der").write_bytes(_flip(ct, len(ct) - 1))
    bad = openssl("pkeyutl", "-decrypt", "-inkey", private, "-in", "bad.der", "-out", "bad_pt", check=False)
    assert bad.returncode != 0


def test_openssl_sm2_encryption_decrypted_by_certseal(tmp_path: Path, openssl: Run) -> None:
    private_pem, public_pem = _openssl_key(tmp_path, openssl, "-algorithm", "SM2")
    pt = b"secret for certseal, encrypted by openssl pkeyutl" * 3
    (tmp_path / "pt").write_bytes(pt)
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "pt", "-out", "ct.der")
    ct = (tmp_path / "ct.der").read_bytes()
    key = PrivateKey.from_pem_or_der(private_pem)
    assert key.decrypt_sm2(ct) == pt

    parsed = SM2Cipher.load(ct)
    x, y = parsed["x"].native, parsed["y"].native
    c3, c2 = parsed["hash"].native, parsed["ciphertext"].native
    assert len(c3) == 32 and len(c2) == len(pt)

    def rebuild(c3: bytes, c2: bytes) -> bytes:
        return SM2Cipher({"x": x, "y": y, "hash": c3, "ciphertext": c2}).dump()

    assert rebuild(c3, c2) == ct
    for bad in (
        rebuild(_flip(c3, 0), c2),
        rebuild(_flip(c3, 31), c2),
        rebuild(c3, _flip(c2, 0)),
        _flip(ct, len(ct) - 1),
    ):
        with pytest.raises(DecryptionFailed):
            key.decrypt_sm2(bad)
    # and a public key read from openssl's PEM encrypts for openssl's private key
    (tmp_path / "ct2.der").write_bytes(PublicKey.from_pem_or_der(public_pem).encrypt_sm2(b"round trip"))
    openssl("pkeyutl", "-decrypt", "-inkey", "k.pem", "-in", "ct2.der", "-out", "pt2")
    assert (tmp_path / "pt2").read_bytes() == b"round trip"


# --- RSA and ECDSA --------------------------------------------------------------------------------

# (algorithm, scheme, openssl -sigopt flags used to verify certseal's signature)
PYCA_CASES = [
    (KeyAlgorithm.RSA2048, SignatureScheme.RSA_PKCS1_SHA256, []),
    (
        KeyAlgorithm.RSA2048,
        SignatureScheme.RSA_PSS_SHA256,
        ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
    ),
    (KeyAlgorithm.P256, SignatureScheme.ECDSA_SHA256, []),
]


@pytest.mark.parametrize(("alg", "scheme", "sigopts"), PYCA_CASES)
def test_certseal_signature_verified_by_openssl(
    tmp_path: Path, openssl: Run, alg: KeyAlgorithm, scheme: SignatureScheme, sigopts: list[str]
) -> None:
    key = PrivateKey.generate(alg)
    _, pub = _write_key(tmp_path, openssl, key, "k")
    (tmp_path / "msg").write_bytes(MESSAGE)
    sig = key.sign(MESSAGE, scheme)
    (tmp_path / "sig").write_bytes(sig)
    (tmp_path / "bad").write_bytes(_flip(sig, len(sig) // 2))
    ok = openssl("dgst", "-sha256", "-verify", pub, *sigopts, "-signature", "sig", "msg")
    assert b"Verified OK" in ok.stdout
    bad = openssl("dgst", "-sha256", "-verify", pub, *sigopts, "-signature", "bad", "msg", check=False)
    assert bad.returncode != 0
    (tmp_path / "msg2").write_bytes(_flip(MESSAGE, 0))
    assert openssl("dgst", "-sha256", "-verify", pub, *sigopts, "-signature", "sig", "msg2", check=False).returncode


@pytest.mark.parametrize(
    ("genpkey", "alg", "scheme", "sigopts"),
    [
        (
            ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyAlgorithm.RSA2048,
            SignatureScheme.RSA_PKCS1_SHA256,
            [],
        ),
        (
            ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyAlgorithm.RSA2048,
            SignatureScheme.RSA_PSS_SHA256,
            ["-sigopt", "rsa_padding_mode:pss"],
        ),  # OpenSSL's default salt length
        (
            ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyAlgorithm.RSA2048,
            SignatureScheme.RSA_PSS_SHA256,
            ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"],
        ),
        (
            ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyAlgorithm.P256,
            SignatureScheme.ECDSA_SHA256,
            [],
        ),
    ],
)
def test_openssl_signature_verified_by_certseal(
    tmp_path: Path,
    openssl: Run,
    genpkey: list[str],
    alg: KeyAlgorithm,
    scheme: SignatureScheme,
    sigopts: list[str],
) -> None:
    private_pem, public_pem = _openssl_key(tmp_path, openssl, *genpkey)
    (tmp_path / "msg").write_bytes(MESSAGE)
    openssl("dgst", "-sha256", "-sign", "k.pem", *sigopts, "-out", "sig", "msg")
    sig = (tmp_path / "sig").read_bytes()
    pub = PublicKey.from_pem_or_der(public_pem)
    assert pub.algorithm is alg
    pub.verify(sig, MESSAGE, scheme)
    assert PrivateKey.from_pem_or_der(private_pem).public_key == pub
    with pytest.raises(InvalidSignature):
        pub.verify(_flip(sig, len(sig) // 2), MESSAGE, scheme)
    with pytest.raises(InvalidSignature):
        pub.verify(sig, _flip(MESSAGE, 3), scheme)


# --- key exchange in PKCS#8 -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", list(KeyAlgorithm))
def test_certseal_pkcs8_read_by_openssl(tmp_path: Path, openssl: Run, alg: KeyAlgorithm) -> None:
    key = PrivateKey.generate(alg)
    (tmp_path / "k.der").write_bytes(key.pkcs8_der())
    openssl("pkey", "-inform", "DER", "-in", "k.der", "-check", "-noout")
    pub = openssl("pkey", "-inform", "DER", "-in", "k.der", "-pubout", "-outform", "DER").stdout
    assert pub == key.public_key.spki_der
    # and OpenSSL's own PKCS#8 re-encoding of the same key is what certseal writes
    again = openssl("pkey", "-inform", "DER", "-in", "k.der", "-outform", "DER").stdout
    assert PrivateKey.from_pkcs8_der(again).public_key == key.public_key


@pytest.mark.parametrize(
    ("genpkey", "alg"),
    [
        (["-algorithm", "SM2"], KeyAlgorithm.SM2),
        (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], KeyAlgorithm.P256),
        (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], KeyAlgorithm.RSA2048),
    ],
)
def test_openssl_pkcs8_read_by_certseal(tmp_path: Path, openssl: Run, genpkey: list[str], alg: KeyAlgorithm) -> None:
    openssl("genpkey", *genpkey, "-out", "k.pem")
    der = openssl("pkey", "-in", "k.pem", "-outform", "DER").stdout
    spki = openssl("pkey", "-in", "k.pem", "-pubout", "-outform", "DER").stdout
    key = PrivateKey.from_pkcs8_der(der)
    assert key.algorithm is alg
    assert key.public_key.spki_der == spki
    assert PublicKey(spki).algorithm is alg
    # a signature by the loaded key verifies under OpenSSL's public key
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "sig").write_bytes(key.sign(MESSAGE))
    (tmp_path / "pub.der").write_bytes(spki)
    digest_opts = ["-sm3", "-sigopt", "distid:1234567812345678"] if alg is KeyAlgorithm.SM2 else ["-sha256"]
    openssl("dgst", *digest_opts, "-verify", "pub.der", "-keyform", "DER", "-signature", "sig", "msg")


def test_openssl_sec1_sm2_key_read_by_certseal(tmp_path: Path, openssl: Run) -> None:
    """`openssl ec` writes the traditional SEC1 form ("SM2 PRIVATE KEY" in OpenSSL 3.0)."""
    openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem")
    openssl("ec", "-in", "k.pem", "-out", "sec1.pem")
    openssl("ec", "-in", "k.pem", "-outform", "DER", "-out", "sec1.der")
    spki = openssl("pkey", "-in", "k.pem", "-pubout", "-outform", "DER").stdout
    for name in ("sec1.pem", "sec1.der"):
        key = PrivateKey.from_pem_or_der((tmp_path / name).read_bytes())
        assert key.algorithm is KeyAlgorithm.SM2
        assert key.public_key.spki_der == spki
