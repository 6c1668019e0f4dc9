// Billing: the balance and its runway, auto-recharge settings, add funds, Payment History.

import * as alerts from "./alerts.js";
import { ApiError, getJson, newIdempotencyKey, openDocument, sendJson } from "./api.js";
import { cardLabel, dateTime, emailList, money, paymentKindLabel, perDay, statusLabel, sumAmounts } from "./format.js";
import {
  badge,
  busy,
  button,
  checkboxField,
  field,
  h,
  inlineError,
  moneyText,
  section,
  select,
  showError,
  settle,
  showStatus,
  tableRow,
} from "./ui.js";

const STATUS_TONES = { ok: "good", low: "warn", past_due: "bad", succeeded: "good", failed: "bad", refunded: "info" };
const FIRST_PAGE = 3; // the latest payments; "View all" pages back in time
const PAGE = 50;

function enc(id) {
  return encodeURIComponent(id);
}

function stat(label, value, note) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, value, note ? h("span", { class: "note" }, note) : null));
}

function payerName(balance) {
  return balance.billing_account_name || balance.billing_account_id;
}

/** What the users of a sub-account on shared billing see: who bills them, and the balance if shared. */
function sharedBalanceStats(balance) {
  const payer = payerName(balance);
  const stats = [stat("Billed by", h("span", { class: "big" }, payer), "Your usage is paid from this agency's balance.")];
  if (balance.balance_visible) {
    stats.push(
      stat(
        `${payer}'s balance`,
        h("span", { class: "big" }, moneyText(balance.balance, balance.currency)),
        badge(statusLabel(balance.status), STATUS_TONES[balance.status]),
      ),
    );
  } else {
    stats.push(stat("Balance", "Not shared", `${payer} keeps its balance, cards and settings to itself.`));
  }
  return h("dl", { class: "stats", "data-testid": "balance" }, stats);
}

function runwayText(days) {
  if (days === null || days === undefined) return "No spend in the last 30 days";
  const whole = Math.round(Number(days)); // a count of days to show, not money
  return whole < 1 ? "Less than a day" : `About ${whole} day${whole === 1 ? "" : "s"}`;
}

const RECURRING_WORDS = {
  number_renewals: ["number renewal", "number renewals"],
  subscription_fees: ["subscription fee", "subscription fees"],
};

/** "Dec 19" (with the year when it is not this year's). */
function shortDate(date) {
  const [year, month, day] = date.split("-").map((part) => Number.parseInt(part, 10));
  const sameYear = year === new Date().getUTCFullYear();
  return new Intl.DateTimeFormat("en-US", {
    timeZone: "UTC",
    month: "short",
    day: "numeric",
    year: sameYear ? undefined : "numeric",
  }).format(new Date(Date.UTC(year, month - 1, day)));
}

/** "3 number renewals ($15.00) and 1 subscription fee ($20.00)", of the charges given. */
function chargesText(charges, currency) {
  const byCategory = new Map();
  for (const c of charges) {
    const slot = byCategory.get(c.category) || { count: 0, amounts: [] };
    slot.count += c.count;
    slot.amounts.push(c.amount);
    byCategory.set(c.category, slot);
  }
  const parts = [...byCategory].map(([category, { count, amounts }]) => {
    const [one, many] = RECURRING_WORDS[category] || [category, category];
    return `${count} ${count === 1 ? one : many} (${money(sumAmounts(amounts), currency)})`;
  });
  const total = [...byCategory.values()].reduce((n, slot) => n + slot.count, 0);
  return { text: parts.join(" and "), plural: total !== 1 };
}

/** The runway that knows what is coming: until when the balance lasts, and what falls due before. */
export function coverageText(balance) {
  const upcoming = balance.upcoming;
  if (!upcoming) return null;
  const cur = balance.currency;
  const until = balance.covered_until;
  if (balance.status === "past_due") return "Your balance is below zero: add funds to cover what comes next.";
  if (until) {
    const due = chargesText(upcoming.charges.filter((c) => c.due_on <= until), cur);
    const head = `Your balance covers you until ${shortDate(until)}`;
    return due.text ? `${head}; ${due.text} ${due.plural ? "are" : "is"} due before then.` : `${head}.`;
  }
  const due = chargesText(upcoming.charges, cur);
  if (!due.text && Number(upcoming.average_daily_usage) === 0) return "Nothing draws on your balance at the moment.";
  const head = "Your balance covers you for more than 90 days at this pace";
  return due.text ? `${head}; ${due.text} ${due.plural ? "are" : "is"} due in the next 30 days.` : `${head}.`;
}

