// Agency Dashboard: activity and cost across the agency, by sub-account, with a
// cost-by-sub-account bar chart. Only agency users are offered this page. The rows are a
// page of the agency's accounts (search, order, previous/next); the totals cover them all.

import { accountListControls } from "./accountlist.js";
import { getJson } from "./api.js";
import { horizontalBars } from "./charts.js";
import { count, localDate, statusLabel } from "./format.js";
import { attentionLabel, badge, busy, button, dataTable, dateInput, field, fill, h, inlineError, moneyText, section } from "./ui.js";

const STATUS_TONES = { ok: "good", low: "warn", past_due: "bad" };
const CHART_BARS = 15;

function percent(value) {
  return value === null || value === undefined ? "—" : `${value}%`;
}

function change(value) {
  if (value === null || value === undefined) return "new";
  return String(value).startsWith("-") ? `${value}%` : `+${value}%`;
}

/** The clients whose balance needs a person, each with what is wrong and the way to its billing. */
function attentionSection(ctx, items) {
  return section(
    `Needs attention (${items.length})`,
    h(
      "ul",
      { class: "attention-list" },
      items.map((item) =>
        h(
          "li",
          { "data-account": item.account_id },
          ctx.canReach(item.account_id)
            ? button(item.account_name, {
                class: "button link",
                "aria-label": `${item.account_name}: open its billing`,
                onclick: () => ctx.switchTo(item.account_id, "billing"),
              })
            : item.account_name,
          " ",
          h("span", { class: "marks" }, item.notices.map((n) => badge(attentionLabel(n.kind), "bad"))),
          " ",
          h("span", { class: "note" }, item.notices.map((n) => n.action).join(" ")),
        ),
      ),
    ),
  );
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, value));
}

export async function render(ctx, root) {
  if (!ctx.isAgencyUser) {
    root.append(h("p", {}, "The Agency Dashboard is for agency users."));
    return;
  }
  const from = dateInput("", { name: "from" });
  const to = dateInput("", { name: "to" });
  const apply = h("button", { type: "submit", class: "button primary" }, "Show");
  const filters = h(
    "form",
    { class: "form filters", "aria-label": "Dashboard period" },
    h(
      "div",
      { class: "row" },
      field("From", from, "Empty: the start of this month."),
      field("To (inclusive)", to, "Empty: today."),
    ),
    h("div", { class: "actions" }, apply),
  );
  const attentionBox = h("div", { "data-testid": "needs-attention" });
  const summaryBox = h("div");
  const chartBox = h("div");
  const tableBox = h("div");
  const list = accountListControls({
    sort: "cost",
    label: "accounts",
    onChange: () => busy(apply, load, "Could not load the dashboard"),
  });
  root.append(
    section("Period", filters),
    attentionBox,
    section("Agency totals", summaryBox),
    section("Cost by sub-account", chartBox),
    section("Sub-accounts", list.element, tableBox),
  );

  async function load() {
    let report;
    let attention = null;
    try {
      const agency = encodeURIComponent(ctx.me.account_id);
      [report, attention] = await Promise.all([
        getJson(`/agencies/${agency}/dashboard`, { from: from.value, to: to.value, ...list.params() }),
        // The clients that need a person now (whichever page of the list they are on).
        getJson(`/agencies/${agency}/attention`).catch(() => null),
      ]);
    } catch (error) {
      summaryBox.replaceChildren(inlineError(error, "Could not load the dashboard"));
      chartBox.replaceChildren();
      tableBox.replaceChildren();
      throw error;
    }
    ctx.remember(report.accounts);
    list.update(report, report.accounts.length);
    const marks = new Map((attention ? attention.items : []).map((item) => [item.account_id, item.notices]));
    fill(attentionBox, attention && attention.items.length ? attentionSection(ctx, attention.items) : null);
    const cur = report.currency;
    const t = report.totals;
    const others = report.totals_by_currency.filter((c) => c.currency !== cur);
    fill(
      summaryBox,
      h(
        "p",
        { class: "note" },
        `${localDate(report.from)} – ${localDate(report.to)} (${report.time_zone}), compared with the ` +
          `${report.compared_with}, ${localDate(report.previous_from)} – ${localDate(report.previous_to)}.`,
      ),
      h(
        "dl",
        { class: "stats", "data-testid": "agency-totals" },
        stat("Total cost", h("span", { class: "big" }, moneyText(t.cost, cur))),
        stat("Change", change(t.change_percent)),
        stat("Accounts", count(t.accounts)),
        stat("Calls", count(t.calls)),
        stat("Minutes", count(t.minutes)),
        stat("Texts", count(t.texts)),
      ),
      others.length
        ? h(
            "p",
            { class: "note" },
            "Accounts billed in other currencies (never added to the total above): ",
            others.map((c, i) => [i ? "; " : "", `${c.accounts} in ${c.currency}, `, moneyText(c.cost, c.currency)]),
            ".",
          )
        : null,
    );
    // The chart names the costliest accounts of this page; the table below lists them all.
    const charted = report.accounts.filter((a) => a.currency === cur).slice(0, CHART_BARS);
    fill(
      chartBox,
      horizontalBars({
        title: `Cost by sub-account, ${localDate(report.from)} – ${localDate(report.to)}`,
        items: charted.map((a) => ({ label: a.account_name, amount: a.cost })),
        currency: cur,
      }),
      report.accounts.length > charted.length
        ? h(
            "p",
            { class: "note" },
            `The first ${charted.length} of this page's ${report.accounts.length} accounts; the table lists them all.`,
          )
        : null,
    );
    tableBox.replaceChildren(
      dataTable({
        caption: `Activity and cost by account, ${report.sort === "name" ? "by name" : "highest cost first"}`,
        empty: "No accounts.",
        rows: report.accounts,
        columns: [
          {
            label: "Account",
            rowHeader: true,
            cell: (a) =>
              ctx.canReach(a.account_id)
                ? button(a.account_name, {
                    class: "button link",
                    "aria-label": `${a.account_name}: open its billing`,
                    onclick: () => ctx.switchTo(a.account_id, "billing"),
                  })
                : a.account_name,
          },
          {
            label: "Billing",
            cell: (a) => (a.kind === "agency" ? "Agency" : a.billing === "agency" ? "Shared" : "Own"),
          },
          { label: "Calls", cell: (a) => count(a.calls), numeric: true },
          { label: "Minutes", cell: (a) => count(a.minutes), numeric: true },
          { label: "Texts", cell: (a) => count(a.texts), numeric: true },
          { label: "Numbers", cell: (a) => count(a.numbers_renewed), numeric: true },
          { label: "Cost", cell: (a) => moneyText(a.cost, a.currency), numeric: true },
          { label: "Share", cell: (a) => percent(a.share_percent), numeric: true },
          { label: "Change", cell: (a) => change(a.change_percent), numeric: true },
          { label: "Balance", cell: (a) => moneyText(a.balance, a.currency), numeric: true },
          {
            label: "Status",
            cell: (a) =>
              h(
                "span",
                { class: "marks" },
                badge(statusLabel(a.status), STATUS_TONES[a.status]),
                (marks.get(a.account_id) || [])
                  .filter((n) => n.kind !== "past_due" || a.status !== "past_due")
                  .map((n) => badge(attentionLabel(n.kind), "bad")),
              ),
          },
        ],
      }),
    );
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    list.reset();
    busy(apply, load, "Could not load the dashboard");
  });
  await busy(apply, load, "Could not load the dashboard");
}
