// Usage: usage and cost by category over a date range, for one account or the whole
// agency, grouped by day, week, month or in total; a chart, tables and CSV download.

import { accountListControls } from "./accountlist.js";
import { download, getJson } from "./api.js";
import { stackedColumns } from "./charts.js";
import { categoryLabel, localDate, money, monthStart, quantity, sumAmounts, today } from "./format.js";
import { initialScope, scopeOptions, scopeSource } from "./scope.js";
import { busy, button, dataTable, dateInput, field, h, inlineError, section, select, showStatus, wide } from "./ui.js";

const GROUPS = [
  ["day", "Day"],
  ["week", "Week (from Monday)"],
  ["month", "Month"],
  ["total", "Whole range"],
];

function periodLabel(row, groupBy) {
  if (groupBy === "total") return "Total";
  const [year, month, day] = row.period_start.split("-").map((part) => Number.parseInt(part, 10));
  const date = new Date(Date.UTC(year, month - 1, day));
  const format = (options) => new Intl.DateTimeFormat("en-US", { timeZone: "UTC", ...options }).format(date);
  if (groupBy === "month") return format({ month: "short", year: "numeric" });
  if (groupBy === "week") return format({ month: "short", day: "numeric" });
  return format({ month: "short", day: "numeric" });
}

/** The chart's columns from report rows: amounts per (period, category), totals summed exactly. */
function chartData(rows, groupBy) {
  const periods = new Map();
  const cells = new Map();
  const categories = new Map();
  for (const row of rows) {
    if (!periods.has(row.period)) periods.set(row.period, { key: row.period, label: periodLabel(row, groupBy), amounts: [] });
    periods.get(row.period).amounts.push(row.amount);
    cells.set(`${row.period}|${row.category}`, row.amount);
    categories.set(row.category, { key: row.category, label: categoryLabel(row.category) });
  }
  return {
    periods: [...periods.values()].map((p) => ({ key: p.key, label: p.label, total: sumAmounts(p.amounts) })),
    categories: [...categories.values()].sort((a, b) => a.key.localeCompare(b.key)),
    amount: (period, category) => cells.get(`${period}|${category}`) || null,
  };
}

function categoryTable(caption, rows, total, currency) {
  return dataTable({
    caption,
    empty: "No usage in this range.",
    rows: [...rows, { category: "__total", count: null, quantity: null, unit: null, amount: total }],
    columns: [
      { label: "Category", cell: (r) => (r.category === "__total" ? h("strong", {}, "Total") : categoryLabel(r.category)), rowHeader: true },
      { label: "Count", cell: (r) => (r.count === null ? "" : String(r.count)), numeric: true },
      { label: "Quantity", cell: (r) => (r.quantity === null ? "" : quantity(r.quantity, r.unit)), numeric: true },
      {
        label: "Cost",
        cell: (r) => (r.category === "__total" ? h("strong", {}, money(r.amount, currency)) : money(r.amount, currency)),
        numeric: true,
      },
    ],
  });
}

function periodTable(rows, groupBy, currency) {
  return dataTable({
    caption: "Usage by period and category",
    empty: "No usage in this range.",
    rows,
    columns: [
      {
        label: "Period",
        rowHeader: true,
        cell: (r) => (groupBy === "total" ? "Whole range" : `${localDate(r.period_start)} – ${localDate(r.period_end)}`),
      },
      { label: "Category", cell: (r) => categoryLabel(r.category) },
      { label: "Count", cell: (r) => String(r.count), numeric: true },
      { label: "Quantity", cell: (r) => quantity(r.quantity, r.unit), numeric: true },
      { label: "Cost", cell: (r) => money(r.amount, currency), numeric: true },
    ],
  });
}

