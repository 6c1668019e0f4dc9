// Printable Statements: send one for a date range, the recurring schedule, and the
// statements sent (each opened as HTML or PDF, fetched with the token as a blob).

import { getJson, openDocument, sendJson } from "./api.js";
import { addDays, dateTime, emailList, localDate, monthStart, statusLabel, today } from "./format.js";
import {
  badge,
  busy,
  button,
  checkboxField,
  dataTable,
  dateInput,
  field,
  h,
  inlineError,
  moneyText,
  section,
  select,
  settle,
  showError,
  showStatus,
} from "./ui.js";

const FREQUENCIES = [
  ["daily", "Daily (the day before)"],
  ["weekly", "Weekly (the 7 days before)"],
  ["monthly", "Monthly (the month before)"],
  ["quarterly", "Quarterly (calendar quarter)"],
  ["yearly", "Yearly (calendar year)"],
];
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const DAYS_OF_MONTH = [
  ...Array.from({ length: 28 }, (_, i) => [String(i + 1), ordinal(i + 1)]),
  ["last", "The last day"],
];
const HOURS = Array.from({ length: 24 }, (_, hour) => [String(hour), hourLabel(hour)]);
const STATUS_TONES = { sent: "good", queued: "info", sending: "info", failed: "bad", refused: "bad" };
const PAGE = 20;
// A statement waiting for the sender is looked at again this often, for this long.
const REFRESH_MS = 2500;
const REFRESH_FOR_MS = 180000;

function ordinal(day) {
  const tens = day % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[day % 10] || "th";
  return `${day}${suffix}`;
}

function hourLabel(hour) {
  return `${String(hour).padStart(2, "0")}:00`;
}

function enc(id) {
  return encodeURIComponent(id);
}

function capital(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

function sendForm(ctx, onSent) {
  const zone = ctx.account.time_zone;
  const thisMonth = monthStart(today(zone));
  const from = dateInput(monthStart(today(zone), 1), { name: "from", required: true });
  const to = dateInput(addDays(thisMonth, -1), { name: "to", required: true });
  const recipients = h("input", {
    name: "recipients",
    type: "text",
    required: true,
    autocomplete: "off",
    value: (ctx.account.emails || []).join(", "),
  });
  const submit = h("button", { type: "submit", class: "button primary" }, "Send statement");
  const form = h(
    "form",
    { class: "form", "aria-label": "Send a statement", "data-testid": "send-statement-form" },
    h(
      "div",
      { class: "row" },
      field("From", from, `A local date in ${zone}.`),
      field("To (inclusive)", to),
    ),
    field("Email to", recipients, "Email addresses, separated by commas."),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { from: from.value, to: to.value, recipients: emailList(recipients.value) };
    busy(
      submit,
      async () => {
        const { data } = await sendJson("POST", `/accounts/${enc(ctx.account.account_id)}/statements`, body);
        showStatus(
          `Statement for ${localDate(body.from)} – ${localDate(body.to)} ${statusLabel(data.status).toLowerCase()} ` +
            `for ${body.recipients.join(", ")}.`,
        );
        await onSent();
      },
      "Could not send the statement",
    );
  });
  return form;
}

function when(schedule) {
  let day = "";
  if (schedule.weekday) day = ` on ${capital(schedule.weekday)}s`;
  else if (schedule.day_of_month === "last") day = " on the last day of the month";
  else if (schedule.day_of_month) day = ` on the ${ordinal(schedule.day_of_month)}`;
  const hour = schedule.hour === null || schedule.hour === undefined ? "" : ` at ${hourLabel(schedule.hour)}`;
  return `${capital(schedule.frequency)}${day}${hour}`;
}

function scheduleSummary(schedule) {
  if (!schedule.configured) return "No recurring statement is set up.";
  const recipients = schedule.recipients.length ? schedule.recipients.join(", ") : "nobody";
  const text = `${when(schedule)} (${schedule.time_zone}), to ${recipients}`;
  if (!schedule.enabled) return `${text}. Switched off.`;
  return `${text}.`;
}

/** When the next statement goes out, and what it covers. */
function nextSend(schedule) {
  if (!schedule.configured || !schedule.enabled || !schedule.next_run_at) return null;
  const period = schedule.next_period
    ? `, covering ${localDate(schedule.next_period.from)} – ${localDate(schedule.next_period.to)}`
    : "";
  return h(
    "p",
    { class: "next-send", "data-testid": "schedule-next" },
    h("strong", {}, "Next statement: "),
    `${dateTime(schedule.next_run_at, schedule.time_zone)}${period}.`,
  );
}

