// Usage alerts (on the Billing page): what is watched, when each fired and how it was delivered,
// and, for admins, new alerts and switching them off. An agency also watches its total and each
// of its clients with one alert.

import { getJson, sendJson } from "./api.js";
import { categoryLabel, dateTime, emailList, localDate, money } from "./format.js";
import { badge, busy, button, checkboxField, dataTable, field, fill, h, inlineError, select, settle, showStatus } from "./ui.js";

const CATEGORIES = [
  ["total", "All usage"],
  ["call_minutes", "Call minutes"],
  ["text_messages", "Text messages"],
  ["number_renewals", "Number renewals"],
  ["subscription_fees", "Subscription fees"],
];
const MEASURES = [
  ["cost", "Cost"],
  ["count", "Count (calls, texts …)"],
  ["quantity", "Quantity (minutes, messages …)"],
];
const PERIODS = [
  ["day", "Day"],
  ["week", "Week (Monday to Sunday)"],
  ["month", "Month"],
  ["year", "Year"],
];
const DELIVERY_TONES = { sent: "good", delivered: "good", pending: "info", retrying: "warn", sending: "info", failed: "bad", dead_lettered: "bad" };

function enc(id) {
  return encodeURIComponent(id);
}

/** "Cost of all usage per month", "Minutes of calls per day". */
export function watchText(alert) {
  const what = alert.category === "total" ? "all usage" : categoryLabel(alert.category).toLowerCase();
  const measure = { cost: "Cost", count: "Count", quantity: "Quantity" }[alert.measure] || alert.measure;
  const whose = alert.scope === "agency" ? (alert.each_account ? ", each client" : ", the agency and all clients") : "";
  return `${measure} of ${what} per ${alert.period}${whose}`;
}

function thresholdText(alert) {
  return alert.measure === "cost" ? money(alert.threshold, alert.currency) : alert.threshold;
}

function deliveryText(firing) {
  const parts = [];
  if (firing.email.status !== "none") parts.push(badge(`Email ${firing.email.status}`, DELIVERY_TONES[firing.email.status]));
  if (firing.webhook.status !== "none") {
    const attempts = firing.webhook.attempts.length;
    const label = `Webhook ${firing.webhook.status.replace("_", " ")}${attempts ? ` (${attempts} attempt${attempts === 1 ? "" : "s"})` : ""}`;
    parts.push(badge(label, DELIVERY_TONES[firing.webhook.status]));
  }
  return h("span", { class: "marks" }, parts);
}

async function firingsList(path, alert, box, timeZone) {
  const page = await getJson(`${path}/${enc(alert.id)}/firings`, { limit: 10 });
  if (!page.items.length) {
    fill(box, h("p", { class: "note" }, "It has not fired yet."));
    return;
  }
  fill(
    box,
    h(
      "ul",
      { class: "firings" },
      page.items.map((f) =>
        h(
          "li",
          {},
          `${dateTime(f.fired_at, timeZone)}: ${f.account_id === alert.owner_id ? "" : `${f.account_id}, `}`,
          `the ${alert.period} from ${localDate(f.period_start)} reached ${alert.measure === "cost" ? money(f.value, f.currency || alert.currency) : f.value} `,
          deliveryText(f),
        ),
      ),
    ),
  );
}

function alertsTable(ctx, path, items, reload) {
  const timeZone = ctx.account.time_zone;
  return dataTable({
    caption: "Usage alerts",
    empty: "No usage alerts yet.",
    rows: items,
    columns: [
      { label: "Name", cell: (a) => a.name, rowHeader: true },
      { label: "Watches", cell: (a) => watchText(a) },
      { label: "Threshold", cell: (a) => thresholdText(a), numeric: true },
      {
        label: "Tells",
        cell: (a) => [a.recipients.join(", ") || null, a.webhook_url ? h("span", { class: "note" }, `Webhook ${a.webhook_url}`) : null],
      },
      { label: "State", cell: (a) => badge(a.enabled ? "On" : "Off", a.enabled ? "good" : null) },
      {
        label: "Fired",
        cell: (a) => {
          const box = h("div");
          const show = button("Show", { class: "button link", "aria-label": `When ${a.name} fired` });
          show.addEventListener("click", () => busy(show, () => firingsList(path, a, box, timeZone), "Could not load when it fired"));
          return [show, box];
        },
      },
      ...(ctx.isAdmin
        ? [
            {
              label: "Actions",
              cell: (a) => {
                const toggle = button(a.enabled ? "Turn off" : "Turn on", { class: "button secondary" });
                toggle.addEventListener("click", () =>
                  busy(
                    toggle,
                    async () => {
                      await sendJson("PUT", `${path}/${enc(a.id)}`, { enabled: !a.enabled });
                      showStatus(`Usage alert "${a.name}" turned ${a.enabled ? "off" : "on"}.`);
                      await reload();
                    },
                    "Could not change the alert",
                  ),
                );
                const remove = button("Delete", { class: "button secondary" });
                remove.addEventListener("click", () =>
                  busy(
                    remove,
                    async () => {
                      await sendJson("DELETE", `${path}/${enc(a.id)}`);
                      showStatus(`Usage alert "${a.name}" deleted.`);
                      await reload();
                    },
                    "Could not delete the alert",
                  ),
                );
                return h("span", { class: "links" }, toggle, remove);
              },
            },
          ]
        : []),
    ],
  });
}

