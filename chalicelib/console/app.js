// The billing console: sign-in, the account being viewed, navigation between pages.
// Plain ES modules, no build step; every number comes from the API.

import { getJson, setUnauthorizedHandler } from "./api.js";
import { count } from "./format.js";
import * as billing from "./billing.js";
import * as dashboard from "./dashboard.js";
import * as logs from "./logs.js";
import { clearSession, decodeClaims, getToken, saveAccount, savedAccount, saveToken, takeTokenFromFragment } from "./session.js";
import * as statements from "./statements.js";
import { button, clearNotices, errorText, field, h, showAttention, showError, showStatus } from "./ui.js";
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
  names: new Map(), // account id -> {account_id, name, kind, billing}: every account seen so far
  switchList: [], // the switcher's options: a page of the agency's accounts (or the one account)
  switchTotal: 0, // how many accounts the agency has
  current: null, // the account being viewed
  details: new Map(), // account id -> GET /accounts/{id}
  renders: 0,
};
const SWITCH_PAGE = 25;
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

function remember(accounts) {
  for (const a of accounts) {
    if (a && a.account_id && (a.name || a.account_name)) {
      state.names.set(a.account_id, {
        account_id: a.account_id,
        name: a.name || a.account_name,
        kind: a.kind,
        billing: a.billing,
      });
    }
  }
}

/** A page of the agency's accounts by name, or those matching `q` (name or id). */
async function findAccounts(q) {
  const page = await getJson(`/agencies/${enc(state.me.account_id)}/accounts`, { limit: SWITCH_PAGE, q });
  remember(page.items);
  return page;
}

async function loadContext(claims) {
  state.claims = claims;
  state.details.clear();
  state.names.clear();
  state.me = await accountDetails(claims.account_id);
  remember([state.me]);
  if (state.me.kind === "agency") {
    const page = await findAccounts("");
    state.switchList = page.items;
    state.switchTotal = page.total;
  } else {
    state.switchList = [{ account_id: state.me.account_id, name: state.me.name, kind: state.me.kind, billing: state.me.billing }];
    state.switchTotal = 1;
  }
  const saved = savedAccount();
  state.current = saved && canReach(saved) ? saved : state.me.account_id;
  if (state.current !== state.me.account_id) {
    try {
      remember([await accountDetails(state.current)]);
    } catch {
      state.current = state.me.account_id; // no longer reachable: start at the user's own account
    }
  }
}

function isAgencyUser() {
  return Boolean(state.me && state.me.kind === "agency");
}

function accountName(accountId) {
  const known = state.names.get(accountId);
  return known ? known.name : accountId;
}

/** An agency user reaches the agency and every sub-account (the API says no to anything else). */
function canReach(accountId) {
  return isAgencyUser() || accountId === state.me.account_id;
}

function switchOption(account) {
  const suffix = account.kind === "agency" ? " (agency)" : account.billing === "agency" ? " (shared billing)" : "";
  const option = h("option", { value: account.account_id }, `${account.name}${suffix}`);
  option.selected = account.account_id === state.current;
  return option;
}

function fillSwitcher(list, matched, q) {
  const choose = document.getElementById("account-select");
  const shown = [...list];
  const current = state.names.get(state.current);
  if (current && !shown.some((a) => a.account_id === state.current)) shown.unshift(current);
  choose.replaceChildren(...shown.map(switchOption));
  const found = document.getElementById("account-found");
  if (q) found.textContent = matched ? `${count(matched)} found${matched > list.length ? `, first ${list.length} listed` : ""}` : "none found";
  else found.textContent = state.switchTotal > list.length ? `${list.length} of ${count(state.switchTotal)}: search for more` : "";
}

function renderShell() {
  const { claims, me } = state;
  document.getElementById("who").textContent =
    `${claims.sub || "Signed in"} · ${ROLE_LABELS[claims.role] || claims.role} of ${me.name}`;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("nav").hidden = false;
  for (const item of document.querySelectorAll("[data-agency-only]")) item.hidden = !isAgencyUser();
  document.getElementById("account-switch").hidden = !isAgencyUser();
  document.getElementById("account-search").value = "";
  fillSwitcher(state.switchList, state.switchTotal, "");
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
    showAttention([]);
    showError(error, `Could not load account ${state.current}`);
    return;
  }
  if (ticket !== state.renders) return;
  remember([account]);
  const payerName = (account.balance && account.balance.billing_account_name) || accountName(account.billing_account_id);
  attentionFor(account, payerName, page);
  context.textContent =
    `${account.name} (${account.account_id})` +
    (account.kind === "agency" ? " · agency" : "") +
    (account.billing === "agency" ? ` · shared billing with ${payerName}` : "") +
    ` · times in ${account.time_zone}`;

  const ctx = {
    claims: state.claims,
    me: state.me,
    account,
    isAdmin: state.claims.role === "admin",
    isAgencyUser: isAgencyUser(),
    accountName,
    canReach,
    switchTo,
    remember,
    // A page that changed the balance (funds added, settings saved): the banner and the cached
    // account follow what it now says.
    balanceChanged: (balance) => {
      state.details.delete(account.account_id);
      attentionFor({ ...account, balance }, payerName, page);
    },
  };
  try {
    await page.module.render(ctx, root);
  } catch (error) {
    if (ticket === state.renders) showError(error, `Could not show ${page.title}`);
  }
}

/** The banner of a balance that needs a person, on every page of the account (services/balances.py `notices`). */
function attentionFor(account, payerName, page) {
  const balance = account.balance || {};
  const payer = account.billing_account_id;
  const onBilling = page === PAGES.billing && (account.billing !== "agency" || payer === account.account_id);
  let goToBilling = null;
  if (!onBilling && canReach(payer)) goToBilling = () => switchTo(payer, "billing");
  showAttention(balance.notices || [], {
    about: account.billing === "agency" ? `${payerName}'s balance, which ${account.name} draws from` : null,
    goToBilling,
  });
}

function showSignIn(message) {
  state.me = null;
  showAttention([]);
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
    const choice = document.getElementById("account-select").value;
    if (choice) switchTo(choice);
  });
  // Searching asks the API a moment after the typing stops; only the newest answer is shown.
  let searchTimer = null;
  let searchTicket = 0;
  document.getElementById("account-search").addEventListener("input", (event) => {
    const q = event.target.value.trim();
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const ticket = ++searchTicket;
      try {
        const page = q ? await findAccounts(q) : { items: state.switchList, matched: state.switchTotal };
        if (ticket === searchTicket) fillSwitcher(page.items, page.matched, q);
      } catch (error) {
        if (ticket === searchTicket) showError(error, "Could not search the accounts");
      }
    }, 250);
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
