// The officer console (/console): search, license detail (fields, versions and their sealed files, history),
// drafts created from a form generated from the license type's field list, and every lifecycle action the API
// lists and the caller's role may perform.  Also the shared toolkit of portal.js (the enterprise/pharmacist portal).
//
// Vanilla ES module, no build step, no third-party code.  Everything shown comes from the REST API
// (/api/v1/licenses…, /api/v1/license-types…) and is put on the page with textContent, never as HTML.
// Writes carry the session's CSRF token (X-CSRF-Token, from /api/v1/auth/me).  The page is routed by its hash:
//   #/ search   #/new create a draft   #/license/<id> detail   #/license/<id>/<action> an action's form

const API = "/api/v1";

export const STATUS_LABELS = {
  draft: "草稿 Draft",
  submitted: "已提交 Submitted",
  approved: "已批准 Approved",
  rejected: "不予许可 Rejected",
  withdrawn: "已撤回 Withdrawn",
  issued: "有效 Issued",
  suspended: "已暂停 Suspended",
  revoked: "已撤销 Revoked",
  cancelled: "已注销 Cancelled",
  expired: "已过期 Expired",
};

export const ACTION_LABELS = {
  create: "新建 Create",
  edit: "修改草稿 Edit",
  submit: "提交 Submit",
  withdraw: "撤回 Withdraw",
  return: "退回 Return",
  reject: "不予许可 Reject",
  approve: "批准 Approve",
  issue: "发证 Issue",
  import: "导入 Import",
  change: "变更 Change",
  renew: "延续 Renew",
  suspend: "暂停 Suspend",
  resume: "恢复 Resume",
  revoke: "撤销 Revoke",
  cancel: "注销 Cancel",
  expire: "过期 Expire",
};

const COPY_LABELS = { original: "正本 Original", duplicate: "副本 Duplicate" };
// The order of the action buttons is ACTION_LABELS' (the lifecycle's); actions the console does not offer are left out.
const NOT_OFFERED = new Set(["create", "import", "expire"]);
const OFFERED_ACTIONS = Object.keys(ACTION_LABELS).filter((action) => !NOT_OFFERED.has(action));
const DATA_ACTIONS = new Set(["edit", "change"]);
const REASON_ACTIONS = { return: true, reject: false, suspend: true, revoke: true, withdraw: false };
const LONG_TEXT = 200;

// --- the API ---------------------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.field = (body && body.field) || null;
    this.rule = (body && body.rule) || null;
  }
}

let csrfToken = null;

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(401, { error: "登录已失效 Your session ended: log in again" });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: text.slice(0, 300) };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export async function loadMe() {
  const me = await api("GET", `${API}/auth/me`);
  csrfToken = me.csrf_token;
  me.can = (permission) => (me.permissions || []).includes(permission);
  return me;
}

const typeCache = new Map();

export function licenseType(code) {
  if (!typeCache.has(code)) {
    const loading = api("GET", `${API}/license-types/${encodeURIComponent(code)}`);
    loading.catch(() => typeCache.delete(code));
    typeCache.set(code, loading);
  }
  return typeCache.get(code);
}

// The API's LicenseDetail has the list row under `info`; tolerate a flattened one too.
export const infoOf = (detail) => detail.info || detail;

export function fileUrl(id, copy, format, version) {
  return `${API}/licenses/${encodeURIComponent(id)}/files/${copy}.${format}?version=${version}`;
}

export function publicUrl(identifier) {
  return `/v/${encodeURIComponent(identifier)}`;
}

// --- DOM --------------------------------------------------------------------------------------------------------

// h("a", {href: "#", class: "x", onclick: f}, "text", child): strings become text nodes, never markup.
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "value") node.value = value; // a textarea has no value attribute
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function notice(text, kind = "ok") {
  const box = document.getElementById("notice");
  replace(box, text ? h("p", { class: `notice-${kind}` }, text) : null);
}

export function failure(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

export function statusChip(status) {
  return h("span", { class: `chip chip-${status}`, dataset: { status } }, STATUS_LABELS[status] || status);
}

export function text(value) {
  if (value === undefined || value === null || value === "") return "—";
  if (typeof value === "boolean") return value ? "是 yes" : "否 no";
  return String(value);
}

export function when(value) {
  return value ? String(value).replace("T", " ").slice(0, 16) : "—";
}

export function table(headers, rows, props = {}) {
  return h(
    "table",
    props,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((name) => h("th", { scope: "col" }, name))
      )
    ),
    h("tbody", {}, rows)
  );
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h3", {}, title), children);
}