function createForm(ctx, path, agencyWide, reload) {
  const cur = ctx.account.currency;
  const name = h("input", { name: "name", required: true, maxlength: 100, placeholder: "Call flood" });
  const category = select({ name: "category" }, CATEGORIES, "total");
  const measure = select({ name: "measure" }, MEASURES, "cost");
  const period = select({ name: "period" }, PERIODS, "month");
  const threshold = h("input", { name: "threshold", inputmode: "decimal", required: true, placeholder: "100.00" });
  const recipients = h("input", { name: "recipients", autocomplete: "off", placeholder: "ops@example.com" });
  const webhook = h("input", { name: "webhook_url", type: "url", autocomplete: "off", placeholder: "hooks.example.com/billing (https)" });
  const each = agencyWide ? h("input", { type: "checkbox", name: "each_account" }) : null;
  const secretBox = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button primary" }, "Add usage alert");
  const form = h(
    "form",
    { class: "form", "aria-label": agencyWide ? "Add an agency usage alert" : "Add a usage alert", "data-testid": agencyWide ? "agency-alert-form" : "alert-form" },
    h(
      "div",
      { class: "row" },
      field("Name", name),
      field("Usage", category),
      field("Measure", measure),
      field("Period", period, "In the account's own calendar."),
      field("Threshold", threshold, `A number; a cost in ${cur}.`),
    ),
    h(
      "div",
      { class: "row" },
      field("Email recipients", recipients, "Addresses, separated by commas (at most 10)."),
      field("Webhook URL (optional)", webhook, "Signed with a secret shown once, when it is set."),
    ),
    each ? checkboxField("Watch each client on its own (one alert for every sub-account)", each) : null,
    submit,
    secretBox,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      category: category.value,
      measure: measure.value,
      period: period.value,
      threshold: threshold.value.trim(),
      recipients: emailList(recipients.value),
    };
    if (webhook.value.trim()) body.webhook_url = webhook.value.trim();
    if (each) body.each_account = each.checked;
    busy(
      submit,
      async () => {
        const { data } = await sendJson("POST", path, body);
        showStatus(`Usage alert "${data.name}" added: ${watchText(data).toLowerCase()} at ${thresholdText(data)}.`);
        fill(
          secretBox,
          data.webhook_secret
            ? h("p", {}, "Webhook signing secret (shown this once: keep it now): ", h("code", { class: "secret" }, data.webhook_secret))
            : null,
        );
        form.reset();
        await reload();
      },
      "Could not add the usage alert",
    );
  });
  return form;
}

async function block(ctx, path, agencyWide, title) {
  const listBox = h("div");
  const reload = async () => {
    const page = await getJson(path, { limit: 50 });
    fill(listBox, alertsTable(ctx, path, page.items, reload));
  };
  await reload();
  return [title ? h("h3", {}, title) : null, listBox, ctx.isAdmin ? createForm(ctx, path, agencyWide, reload) : null];
}

export async function render(ctx, box) {
  const account = ctx.account;
  const own = `/accounts/${enc(account.account_id)}/usage-alerts`;
  try {
    const parts = [
      h("p", { class: "note" }, "An alert tells its recipients (and its webhook) once per period, when the period's usage first reaches its threshold."),
      ...(await block(ctx, own, false, account.kind === "agency" && ctx.isAgencyUser ? "The agency's own usage" : null)),
    ];
    if (account.kind === "agency" && ctx.isAgencyUser && ctx.me.account_id === account.account_id) {
      parts.push(...(await block(ctx, `/agencies/${enc(account.account_id)}/usage-alerts`, true, "The agency and its clients")));
    }
    settle(box, ...parts);
  } catch (error) {
    settle(box, inlineError(error, "Could not load the usage alerts"));
  }
}
