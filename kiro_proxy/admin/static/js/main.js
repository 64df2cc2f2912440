// Entry point: session probe, login form, hash router, language and privacy switches.
import { api, get, post, setCsrf, setUnauthorizedHandler } from "./api.js";
import { applyI18n, getLang, setLang, t } from "./i18n.js";
import { privacyOn, setPrivacy, toast } from "./ui.js";
import * as dashboard from "./pages/dashboard.js";
import * as accounts from "./pages/accounts.js";
import * as addAccount from "./pages/add_account.js";
import * as settings from "./pages/settings.js";
import * as requests from "./pages/requests.js";

const PAGES = { dashboard, accounts, add: addAccount, settings, requests };
let current = null;  // { name, cleanup }
let version = "";

function showLogin(message) {
  if (current && current.cleanup) current.cleanup();
  current = null;
  document.getElementById("app-view").hidden = true;
  document.getElementById("login-view").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("login-password").focus();
}

function showApp() {
  document.getElementById("login-view").hidden = true;
  document.getElementById("app-view").hidden = false;
  route();
}

function setVersion(value) {
  version = value || version;
  for (const node of document.querySelectorAll(".version-label")) node.textContent = version ? "v" + version : "";
}

async function route() {
  if (document.getElementById("app-view").hidden) return;
  const name = (location.hash.replace(/^#\/?/, "").split("?")[0]) || "dashboard";
  const page = PAGES[name] || dashboard;
  if (current && current.cleanup) current.cleanup();
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === name);
  // Each navigation renders into its own container: a page still loading when the user moves on
  // then finishes into a detached node instead of stacking on top of the new page.
  const root = document.createElement("div");
  root.className = "page-root";
  document.getElementById("page").replaceChildren(root);
  const state = { name, cleanup: null };
  current = state;
  try {
    state.cleanup = (await page.render(root)) || null;
  } catch (error) {
    if (error.status !== 401 && current === state) toast(error.message, true);
  }
  if (current !== state) {
    if (state.cleanup) state.cleanup();
    return;
  }
  document.title = `${t("nav." + name)} · kiro-proxy`;
}

async function login(event) {
  event.preventDefault();
  const input = document.getElementById("login-password");
  const button = document.getElementById("login-submit");
  button.disabled = true;
  try {
    const session = await api("POST", "/login", { password: input.value });
    setCsrf(session.csrfToken);
    setVersion(session.version);
    input.value = "";
    showApp();
  } catch (error) {
    document.getElementById("login-error").textContent = error.status === 401 || error.status === 429 ? t("login.wrong", { msg: error.message }) : error.message;
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  try { await post("/logout"); } catch { /* the session may already be gone */ }
  setCsrf("");
  showLogin(t("login.loggedOut"));
}

function rerender() {
  applyI18n();
  if (current) route();
}

async function start() {
  applyI18n();
  document.documentElement.lang = getLang() === "zh" ? "zh-CN" : "en";
  setUnauthorizedHandler(() => showLogin(t("login.expired")));
  document.getElementById("login-form").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", logout);
  for (const button of document.querySelectorAll(".lang-toggle")) {
    button.addEventListener("click", () => { setLang(getLang() === "zh" ? "en" : "zh"); document.documentElement.lang = getLang() === "zh" ? "zh-CN" : "en"; rerender(); });
  }
  const privacy = document.getElementById("privacy-toggle");
  privacy.checked = privacyOn();
  privacy.addEventListener("change", () => { setPrivacy(privacy.checked); rerender(); });
  window.addEventListener("hashchange", route);
  const session = await get("/session");
  setVersion(session.version);
  if (session.authenticated) {
    setCsrf(session.csrfToken);
    showApp();
  } else {
    showLogin("");
  }
}

start();