// --- showing a license -------------------------------------------------------------------------------------------

function fieldLabel(spec) {
  return spec.label_en ? `${spec.label} ${spec.label_en}` : spec.label;
}

// The value of one field as the API gave it (already masked for the audience); lists as nested tables.
export function valueView(spec, value) {
  if (spec.kind === "list" && Array.isArray(value)) {
    if (!value.length) return "—";
    const items = spec.items || [];
    return table(
      items.map((item) => item.label),
      value.map((row) =>
        h(
          "tr",
          {},
          items.map((item) => h("td", {}, valueView(item, row[item.key])))
        )
      ),
      { class: "nested" }
    );
  }
  return text(value);
}

export function fieldsView(typeDoc, fields) {
  const rows = [];
  for (const spec of typeDoc.fields || []) {
    if (!(spec.key in fields)) continue;
    rows.push(
      h(
        "tr",
        { dataset: { field: spec.key } },
        h("th", { scope: "row" }, fieldLabel(spec)),
        h("td", {}, valueView(spec, fields[spec.key]))
      )
    );
  }
  return h("table", { class: "fields" }, h("tbody", {}, rows));
}

export function versionsView(id, versions) {
  const rows = [...versions]
    .sort((a, b) => b.version - a.version)
    .map((v) =>
      h(
        "tr",
        { dataset: { version: v.version }, class: v.current ? "current" : "superseded" },
        h("td", {}, `v${v.version}`, v.current ? h("span", { class: "chip chip-issued small" }, "当前 current") : null),
        h("td", {}, ACTION_LABELS[v.action] || v.action),
        h("td", {}, text(v.number)),
        h("td", { class: "mono" }, text(v.identifier)),
        h("td", {}, `${text(v.valid_from)} – ${text(v.valid_until)}`),
        h("td", {}, when(v.created_at), h("br"), h("span", { class: "muted" }, text(v.created_by))),
        h("td", { class: "files" }, filesView(id, v))
      )
    );
  return table(
    ["版本 Version", "事项 Action", "编号 Number", "证照标识 Identifier", "有效期 Validity", "时间 When", "文件 Files"],
    rows,
    {
      class: "versions",
    }
  );
}

function filesView(id, version) {
  const files = version.files || [];
  if (!files.length) return "—";
  return files.map((file) => {
    const url = file.url || fileUrl(id, file.copy, file.format, version.version);
    const name = `${version.number || id}-v${version.version}-${file.copy}.${file.format}`;
    const label = `${COPY_LABELS[file.copy] || file.copy} ${file.format.toUpperCase()}`;
    return h(
      "div",
      { class: "file", dataset: { copy: file.copy, format: file.format } },
      h("span", {}, label),
      file.format === "pdf"
        ? h("a", { href: url, class: "view", onclick: (event) => viewFile(event, url) }, "查看 View")
        : null,
      h("a", { href: url, download: name, class: "download" }, "下载 Download")
    );
  });
}

// The API sends files as attachments; to view a PDF it is fetched and opened in a new tab as a blob (the tab is
// opened at once, while the click still counts as the user's, so that no popup blocker stops it).
async function viewFile(event, url) {
  event.preventDefault();
  const tab = window.open("about:blank", "_blank");
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const blob = await response.blob();
    if (tab) {
      tab.opener = null;
      tab.location.href = URL.createObjectURL(blob);
    }
  } catch (error) {
    if (tab) tab.close();
    notice(`文件打不开 The file cannot be opened: ${error.message}`, "warn");
  }
}

export function historyView(history) {
  const rows = [...history]
    .reverse()
    .map((entry) =>
      h(
        "tr",
        {},
        h("td", {}, when(entry.at)),
        h("td", {}, ACTION_LABELS[entry.action] || entry.action),
        h("td", {}, entry.from_status ? statusChip(entry.from_status) : "—", " → ", statusChip(entry.to_status)),
        h("td", {}, `v${entry.version}`),
        h("td", {}, text(entry.actor)),
        h(
          "td",
          {},
          text(entry.reason),
          entry.changed_fields && entry.changed_fields.length
            ? h("div", { class: "muted" }, `字段 fields: ${entry.changed_fields.join(", ")}`)
            : null
        )
      )
    );
  return table(["时间 When", "事项 Action", "状态 Status", "版本", "经办 By", "理由 Reason"], rows, {
    class: "history",
  });
}

