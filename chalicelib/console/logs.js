// Logs: every entry drawn from (or credited to) the balance, for one account or the
// whole agency; date, category and account filters, paging, CSV download.

import { download, getJson } from "./api.js";
import { CATEGORY_LABELS, categoryLabel, dateTime, exactMoney, isNegative, quantity } from "./format.js";
import { initialScope, scopeOptions, scopeSource } from "./scope.js";
import { busy, button, dataTable, dateInput, field, h, inlineError, narrow, section, select, showStatus, wide } from "./ui.js";

function hidesPayerBalance(ctx) {
  const balance = ctx.account.balance;
  return Boolean(balance && balance.billing === "agency" && balance.balance_visible === false);
}

function columns(ctx, agency, timeZone) {
  const cols = [{ label: "Posted", cell: (e) => dateTime(e.posted_at, timeZone), rowHeader: true }];
  if (agency) {
    cols.push({
      label: "Account",
      cell: (e) => [
        e.account_name || e.account_id,
        e.billing_account_id !== e.account_id ? h("span", { class: "note" }, `paid by ${ctx.accountName(e.billing_account_id)}`) : null,
      ],
    });
  }
  cols.push(
    { label: "Category", cell: (e) => categoryLabel(e.category) },
    { label: "Description", cell: (e) => e.description || "—" },
    { label: "Quantity", cell: (e) => quantity(e.quantity, e.unit), numeric: true },
    {
      // Logs show every digit the ledger holds (sub-cent prices of minutes and texts).
      label: "Amount",
      cell: (e) => h("span", { class: isNegative(e.amount) ? "debit" : "credit" }, exactMoney(e.amount, e.currency)),
      numeric: true,
    },
  );
  // A client on shared billing is not shown its agency's balance unless the agency shares it.
  if (!hidesPayerBalance(ctx)) {
    cols.push({ label: "Balance after", cell: (e) => exactMoney(e.balance_after, e.currency), numeric: true });
  }
  return cols;
}

export async function render(ctx, root) {
  const options = scopeOptions(ctx);
  const scope = select({ name: "account" }, options, initialScope(ctx));
  const from = dateInput("", { name: "from" });
  const to = dateInput("", { name: "to" });
  const category = select(
    { name: "category" },
    [["", "All categories"], ...Object.entries(CATEGORY_LABELS)],
    "",
  );
  const size = select({ name: "limit" }, [["25", "25"], ["50", "50"], ["100", "100"]], "25");
  const apply = h("button", { type: "submit", class: "button primary" }, "Show entries");
  const csv = button("Download CSV", { class: "button secondary", "data-testid": "logs-csv" });
  const filters = h(
    "form",
    { class: "form filters", "aria-label": "Log filters" },
    h(
      "div",
      { class: "row" },
      ctx.isAgencyUser ? wide(field("Account", scope)) : null,
      field("From", from),
      field("To (inclusive)", to),
      field("Category", category),
      narrow(field("Rows per page", size)),
    ),
    h("div", { class: "actions" }, apply, csv),
  );

  const tableBox = h("div", { "aria-live": "polite", "aria-busy": "false" });
  const older = button("Older entries", { class: "button secondary" });
  const newer = button("Newer entries", { class: "button secondary" });
  const pageLabel = h("span", { class: "note" });
  root.append(
    section("Filters", filters),
    section("Entries", tableBox, h("nav", { class: "pager", "aria-label": "Log pages" }, newer, pageLabel, older)),
  );

  // cursors[i] is the cursor that reads page i (page 0 has none).
  let cursors = [null];
  let pageIndex = 0;
  let nextCursor = null;

  function query() {
    return { from: from.value, to: to.value, category: category.value };
  }

  async function load() {
    const { path, agency } = scopeSource(ctx, scope.value, "logs");
    tableBox.setAttribute("aria-busy", "true");
    try {
      const page = await getJson(path, { ...query(), limit: size.value, cursor: cursors[pageIndex] });
      nextCursor = page.next_cursor;
      tableBox.replaceChildren(
        h("p", { class: "note" }, `Times in ${page.time_zone}. Charges are negative, credits positive.`),
        dataTable({
          caption: agency ? "Agency log entries, newest first" : "Log entries, newest first",
          columns: columns(ctx, agency, page.time_zone),
          rows: page.items,
          empty: "No entries match these filters.",
        }),
      );
      pageLabel.textContent = `Page ${pageIndex + 1}`;
      newer.disabled = pageIndex === 0;
      older.disabled = !nextCursor;
    } catch (error) {
      tableBox.replaceChildren(inlineError(error, "Could not load the logs"));
      throw error;
    } finally {
      tableBox.setAttribute("aria-busy", "false");
    }
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    cursors = [null];
    pageIndex = 0;
    busy(apply, load, "Could not load the logs");
  });
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors[pageIndex + 1] = nextCursor;
    pageIndex += 1;
    busy(older, load, "Could not load older entries");
  });
  newer.addEventListener("click", () => {
    if (pageIndex === 0) return;
    pageIndex -= 1;
    busy(newer, load, "Could not load newer entries");
  });
  csv.addEventListener("click", () =>
    busy(
      csv,
      async () => {
        const { path, name } = scopeSource(ctx, scope.value, "logs");
        const saved = await download(path, { ...query(), format: "csv" }, name);
        showStatus(`Downloaded ${saved}.`);
      },
      "Could not download the CSV",
    ),
  );
  older.disabled = true;
  newer.disabled = true;
  await busy(apply, load, "Could not load the logs");
}
