// Logs: every entry drawn from (or credited to) the balance, for one account or the
// whole agency; date, category, account and search filters, paging, CSV download.
// A row says when the charge happened and when it was posted (both in the Logs' zone),
// the call, text or number details the producer sent, and whose balance it left.

import { download, getJson } from "./api.js";
import { CATEGORY_LABELS, categoryLabel, dateTime, exactMoney, isNegative, quantity } from "./format.js";
import { initialScope, scopeOptions, scopeSource } from "./scope.js";
import { busy, button, dataTable, dateInput, field, fill, h, inlineError, narrow, section, select, showStatus, wide } from "./ui.js";

// The details producers send, in the order people look for them, with their names.
const DETAIL_LABELS = [
  ["tracking_number", "Tracking number"],
  ["caller", "Caller"],
  ["caller_number", "Caller"],
  ["from", "From"],
  ["to", "To"],
  ["phone_number", "Number"],
  ["call_id", "Call ID"],
  ["message_id", "Message ID"],
  ["payment_id", "Payment ID"],
];
const KNOWN = new Map(DETAIL_LABELS);
const DURATION_KEYS = new Set(["duration", "duration_s", "duration_seconds", "call_duration"]);

/** 195 -> "3 min 15 s"; 42 -> "42 s"; 3600 -> "1 h 0 min". */
export function duration(seconds) {
  const total = Math.round(Number(seconds));
  if (!Number.isFinite(total) || total < 0) return String(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (hours) return `${hours} h ${minutes} min`;
  if (minutes) return `${minutes} min ${rest} s`;
  return `${rest} s`;
}

function label(key) {
  if (KNOWN.has(key)) return KNOWN.get(key);
  if (DURATION_KEYS.has(key)) return "Duration";
  const words = key.replaceAll("_", " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function value(key, raw) {
  if (typeof raw === "boolean") return raw ? "yes" : "no";
  if (DURATION_KEYS.has(key) && /^\d+$/.test(String(raw))) return duration(raw);
  return String(raw);
}

/** A row's metadata as [label, value] pairs: the well-known details first, then the rest by name. */
export function details(metadata) {
  const keys = Object.keys(metadata || {});
  const order = (key) => {
    const known = DETAIL_LABELS.findIndex(([name]) => name === key);
    if (known >= 0) return [0, known, key];
    return DURATION_KEYS.has(key) ? [1, 0, key] : [2, 0, key];
  };
  keys.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2].localeCompare(y[2]);
  });
  return keys.map((key) => [label(key), value(key, metadata[key])]);
}

function describe(entry) {
  const pairs = details(entry.metadata);
  return h(
    "div",
    { class: "described" },
    entry.description || "—",
    pairs.length
      ? h(
          "dl",
          { class: "details" },
          pairs.map(([name, text]) => h("div", {}, h("dt", {}, name), " ", h("dd", {}, text))),
        )
      : null,
  );
}

/** An instant as two short lines, date then time ("Dec 1, 2026" / "4:05 AM"), in the Logs' zone. */
function when(iso, timeZone) {
  const text = dateTime(iso, timeZone);
  const cut = text.lastIndexOf(", ");
  if (cut < 0) return h("time", { datetime: iso }, text);
  return h(
    "time",
    { datetime: iso, class: "when" },
    h("span", {}, text.slice(0, cut)),
    " ",
    h("span", {}, text.slice(cut + 2)),
  );
}

function columns(ctx, agency, timeZone, showBalance) {
  const cols = [
    // When the call, text or renewal happened, and when it was charged to the balance.
    { label: "Occurred", cell: (e) => when(e.occurred_at, timeZone), rowHeader: true },
    { label: "Posted", cell: (e) => when(e.posted_at, timeZone) },
  ];
  if (agency) {
    cols.push({
      label: "Account",
      cell: (e) => [
        e.account_name || e.account_id,
        e.billing_account_id !== e.account_id
          ? h("span", { class: "note" }, `paid by ${e.billing_account_name || ctx.accountName(e.billing_account_id)}`)
          : null,
      ],
    });
  }
  cols.push(
    { label: "Category", cell: (e) => categoryLabel(e.category) },
    { label: "Description", cell: describe },
    { label: "Quantity", cell: (e) => quantity(e.quantity, e.unit), numeric: true },
    {
      // Logs show every digit the ledger holds (sub-cent prices of minutes and texts).
      label: "Amount",
      cell: (e) => h("span", { class: isNegative(e.amount) ? "debit" : "credit" }, exactMoney(e.amount, e.currency)),
      numeric: true,
    },
  );
  // A client on shared billing is not shown its agency's balance (the API leaves it out)
  // unless the agency shares it; across an agency, each balance says whose it is.
  if (showBalance) {
    cols.push({
      label: "Balance after",
      cell: (e) =>
        e.balance_after === null
          ? "—"
          : [
              exactMoney(e.balance_after, e.currency),
              agency && e.billing_account_name ? h("span", { class: "note" }, `of ${e.billing_account_name}`) : null,
            ],
      numeric: true,
    });
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
  const search = h("input", {
    type: "search",
    name: "q",
    maxlength: 100,
    autocomplete: "off",
    placeholder: "Caller, tracking number, call ID…",
  });
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
      wide(field("Search", search, "Finds descriptions and call, text or number details (any case).")),
    ),
    h(
      "div",
      { class: "row" },
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
    return { from: from.value, to: to.value, category: category.value, q: search.value.trim() };
  }

  async function load() {
    const { path, agency } = scopeSource(ctx, scope.value, "logs");
    const wanted = query();
    tableBox.setAttribute("aria-busy", "true");
    try {
      const page = await getJson(path, { ...wanted, limit: size.value, cursor: cursors[pageIndex] });
      nextCursor = page.next_cursor;
      const filtered = Boolean(wanted.q || wanted.category);
      // A filtered page reads a bounded stretch of the log: fewer rows than asked, with more to search.
      const partial = filtered && nextCursor && page.items.length < Number(size.value);
      const showBalance = page.items.some((e) => e.balance_after !== null);
      fill(
        tableBox,
        h(
          "p",
          { class: "note" },
          `Times in ${page.time_zone}: when the charge occurred and when it was posted to the balance. Charges are negative, credits positive.`,
        ),
        partial
          ? h(
              "p",
              { class: "note", "data-testid": "logs-partial" },
              `${page.items.length ? "These are the matches" : "No matches"} in this stretch of the log. “Older entries” searches further back.`,
            )
          : null,
        dataTable({
          caption: agency ? "Agency log entries, newest first" : "Log entries, newest first",
          columns: columns(ctx, agency, page.time_zone, showBalance),
          rows: page.items,
          empty: partial ? "No matches yet." : "No entries match these filters.",
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
