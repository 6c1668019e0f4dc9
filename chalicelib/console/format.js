// Formatting for people. Money stays the API's decimal string: it is never parsed
// to a float here. Sums (a chart's column total) and rounding to the cent use exact
// BigInt micro-units.
//
// What people read is money to the cent ("$581.53"): money(). The exact amount the
// API gave (sub-cent, "$581.5258") is exactMoney(): the Logs rows show it, and a
// rounded amount carries it as its hover title (ui.js moneyText).

const SYMBOLS = { USD: "$", CAD: "CA$", AUD: "A$", EUR: "€", GBP: "£" };

function withCurrency(text, currency) {
  const negative = text.startsWith("-");
  const digits = negative || text.startsWith("+") ? text.slice(1) : text;
  const [whole, fraction] = digits.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const body = fraction === undefined ? grouped : `${grouped}.${fraction}`;
  const symbol = SYMBOLS[currency];
  const shown = symbol ? `${symbol}${body}` : `${body} ${currency || ""}`.trim();
  return negative ? `-${shown}` : shown;
}

/** "581.5258" -> "581.53": to the cent, half away from zero (as statements and receipts round). */
export function toCents(amount) {
  const micros = toMicros(amount);
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const cents = (abs + 5000n) / 10000n;
  if (cents === 0n) return "0.00"; // no "negative zero"
  return `${negative ? "-" : ""}${cents / 100n}.${(cents % 100n).toString().padStart(2, "0")}`;
}

/** "1234.5678", "USD" -> "$1,234.57"; "-2.50" -> "-$2.50": to the cent, as people read money. */
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "—";
  return withCurrency(toCents(amount), currency);
}

/** "1234.5678", "USD" -> "$1,234.5678": every digit the API gave (Logs rows, hover titles). */
export function exactMoney(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "—";
  return withCurrency(String(amount).trim(), currency);
}

/** Whether the cents hide part of the amount ("4.63376" does, "4.60" does not). */
export function isSubCent(amount) {
  if (amount === null || amount === undefined || amount === "") return false;
  return toMicros(amount) % 10000n !== 0n;
}

/** "4.63376", "USD" -> "$4.63 a day". */
export function perDay(amount, currency) {
  return `${money(amount, currency)} a day`;
}

/** "12.3456" -> 12345600n (micro-units, exact). */
export function toMicros(text) {
  const match = /^([+-]?)(\d+)(?:\.(\d{1,6}))?$/.exec(String(text).trim());
  if (!match) throw new Error(`not a decimal amount: ${text}`);
  const micros = BigInt(match[2]) * 1000000n + BigInt((match[3] || "").padEnd(6, "0"));
  return match[1] === "-" ? -micros : micros;
}

/** 12345600n -> "12.3456" (at least two decimals). */
export function fromMicros(value) {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  let fraction = (abs % 1000000n).toString().padStart(6, "0").replace(/0+$/, "");
  fraction = fraction.padEnd(2, "0");
  return `${negative ? "-" : ""}${abs / 1000000n}.${fraction}`;
}

export function sumAmounts(amounts) {
  return fromMicros(amounts.reduce((total, amount) => total + toMicros(amount), 0n));
}

/** Whether a decimal string is below zero (no float involved). */
export function isNegative(amount) {
  return String(amount).trim().startsWith("-") && toMicros(amount) !== 0n;
}

function instant(iso) {
  // RFC 3339 with microseconds: keep milliseconds, which every browser parses.
  return new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
}

export function dateTime(iso, timeZone) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat("en-US", {
    timeZone: timeZone || undefined,
    dateStyle: "medium",
    timeStyle: "short",
  }).format(instant(iso));
}

/** A local date "2026-11-05" for people: "Nov 5, 2026" (no time zone shift: it is a date). */
export function localDate(text) {
  if (!text) return "—";
  const [year, month, day] = text.split("-").map((part) => Number.parseInt(part, 10));
  if (!day) return text;
  return new Intl.DateTimeFormat("en-US", { timeZone: "UTC", dateStyle: "medium" }).format(
    new Date(Date.UTC(year, month - 1, day)),
  );
}

/** Today's date (YYYY-MM-DD) in an IANA time zone. */
export function today(timeZone) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: timeZone || undefined,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(new Date());
  const get = (type) => parts.find((part) => part.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** The first day of the month `monthsBack` months before the month of `date` (YYYY-MM-DD). */
export function monthStart(date, monthsBack = 0) {
  const [year, month] = date.split("-").map((part) => Number.parseInt(part, 10));
  const index = year * 12 + (month - 1) - monthsBack;
  const y = Math.floor(index / 12);
  const m = (index % 12) + 1;
  return `${y}-${String(m).padStart(2, "0")}-01`;
}

export const CATEGORY_LABELS = {
  call_minutes: "Call minutes",
  text_messages: "Text messages",
  number_renewals: "Number renewals",
  subscription_fees: "Subscription fees",
  recharge: "Recharge",
  adjustment: "Adjustment",
};

export function categoryLabel(category) {
  return CATEGORY_LABELS[category] || String(category).replaceAll("_", " ");
}

const STATUS_LABELS = {
  ok: "OK",
  low: "Low",
  past_due: "Past due",
  succeeded: "Succeeded",
  failed: "Failed",
  refunded: "Refunded",
  pending: "Pending",
  queued: "Queued",
  sending: "Sending",
  sent: "Sent",
  refused: "Refused",
};

export function statusLabel(status) {
  return STATUS_LABELS[status] || String(status || "—").replaceAll("_", " ");
}

const KIND_LABELS = { auto_recharge: "Auto recharge", manual: "Manual payment", subscription: "Subscription" };

export function paymentKindLabel(kind) {
  return KIND_LABELS[kind] || String(kind).replaceAll("_", " ");
}

/** "minute" -> "minutes", "query" -> "queries", "box" -> "boxes"; a plural stays as it is. */
export function plural(unit) {
  if (!unit || unit.endsWith("s")) return unit;
  if (/(x|ch|sh|z)$/.test(unit)) return `${unit}es`;
  if (/[^aeiou]y$/.test(unit)) return `${unit.slice(0, -1)}ies`;
  return `${unit}s`;
}

/** "1328" -> "1,328"; "2.5" stays "2.5" (the digits are the API's). */
export function count(amount) {
  const text = String(amount ?? "").trim();
  const negative = text.startsWith("-");
  const [whole, fraction] = (negative ? text.slice(1) : text).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}${fraction === undefined ? "" : `.${fraction}`}`;
}

/** "1328", "minute" -> "1,328 minutes"; "1", "number" -> "1 number". */
export function quantity(amount, unit) {
  if (!unit) return count(amount);
  const one = /^-?1(\.0*)?$/.test(String(amount).trim());
  return `${count(amount)} ${one ? unit : plural(unit)}`;
}

export function cardLabel(brand, last4) {
  if (!brand && !last4) return "—";
  const name = brand ? brand.charAt(0).toUpperCase() + brand.slice(1) : "Card";
  return `${name} •••• ${last4 || "????"}`;
}

/** "a@x.example, b@y.example" (commas, semicolons, spaces or new lines) -> ["a@x.example", "b@y.example"]. */
export function emailList(text) {
  return String(text || "")
    .split(/[\s,;]+/)
    .map((part) => part.trim())
    .filter(Boolean);
}

/** A local date (YYYY-MM-DD) moved by `days` days. */
export function addDays(date, days) {
  const [year, month, day] = date.split("-").map((part) => Number.parseInt(part, 10));
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}
