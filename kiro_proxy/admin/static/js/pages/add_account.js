import { post } from "../api.js";
import { t } from "../i18n.js";
import { el, maskEmail, toast } from "../ui.js";

const METHODS = ["builder", "idc", "sso", "credentials", "local"];
let method = "builder";
let stopPolling = null;

function field(id, label, input, hint) {
  input.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text: label }), input, hint ? el("span", { class: "hint", text: hint }) : null);
}

function regionInput(id) { return field(id, t("add.region"), el("input", { type: "text", value: "us-east-1" })); }

function accountLine(account) {
  const who = maskEmail(account.email) || account.id;
  return `${who}${account.created === false ? " (" + t("add.updated") + ")" : ""}`;
}

// Per-item report of a batch import: one line per item, success or the reason it failed.
export function reportView(data) {
  const items = data.items || [
    ...(data.accounts || []).map((a) => ({ success: true, account: a })),
    ...(data.errors || []).map((e) => ({ success: false, error: e })),
  ];
  if (!items.length && data.account) items.push({ success: true, account: data.account });
  return el("div", { class: "report", id: "import-report" },
    el("p", { text: t("add.reportSummary", { ok: items.filter((i) => i.success).length, total: items.length }) }),
    el("ul", {}, items.map((i) => el("li", { class: i.success ? "ok" : "bad" },
      i.success ? `✓ ${i.label ? i.label + ": " : ""}${accountLine(i.account)}` : `✗ ${i.label ? i.label + ": " : ""}${i.error}`))));
}

function builderId(box) {
  const region = regionInput("builder-region");
  const out = el("div", { id: "builder-status" });
  const start = el("button", { class: "btn primary", type: "button", id: "builder-start", text: t("add.builderStart") });
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const s = await post("/auth/builderid/start", { region: region.querySelector("input").value });
      const link = s.verificationUriComplete || s.verificationUri;
      const status = el("div", { class: "status-line" }, el("span", { class: "spinner" }), el("span", { id: "builder-poll-status", text: t("add.waiting") }));
      out.replaceChildren(
        el("p", { text: t("add.builderStep1") }),
        el("div", { class: "device-code", id: "builder-code", text: s.userCode }),
        el("p", {}, el("a", { href: link, target: "_blank", rel: "noopener noreferrer", id: "builder-link", text: link })),
        status);
      let interval = Math.max(1, Number(s.interval) || 5);
      let active = true;
      stopPolling = () => { active = false; };
      const tick = async () => {
        if (!active) return;
        try {
          const r = await post("/auth/builderid/poll", { sessionId: s.sessionId });
          if (r.completed) {
            active = false;
            out.replaceChildren(el("p", { class: "report ok", id: "builder-done", text: "✓ " + t("add.added", { who: accountLine(r.account || {}) }) }));
            toast(t("add.added", { who: accountLine(r.account || {}) }));
            start.disabled = false;
            return;
          }
          if (r.status === "slow_down") interval += 5;
          if (r.interval) interval = Math.max(1, Number(r.interval));
          status.lastChild.textContent = `${t("add.waiting")} (${r.status || "pending"})`;
          setTimeout(tick, interval * 1000 + 250);
        } catch (error) {
          active = false;
          out.append(el("p", { class: "form-error", text: error.message }));
          status.remove();
          start.disabled = false;
        }
      };
      setTimeout(tick, interval * 1000 + 250);
    } catch (error) {
      out.replaceChildren(el("p", { class: "form-error", text: error.message }));
      start.disabled = false;
    }
  });
  box.append(el("p", { class: "hint", text: t("add.builderHelp") }), region, start, out);
}