function balanceStats(balance) {
  // The agency's details are not this viewer's to see (a client on shared billing): who pays, and
  // the balance only if the agency shares it.
  if (balance.billing === "agency" && balance.auto_recharge === null) return sharedBalanceStats(balance);
  const cur = balance.currency;
  const auto = balance.auto_recharge || {};
  let autoText = auto.enabled
    ? `On: adds ${money(auto.amount, cur)} when the balance falls below ${money(auto.threshold, cur)}`
    : "Off";
  if (auto.paused) autoText += " (paused after repeated declines: save the settings to resume)";
  else if (auto.in_flight) autoText += " (a recharge is in progress)";
  return h(
    "dl",
    { class: "stats", "data-testid": "balance" },
    stat(
      "Balance",
      h("span", { class: "big" }, moneyText(balance.balance, cur)),
      badge(statusLabel(balance.status), STATUS_TONES[balance.status]),
    ),
    stat(
      "Runway",
      runwayText(balance.runway_days),
      h("span", { title: `Exactly ${balance.average_daily_spend} ${cur} a day` }, `at ${perDay(balance.average_daily_spend, cur)} (average of the last 30 days)`),
    ),
    stat("Auto-recharge", autoText),
    stat("Low-balance level", money(balance.low_balance_threshold, cur)),
    balance.upcoming
      ? h(
          "div",
          { class: "stat coverage", "data-testid": "coverage" },
          h("dt", {}, "What is coming"),
          h("dd", {}, coverageText(balance)),
        )
      : null,
  );
}

function settingsList(settings) {
  const cur = settings.currency;
  const recharge = settings.recharge || {};
  let state = recharge.in_flight ? "A recharge is in progress" : "Idle";
  if (recharge.paused) state = `Paused after ${recharge.consecutive_declines} declines in a row`;
  else if (recharge.consecutive_declines) {
    state = `${recharge.consecutive_declines} decline(s) in a row`;
    if (recharge.retry_after) state += `; next try after ${dateTime(recharge.retry_after)}`;
  }
  const card = (value) => (value ? cardLabel(value.brand, value.last4) : "None");
  return h(
    "dl",
    { class: "settings", "data-testid": "auto-recharge" },
    h("dt", {}, "Auto-recharge"),
    h("dd", {}, settings.auto_recharge_enabled ? "On" : "Off"),
    h("dt", {}, "When the balance falls below"),
    h("dd", {}, money(settings.threshold, cur)),
    h("dt", {}, "Add"),
    h("dd", {}, money(settings.amount, cur)),
    h("dt", {}, "Primary card"),
    h("dd", {}, card(settings.primary_card)),
    h("dt", {}, "Backup card"),
    h("dd", {}, card(settings.backup_card)),
    h("dt", {}, "Low-balance alert"),
    h("dd", {}, settings.low_balance_alert === null ? "Off" : `Below ${money(settings.low_balance_alert, cur)}`),
    h("dt", {}, "Alert recipients"),
    h("dd", {}, settings.alert_recipients.length ? settings.alert_recipients.join(", ") : "The account's billing contacts"),
    h("dt", {}, "Recharge state"),
    h("dd", {}, state),
    settings.share_balance_with_sub_accounts === undefined ? null : h("dt", {}, "Balance shown to clients on shared billing"),
    settings.share_balance_with_sub_accounts === undefined
      ? null
      : h("dd", {}, settings.share_balance_with_sub_accounts ? "Yes: their users see this balance and its status" : "No: they see only that you bill them"),
  );
}

