import { api, del, get, post, put, setCsrf } from "../api.js";
import { t } from "../i18n.js";
import { confirmDialog, el, fmtAgo, fmtExact, fmtTime, toast } from "../ui.js";

function select(id, value, options) {
  const node = el("select", { id }, options.map((o) => el("option", { value: o, text: o })));
  node.value = value;
  return node;
}

function row(label, input, hint) {
  return el("div", { class: "field" }, el("label", { for: input.id, text: label }), input, hint ? el("span", { class: "hint", text: hint }) : null);
}

async function keysPanel() {
  const tbody = el("tbody");
  const created = el("div", { id: "new-key" });
  const reload = async () => {
    const data = await get("/keys");
    tbody.replaceChildren(...(data.keys.length ? data.keys.map((k) => el("tr", { class: "key-row", dataset: { id: k.id } },
      el("td", { class: "key-name", text: k.name }),
      el("td", {}, el("code", { text: k.prefix + "…" })),
      el("td", { text: fmtTime(k.createdAt) }),
      el("td", { text: fmtAgo(k.lastUsedAt) }),
      el("td", { class: "num key-requests", text: fmtExact(k.requestCount) }),
      el("td", { class: "num", text: fmtExact((k.inputTokens || 0) + (k.outputTokens || 0)) }),
      el("td", {}, k.revokedAt ? el("span", { class: "badge muted", text: t("keys.revoked") }) :
        el("button", { class: "btn small danger", type: "button", text: t("keys.revoke"), onclick: async () => {
          if (!(await confirmDialog(t("keys.confirmRevoke", { name: k.name }), t("keys.revoke")))) return;
          try { await del(`/keys/${k.id}`); toast(t("keys.revokedToast")); await reload(); } catch (e) { toast(e.message, true); }
        } }))))
      : [el("tr", {}, el("td", { colspan: 7, class: "empty", text: t("keys.none") }))]));
  };
  const name = el("input", { type: "text", id: "key-name", placeholder: t("keys.namePlaceholder") });
  const form = el("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const r = await post("/keys", { name: name.value });
      name.value = "";
      const copy = el("button", { class: "btn small", type: "button", text: t("keys.copy"), onclick: () => navigator.clipboard.writeText(r.key).then(() => toast(t("keys.copied")), () => {}) });
      created.replaceChildren(el("div", { class: "secret-box" }, el("strong", { text: t("keys.showOnce") }), el("div", {}, el("code", { id: "new-key-value", text: r.key }), " ", copy)));
      await reload();
    } catch (error) { toast(error.message, true); }
  } }, name, el("button", { class: "btn primary", type: "submit", id: "key-create", text: t("keys.create") }));
  await reload();
  return el("div", { class: "panel", id: "keys-panel" }, el("h2", { text: t("keys.title") }), form, created,
    el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["keys.name", "keys.prefix", "keys.created", "keys.lastUsed", "keys.requests", "keys.tokens", ""].map((k) => el("th", { text: k ? t(k) : "" })))), tbody)));
}

function gatewayPanel(s) {
  const requireKey = el("input", { type: "checkbox", id: "set-require-key" });
  requireKey.checked = s.requireApiKey;
  const suffix = el("input", { type: "text", id: "set-suffix", value: s.thinkingSuffix });
  const openaiFmt = select("set-openai-format", s.openaiThinkingFormat, ["reasoning_content", "thinking", "think"]);
  const claudeFmt = select("set-claude-format", s.claudeThinkingFormat, ["thinking", "think", "reasoning_content", "native"]);
  const endpoint = select("set-endpoint", s.preferredEndpoint, ["auto", "codewhisperer", "amazonq"]);
  const strategy = select("set-strategy", s.poolStrategy, ["round-robin", "least-used", "weighted"]);
  const proxy = el("input", { type: "text", id: "set-proxy", value: s.proxyUrl || "", placeholder: "socks5://127.0.0.1:1080" });
  const aliases = el("textarea", { id: "set-aliases", spellcheck: "false" });
  aliases.value = Object.entries(s.modelAliases || {}).map(([k, v]) => `${k} = ${v}`).join("\n");
  const save = el("button", { class: "btn primary", type: "submit", id: "settings-save", text: t("common.save") });
  return el("form", { class: "panel", id: "settings-form", onsubmit: async (e) => {
    e.preventDefault();
    const modelAliases = {};
    for (const line of aliases.value.split("\n")) {
      if (!line.trim()) continue;
      const [from, to] = line.split("=").map((x) => (x || "").trim());
      if (!from || !to) { toast(t("set.badAlias", { line }), true); return; }
      modelAliases[from] = to;
    }
    try {
      const r = await put("/settings", {
        requireApiKey: requireKey.checked, thinkingSuffix: suffix.value, openaiThinkingFormat: openaiFmt.value,
        claudeThinkingFormat: claudeFmt.value, preferredEndpoint: endpoint.value, poolStrategy: strategy.value,
        proxyUrl: proxy.value.trim() || null, modelAliases,
      });
      toast(r.changed.length ? t("set.saved", { n: r.changed.length }) : t("set.unchanged"));
      if (r.overriddenByEnv.length) toast(t("set.envWins", { names: r.overriddenByEnv.join(", ") }));
    } catch (error) { toast(error.message, true); }
  } },
  el("h2", { text: t("set.gateway") }),
  el("div", { class: "field" }, el("label", { class: "switch" }, requireKey, el("span", { text: t("set.requireKey") })), el("span", { class: "hint", text: t("set.requireKeyHint") })),
  el("div", { class: "grid2" },
    el("div", {}, row(t("set.suffix"), suffix, t("set.suffixHint")), row(t("set.openaiFormat"), openaiFmt), row(t("set.claudeFormat"), claudeFmt)),
    el("div", {}, row(t("set.endpoint"), endpoint), row(t("set.strategy"), strategy), row(t("set.proxy"), proxy, t("set.proxyHint")))),
  row(t("set.aliases"), aliases, t("set.aliasesHint")),
  save);
}

function passwordPanel(s) {
  const current = el("input", { type: "password", id: "pw-current", autocomplete: "current-password" });
  const next = el("input", { type: "password", id: "pw-new", autocomplete: "new-password" });
  const again = el("input", { type: "password", id: "pw-again", autocomplete: "new-password" });
  return el("form", { class: "panel", id: "password-form", onsubmit: async (e) => {
    e.preventDefault();
    if (next.value !== again.value) { toast(t("pw.mismatch"), true); return; }
    try {
      const r = await api("POST", "/password", { currentPassword: current.value, newPassword: next.value });
      setCsrf(r.csrfToken);
      current.value = next.value = again.value = "";
      toast(t("pw.changed"));
    } catch (error) { toast(error.message, true); }
  } },
  el("h2", { text: t("pw.title") }),
  s.passwordFromEnv ? el("p", { class: "hint", text: t("pw.fromEnv") }) : null,
  el("div", { class: "grid2" }, row(t("pw.current"), current), el("div", {})),
  el("div", { class: "grid2" }, row(t("pw.new"), next, t("pw.hint")), row(t("pw.again"), again)),
  el("button", { class: "btn primary", type: "submit", text: t("pw.change"), disabled: s.passwordFromEnv }));
}

export async function render(root) {
  const s = await get("/settings");
  root.append(el("h1", { text: t("nav.settings") }), await keysPanel(), gatewayPanel(s), passwordPanel(s));
}
