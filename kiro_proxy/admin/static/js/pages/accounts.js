import { del, get, post, put } from "../api.js";
import { t } from "../i18n.js";
import { confirmDialog, el, fmtAgo, fmtDate, fmtExact, maskEmail, promptDialog, showDialog, toast } from "../ui.js";

const STATE_CLASS = { healthy: "ok", cooling: "warn", exhausted: "warn", disabled: "bad", "no-credentials": "bad" };

function stateCell(s) {
  const badge = el("span", { class: "badge " + (STATE_CLASS[s.state] || "muted"), text: t("state." + s.state) });
  const extra = s.reason ? s.reason : s.until ? `${t("state.until")} ${new Date(s.until * 1000).toLocaleString()}` : "";
  return el("td", { class: "state-cell" }, badge, extra ? el("span", { class: "reason", text: extra }) : null);
}

function quotaCell(a) {
  if (a.usageLimit === null || a.usageLimit === undefined) return el("td", { class: "quota", dataset: { label: t("acc.quota") }, text: "–" });
  const pct = a.usageLimit > 0 ? Math.min(100, (100 * (a.usageCurrent || 0)) / a.usageLimit) : 0;
  const bar = el("span", { class: pct >= 90 ? "high" : "" });
  bar.style.width = pct.toFixed(1) + "%";
  return el("td", { class: "quota", dataset: { label: t("acc.quota") } },
    el("div", { text: `${fmtExact(a.usageCurrent || 0)} / ${fmtExact(a.usageLimit)}` }),
    el("div", { class: "bar" }, bar),
    el("small", { text: `${t("acc.resets")} ${fmtDate(a.resetAt)}` }));
}

async function act(fn, okMessage, reload) {
  try { await fn(); if (okMessage) toast(okMessage); await reload(); }
  catch (error) { toast(error.message, true); }
}

async function showModels(a) {
  const data = await get(`/accounts/${a.id}/models`);
  await showDialog((close) => [
    el("h2", { text: `${t("acc.models")} · ${maskEmail(a.email) || a.nickname || a.id.slice(0, 8)}` }),
    el("ul", {}, data.models.map((m) => el("li", {}, el("code", { text: m.id }), m.rateMultiplier ? ` ×${m.rateMultiplier}` : ""))),
    el("div", { class: "row" }, el("button", { class: "btn", type: "button", onclick: () => close(), text: t("common.close") })),
  ]);
}

function exportSelected(ids) {
  return post("/export", { ids }).then((data) => {
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `kiro-accounts-${Date.now()}.json` });
    document.body.append(link); link.click(); link.remove();
  });
}