function settingsForm(ctx, settings, onSaved) {
  const enabled = h("input", { type: "checkbox", name: "auto_recharge_enabled" });
  enabled.checked = settings.auto_recharge_enabled;
  const threshold = h("input", { name: "threshold", inputmode: "decimal", value: settings.threshold, required: true });
  const amount = h("input", { name: "amount", inputmode: "decimal", value: settings.amount, required: true });
  const alert = h("input", { name: "low_balance_alert", inputmode: "decimal", value: settings.low_balance_alert || "" });
  const recipients = h("input", {
    name: "alert_recipients",
    type: "text",
    value: settings.alert_recipients.join(", "),
    autocomplete: "off",
  });
  const primary = h("input", { name: "primary_card", autocomplete: "off", placeholder: "pm_card_visa" });
  const backup = h("input", { name: "backup_card", autocomplete: "off", placeholder: "pm_card_mastercard" });
  // An agency's balance: whether its clients on shared billing may see it.
  const shareBalance = ctx.account.kind === "agency" ? h("input", { type: "checkbox", name: "share_balance_with_sub_accounts" }) : null;
  if (shareBalance) shareBalance.checked = Boolean(settings.share_balance_with_sub_accounts);
  const submit = h("button", { type: "submit", class: "button primary" }, "Save auto-recharge settings");
  const form = h(
    "form",
    { class: "form", "aria-label": "Change auto-recharge settings", "data-testid": "auto-recharge-form" },
    checkboxField("Recharge automatically when the balance runs low", enabled),
    h(
      "div",
      { class: "row" },
      field(`When the balance falls below (${settings.currency})`, threshold),
      field(`Add this amount (${settings.currency})`, amount),
      field(`Low-balance alert below (${settings.currency})`, alert, "Empty: no alert."),
    ),
    field("Alert recipients", recipients, "Email addresses, separated by commas. Empty: the account's contacts."),
    h(
      "div",
      { class: "row" },
      field(
        "New primary card",
        primary,
        `A payment-method token from the card form; empty keeps ${settings.primary_card ? cardLabel(settings.primary_card.brand, settings.primary_card.last4) : "no card"}.`,
      ),
      field(
        "New backup card",
        backup,
        `Empty keeps ${settings.backup_card ? cardLabel(settings.backup_card.brand, settings.backup_card.last4) : "no backup card"}.`,
      ),
    ),
    shareBalance ? checkboxField("Show this balance and its status to the users of sub-accounts on shared billing", shareBalance) : null,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      auto_recharge_enabled: enabled.checked,
      threshold: threshold.value.trim(),
      amount: amount.value.trim(),
      low_balance_alert: alert.value.trim() || null,
      alert_recipients: emailList(recipients.value),
    };
    if (primary.value.trim()) body.primary_card = primary.value.trim();
    if (backup.value.trim()) body.backup_card = backup.value.trim();
    if (shareBalance) body.share_balance_with_sub_accounts = shareBalance.checked;
    busy(
      submit,
      async () => {
        const { data } = await sendJson("PUT", `/accounts/${enc(ctx.account.account_id)}/billing-settings`, body);
        const summary = data.auto_recharge_enabled
          ? `on, adds ${money(data.amount, data.currency)} below ${money(data.threshold, data.currency)}`
          : "off";
        showStatus(`Auto-recharge settings saved: ${summary}.`);
        await onSaved();
      },
      "Could not save the auto-recharge settings",
    );
  });
  return form;
}

