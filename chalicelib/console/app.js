// The billing console: sign-in, the account being viewed, navigation between pages.
// Plain ES modules, no build step; every number comes from the API.

import { getJson, setUnauthorizedHandler } from "./api.js";
import * as billing from "./billing.js";
import * as dashboard from "./dashboard.js";
import * as logs from "./logs.js";
import { clearSession, decodeClaims, getToken, saveAccount, savedAccount, saveToken, takeTokenFromFragment } from "./session.js";
import * as statements from "./statements.js";
import { button, clearNotices, errorText, field, h, showError, showStatus } from "./ui.js";
import * as usage from "./usage.js";

const PAGES = {
  billing: { title: "Billing", module: billing },
  statements: { title: "Printable Statements", module: statements },
  logs: { title: "Logs", module: logs },
  dashboard: { title: "Agency Dashboard", module: dashboard, agencyOnly: true },
  usage: { title: "Usage", module: usage },
};

const ROLE_LABELS = { admin: "Admin", viewer: "Viewer", service: "Service" };

const state = {
  claims: null,
  me: null, // the user's own account (GET /accounts/{claims.account_id})
  accounts: [], // what the user can switch between: the agency and its sub-accounts, or the one account
  current: null, // the account being viewed
  details: new Map(), // account id -> GET /accounts/{id}
  renders: 0,
};

const view = () => document.getElementById("view");

function enc(id) {
  return encodeURIComponent(id);
}

async function accountDetails(accountId) {
  if (!state.details.has(accountId)) {
    state.details.set(accountId, await getJson(`/accounts/${enc(accountId)}`));
  }
  return state.details.get(accountId);
}

async function loadContext(claims) {
  state.claims = claims;
  state.details.clear();
  state.me = await accountDetails(claims.account_id);
  if (state.me.kind === "agency") {
    // The dashboard names every account of the agency: the switcher's list.
    const overview = await getJson(`/agencies/${enc(state.me.account_id)}/dashboard`);
    const subs = overview.accounts
      .filter((row) => row.account_id !== state.me.account_id)
      .map((row) => ({ account_id: row.account_id, name: row.account_name, kind: row.kind, billing: row.billing }))
      .sort((a, b) => a.name.localeCompare(b.name));
    state.accounts = [{ account_id: state.me.account_id, name: state.me.name, kind: "agency", billing: "own" }, ...subs];
  } else {
    state.accounts = [
      { account_id: state.me.account_id, name: state.me.name, kind: state.me.kind, billing: state.me.billing },
    ];
  }
  const saved = savedAccount();
  state.current = state.accounts.some((a) => a.account_id === saved) ? saved : state.me.account_id;
}

function isAgencyUser() {
  return Boolean(state.me && state.me.kind === "agency");
}

function accountName(accountId) {
  const known = state.accounts.find((a) => a.account_id === accountId);
  return known ? known.name : accountId;
}

function canReach(accountId) {
  return state.accounts.some((a) => a.account_id === accountId);
}

function renderShell() {
  const { claims, me } = state;
  document.getElementById("who").textContent =
    `${claims.sub || "Signed in"} · ${ROLE_LABELS[claims.role] || claims.role} of ${me.name}`;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("nav").hidden = false;
  for (const item of document.querySelectorAll("[data-agency-only]")) item.hidden = !isAgencyUser();

  const switcher = document.getElementById("account-switch");
  const choose = document.getElementById("account-select");
  switcher.hidden = !isAgencyUser();
  choose.replaceChildren(
    ...state.accounts.map((account) => {
      const suffix = account.kind === "agency" ? " (agency)" : account.billing === "agency" ? " (shared billing)" : "";
      const option = h("option", { value: account.account_id }, `${account.name}${suffix}`);
      option.selected = account.account_id === state.current;
      return option;
    }),
  );
}

function switchTo(accountId, page) {
  if (!canReach(accountId)) return;
  state.current = accountId;
  saveAccount(accountId);
  document.getElementById("account-select").value = accountId;
  const target = `#/${page || currentPageName()}`;
  if (window.location.hash === target) route();
  else window.location.hash = target;
}

function currentPageName() {
  const match = /^#\/([a-z]+)/.exec(window.location.hash);
  const name = match ? match[1] : "billing";
  const page = PAGES[name];
  if (!page || (page.agencyOnly && !isAgencyUser())) return "billing";
  return name;
}