export async function render(root) {
  const selected = new Set();
  const tbody = el("tbody");
  const exportBtn = el("button", { class: "btn", type: "button", id: "export-selected", text: t("acc.exportSelected"), disabled: true });
  const reload = async () => {
    const data = await get("/accounts");
    for (const id of [...selected]) if (!data.accounts.some((a) => a.id === id)) selected.delete(id);
    exportBtn.disabled = selected.size === 0;
    tbody.replaceChildren(...(data.accounts.length ? data.accounts.map(row) :
      [el("tr", {}, el("td", { colspan: 10, class: "empty" }, t("acc.none"), " ", el("a", { href: "#/add", text: t("nav.add") })))]));
  };
  const row = (a) => {
    const check = el("input", { type: "checkbox", "aria-label": "select", onchange: () => { check.checked ? selected.add(a.id) : selected.delete(a.id); exportBtn.disabled = selected.size === 0; } });
    check.checked = selected.has(a.id);
    const name = a.nickname ? el("div", { class: "reason", text: a.nickname }) : null;
    return el("tr", { dataset: { id: a.id }, class: "account-row" },
      el("td", {}, check),
      el("td", { class: "email" }, el("div", { class: "email-text", text: maskEmail(a.email) || "–" }), name),
      el("td", { dataset: { label: t("acc.auth") } }, el("div", { text: a.authMethod }), a.provider ? el("span", { class: "reason", text: a.provider }) : null),
      el("td", { dataset: { label: t("acc.subscription") }, text: a.subscriptionTitle || a.subscriptionType || "–" }),
      quotaCell(a),
      stateCell(a.state),
      el("td", { class: "num", dataset: { label: t("acc.requests") }, text: fmtExact(a.requestCount) }),
      el("td", { class: "num", dataset: { label: t("acc.errors") }, text: fmtExact(a.errorCount) }),
      el("td", { dataset: { label: t("acc.lastUsed") }, text: fmtAgo(a.lastUsedAt) }),
      el("td", { class: "actions-cell" }, el("div", { class: "actions" },
        el("button", { class: "btn small toggle-enabled", type: "button", text: a.enabled ? t("acc.disable") : t("acc.enable"),
          onclick: () => act(() => put(`/accounts/${a.id}`, { enabled: !a.enabled }), a.enabled ? t("acc.disabled") : t("acc.enabled"), reload) }),
        el("button", { class: "btn small", type: "button", text: t("acc.rename"), onclick: async () => {
          const value = await promptDialog(t("acc.nickname"), a.nickname || "");
          if (value !== null && value !== undefined) act(() => put(`/accounts/${a.id}`, { nickname: value }), t("common.saved"), reload);
        } }),
        el("button", { class: "btn small", type: "button", text: t("acc.refresh"), onclick: () => act(() => post(`/accounts/${a.id}/refresh`), t("acc.refreshed"), reload) }),
        el("button", { class: "btn small", type: "button", text: t("acc.models"), onclick: () => showModels(a).catch((e) => toast(e.message, true)) }),
        el("button", { class: "btn small", type: "button", text: t("acc.weight"), onclick: async () => {
          const value = await promptDialog(t("acc.weightHint"), String(a.weight ?? 1), "number");
          if (value !== null && value !== undefined) act(() => put(`/accounts/${a.id}`, { weight: Number(value) }), t("common.saved"), reload);
        } }),
        el("button", { class: "btn small", type: "button", text: t("acc.proxy"), onclick: async () => {
          const value = await promptDialog(t("acc.proxyHint"), a.proxyUrl || "");
          if (value !== null && value !== undefined) act(() => put(`/accounts/${a.id}`, value.trim() ? { proxyUrl: value.trim() } : { clearProxy: true }), t("common.saved"), reload);
        } }),
        el("button", { class: "btn small danger", type: "button", text: t("acc.delete"), onclick: async () => {
          if (await confirmDialog(t("acc.confirmDelete", { name: maskEmail(a.email) || a.nickname || a.id.slice(0, 8) }), t("acc.delete")))
            act(() => del(`/accounts/${a.id}`), t("acc.deleted"), reload);
        } }))));
  };
  exportBtn.addEventListener("click", async () => {
    if (await confirmDialog(t("acc.exportWarning"), t("acc.exportSelected"))) exportSelected([...selected]).catch((e) => toast(e.message, true));
  });
  root.append(
    el("h1", { text: t("nav.accounts") }),
    el("div", { class: "panel" },
      el("div", { class: "panel-head" }, el("h2", { text: t("acc.pool") }),
        el("div", { class: "row" }, exportBtn, el("a", { class: "btn primary", href: "#/add", text: "+ " + t("nav.add") }))),
      el("div", { class: "table-wrap" }, el("table", { id: "accounts-table" },
        el("thead", {}, el("tr", {}, ["", "acc.email", "acc.auth", "acc.subscription", "acc.quota", "acc.state", "acc.requests", "acc.errors", "acc.lastUsed", "acc.actions"]
          .map((k) => el("th", { class: k === "acc.requests" || k === "acc.errors" ? "num" : "", text: k ? t(k) : "" })))),
        tbody))));
  await reload();
  const timer = setInterval(() => reload().catch(() => {}), 15000);
  return () => clearInterval(timer);
}