function addFundsForm(ctx, settings, onDone) {
  const cur = settings.currency;
  const amount = h("input", { name: "amount", inputmode: "decimal", required: true, placeholder: "50.00" });
  const cards = [["primary", `Primary: ${settings.primary_card ? cardLabel(settings.primary_card.brand, settings.primary_card.last4) : "none on file"}`]];
  if (settings.backup_card) cards.push(["backup", `Backup: ${cardLabel(settings.backup_card.brand, settings.backup_card.last4)}`]);
  const card = select({ name: "card" }, cards, "primary");
  const submit = h("button", { type: "submit", class: "button primary" }, "Add funds");
  // One Idempotency-Key per submit. It is kept only while no answer came back (a
  // network failure), so that submitting the same amount again cannot charge twice.
  let pending = null;
  const form = h(
    "form",
    { class: "form", "aria-label": "Add funds", "data-testid": "add-funds-form" },
    h("div", { class: "row" }, field(`Amount (${cur})`, amount, "Whole cents, 10.00 to 10000.00."), field("Card", card)),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { amount: amount.value.trim(), card: card.value };
    const same = pending && pending.body.amount === body.amount && pending.body.card === body.card;
    const key = same ? pending.key : newIdempotencyKey();
    pending = { key, body };
    busy(
      submit,
      async () => {
        try {
          const { data } = await sendJson("POST", `/accounts/${enc(ctx.account.account_id)}/payments`, body, {
            "Idempotency-Key": key,
          });
          pending = null;
          amount.value = "";
          showStatus(
            `Added ${money(data.amount, data.currency)} to the balance (${cardLabel(data.card_brand, data.card_last4)}).`,
          );
          await onDone();
        } catch (error) {
          if (error instanceof ApiError && error.status !== 0 && error.status < 500) pending = null;
          if (error instanceof ApiError && error.code === "card_declined") {
            amount.value = ""; // declined: nothing was charged, and a new try starts from an empty amount
            await onDone();
          }
          throw error;
        }
      },
      "Could not add funds",
    );
  });
  return form;
}

/** A succeeded payment's receipt number, opened as HTML or PDF; a failed one has none. */
function receiptCell(ctx, p, currency, timeZone) {
  if (!p.receipt) return h("span", { class: "note" }, p.status === "failed" ? "No receipt: not charged" : "—");
  const number = p.receipt_number ? `No. ${p.receipt_number}` : "Receipt";
  const what = `Receipt ${number === "Receipt" ? "" : `${number} `}for ${money(p.amount, p.currency || currency)} on ${dateTime(p.created_at, timeZone)}`;
  const path = `/accounts/${enc(ctx.account.account_id)}/payments/${enc(p.id)}/receipt`;
  const opener = (kind) => {
    const label = kind === "pdf" ? "PDF" : "HTML";
    const open = button(label, { class: "button link", "aria-label": `${what} (${label})` });
    open.addEventListener("click", () =>
      busy(
        open,
        () =>
          kind === "pdf"
            ? openDocument(`${path}/pdf`, "the receipt (PDF)", `receipt-${p.id}.pdf`, "application/pdf")
            : openDocument(path, "the receipt", `receipt-${p.id}.html`, "text/html"),
        `Could not open the receipt as ${label}`,
      ),
    );
    return open;
  };
  return h("span", { class: "links" }, h("span", { class: "receipt-number" }, number), opener("html"), opener("pdf"));
}

function paymentsTable(ctx, currency) {
  const timeZone = ctx.account.time_zone;
  const columns = [
    { label: "Date", cell: (p) => dateTime(p.created_at, timeZone), rowHeader: true },
    { label: "Description", cell: (p) => p.description || paymentKindLabel(p.kind) },
    { label: "Type", cell: (p) => paymentKindLabel(p.kind) },
    { label: "Card", cell: (p) => cardLabel(p.card_brand, p.card_last4) },
    { label: "Amount", cell: (p) => money(p.amount, p.currency || currency), numeric: true },
    {
      label: "Status",
      cell: (p) => [
        badge(statusLabel(p.status), STATUS_TONES[p.status]),
        p.failure_reason ? h("span", { class: "note" }, p.failure_reason) : null,
      ],
    },
    { label: "Receipt", cell: (p) => receiptCell(ctx, p, currency, timeZone) },
  ];
  return columns;
}

