"""`certseal license verify-qr` and `certseal license qr-key …`: check a license QR code offline, manage its key.

Exit codes of verify-qr: 0 the signature is valid, 1 it is not (tampered, unknown or expired key, refused alg),
2 bad input (no QR code in the image, not a JWS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from certseal.cli.common import actor, app, err, fail, out, platform
from certseal.errors import CryptoError, ValidationError
from certseal.licenses.qr import QrPayload, QrPublicKey, decode_qr_image, keys_from_jwks, verify_qr_text

license_app = typer.Typer(help="E-licenses.", no_args_is_help=True)
qr_key_app = typer.Typer(help="The regulator's license-QR signing key (ES256).", no_args_is_help=True)
app.add_typer(license_app, name="license")
license_app.add_typer(qr_key_app, name="qr-key")

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def scanned_text(image_or_payload: str) -> str:
    """The QR text: decoded from an image file, or the argument itself (full QR text or bare JWS)."""
    path = Path(image_or_payload)
    if path.suffix.lower() in _IMAGE_SUFFIXES or _is_file(path):
        if not _is_file(path):
            raise ValidationError("IMAGE_OR_PAYLOAD", f"no such image file: {image_or_payload}")
        return decode_qr_image(path)
    return image_or_payload


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a JWS is longer than a file name may be
        return False


def _public_keys(jwks: Path | None) -> dict[str, QrPublicKey]:
    if jwks is None:
        from certseal.services.qr_keys import QrKeyService

        return QrKeyService(platform()).public_keys()
    try:
        document = json.loads(jwks.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError("--jwks", f"is not a readable JSON file ({exc})") from None
    if not isinstance(document, dict):
        raise ValidationError("--jwks", "must hold a JSON object with a 'keys' array")
    return keys_from_jwks(document)


def _print_payload(payload: QrPayload) -> None:
    until = payload.valid_until.isoformat() if payload.valid_until else "no end"
    out.print(f"identifier  {payload.identifier}", highlight=False)
    out.print(f"version     {payload.version}", highlight=False)
    out.print(f"holder      {payload.holder_code}", highlight=False)
    out.print(f"validity    {payload.valid_from.isoformat()} – {until}", highlight=False)
    out.print(f"status      {payload.status} (at issue, {payload.issued_at:%Y-%m-%d %H:%M:%S} UTC)", highlight=False)
    out.print(f"key         {payload.key_id}", highlight=False)
    out.print("signature   [bold green]OK[/] (ES256)", highlight=False)


@license_app.command("verify-qr")
def verify_qr(
    image_or_payload: Annotated[
        str, typer.Argument(metavar="IMAGE_OR_PAYLOAD", help="PNG/JPEG with a QR code, the QR text, or a bare JWS.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="Verify against this JWK Set instead of the deployment's keys.")
    ] = None,
) -> None:
    """Check a license QR code's signed payload offline; exit 0 only if the signature is valid."""
    try:
        payload = verify_qr_text(scanned_text(image_or_payload), _public_keys(jwks))
    except ValidationError as exc:
        _refuse(as_json, exc.message, "bad input", 2)
    except CryptoError as exc:
        _refuse(as_json, exc.message, "FAILED", 1)
    if as_json:
        out.print_json(data={"valid": True, "payload": payload.to_json()})
    else:
        _print_payload(payload)


def _refuse(as_json: bool, message: str, verdict: str, code: int) -> NoReturn:
    if as_json:
        out.print_json(data={"valid": False, "error": message})
        raise typer.Exit(code)
    if code == 1:
        err.print(f"signature   [bold red]{verdict}[/]: {message}", highlight=False)
        raise typer.Exit(code)
    fail(message, code)


@qr_key_app.command("ensure")
def qr_key_ensure(
    ca: Annotated[str, typer.Option("--ca", help="Deployment CA that certifies the key (document-signer).")],
    token: Annotated[str, typer.Option("--token", help="software or pkcs11.")] = "",
) -> None:
    """Create and certify the QR signing key (P-256) unless a valid one exists. Idempotent."""
    from certseal.services.qr_keys import QrKeyService

    info = QrKeyService(platform()).ensure(ca, actor(), token or None)
    out.print(
        f"license QR key [bold]{info.kid}[/] (p256, ES256), certificate {info.serial} from CA {info.ca}, "
        f"valid until {info.not_after:%Y-%m-%d}"
    )


@qr_key_app.command("rotate")
def qr_key_rotate(
    ca: Annotated[str, typer.Option("--ca", help="Deployment CA that certifies the new key (document-signer).")],
    token: Annotated[str, typer.Option("--token", help="software or pkcs11.")] = "",
) -> None:
    """A new QR signing key signs from now on; older keys stay published so printed codes keep verifying."""
    from certseal.services.qr_keys import QrKeyService

    info = QrKeyService(platform()).rotate(ca, actor(), token or None)
    out.print(f"license QR key [bold]{info.kid}[/] now signs (certificate {info.serial} from CA {info.ca})")


@qr_key_app.command("show")
def qr_key_show(
    jwks_out: Annotated[Path | None, typer.Option("--jwks-out", help="Also write the JWK Set (JSON) here.")] = None,
) -> None:
    """The published QR keys (current first) and, with --jwks-out, the JWK Set for the public page."""
    from certseal.services.qr_keys import QrKeyService

    service = QrKeyService(platform())
    keys = service.public_keys()
    if not keys:
        fail("no license QR key yet: run `certseal license qr-key ensure --ca NAME`")
    for key in keys.values():
        window = f"{key.not_before:%Y-%m-%d} – {key.not_after:%Y-%m-%d}" if key.not_before and key.not_after else ""
        out.print(f"{key.kid}  p256  {window}", highlight=False)
    if jwks_out is not None:
        jwks_out.write_text(json.dumps(service.jwks(), indent=2), "utf-8")
        out.print(f"wrote {jwks_out}")
