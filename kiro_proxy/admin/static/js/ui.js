// Small DOM helpers. Text is always set with textContent: emails, names and upstream messages
// are untrusted and must never be parsed as HTML.
import { t } from "./i18n.js";

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function toast(message, bad = false) {
  const node = el("div", { class: "toast" + (bad ? " bad" : ""), role: bad ? "alert" : "status", text: message });
  document.getElementById("toasts").append(node);
  setTimeout(() => node.remove(), bad ? 6000 : 3000);
}

export function showDialog(build) {
  const dialog = document.getElementById("dialog");
  dialog.replaceChildren();
  return new Promise((resolve) => {
    const close = (value) => { dialog.close(); resolve(value); };
    dialog.append(...[].concat(build(close)));
    dialog.onclose = () => resolve(undefined);
    dialog.showModal();
  });
}

export function confirmDialog(message, okLabel) {
  return showDialog((close) => [
    el("p", { text: message }),
    el("div", { class: "row" },
      el("button", { class: "btn", type: "button", onclick: () => close(false), text: t("common.cancel") }),
      el("button", { class: "btn primary", type: "button", id: "dialog-ok", onclick: () => close(true), text: okLabel || t("common.ok") })),
  ]);
}

export function promptDialog(message, initial, inputType = "text") {
  return showDialog((close) => {
    const input = el("input", { type: inputType, value: initial ?? "", id: "dialog-input" });
    const form = el("form", { onsubmit: (e) => { e.preventDefault(); close(input.value); } },
      el("div", { class: "field" }, el("label", { for: "dialog-input", text: message }), input),
      el("div", { class: "row" },
        el("button", { class: "btn", type: "button", onclick: () => close(null), text: t("common.cancel") }),
        el("button", { class: "btn primary", type: "submit", id: "dialog-ok", text: t("common.save") })));
    setTimeout(() => input.focus(), 0);
    return form;
  });
}

// --- privacy mode -------------------------------------------------------------------------
let privacy = localStorage.getItem("kp.privacy") === "1";
export function privacyOn() { return privacy; }
export function setPrivacy(on) { privacy = on; localStorage.setItem("kp.privacy", on ? "1" : "0"); }

export function maskEmail(email) {
  if (!email) return "";
  if (!privacy) return email;
  const at = email.indexOf("@");
  if (at < 0) return email.slice(0, 2) + "•••";
  const name = email.slice(0, at);
  const domain = email.slice(at + 1);
  const dot = domain.lastIndexOf(".");
  const tld = dot >= 0 ? domain.slice(dot) : "";
  return name.slice(0, Math.min(2, name.length)) + "•••@" + domain.slice(0, 1) + "•••" + tld;
}

// --- formatting ---------------------------------------------------------------------------
export function fmtNumber(value) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(2) + "B";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function fmtExact(value) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

export function fmtTime(seconds) {
  if (!seconds) return "–";
  const d = new Date(seconds * 1000);
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDate(seconds) { return seconds ? fmtTime(seconds).slice(0, 10) : "–"; }

export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

export function fmtAgo(seconds) {
  if (!seconds) return "–";
  const diff = Date.now() / 1000 - seconds;
  if (diff < 60) return t("time.justNow");
  return t("time.ago", { d: fmtDuration(diff).split(" ")[0] });
}
