// The offline check of the public license page (/v/<identifier>), in the browser, no dependencies but
// /static/qr-verify.js:
//
// 1. the regulator's QR keys: /qr-keys.json, kept in localStorage so that a phone without network can still check
//    a scanned code (a fresh copy replaces it whenever the network answers);
// 2. the scanned code: the compact JWS in location.hash, verified against those keys (signature, key validity,
//    identifier in the URL = identifier signed);
// 3. the live record: /api/v1/public/licenses/<identifier> carries a freshly signed JWS of the current state; it is
//    verified too, and its payload compared with the record (identifier, version, status, public-fields digest)
//    and with the scanned code (data changed since the code was issued? status changed?).
//
// Results go to #qr-result and #live-result, and to data-* attributes of #offline-check for scripts and tests:
// data-qr-state (valid | invalid | absent | error), data-live-state (valid | invalid | unavailable), data-live-status.
// The server keeps a rendered page up to a second: when the signed live record says otherwise, the status banner
// (#status) is brought up to date and a note asks to reload for the data.

import { QrVerifyError, verifyQr } from "/static/qr-verify.js";

const KEYS_STORAGE = "certseal.qr-keys";
const STATUS = {
  issued: ["有效", "valid", "ok"],
  suspended: ["已暂停", "suspended", "warn"],
  revoked: ["已撤销", "revoked", "bad"],
  cancelled: ["已注销", "cancelled", "off"],
  expired: ["已过期", "expired", "off"],
};

function statusWords(status) {
  return STATUS[status] || [status, status, "off"];
}

// As the page reads it: an issued license past its validity is expired, whether the expiry job ran or not.
function shownStatus(payload) {
  const today = new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10); // China time, UTC+8
  return payload.status === "issued" && payload.valid_until && today > payload.valid_until ? "expired" : payload.status;
}

function english(text) {
  const twin = document.createElement("span");
  twin.className = "en";
  twin.lang = "en";
  twin.textContent = text;
  return twin;
}

function show(element, css, chinese, englishText, details = []) {
  element.className = `check ${css}`;
  element.replaceChildren(`${chinese} `, english(englishText));
  for (const detail of details) {
    const line = document.createElement("small");
    line.textContent = detail;
    element.append(line);
  }
}

function reason(error) {
  return error instanceof QrVerifyError ? `${error.reason}: ${error.message}` : String(error && error.message || error);
}

