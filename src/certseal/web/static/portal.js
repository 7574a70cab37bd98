// The enterprise/pharmacist portal (/portal): the caller's own licenses (the API's data scope keeps everybody
// else's out), each with its data as the holder sees it (sensitive values masked), its versions with the sealed
// PDF/OFD files to download, the history, and the link the QR code opens.  Read only.
// Vanilla ES module; the toolkit is console.js's.  Routes: #/ list   #/license/<id> detail

import {
  api,
  failure,
  fieldsView,
  frame,
  go,
  h,
  historyView,
  infoOf,
  licenseType,
  loadMe,
  publicLink,
  replace,
  section,
  startRouter,
  statusChip,
  summaryView,
  table,
  text,
  versionsView,
} from "./console.js";

const API = "/api/v1";

async function listScreen(_match, _params, screen) {
  const page = await api("GET", `${API}/licenses?limit=200`);
  const rows = page.items.map((info) =>
    h(
      "tr",
      { dataset: { id: info.id }, class: "clickable", onclick: () => go(`#/license/${encodeURIComponent(info.id)}`) },
      h("td", {}, h("a", { href: `#/license/${encodeURIComponent(info.id)}` }, text(info.number))),
      h("td", {}, info.type_name),
      h("td", {}, info.holder_name),
      h("td", {}, statusChip(info.status)),
      h("td", {}, text(info.valid_until))
    )
  );
  replace(
    screen,
    h("h2", {}, "我的证照 My licenses"),
    h(
      "p",
      { class: "muted", id: "result-count" },
      `共 ${page.total} 件 ${page.total} license${page.total === 1 ? "" : "s"}`
    ),
    rows.length
      ? table(["编号 Number", "类型 Type", "持证主体 Holder", "状态 Status", "有效期至 Valid until"], rows, {
          class: "results",
        })
      : h("p", {}, "暂无证照 No license yet.")
  );
}

async function detailScreen(match, _params, screen) {
  const id = decodeURIComponent(match[1]);
  const detail = await api("GET", `${API}/licenses/${encodeURIComponent(id)}`);
  const info = infoOf(detail);
  const typeDoc = await licenseType(info.type_code);
  replace(
    screen,
    h("p", {}, h("a", { href: "#/" }, "← 我的证照 My licenses")),
    h(
      "div",
      { class: "title-row" },
      h("h2", { id: "license-title" }, `${info.type_name} ${text(info.number)}`),
      statusChip(info.status)
    ),
    summaryView(info),
    publicLink(info.identifier),
    section(
      "证照信息 License data",
      h("p", { class: "audience", id: "audience" }, "敏感信息已遮盖 Sensitive values are masked"),
      fieldsView(typeDoc, detail.fields || {})
    ),
    section(
      "版本与文件 Versions and files",
      (detail.versions || []).length
        ? versionsView(id, detail.versions)
        : h("p", { class: "muted" }, "尚未发证 Not issued yet")
    ),
    section("办理记录 History", historyView(detail.history || []))
  );
}

async function startPortal() {
  try {
    frame(await loadMe(), []);
  } catch (error) {
    replace(document.getElementById("main"), failure(error));
    return;
  }
  startRouter([
    [/^\/$/, listScreen],
    [/^\/license\/([^/]+)$/, detailScreen],
  ]);
}

startPortal();