export function summaryView(info) {
  const item = (label, value, cls) => [h("dt", {}, label), h("dd", { class: cls }, value)];
  return h(
    "dl",
    { class: "summary" },
    item("状态 Status", statusChip(info.status)),
    item("持证主体 Holder", text(info.holder_name)),
    item("主体代码 Holder code", text(info.holder_code), "mono"),
    item("编号 Number", text(info.number), "number"),
    item("证照标识 Identifier", text(info.identifier), "mono"),
    item("版本 Version", String(info.version)),
    item("有效期 Validity", `${text(info.valid_from)} – ${text(info.valid_until)}`),
    item("区划 Division", text(info.division_code))
  );
}

export function publicLink(identifier) {
  if (!identifier) return null;
  return h(
    "p",
    { class: "public-link" },
    "二维码指向的公开页面 The QR code opens: ",
    h(
      "a",
      { href: publicUrl(identifier), target: "_blank", rel: "noopener" },
      `${location.origin}${publicUrl(identifier)}`
    )
  );
}

// --- the page frame --------------------------------------------------------------------------------------------

export function frame(me, links) {
  replace(document.getElementById("who"), `${me.display_name} · ${me.role}`);
  replace(
    document.getElementById("nav"),
    links.map(([href, label]) => h("a", { href }, label))
  );
  const logout = document.getElementById("logout");
  logout.hidden = false;
  logout.onclick = async () => {
    try {
      await api("POST", `${API}/auth/logout`);
    } finally {
      location.assign("/login");
    }
  };
}

let pending = ""; // the notice to show once the next screen is drawn