function scheduleForm(ctx, schedule, onSaved) {
  const enabled = h("input", { type: "checkbox", name: "enabled" });
  enabled.checked = Boolean(schedule.configured && schedule.enabled); // no schedule yet: nothing is sent
  const frequency = select({ name: "frequency" }, FREQUENCIES, schedule.frequency || "monthly");
  const weekday = select(
    { name: "weekday" },
    WEEKDAYS.map((day) => [day, capital(day)]),
    schedule.weekday || "monday",
  );
  const weekdayField = field("Day of the week", weekday);
  const dayOfMonth = select({ name: "day_of_month" }, DAYS_OF_MONTH, String(schedule.day_of_month || 1));
  const dayOfMonthField = field("Day of the month", dayOfMonth, "The statement covers the month before that day.");
  const hour = select({ name: "hour" }, HOURS, String(schedule.hour ?? 6));
  const hourField = field(`At (${ctx.account.time_zone})`, hour);
  const showDays = () => {
    weekdayField.hidden = frequency.value !== "weekly";
    dayOfMonthField.hidden = frequency.value !== "monthly";
  };
  frequency.addEventListener("change", showDays);
  showDays();
  const recipients = h("input", {
    name: "recipients",
    type: "text",
    required: true,
    autocomplete: "off",
    value: (schedule.recipients.length ? schedule.recipients : ctx.account.emails || []).join(", "),
  });
  const submit = h("button", { type: "submit", class: "button primary" }, "Save schedule");
  const form = h(
    "form",
    { class: "form", "aria-label": "Change the recurring statement", "data-testid": "schedule-form" },
    checkboxField("Email a statement on a schedule", enabled),
    h("div", { class: "row" }, field("How often", frequency), weekdayField, dayOfMonthField, hourField),
    field("Email to", recipients, "Email addresses, separated by commas (up to 10)."),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      frequency: frequency.value,
      hour: Number.parseInt(hour.value, 10),
      recipients: emailList(recipients.value),
      enabled: enabled.checked,
    };
    if (frequency.value === "weekly") body.weekday = weekday.value;
    if (frequency.value === "monthly") {
      body.day_of_month = dayOfMonth.value === "last" ? "last" : Number.parseInt(dayOfMonth.value, 10);
    }
    busy(
      submit,
      async () => {
        const { data } = await sendJson("PUT", `/accounts/${enc(ctx.account.account_id)}/statement-schedule`, body);
        showStatus(`Schedule saved: ${scheduleSummary(data)}`);
        await onSaved();
      },
      "Could not save the schedule",
    );
  });
  return form;
}

function statementColumns(ctx) {
  const accountId = enc(ctx.account.account_id);
  const zone = ctx.account.time_zone;
  const opener = (statement, kind) => {
    const label = kind === "html" ? "HTML" : "PDF";
    const period = `${localDate(statement.from)} – ${localDate(statement.to)}`;
    const open = button(label, { class: "button link", "aria-label": `Open the statement for ${period} as ${label}` });
    open.addEventListener("click", () =>
      busy(
        open,
        () =>
          openDocument(
            `/accounts/${accountId}/statements/${enc(statement.id)}/${kind}`,
            `the statement (${label})`,
            `statement-${statement.id}.${kind}`,
            kind === "pdf" ? "application/pdf" : "text/html",
          ),
        `Could not open the statement as ${label}`,
      ),
    );
    return open;
  };
  return [
    { label: "Period", cell: (s) => `${localDate(s.from)} – ${localDate(s.to)}`, rowHeader: true },
    { label: "Type", cell: (s) => (s.origin === "scheduled" ? `Scheduled (${s.frequency})` : "On request") },
    {
      label: "Status",
      cell: (s) => [badge(statusLabel(s.status), STATUS_TONES[s.status]), s.error ? h("span", { class: "note" }, s.error) : null],
    },
    { label: "Sent to", cell: (s) => s.recipients.join(", ") || "—" },
    {
      label: "Closing balance",
      // As the statement prints it (to the cent); the exact amount is its hover title.
      cell: (s) =>
        s.closing_balance === null
          ? "—"
          : moneyText(s.closing_balance, s.currency, { "data-printed": s.closing_balance_display || null }),
      numeric: true,
    },
    { label: "Requested", cell: (s) => dateTime(s.created_at, zone) },
    { label: "Open", cell: (s) => h("span", { class: "links" }, opener(s, "html"), opener(s, "pdf")) },
  ];
}