async function renderPayments(ctx, box, currency) {
  const accountId = ctx.account.account_id;
  const columns = paymentsTable(ctx, currency);
  let cursor = null;
  let shown = 0;
  const body = h("tbody");
  const table = h(
    "table",
    { class: "data" },
    h("caption", {}, "Payments, newest first"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.numeric ? "num" : null }, c.label)))),
    body,
  );
  const wrap = h("div", { class: "table-wrap", role: "region", "aria-label": "Payments, newest first", tabindex: 0 }, table);
  const more = button("View all payments", { class: "button secondary", "data-testid": "payments-more" });
  const count = h("p", { class: "note", "aria-live": "polite" });

  async function load(limit) {
    const page = await getJson(`/accounts/${enc(accountId)}/payments`, { limit, cursor });
    for (const payment of page.items) body.append(tableRow(columns, payment));
    shown += page.items.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    more.textContent = "Show older payments";
    count.textContent = `${shown} payment${shown === 1 ? "" : "s"} shown${cursor ? "" : ": that is all of them"}.`;
    return page;
  }

  const first = await load(FIRST_PAGE);
  if (!first.items.length) {
    settle(box, h("p", { class: "empty" }, "No payments yet."));
    return;
  }
  more.textContent = "View all payments";
  more.addEventListener("click", () => busy(more, () => load(PAGE), "Could not load older payments"));
  settle(box, wrap, h("div", { class: "actions" }, more, count));
}

export async function render(ctx, root) {
  const account = ctx.account;
  const id = enc(account.account_id);
  const balanceBox = h("div", { class: "loading" }, "Loading the balance…");
  root.append(section("Balance", balanceBox));

  const shared = account.billing === "agency";
  let settingsBox;
  let fundsBox;
  let paymentsBox;
  if (shared) {
    const payer = account.billing_account_id;
    const payerName = ctx.canReach(payer) ? ctx.accountName(payer) : (account.balance && account.balance.billing_account_name) || payer;
    root.append(
      section(
        "Auto-recharge and payments",
        h(
          "p",
          {},
          `${account.name} draws from ${payerName}'s balance (shared billing): `,
          "its card, auto-recharge settings and Payment History are the agency's.",
        ),
        ctx.canReach(payer)
          ? button(`Go to ${payerName}`, { class: "button secondary", onclick: () => ctx.switchTo(payer, "billing") })
          : null,
      ),
    );
  } else {
    settingsBox = h("div", { class: "loading" }, "Loading the settings…");
    root.append(section("Auto-recharge", settingsBox));
    if (ctx.isAdmin) {
      fundsBox = h("div", { class: "loading" }, "Loading…");
      root.append(section("Add funds", fundsBox));
    }
    paymentsBox = h("div", { class: "loading" }, "Loading payments…");
    root.append(section("Payment History", paymentsBox));
  }

  async function loadBalance() {
    try {
      const balance = await getJson(`/accounts/${id}/balance`);
      settle(balanceBox, balanceStats(balance));
      if (ctx.balanceChanged) ctx.balanceChanged(balance);
    } catch (error) {
      settle(balanceBox, inlineError(error, "Could not load the balance"));
      showError(error, "Could not load the balance");
    }
  }

  async function loadSettings() {
    let settings;
    try {
      settings = await getJson(`/accounts/${id}/billing-settings`);
    } catch (error) {
      settle(settingsBox, inlineError(error, "Could not load the auto-recharge settings"));
      if (fundsBox) settle(fundsBox, inlineError(error, "Add funds needs the billing settings"));
      showError(error, "Could not load the auto-recharge settings");
      return;
    }
    const reload = async () => {
      await Promise.all([loadBalance(), loadSettings(), loadPayments()]);
    };
    settle(settingsBox, settingsList(settings), ctx.isAdmin ? settingsForm(ctx, settings, reload) : null);
    if (fundsBox) settle(fundsBox, addFundsForm(ctx, settings, reload));
  }

  async function loadPayments() {
    try {
      await renderPayments(ctx, paymentsBox, account.currency);
    } catch (error) {
      settle(paymentsBox, inlineError(error, "Could not load the Payment History"));
      showError(error, "Could not load the Payment History");
    }
  }

  const alertsBox = h("div", { class: "loading" }, "Loading the usage alerts…");
  root.append(section("Usage alerts", alertsBox));
  await Promise.all([
    ...(shared ? [loadBalance()] : [loadBalance(), loadSettings(), loadPayments()]),
    alerts.render(ctx, alertsBox),
  ]);
}