async function route({ focus = true } = {}) {
  if (!state.me) return;
  const name = currentPageName();
  if (window.location.hash !== `#/${name}`) window.history.replaceState(null, "", `#/${name}`);
  const page = PAGES[name];
  const ticket = ++state.renders;
  clearNotices();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${page.title} · Charges & Usage`;

  const heading = h("h1", { id: "page-title", tabindex: "-1" }, page.title);
  const context = h("p", { class: "context" });
  const root = h("section", { class: "page", "aria-labelledby": "page-title", "data-page": name }, heading, context);
  view().replaceChildren(root);
  view().setAttribute("aria-busy", "true");
  if (focus) heading.focus();
  try {
    await renderPage(page, root, context, ticket);
  } finally {
    if (ticket === state.renders) view().removeAttribute("aria-busy");
  }
}

async function renderPage(page, root, context, ticket) {
  let account;
  try {
    account = await accountDetails(state.current);
  } catch (error) {
    showError(error, `Could not load account ${state.current}`);
    return;
  }
  if (ticket !== state.renders) return;
  context.textContent =
    `${account.name} (${account.account_id})` +
    (account.kind === "agency" ? " · agency" : "") +
    (account.billing === "agency" ? ` · shared billing with ${accountName(account.billing_account_id)}` : "") +
    ` · times in ${account.time_zone}`;

  const ctx = {
    claims: state.claims,
    me: state.me,
    account,
    accounts: state.accounts,
    isAdmin: state.claims.role === "admin",
    isAgencyUser: isAgencyUser(),
    accountName,
    canReach,
    switchTo,
  };
  try {
    await page.module.render(ctx, root);
  } catch (error) {
    if (ticket === state.renders) showError(error, `Could not show ${page.title}`);
  }
}

function showSignIn(message) {
  state.me = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("account-switch").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "";
  document.title = "Sign in · Charges & Usage";
  const box = h("textarea", {
    name: "token",
    rows: 4,
    required: true,
    autocomplete: "off",
    spellcheck: "false",
  });
  const form = h(
    "form",
    { class: "panel sign-in", "aria-labelledby": "page-title" },
    h("h1", { id: "page-title", tabindex: "-1" }, "Sign in to the billing console"),
    h(
      "p",
      {},
      "Open the console URL that `make run` prints, or paste a bearer token for your account. ",
      "The token stays in this browser tab only (session storage).",
    ),
    field("Bearer token", box, "A JWT: three parts separated by dots (eyJ…)."),
    h("button", { type: "submit", class: "button primary" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      decodeClaims(box.value.trim().replace(/^Bearer\s+/i, ""));
    } catch (error) {
      showError(`That token cannot be used: ${error.message}.`);
      box.focus();
      return;
    }
    saveToken(box.value);
    start();
  });
  view().replaceChildren(form);
  if (message) showError(message);
  else clearNotices();
  box.focus();
}

async function start() {
  const token = getToken();
  if (!token) {
    showSignIn();
    return;
  }
  let claims;
  try {
    claims = decodeClaims(token);
  } catch (error) {
    clearSession();
    showSignIn(`The saved token cannot be used: ${error.message}. Sign in again.`);
    return;
  }
  view().replaceChildren(h("p", {}, "Loading your account…"));
  try {
    await loadContext(claims);
  } catch (error) {
    if (error.status === 401) return; // the handler below shows the sign-in form
    view().replaceChildren(
      h("p", { class: "inline-error" }, errorText(error, `Could not load account ${claims.account_id}`)),
      button("Sign in with another token", { class: "button secondary", onclick: signOut }),
    );
    showError(error, `Could not load account ${claims.account_id}`);
    return;
  }
  renderShell();
  await route({ focus: false });
}

function signOut() {
  clearSession();
  state.details.clear();
  showSignIn();
  showStatus("Signed out.");
}

function wire() {
  document.getElementById("skip-link").addEventListener("click", (event) => {
    // The fragment is the page's route: move focus without touching it.
    event.preventDefault();
    document.getElementById("main").focus();
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.getElementById("account-switch").addEventListener("submit", (event) => {
    event.preventDefault();
    switchTo(document.getElementById("account-select").value);
  });
  window.addEventListener("hashchange", () => {
    if (takeTokenFromFragment()) start();
    else route();
  });
  setUnauthorizedHandler((error) => {
    clearSession();
    showSignIn(`The API did not accept your token: ${error.message}. Sign in again.`);
  });
}

wire();
takeTokenFromFragment();
start();
