// Agency Dashboard: activity and cost across the agency, by sub-account, with a
// cost-by-sub-account bar chart. Only agency users are offered this page.

import { getJson } from "./api.js";
import { horizontalBars } from "./charts.js";
import { localDate, statusLabel } from "./format.js";
import { badge, busy, button, dataTable, dateInput, field, h, inlineError, moneyText, section } from "./ui.js";

const STATUS_TONES = { ok: "good", low: "warn", past_due: "bad" };

function percent(value) {
  return value === null || value === undefined ? "—" : `${value}%`;
}

function change(value) {
  if (value === null || value === undefined) return "new";
  return String(value).startsWith("-") ? `${value}%` : `+${value}%`;
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
  const summaryBox = h("div");
  const chartBox = h("div");
  const tableBox = h("div");
  root.append(
    section("Period", filters),
    section("Agency totals", summaryBox),
    section("Cost by sub-account", chartBox),
    section("Sub-accounts", tableBox),
  );

  async function load() {
    let report;
    try {
      report = await getJson(`/agencies/${encodeURIComponent(ctx.me.account_id)}/dashboard`, {
        from: from.value,
        to: to.value,
      });
    } catch (error) {
      summaryBox.replaceChildren(inlineError(error, "Could not load the dashboard"));
      chartBox.replaceChildren();
      tableBox.replaceChildren();
      throw error;
    }
    const cur = report.currency;
    const t = report.totals;
    summaryBox.replaceChildren(
      h(
        "p",
        { class: "note" },
        `${localDate(report.from)} – ${localDate(report.to)} (${report.time_zone}), compared with ` +
          `${localDate(report.previous_from)} – ${localDate(report.previous_to)}.`,
      ),
      h(
        "dl",
        { class: "stats", "data-testid": "agency-totals" },
        stat("Total cost", h("span", { class: "big" }, moneyText(t.cost, cur))),
        stat("Change", change(t.change_percent)),
        stat("Accounts", String(t.accounts)),
        stat("Calls", String(t.calls)),
        stat("Minutes", t.minutes),
        stat("Texts", t.texts),
      ),
    );
    chartBox.replaceChildren(
      horizontalBars({
        title: `Cost by sub-account, ${localDate(report.from)} – ${localDate(report.to)}`,
        items: report.accounts.map((a) => ({ label: a.account_name, amount: a.cost })),
        currency: cur,
      }),
    );
    tableBox.replaceChildren(
      dataTable({
        caption: "Activity and cost by account, highest cost first",
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
          { label: "Calls", cell: (a) => String(a.calls), numeric: true },
          { label: "Minutes", cell: (a) => a.minutes, numeric: true },
          { label: "Texts", cell: (a) => a.texts, numeric: true },
          { label: "Numbers", cell: (a) => a.numbers_renewed, numeric: true },
          { label: "Cost", cell: (a) => moneyText(a.cost, cur), numeric: true },
          { label: "Share", cell: (a) => percent(a.share_percent), numeric: true },
          { label: "Change", cell: (a) => change(a.change_percent), numeric: true },
          { label: "Balance", cell: (a) => moneyText(a.balance, cur), numeric: true },
          { label: "Status", cell: (a) => badge(statusLabel(a.status), STATUS_TONES[a.status]) },
        ],
      }),
    );
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(apply, load, "Could not load the dashboard");
  });
  await busy(apply, load, "Could not load the dashboard");
}