// A tiny hash router: routes are [RegExp, handler(match, params, screen)]; the handler fills `screen`, which
// replaces <main> once it is done, unless the reader has moved on to another screen meanwhile.
export function startRouter(routes) {
  const main = document.getElementById("main");
  let shown = 0;
  const run = async () => {
    const serial = ++shown;
    const path = location.hash.replace(/^#/, "") || "/";
    const [route, match] = routes
      .map(([pattern, handler]) => [handler, pattern.exec(path.split("?")[0])])
      .find(([, m]) => m) || [null, null];
    const screen = h("div", { class: "screen", dataset: { screen: path.split("?")[0] } });
    const message = pending;
    pending = "";
    try {
      if (!route) throw new Error(`没有这个页面 No such page: ${path}`);
      await route(match, new URLSearchParams(path.split("?")[1] || ""), screen);
    } catch (error) {
      replace(screen, failure(error));
    }
    if (serial !== shown) return;
    replace(main, screen);
    notice(message || screen.dataset.notice || "", screen.dataset.noticeKind || "ok");
  };
  window.addEventListener("hashchange", run);
  run();
}

// Show `hash`, with `message` in the notice line once it is drawn.
export function go(hash, message) {
  pending = message || "";
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// --- forms generated from the type's field list --------------------------------------------------------------------

let controlSerial = 0;

// One editor per field spec; list fields become fieldsets of rows with add/remove.  options: include(spec) picks
// the fields; `locked` (a Set of top-level keys) and `lockAll` (inside a locked list) make them read-only.
export function fieldEditors(specs, values, options) {
  return specs
    .filter((spec) => options.include(spec))
    .map((spec) => fieldEditor(spec, values ? values[spec.key] : undefined, options));
}

function fieldEditor(spec, value, options) {
  if (spec.kind === "list") return listEditor(spec, value, options);
  const id = `f${++controlSerial}`;
  const control = controlFor(spec, value, id, isLocked(spec, options));
  const wrapper = h(
    "div",
    { class: `field kind-${spec.kind}`, dataset: { key: spec.key, kind: spec.kind } },
    h(
      "label",
      { for: id },
      spec.label,
      spec.required ? h("span", { class: "req", title: "必填 required" }, " *") : null,
      h("span", { class: "en" }, ` ${spec.label_en || ""}`)
    ),
    control,
    spec.description ? h("small", { class: "hint" }, spec.description) : null,
    spec.sensitivity === "sensitive"
      ? h(
          "small",
          { class: "hint sensitive" },
          "敏感信息，加密存储；遮盖的值不改即保留 sensitive, stored encrypted; a masked value left as it is stays"
        )
      : null,
    h("span", { class: "field-error", role: "alert" })
  );
  return wrapper;
}

function controlFor(spec, value, id, locked) {
  const common = { id, class: "control", autocomplete: "off", readOnly: locked };
  if (spec.kind === "enum") {
    const select = h(
      "select",
      { id, class: "control", disabled: locked },
      h("option", { value: "" }, "—"),
      (spec.choices || []).map((choice) => h("option", { value: choice, selected: choice === value }, choice))
    );
    return select;
  }
  if (spec.kind === "boolean")
    return h("input", { ...common, type: "checkbox", checked: value === true, disabled: locked });
  const shown = value === undefined || value === null ? "" : String(value);
  if ((spec.kind === "text" || spec.kind === "address") && (spec.max_length || 0) > LONG_TEXT) {
    return h("textarea", { ...common, rows: 3, maxLength: spec.max_length, value: shown });
  }
  const type = spec.kind === "date" ? "date" : spec.kind === "integer" ? "number" : "text";
  const mode = { phone: "tel", mobile: "tel", integer: "numeric", email: "email" }[spec.kind];
  return h("input", { ...common, type, inputmode: mode, value: shown });
}

function isLocked(spec, options) {
  return Boolean(options.lockAll || options.locked.has(spec.key));
}

function listEditor(spec, value, options) {
  const locked = isLocked(spec, options);
  const nested = { include: () => true, locked: new Set(), lockAll: locked };
  const rows = h("div", { class: "rows" });
  const box = h(
    "fieldset",
    { class: "field list", dataset: { key: spec.key, kind: "list" } },
    h(
      "legend",
      {},
      spec.label,
      spec.required ? h("span", { class: "req" }, " *") : null,
      h("span", { class: "en" }, ` ${spec.label_en || ""}`)
    ),
    rows,
    locked
      ? null
      : h(
          "button",
          { type: "button", class: "add quiet", onclick: () => addRow(rows, spec, {}, nested) },
          `+ 添加 Add ${spec.label}`
        ),
    h("span", { class: "field-error", role: "alert" })
  );
  const items = Array.isArray(value) ? value : [];
  for (const item of items) addRow(rows, spec, item, nested);
  if (!items.length && spec.required && !locked) addRow(rows, spec, {}, nested);
  return box;
}

function addRow(rows, spec, item, options) {
  const remove = () => {
    row.remove();
    assignPaths(rows.closest("form"));
  };
  const row = h(
    "div",
    { class: "row" },
    h("div", { class: "row-fields" }, fieldEditors(spec.items || [], item, options)),
    options.lockAll
      ? null
      : h("button", { type: "button", class: "remove quiet", title: "删除 Remove", onclick: remove }, "× 删除 Remove"),
    h("span", { class: "field-error", role: "alert" })
  );
  rows.append(row);
  assignPaths(rows.closest("form"));
  return row;
}

// Give every field, row and control its data path ("production_sites[0].address"), as the API names fields.
export function assignPaths(form) {
  if (!form) return;
  const walk = (holder, prefix) => {
    for (const field of holder.querySelectorAll(":scope > .field")) {
      const path = `${prefix}${field.dataset.key}`;
      field.dataset.path = path;
      if (field.dataset.kind === "list") {
        [...field.querySelector(":scope > .rows").children].forEach((row, index) => {
          row.dataset.path = `${path}[${index}]`;
          walk(row.querySelector(":scope > .row-fields"), `${path}[${index}].`);
        });
      } else {
        field.querySelector(":scope > .control").setAttribute("name", path);
      }
    }
  };
  for (const holder of form.querySelectorAll(".data-fields")) walk(holder, "");
}

// The data the form holds, as the API takes it: empty values left out.
export function collectData(holder) {
  const data = {};
  for (const field of holder.querySelectorAll(":scope > .field")) {
    const key = field.dataset.key;
    if (field.dataset.kind === "list") {
      const items = [...field.querySelector(":scope > .rows").children].map((row) =>
        collectData(row.querySelector(":scope > .row-fields"))
      );
      if (items.length) data[key] = items;
      continue;
    }
    const control = field.querySelector(":scope > .control");
    if (control.type === "checkbox") {
      if (control.checked) data[key] = true;
    } else if (control.value.trim() !== "") {
      data[key] =
        field.dataset.kind === "integer" && /^-?\d+$/.test(control.value) ? Number(control.value) : control.value;
    }
  }
  return data;
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  for (const node of form.querySelectorAll(".field-error, .form-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// The element that shows errors of `path`, or of the nearest enclosing path ("a[0].b" → "a[0]" → "a").
function errorHolder(form, path) {
  let current = path.replace(/^data\./, "");
  while (current) {
    const found = form.querySelector(`[data-path="${CSS.escape(current)}"]`);
    if (found) return found;
    const cut = Math.max(current.lastIndexOf("."), current.lastIndexOf("["));
    current = cut > 0 ? current.slice(0, cut) : "";
  }
  return null;
}

// An API error shown next to the field(s) it names; MultiValidationError's message lists "field: rule; …".
export function showErrors(form, error) {
  const general = form.querySelector(".form-error");
  const found = [];
  const mark = (path, rule) => {
    const holder = errorHolder(form, path);
    if (!holder) return false;
    holder.classList.add("invalid");
    const slot = holder.querySelector(":scope > .field-error");
    slot.textContent = slot.textContent ? `${slot.textContent}; ${rule}` : rule;
    const control = holder.querySelector(":scope > .control");
    if (control) control.setAttribute("aria-invalid", "true");
    found.push(holder);
    return true;
  };
  const parts = (error.message || "")
    .split("; ")
    .map((part) => /^([A-Za-z0-9_.\[\]-]+): (.+)$/.exec(part))
    .filter(Boolean);
  const listed = parts.some(([, path]) => path === error.field);
  if (error.field && !listed) mark(error.field, error.rule || error.message);
  for (const [, path, rule] of parts) mark(path, rule);
  general.textContent = found.length
    ? `请更正标出的字段 Please correct the marked field${found.length > 1 ? "s" : ""}: ${error.message}`
    : error.message;
  if (found.length) found[0].scrollIntoView({ block: "center" });
  else general.scrollIntoView({ block: "center" });
}

// A form that sends `request()` to the API and shows its errors in place; `done(result)` on success.
export function apiForm(props, children, request, done) {
  const submit = h("button", { type: "submit", class: "primary" }, props.submitLabel);
  const form = h(
    "form",
    { class: "api-form", novalidate: true, dataset: props.dataset || {} },
    h("p", { class: "form-error error", role: "alert" }),
    children,
    h(
      "div",
      { class: "form-buttons" },
      submit,
      props.cancelHref ? h("a", { href: props.cancelHref, class: "back" }, "返回 Back") : null
    )
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    assignPaths(form);
    submit.disabled = true;
    try {
      done(await request(form));
    } catch (error) {
      if (error instanceof ApiError) showErrors(form, error);
      else form.querySelector(".form-error").textContent = String(error.message || error);
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => assignPaths(form));
  return form;
}

// --- the console's screens ---------------------------------------------------------------------------------------

const state = { me: null, caps: null, types: null };

function may(typeCode, action) {
  return ((state.caps && state.caps.actions[typeCode]) || []).includes(action);
}

async function searchScreen(_match, params, screen) {
  const typeSelect = h(
    "select",
    { name: "type", id: "s-type" },
    h("option", { value: "" }, "全部 All types"),
    state.types.map((t) => h("option", { value: t.code, selected: params.get("type") === t.code }, t.name))
  );
  const statusSelect = h(
    "select",
    { name: "status", id: "s-status" },
    h("option", { value: "" }, "全部 Any status"),
    Object.entries(STATUS_LABELS).map(([code, label]) =>
      h("option", { value: code, selected: params.get("status") === code }, label)
    )
  );
  const input = (name, label, placeholder) => [
    h("label", { for: `s-${name}` }, label),
    h("input", { id: `s-${name}`, name, value: params.get(name) || "", placeholder, autocomplete: "off" }),
  ];
  const form = h(
    "form",
    { class: "search", role: "search" },
    h("div", {}, h("label", { for: "s-type" }, "证照类型 Type"), typeSelect),
    h("div", {}, h("label", { for: "s-status" }, "状态 Status"), statusSelect),
    h("div", {}, input("number", "编号 Number", "鄂20260001")),
    h("div", {}, input("holder_name", "持证主体 Holder name", "名称的一部分 part of the name")),
    h("div", {}, input("holder_code", "主体代码 Holder code (exact)", "USCC / 身份证号")),
    h("div", { class: "form-buttons" }, h("button", { type: "submit", class: "primary" }, "查询 Search"))
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (String(value).trim()) query.set(name, String(value).trim());
    go(`#/?${query}`);
  });
  const creatable = state.types.some((t) => may(t.code, "create"));
  const results = h("div", { id: "results" });
  replace(
    screen,
    h(
      "div",
      { class: "title-row" },
      h("h2", {}, "证照查询 Search licenses"),
      creatable ? h("a", { href: "#/new", class: "button primary", id: "new-draft" }, "+ 新建草稿 New draft") : null
    ),
    form,
    results
  );
  const query = new URLSearchParams(params);
  const limit = 20;
  const offset = Number(query.get("offset") || 0);
  query.set("limit", String(limit));
  let page;
  try {
    page = await api("GET", `${API}/licenses?${query}`);
  } catch (error) {
    replace(results, failure(error));
    return;
  }
  const rows = page.items.map((info) =>
    h(
      "tr",
      { dataset: { id: info.id }, class: "clickable", onclick: () => go(`#/license/${encodeURIComponent(info.id)}`) },
      h("td", {}, h("a", { href: `#/license/${encodeURIComponent(info.id)}` }, text(info.number || "（草稿 draft）"))),
      h("td", {}, info.type_name),
      h("td", {}, info.holder_name),
      h("td", { class: "mono" }, info.holder_code),
      h("td", {}, statusChip(info.status)),
      h("td", {}, text(info.valid_until)),
      h("td", {}, info.division_code),
      h("td", {}, when(info.updated_at))
    )
  );
  const pager = (label, to) => {
    const next = new URLSearchParams(params);
    next.set("offset", String(to));
    return h("a", { href: `#/?${next}`, class: "button quiet" }, label);
  };
  replace(
    results,
    h("p", { class: "muted", id: "result-count" }, `共 ${page.total} 条 ${page.total} found`),
    rows.length
      ? table(
          [
            "编号 Number",
            "类型 Type",
            "持证主体 Holder",
            "代码 Code",
            "状态 Status",
            "有效期至 Valid until",
            "区划 Division",
            "更新 Updated",
          ],
          rows,
          { class: "results" }
        )
      : h("p", {}, "没有符合条件的证照 No license matches."),
    h(
      "div",
      { class: "pager" },
      offset > 0 ? pager("← 上一页 Previous", Math.max(0, offset - limit)) : null,
      offset + limit < page.total ? pager("下一页 Next →", offset + limit) : null
    )
  );
}

async function detailScreen(match, params, screen) {
  const id = decodeURIComponent(match[1]);
  const reveal = params.get("reveal") === "true";
  const detail = await api("GET", `${API}/licenses/${encodeURIComponent(id)}?reveal=${reveal}`);
  const info = infoOf(detail);
  const typeDoc = await licenseType(info.type_code);
  const actions = OFFERED_ACTIONS.filter(
    (action) => (detail.actions || []).includes(action) && may(info.type_code, action)
  );
  const canReveal = state.me.can("license:view-sensitive") && detail.audience !== "officer";
  replace(
    screen,
    h("p", {}, h("a", { href: "#/" }, "← 查询 Search")),
    h(
      "div",
      { class: "title-row" },
      h("h2", { id: "license-title" }, `${info.type_name} ${info.number || "（草稿 draft）"}`),
      statusChip(info.status)
    ),
    summaryView(info),
    publicLink(info.identifier),
    actions.length
      ? h(
          "div",
          { class: "actions", id: "actions" },
          actions.map((action) =>
            h(
              "a",
              {
                href: `#/license/${encodeURIComponent(id)}/${action}`,
                class: `button action-${action}`,
                dataset: { action },
              },
              ACTION_LABELS[action]
            )
          )
        )
      : null,
    (detail.warnings || []).length
      ? h(
          "ul",
          { class: "warnings" },
          detail.warnings.map((w) => h("li", {}, w))
        )
      : null,
    section(
      "证照信息 License data",
      h(
        "div",
        { class: "reveal-row" },
        h(
          "span",
          { class: `audience audience-${detail.audience}`, id: "audience" },
          detail.audience === "officer"
            ? "明文 clear values (已审计 audited)"
            : "敏感信息已遮盖 sensitive values masked"
        ),
        canReveal
          ? h(
              "a",
              { href: `#/license/${encodeURIComponent(id)}?reveal=true`, class: "button quiet", id: "reveal" },
              "显示明文 Show clear values"
            )
          : null
      ),
      fieldsView(typeDoc, detail.fields || {})
    ),
    section(
      "版本 Versions",
      (detail.versions || []).length
        ? versionsView(id, detail.versions)
        : h("p", { class: "muted" }, "尚未发证 Not issued yet")
    ),
    section("办理记录 History", historyView(detail.history || []))
  );
  if (reveal) {
    screen.dataset.notice = "已显示明文，此次查看已记入审计 Clear values shown; this view is audited.";
    screen.dataset.noticeKind = "warn";
  }
}

function confirmationsFor(typeDoc, action) {
  const lifecycle = typeDoc.lifecycle || {};
  return (lifecycle.confirmations || {})[action] || [];
}

function groundsFor(typeDoc, action, status) {
  const lifecycle = typeDoc.lifecycle || {};
  if (action === "reject") return lifecycle.refusal_grounds || [];
  if (action !== "cancel") return [];
  const grounds = lifecycle.cancellation_grounds || [];
  if (status === "revoked") return grounds.filter((g) => g.when === "revoked");
  return grounds.filter((g) => !g.when || g.when === status);
}

function inputsFor(action, typeDoc, info) {
  const parts = [];
  const confirmations = confirmationsFor(typeDoc, action);
  if (confirmations.length) {
    parts.push(
      h(
        "fieldset",
        { class: "field confirmations", dataset: { path: "confirmed" } },
        h("legend", {}, "确认事项 Confirmations"),
        confirmations.map((c) =>
          h(
            "label",
            { class: "check" },
            h("input", { type: "checkbox", name: "confirmed", value: c.code }),
            ` ${c.label} `,
            h("span", { class: "en" }, c.label_en || "")
          )
        ),
        h("span", { class: "field-error", role: "alert" })
      )
    );
  }
  const grounds = groundsFor(typeDoc, action, info.status);
  if (grounds.length) {
    parts.push(
      h(
        "div",
        { class: "field", dataset: { path: "ground" } },
        h("label", { for: "a-ground" }, "事由 Ground", h("span", { class: "req" }, " *")),
        h(
          "select",
          { id: "a-ground", name: "ground", class: "control" },
          h("option", { value: "" }, "—"),
          grounds.map((g) => h("option", { value: g.code }, `${g.label} ${g.label_en || ""}`))
        ),
        h("span", { class: "field-error", role: "alert" })
      )
    );
  }
  if (action in REASON_ACTIONS) {
    parts.push(
      h(
        "div",
        { class: "field", dataset: { path: "reason" } },
        h(
          "label",
          { for: "a-reason" },
          "理由 Reason",
          REASON_ACTIONS[action] ? h("span", { class: "req" }, " *") : null
        ),
        h("textarea", { id: "a-reason", name: "reason", class: "control", rows: 3, maxLength: 2000 }),
        h("span", { class: "field-error", role: "alert" })
      )
    );
  }
  if (action === "issue" && (typeDoc.number || {}).mode === "external") {
    parts.push(
      h(
        "div",
        { class: "field", dataset: { path: "number" } },
        h("label", { for: "a-number" }, "证书编号 Number", h("span", { class: "req" }, " *")),
        h("input", { id: "a-number", name: "number", class: "control", autocomplete: "off" }),
        h("small", { class: "hint" }, "本类证照编号由外部给定 this type's numbers are assigned outside the registry"),
        h("span", { class: "field-error", role: "alert" })
      )
    );
  }
  if (action === "renew") {
    parts.push(
      h(
        "div",
        { class: "field", dataset: { path: "applied_on" } },
        h("label", { for: "a-applied" }, "申请日期 Applied on"),
        h("input", {
          id: "a-applied",
          name: "applied_on",
          class: "control",
          type: "date",
          value: new Date().toISOString().slice(0, 10),
        }),
        h("span", { class: "field-error", role: "alert" })
      )
    );
  }
  return parts;
}

function transitionBody(action, form) {
  const body = { action };
  const confirmed = [...form.querySelectorAll('input[name="confirmed"]:checked')].map((box) => box.value);
  if (form.querySelector('input[name="confirmed"]')) body.confirmed = confirmed;
  for (const name of ["reason", "ground", "number", "applied_on"]) {
    const control = form.querySelector(`[name="${name}"]`);
    if (control && control.value.trim()) body[name] = control.value.trim();
  }
  const dataFields = form.querySelector(".data-fields");
  if (dataFields) body.data = collectData(dataFields);
  return body;
}

function lockedKeys(typeDoc, action) {
  if (action !== "change") return new Set();
  const locked = ((typeDoc.change || {}).locked_fields || []).concat(
    typeDoc.fields.filter((f) => f.set_on_issue).map((f) => f.key)
  );
  return new Set(locked);
}

async function actionScreen(match, _params, screen) {
  const id = decodeURIComponent(match[1]);
  const action = match[2];
  // The form holds the data as shown (masked): the registry keeps a masked value that comes back unchanged.
  const detail = await api("GET", `${API}/licenses/${encodeURIComponent(id)}`);
  const info = infoOf(detail);
  const typeDoc = await licenseType(info.type_code);
  if (!OFFERED_ACTIONS.includes(action) || !(detail.actions || []).includes(action)) {
    throw new Error(
      `${ACTION_LABELS[action] || action}: 当前状态不可办理 not available while ${
        STATUS_LABELS[info.status] || info.status
      }`
    );
  }
  const children = inputsFor(action, typeDoc, info);
  if (DATA_ACTIONS.has(action)) {
    const options = {
      include: (spec) => action === "change" || !spec.set_on_issue,
      locked: lockedKeys(typeDoc, action),
    };
    children.unshift(h("div", { class: "data-fields" }, fieldEditors(typeDoc.fields, detail.fields || {}, options)));
  }
  const back = `#/license/${encodeURIComponent(id)}`;
  const form = apiForm(
    { submitLabel: `确认${ACTION_LABELS[action]}`, cancelHref: back, dataset: { action } },
    children,
    (f) => api("POST", `${API}/licenses/${encodeURIComponent(id)}/transitions`, transitionBody(action, f)),
    () => go(back, `${ACTION_LABELS[action]}：已完成 done`)
  );
  replace(
    screen,
    h("p", {}, h("a", { href: back }, "← 返回 Back")),
    h(
      "div",
      { class: "title-row" },
      h("h2", {}, `${ACTION_LABELS[action]} · ${info.type_name} ${info.number || ""}`),
      statusChip(info.status)
    ),
    form
  );
}

async function createScreen(_match, params, screen) {
  const creatable = state.types.filter((t) => may(t.code, "create"));
  if (!creatable.length) throw new Error("您的角色不能新建证照 Your role cannot create licenses");
  const chosen = params.get("type") || "";
  const typeSelect = h(
    "select",
    { id: "new-type", name: "type", onchange: (e) => go(`#/new?type=${encodeURIComponent(e.target.value)}`) },
    h("option", { value: "" }, "— 选择证照类型 choose a type —"),
    creatable.map((t) => h("option", { value: t.code, selected: t.code === chosen }, `${t.name} ${t.name_en}`))
  );
  replace(
    screen,
    h("p", {}, h("a", { href: "#/" }, "← 查询 Search")),
    h("h2", {}, "新建草稿 New draft"),
    h("div", { class: "field" }, h("label", { for: "new-type" }, "证照类型 License type"), typeSelect)
  );
  if (!chosen) return;
  const typeDoc = await licenseType(chosen);
  const division = h(
    "div",
    { class: "field", dataset: { path: "division_code" } },
    h(
      "label",
      { for: "new-division" },
      "区划代码 Division code",
      h("span", { class: "en" }, " (默认为您的辖区 default: yours)")
    ),
    h("input", {
      id: "new-division",
      name: "division_code",
      class: "control",
      inputmode: "numeric",
      autocomplete: "off",
    }),
    h("span", { class: "field-error", role: "alert" })
  );
  const options = { include: (spec) => !spec.set_on_issue, locked: new Set() };
  const form = apiForm(
    { submitLabel: "保存草稿 Save draft", cancelHref: "#/", dataset: { type: chosen } },
    [division, h("div", { class: "data-fields" }, fieldEditors(typeDoc.fields, {}, options))],
    (f) => {
      const body = { type: chosen, data: collectData(f.querySelector(".data-fields")) };
      const code = f.querySelector('[name="division_code"]').value.trim();
      if (code) body.division_code = code;
      return api("POST", `${API}/licenses`, body);
    },
    (created) => go(`#/license/${encodeURIComponent(infoOf(created).id)}`, "草稿已保存 Draft saved")
  );
  screen.append(form);
}

async function startConsole() {
  try {
    state.me = await loadMe();
    [state.caps, state.types] = await Promise.all([
      api("GET", "/console/capabilities.json"),
      api("GET", `${API}/license-types`),
    ]);
    const creates = state.types.some((t) => may(t.code, "create"));
    frame(
      state.me,
      creates
        ? [
            ["#/", "查询 Search"],
            ["#/new", "新建 New draft"],
          ]
        : [["#/", "查询 Search"]]
    );
  } catch (error) {
    replace(document.getElementById("main"), failure(error));
    return;
  }
  startRouter([
    [/^\/$/, searchScreen],
    [/^\/new$/, createScreen],
    [/^\/license\/([^/]+)$/, detailScreen],
    [/^\/license\/([^/]+)\/([a-z]+)$/, actionScreen],
  ]);
}

if (document.body && document.body.dataset.app === "console") startConsole();
