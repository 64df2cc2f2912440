import { get } from "../api.js";
import { legend, stackedBars } from "../charts.js";
import { t } from "../i18n.js";
import { el, fmtDuration, fmtExact, fmtNumber, maskEmail } from "../ui.js";

const view = { bucket: "hour", by: "model", metric: "requests" };

function card(id, label, value, sub) {
  return el("div", { class: "card", id },
    el("div", { class: "label", text: label }),
    el("div", { class: "value", text: value }),
    sub ? el("div", { class: "sub", text: sub }) : null);
}

function seg(options, current, onPick) {
  return el("div", { class: "seg" }, options.map(([value, label]) =>
    el("button", { type: "button", class: value === current ? "on" : "", text: label, onclick: () => onPick(value) })));
}

function bucketLabel(start, bucket) {
  const d = new Date(start * 1000);
  const pad = (x) => String(x).padStart(2, "0");
  return bucket === "hour" ? `${pad(d.getHours())}:00` : `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

async function drawChart(box) {
  const count = view.bucket === "hour" ? 24 : 30;
  const data = await get(`/stats/series?bucket=${view.bucket}&by=${view.by}&count=${count}&utcOffset=${-new Date().getTimezoneOffset()}`);
  const labels = data.starts.map((s) => bucketLabel(s, view.bucket));
  const series = data.series.map((s) => ({
    label: s.key === "__other__" ? t("dash.other") : (s.isEmail ? maskEmail(s.label) : s.label),
    values: s[view.metric],
  }));
  const total = data.totals[view.metric].reduce((a, b) => a + b, 0);
  box.replaceChildren(
    series.length ? stackedBars(labels, series) : el("div", { class: "empty", text: t("dash.noData") }),
    series.length ? legend(series, el) : null,
    el("div", { class: "sub", text: `${t("dash.inPeriod")}: ${fmtExact(total)}` }));
}

export async function render(root) {
  const data = await get("/overview");
  const a = data.accounts, tot = data.totals;
  const chartBox = el("div", { id: "chart-box" });
  const controls = el("div", { class: "row" });
  const redraw = () => {
    controls.replaceChildren(
      seg([["requests", t("dash.requests")], ["tokens", t("dash.tokens")]], view.metric, (v) => { view.metric = v; redraw(); }),
      seg([["hour", t("dash.perHour")], ["day", t("dash.perDay")]], view.bucket, (v) => { view.bucket = v; redraw(); }),
      seg([["model", t("dash.byModel")], ["account", t("dash.byAccount")]], view.by, (v) => { view.by = v; redraw(); }));
    drawChart(chartBox);
  };
  root.append(
    el("h1", { text: t("nav.dashboard") }),
    el("div", { class: "cards" },
      card("stat-accounts", t("dash.accounts"), `${a.available} / ${a.total}`,
        [t("dash.availableTotal"), ...["cooling", "exhausted", "disabled"].filter((s) => a[s]).map((s) => `${a[s]} ${t("state." + s)}`)].join(" · ")),
      card("stat-requests", t("dash.requests"), fmtExact(tot.requests), `${t("dash.success")} ${fmtExact(tot.success)} · ${t("dash.failed")} ${fmtExact(tot.failed)}`),
      card("stat-tokens", t("dash.tokens"), fmtNumber(tot.tokens), fmtExact(tot.tokens)),
      card("stat-credits", t("dash.credits"), fmtNumber(tot.credits), fmtExact(tot.credits)),
      card("stat-uptime", t("dash.uptime"), fmtDuration(data.uptime), "v" + data.version)),
    el("div", { class: "panel" },
      el("div", { class: "panel-head" }, el("h2", { text: t("dash.usage") }), controls),
      chartBox),
    el("div", { class: "panel" },
      el("h2", { text: t("dash.last24h") }),
      el("div", { class: "cards" },
        card("day-requests", t("dash.requests"), fmtExact(data.lastDay.requests)),
        card("day-success", t("dash.success"), fmtExact(data.lastDay.success)),
        card("day-tokens", t("dash.tokens"), fmtExact(data.lastDay.tokens)),
        card("day-credits", t("dash.credits"), fmtNumber(data.lastDay.credits)))));
  redraw();
  const timer = setInterval(async () => { try { await drawChart(chartBox); } catch { /* next tick */ } }, 30000);
  return () => clearInterval(timer);
}