export async function render(ctx, root) {
  const zone = ctx.account.time_zone;
  const scope = select({ name: "account" }, scopeOptions(ctx), initialScope(ctx));
  const from = dateInput(monthStart(today(zone), 2), { name: "from", required: true });
  const to = dateInput(today(zone), { name: "to", required: true });
  const groupBy = select({ name: "group_by" }, GROUPS, "month");
  const apply = h("button", { type: "submit", class: "button primary" }, "Show usage");
  const csv = button("Download CSV", { class: "button secondary", "data-testid": "usage-csv" });
  const filters = h(
    "form",
    { class: "form filters", "aria-label": "Usage report filters" },
    h(
      "div",
      { class: "row" },
      ctx.isAgencyUser ? wide(field("Account", scope)) : null,
      field("From", from),
      field("To (inclusive)", to),
      field("Group by", groupBy),
    ),
    h("div", { class: "actions" }, apply, csv),
  );
  const chartBox = h("div");
  const tablesBox = h("div");
  const accountsBox = h("div");
  // The agency's accounts, a page at a time; the totals above always cover every account.
  const list = accountListControls({ sort: "name", label: "accounts", onChange: () => busy(apply, load, "Could not load the usage report") });
  const accountsSection = section("Accounts", list.element, accountsBox);
  root.append(section("Report", filters), section("Cost over time", chartBox), section("Details", tablesBox), accountsSection);

  function params() {
    return { from: from.value, to: to.value, group_by: groupBy.value };
  }

  async function load() {
    const { path, agency } = scopeSource(ctx, scope.value, "usage");
    let report;
    accountsSection.hidden = !agency;
    try {
      report = await getJson(path, agency ? { ...params(), ...list.params() } : params());
    } catch (error) {
      chartBox.replaceChildren(inlineError(error, "Could not load the usage report"));
      tablesBox.replaceChildren();
      throw error;
    }
    const cur = report.currency;
    const rows = agency ? report.totals.rows : report.rows;
    const totals = agency ? report.totals.by_category : report.totals;
    const totalAmount = agency ? report.totals.total_amount : report.total_amount;
    const who = agency ? `all accounts of ${ctx.me.name}` : report.account_name;
    const data = chartData(rows, report.group_by);
    chartBox.replaceChildren(
      h(
        "p",
        { class: "note" },
        `${who}: ${localDate(report.from)} – ${localDate(report.to)}, in ${report.time_zone}. `,
        `Total cost ${money(totalAmount, cur)}.`,
      ),
      data.periods.length
        ? stackedColumns({
            title: `Cost of usage by ${report.group_by === "total" ? "category" : report.group_by}, ${who}`,
            periods: data.periods,
            categories: data.categories,
            amount: data.amount,
            currency: cur,
          })
        : h("p", { class: "empty" }, "No usage in this range."),
    );
    const parts = [categoryTable("Totals by category", totals, totalAmount, cur)];
    if (agency) {
      ctx.remember(report.accounts);
      list.update(report, report.accounts.length);
      const others = report.totals_by_currency.filter((c) => c.currency !== cur);
      accountsBox.replaceChildren(
        dataTable({
          caption: "Cost by account",
          empty: "No accounts.",
          rows: report.accounts,
          columns: [
            { label: "Account", cell: (a) => a.account_name, rowHeader: true },
            { label: "Billing", cell: (a) => (a.billing === "agency" ? "Shared (agency pays)" : "Own balance") },
            { label: "Time zone", cell: (a) => a.time_zone },
            { label: "Cost", cell: (a) => money(a.total_amount, a.currency || cur), numeric: true },
          ],
        }),
        others.length
          ? h(
              "p",
              { class: "note" },
              "Accounts billed in other currencies (not in the totals above): ",
              others.map((c, i) => `${i ? "; " : ""}${c.accounts} in ${c.currency}, ${money(c.total_amount, c.currency)}`),
              ".",
            )
          : null,
      );
    }
    parts.push(periodTable(rows, report.group_by, cur));
    tablesBox.replaceChildren(...parts);
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    list.reset();
    busy(apply, load, "Could not load the usage report");
  });
  csv.addEventListener("click", () =>
    busy(
      csv,
      async () => {
        const { path, name } = scopeSource(ctx, scope.value, "usage");
        const saved = await download(path, { ...params(), format: "csv" }, name);
        showStatus(`Downloaded ${saved}.`);
      },
      "Could not download the CSV",
    ),
  );
  await busy(apply, load, "Could not load the usage report");
}
