import { get } from "../api.js";
import { t } from "../i18n.js";
import { el, fmtExact, fmtTime, maskEmail, showDialog } from "../ui.js";

const filters = { account: "", key: "", model: "", status: "" };

function options(id, current, items, allLabel) {
  const node = el("select", { id }, el("option", { value: "", text: allLabel }), items.map(([v, label]) => el("option", { value: v, text: label })));
  node.value = current;
  return node;
}

async function details(id) {
  const r = await get(`/requests/${id}`);
  const pairs = [
    ["req.time", fmtTime(r.createdAt)], ["req.requestId", r.requestId], ["req.route", r.route], ["req.model", r.model],
    ["req.stream", r.stream ? "yes" : "no"], ["req.status", r.status], ["req.errorKind", r.errorKind || "–"],
    ["req.account", maskEmail(r.accountLabel) || "–"], ["req.key", r.apiKeyName || "–"],
    ["req.inputTokens", fmtExact(r.inputTokens)], ["req.outputTokens", fmtExact(r.outputTokens)], ["req.credits", Number(r.credits || 0).toLocaleString("en-US", { maximumFractionDigits: 6 })],
    ["req.latency", `${r.latencyMs} ms`], ["req.ttft", r.firstTokenMs === null ? "–" : `${r.firstTokenMs} ms`], ["req.attempts", String(r.attempts)],
  ];
  await showDialog((close) => [
    el("h2", { text: t("req.details") }),
    el("dl", { class: "details", id: "request-details" }, pairs.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })])),
    el("div", { class: "row" }, el("button", { class: "btn", type: "button", onclick: () => close(), text: t("common.close") })),
  ]);
}

export async function render(root) {
  const [accounts, keys] = await Promise.all([get("/accounts"), get("/keys")]);
  const tbody = el("tbody");
  const bar = el("div", { class: "row", id: "request-filters" });
  const more = el("button", { class: "btn", type: "button", text: t("req.more"), hidden: true });
  let nextBefore = null;
  const query = (before) => {
    const p = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    if (before) p.set("before", before);
    return "/requests?" + p.toString();
  };
  const rowOf = (r) => el("tr", { class: "clickable request-row", dataset: { id: r.id }, onclick: () => details(r.id) },
    el("td", { text: fmtTime(r.createdAt) }),
    el("td", {}, el("code", { text: r.model })),
    el("td", { text: r.route }),
    el("td", {}, el("span", { class: "badge " + (r.status === "success" ? "ok" : r.status === "cancelled" ? "muted" : "bad"), text: t("req.s." + r.status) })),
    el("td", { text: maskEmail(r.accountLabel) || "–" }),
    el("td", { text: r.apiKeyName || "–" }),
    el("td", { class: "num", text: `${fmtExact(r.inputTokens)} / ${fmtExact(r.outputTokens)}` }),
    el("td", { class: "num", text: `${fmtExact(r.latencyMs)} ms` }));
  const load = async (append) => {
    const data = await get(query(append ? nextBefore : null));
    nextBefore = data.nextBefore;
    more.hidden = !nextBefore;
    const rows = data.requests.map(rowOf);
    if (append) tbody.append(...rows);
    else tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 8, class: "empty", text: t("req.none") }))]));
    drawFilters(data.models);
  };
  const drawFilters = (models) => {
    const pick = (name) => (e) => { filters[name] = e.target.value; load(false); };
    const acc = options("filter-account", filters.account, accounts.accounts.map((a) => [a.id, maskEmail(a.email) || a.nickname || a.id.slice(0, 8)]), t("req.allAccounts"));
    const key = options("filter-key", filters.key, keys.keys.map((k) => [k.id, k.name]), t("req.allKeys"));
    const model = options("filter-model", filters.model, models.map((m) => [m, m]), t("req.allModels"));
    const status = options("filter-status", filters.status, ["success", "error", "cancelled"].map((s) => [s, t("req.s." + s)]), t("req.allStatus"));
    acc.onchange = pick("account"); key.onchange = pick("key"); model.onchange = pick("model"); status.onchange = pick("status");
    for (const s of [acc, key, model, status]) s.classList.add("filter");
    bar.replaceChildren(acc, key, model, status, el("button", { class: "btn", type: "button", text: t("req.reload"), onclick: () => load(false) }));
  };
  more.addEventListener("click", () => load(true));
  root.append(el("h1", { text: t("nav.requests") }),
    el("div", { class: "panel" }, bar,
      el("div", { class: "table-wrap" }, el("table", { id: "requests-table" },
        el("thead", {}, el("tr", {}, ["req.time", "req.model", "req.route", "req.status", "req.account", "req.key", "req.tokens", "req.latency"].map((k) => el("th", { text: t(k) })))),
        tbody)), more));
  await load(false);
}