async function loadKeys(url) {
  try {
    const response = await fetch(url, { cache: "no-cache" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const jwks = await response.json();
    try {
      localStorage.setItem(KEYS_STORAGE, JSON.stringify(jwks));
    } catch (_) {
      // storage full or disabled: the check still runs with the fresh keys
    }
    return { jwks, cached: false };
  } catch (error) {
    const stored = localStorage.getItem(KEYS_STORAGE);
    if (stored) return { jwks: JSON.parse(stored), cached: true };
    throw error;
  }
}

function describe(payload) {
  const [chinese, englishText] = statusWords(payload.status);
  return `第${payload.version}版 version ${payload.version} · 签名时状态 status when signed: ${chinese} ${englishText} · ` +
    `${payload.issued_at} · 密钥 key ${payload.key_id}`;
}

async function checkScanned(panel, jwks, cached) {
  const element = document.getElementById("qr-result");
  const jws = location.hash.slice(1);
  if (!jws) {
    panel.dataset.qrState = "absent";
    show(element, "off", "链接未携带二维码签名", "the link carries no signed QR payload");
    return null;
  }
  try {
    const payload = await verifyQr(`${location.origin}${location.pathname}#${jws}`, jwks);
    panel.dataset.qrState = "valid";
    const notes = [describe(payload)];
    if (cached) notes.push("使用本机保存的密钥 (keys from this device's cache: offline)");
    show(element, "ok", "二维码签名有效", "QR signature valid", notes);
    return payload;
  } catch (error) {
    panel.dataset.qrState = "invalid";
    show(element, "bad", "二维码签名无效", "QR signature INVALID", [reason(error)]);
    return null;
  }
}

async function fetchRecord(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function mismatches(record, live) {
  const found = [];
  if (live.identifier !== record.identifier) found.push(`标识不一致 identifier ${live.identifier} ≠ ${record.identifier}`);
  if (live.version !== record.current_version) found.push(`版本不一致 version ${live.version} ≠ ${record.current_version}`);
  if (live.status !== record.status) found.push(`状态不一致 status ${live.status} ≠ ${record.status}`);
  if (live.public_digest !== record.public_digest) found.push("摘要不一致 the public-fields digest differs");
  return found;
}

function sinceScan(scanned, live) {
  if (!scanned) return [];
  const notes = [];
  if (scanned.status !== live.status) {
    const [before, beforeEn] = statusWords(scanned.status);
    const [now, nowEn] = statusWords(live.status);
    notes.push(`二维码签发后状态已由 ${before} 变为 ${now} (status changed from ${beforeEn} to ${nowEn} since this code was issued)`);
  }
  if (scanned.public_digest !== live.public_digest || scanned.version !== live.version) {
    notes.push(`二维码签发后证照信息已变更，当前为第${live.version}版 (the data changed since this code was issued; ` +
      `current version ${live.version})`);
  }
  return notes;
}

// The page was built from the registry up to a second ago; the verified live payload is the newer word.
function reconcile(panel, live) {
  const notes = [];
  const header = document.getElementById("status");
  const status = shownStatus(live);
  if (header && header.dataset.shown !== status) {
    const [chinese, englishText, css] = statusWords(status);
    header.className = `status status-${css}`;
    header.dataset.shown = status;
    header.querySelector(".status-word").replaceChildren(`${chinese} `, english(englishText));
    notes.push("页面状态已按签名的实时记录更新 (the status above was updated from the signed live record)");
  }
  if (panel.dataset.digest && panel.dataset.digest !== live.public_digest) {
    notes.push("本页数据早于实时记录，请刷新页面 (this page predates the live record: reload it)");
  }
  return notes;
}

async function checkLive(panel, jwks, scanned) {
  const element = document.getElementById("live-result");
  let record;
  try {
    record = await fetchRecord(panel.dataset.record);
  } catch (error) {
    panel.dataset.liveState = "unavailable";
    show(element, "off", "无法获取实时记录", "the live record cannot be fetched (offline?)", [reason(error)]);
    return;
  }
  let live;
  try {
    live = await verifyQr(record.qr_jws, jwks);
  } catch (error) {
    panel.dataset.liveState = "invalid";
    show(element, "bad", "实时记录签名无效", "live record signature INVALID", [reason(error)]);
    return;
  }
  panel.dataset.liveStatus = live.status;
  const problems = mismatches(record, live);
  if (problems.length) {
    panel.dataset.liveState = "invalid";
    show(element, "bad", "实时记录与签名不符", "the live record does not match its signature", problems);
    return;
  }
  panel.dataset.liveState = "valid";
  const [chinese, englishText, css] = statusWords(shownStatus(live));
  show(element, css, `签名有效 · 当前状态：${chinese}`, `signature valid · current status: ${englishText}`, [
    "实时记录的状态与摘要与签名一致 (the live record's status and digest match the signed payload)",
    describe(live),
    ...sinceScan(scanned, live),
    ...reconcile(panel, live),
  ]);
}

async function main() {
  const panel = document.getElementById("offline-check");
  if (!panel) return;
  let keys;
  try {
    keys = await loadKeys(panel.dataset.keys);
  } catch (error) {
    panel.dataset.qrState = "error";
    panel.dataset.liveState = "unavailable";
    show(document.getElementById("qr-result"), "bad", "无法获取核验密钥", "the QR keys cannot be loaded", [reason(error)]);
    show(document.getElementById("live-result"), "off", "未核验", "not checked");
    panel.dataset.state = "done";
    return;
  }
  const scanned = await checkScanned(panel, keys.jwks, keys.cached);
  await checkLive(panel, keys.jwks, scanned);
  panel.dataset.state = "done";
}

main();
