// Offline check of a license QR code in the browser: the compact JWS (RFC 7515, ES256) in the URL fragment of
// <base_url>/v/<identifier>#<jws>, verified with WebCrypto against the regulator's JWK Set, and its binary payload
// decoded (layout: certseal/licenses/qr.py).  Standalone ES module, no dependencies.
//
//   import { verifyQr } from "/static/qr-verify.js";
//   const payload = await verifyQr(location.href, await (await fetch("/qr-keys.json")).json());
//
// verifyQr throws QrVerifyError (with .reason: "format" | "alg" | "kid" | "signature" | "key-validity" | "identifier")
// unless the signature is valid.

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.";
const FORMAT_VERSION = 1;
const NO_END = 0xffff;
const DIGEST_BYTES = 32;
const DAY_MS = 86400000;

export class QrVerifyError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = "QrVerifyError";
    this.reason = reason;
  }
}

export function b64urlDecode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new QrVerifyError("format", "not base64url without padding");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// The full QR text (URL with #fragment) or a bare JWS -> { urlIdentifier, jws }.
export function parseQrText(text) {
  const trimmed = text.trim();
  const hash = trimmed.indexOf("#");
  if (hash < 0) return { urlIdentifier: null, jws: trimmed };
  const match = /\/v\/([^/?#]+)$/.exec(trimmed.slice(0, hash));
  if (!match) throw new QrVerifyError("format", "the URL does not end in /v/<identifier>");
  return { urlIdentifier: decodeURIComponent(match[1]), jws: trimmed.slice(hash + 1) };
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }
  take(count) {
    if (this.at + count > this.bytes.length) throw new QrVerifyError("format", "the payload is truncated");
    const chunk = this.bytes.subarray(this.at, this.at + count);
    this.at += count;
    return chunk;
  }
  u8() { return this.take(1)[0]; }
  u16() { const b = this.take(2); return (b[0] << 8) | b[1]; }
  u32() { const b = this.take(4); return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3]; }
  ascii() { return String.fromCharCode(...this.take(this.u8())); }
}

function packedSize(length) {
  return Math.ceil(((37n ** BigInt(length)) - 1n).toString(2).length / 8);
}

function unpackIdentifier(bytes, length) {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  const chars = [];
  for (let i = 0; i < length; i++) {
    chars.push(ID_ALPHABET[Number(value % 37n)]);
    value /= 37n;
  }
  if (value !== 0n) throw new QrVerifyError("format", "the packed identifier is out of range");
  return chars.reverse().join("");
}

function isoDay(days) {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}

export function decodePayload(bytes, keyId = "") {
  const r = new Reader(bytes);
  if (r.u8() !== FORMAT_VERSION) throw new QrVerifyError("format", "unknown QR payload format");
  const length = r.u8();
  const identifier = unpackIdentifier(r.take(packedSize(length)), length);
  const version = r.u16();
  const holderCode = r.ascii();
  const validFrom = r.u16();
  const validUntil = r.u16();
  const status = r.ascii();
  const digest = Array.from(r.take(DIGEST_BYTES), (b) => b.toString(16).padStart(2, "0")).join("");
  const issuedAt = r.u32();
  if (r.at !== bytes.length) throw new QrVerifyError("format", "the payload has trailing bytes");
  return {
    identifier,
    version,
    holder_code: holderCode,
    valid_from: isoDay(validFrom),
    valid_until: validUntil === NO_END ? null : isoDay(validUntil),
    status,
    public_digest: digest,
    issued_at: new Date(issuedAt * 1000).toISOString().replace(".000Z", "+00:00"),
    key_id: keyId,
  };
}

// Verify `text` (QR text or bare JWS) against `jwks` ({keys: [...]}); resolves to the payload or throws.
export async function verifyQr(text, jwks) {
  const { urlIdentifier, jws } = parseQrText(text);
  const parts = jws.split(".");
  if (parts.length !== 3 || parts.some((p) => !p)) {
    throw new QrVerifyError("format", "not a compact JWS (three base64url parts)");
  }
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(b64urlDecode(parts[0])));
  } catch (e) {
    throw e instanceof QrVerifyError ? e : new QrVerifyError("format", "the JWS header is not JSON");
  }
  if (header === null || typeof header !== "object") throw new QrVerifyError("format", "the JWS header is not an object");
  if (header.alg !== "ES256") throw new QrVerifyError("alg", `JWS alg ${JSON.stringify(header.alg)} is refused: ES256 only`);
  if ("crit" in header) throw new QrVerifyError("alg", "JWS crit parameters are not understood");
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid);
  if (!jwk) throw new QrVerifyError("kid", `unknown key id ${JSON.stringify(header.kid)}`);
  if (jwk.kty !== "EC" || jwk.crv !== "P-256") throw new QrVerifyError("kid", `key ${jwk.kid} is not a P-256 key`);
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const signature = b64urlDecode(parts[2]);
  const signingInput = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  const ok = signature.length === 64 &&
    await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, signingInput);
  if (!ok) throw new QrVerifyError("signature", `the QR signature does not verify with key ${jwk.kid}`);
  const payload = decodePayload(b64urlDecode(parts[1]), jwk.kid);
  const issued = Date.parse(payload.issued_at) / 1000;
  if (typeof jwk.nbf === "number" && issued < jwk.nbf) {
    throw new QrVerifyError("key-validity", `key ${jwk.kid} was not yet valid when the payload was issued`);
  }
  if (typeof jwk.exp === "number" && issued > jwk.exp) {
    throw new QrVerifyError("key-validity", `key ${jwk.kid} had expired before the payload was issued`);
  }
  if (urlIdentifier !== null && urlIdentifier !== payload.identifier) {
    throw new QrVerifyError("identifier", `the URL names ${urlIdentifier} but the payload names ${payload.identifier}`);
  }
  return payload;
}