function idc(box) {
  const startUrl = field("idc-start-url", t("add.startUrl"), el("input", { type: "url", placeholder: "https://d-xxxxxxxxxx.awsapps.com/start" }));
  const region = regionInput("idc-region");
  const out = el("div", { id: "idc-status" });
  const start = el("button", { class: "btn primary", type: "button", id: "idc-start", text: t("add.idcStart") });
  start.addEventListener("click", async () => {
    try {
      const s = await post("/auth/iam-sso/start", { startUrl: startUrl.querySelector("input").value.trim(), region: region.querySelector("input").value.trim() });
      const callback = field("idc-callback", t("add.callbackUrl"), el("input", { type: "url" }), t("add.callbackHint"));
      const done = el("button", { class: "btn primary", type: "button", id: "idc-complete", text: t("add.complete") });
      done.addEventListener("click", async () => {
        try {
          const r = await post("/auth/iam-sso/complete", { sessionId: s.sessionId, callbackUrl: callback.querySelector("input").value.trim() });
          out.replaceChildren(el("p", { class: "report ok", text: "✓ " + t("add.added", { who: accountLine(r.account || {}) }) }));
        } catch (error) { toast(error.message, true); }
      });
      out.replaceChildren(el("p", { text: t("add.idcStep1") }),
        el("p", {}, el("a", { href: s.authorizeUrl, target: "_blank", rel: "noopener noreferrer", text: t("add.openLogin") })), callback, done);
    } catch (error) { out.replaceChildren(el("p", { class: "form-error", text: error.message })); }
  });
  box.append(el("p", { class: "hint", text: t("add.idcHelp") }), startUrl, region, start, out);
}

function batchForm(box, { id, label, hint, help, path, build }) {
  const input = field(id, label, el("textarea", { spellcheck: "false" }), hint);
  const out = el("div", {});
  const submit = el("button", { class: "btn primary", type: "button", id: id + "-submit", text: t("add.import") });
  submit.addEventListener("click", async () => {
    submit.disabled = true;
    try {
      const body = build(input.querySelector("textarea").value);
      out.replaceChildren(reportView(await post(path, body)));
    } catch (error) {
      out.replaceChildren(error.body && (error.body.items || error.body.errors) ? reportView(error.body) : el("p", { class: "form-error", text: error.message }));
    } finally { submit.disabled = false; }
  });
  box.append(el("p", { class: "hint", text: help }), input, submit, out);
}

function localCache(box) {
  const token = field("local-token", t("add.tokenFile"), el("input", { type: "file", accept: ".json,application/json" }), "~/.aws/sso/cache/kiro-auth-token.json");
  const reg = field("local-reg", t("add.regFile"), el("input", { type: "file", accept: ".json,application/json" }), t("add.regHint"));
  const out = el("div", {});
  const submit = el("button", { class: "btn primary", type: "button", id: "local-submit", text: t("add.import") });
  submit.addEventListener("click", async () => {
    const tokenFile = token.querySelector("input").files[0];
    if (!tokenFile) { toast(t("add.pickFile"), true); return; }
    try {
      const body = { tokenFile: JSON.parse(await tokenFile.text()) };
      const regFile = reg.querySelector("input").files[0];
      if (regFile) body.registrationFile = JSON.parse(await regFile.text());
      out.replaceChildren(reportView(await post("/auth/local-cache", body)));
    } catch (error) { out.replaceChildren(el("p", { class: "form-error", text: error.message })); }
  });
  box.append(el("p", { class: "hint", text: t("add.localHelp") }), token, reg, submit, out);
}

export async function render(root) {
  const box = el("div", { class: "panel", id: "add-method" });
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const show = () => {
    if (stopPolling) { stopPolling(); stopPolling = null; }
    tabs.replaceChildren(...METHODS.map((m) => el("button", { type: "button", role: "tab", id: "tab-" + m, class: m === method ? "on" : "", text: t("add.m." + m), onclick: () => { method = m; show(); } })));
    box.replaceChildren(el("h2", { text: t("add.m." + method) }));
    if (method === "builder") builderId(box);
    else if (method === "idc") idc(box);
    else if (method === "sso") batchForm(box, { id: "sso", label: t("add.ssoLabel"), hint: t("add.ssoHint"), help: t("add.ssoHelp"), path: "/auth/sso-token", build: (v) => ({ bearerToken: v, region: "us-east-1" }) });
    else if (method === "credentials") batchForm(box, { id: "cred", label: t("add.credLabel"), hint: t("add.credHint"), help: t("add.credHelp"), path: "/auth/credentials", build: (v) => {
      try { return JSON.parse(v); } catch { throw new Error(t("add.badJson")); }
    } });
    else localCache(box);
  };
  root.append(el("h1", { text: t("nav.add") }), tabs, box);
  show();
  return () => { if (stopPolling) stopPolling(); stopPolling = null; };
}