async function renderList(ctx, box) {
  const path = `/accounts/${enc(ctx.account.account_id)}/statements`;
  const items = [];
  let cursor = null;
  const tableBox = h("div");
  const more = button("Show older statements", { class: "button secondary", hidden: true });
  const refresh = button("Refresh", { class: "button secondary" });

  async function load(reset) {
    if (reset) {
      items.length = 0;
      cursor = null;
    }
    const page = await getJson(path, { limit: PAGE, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    tableBox.replaceChildren(
      dataTable({
        caption: "Statements, newest first",
        columns: statementColumns(ctx),
        rows: items,
        empty: "No statements yet.",
      }),
    );
  }

  // A statement that is queued or being sent refreshes on its own until the sender is done.
  let watching = null;
  const waiting = () => items.some((s) => s.status === "queued" || s.status === "sending");
  function watch() {
    if (watching || !waiting()) return;
    const until = Date.now() + REFRESH_FOR_MS;
    note.textContent = "A statement is on its way: this list refreshes on its own.";
    watching = window.setInterval(async () => {
      if (!box.isConnected || Date.now() > until) {
        window.clearInterval(watching);
        watching = null;
        if (box.isConnected) note.textContent = "Still waiting for the sender: use Refresh.";
        return;
      }
      try {
        await load(true);
      } catch {
        return; // the next round tries again; Refresh shows the error
      }
      if (!waiting()) {
        window.clearInterval(watching);
        watching = null;
        note.textContent = "";
      }
    }, REFRESH_MS);
  }
  const note = h("p", { class: "note", "aria-live": "polite" });

  more.addEventListener("click", () => busy(more, () => load(false), "Could not load older statements"));
  refresh.addEventListener("click", () => busy(refresh, () => load(true).then(watch), "Could not load the statements"));
  await load(true);
  settle(box, tableBox, h("div", { class: "actions" }, more, refresh), note);
  watch();
  return () => load(true).then(watch);
}

export async function render(ctx, root) {
  const account = ctx.account;
  if (account.billing === "agency") {
    const payer = account.billing_account_id;
    root.append(
      section(
        "Statements",
        h(
          "p",
          {},
          `${account.name} draws from ${ctx.accountName(payer)}'s balance (shared billing): `,
          "its usage is in the agency's statements, broken down by sub-account.",
        ),
        ctx.canReach(payer)
          ? button(`Go to ${ctx.accountName(payer)}'s statements`, {
              class: "button secondary",
              onclick: () => ctx.switchTo(payer, "statements"),
            })
          : null,
      ),
    );
    return;
  }

  const listBox = h("div", { class: "loading" }, "Loading statements…");
  const scheduleBox = h("div", { class: "loading" }, "Loading the schedule…");
  let reloadList = () => loadList();
  if (ctx.isAdmin) {
    root.append(
      section(
        "Send a statement",
        h("p", {}, "A statement of the balance, card charges and usage for a date range, emailed as HTML with a PDF."),
        sendForm(ctx, () => reloadList()),
      ),
    );
  }
  root.append(section("Recurring statement", scheduleBox), section("Statements sent", listBox));

  async function loadSchedule() {
    try {
      const schedule = await getJson(`/accounts/${enc(account.account_id)}/statement-schedule`);
      settle(
        scheduleBox,
        h("p", { "data-testid": "schedule-summary" }, scheduleSummary(schedule)),
        nextSend(schedule),
        ctx.isAdmin ? scheduleForm(ctx, schedule, loadSchedule) : null,
      );
    } catch (error) {
      settle(scheduleBox, inlineError(error, "Could not load the schedule"));
      showError(error, "Could not load the schedule");
    }
  }

  async function loadList() {
    try {
      reloadList = await renderList(ctx, listBox);
    } catch (error) {
      settle(listBox, inlineError(error, "Could not load the statements"));
      showError(error, "Could not load the statements");
    }
  }

  await Promise.all([loadSchedule(), loadList()]);
}
