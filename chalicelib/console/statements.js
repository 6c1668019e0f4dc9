// Printable Statements: send one for a date range, the recurring schedule, and the
// statements sent (each opened as HTML or PDF, fetched with the token as a blob).

import { getJson, openDocument, sendJson } from "./api.js";
import { addDays, dateTime, emailList, localDate, money, monthStart, statusLabel, today } from "./format.js";
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
  section,
  select,
  settle,
  showError,
  showStatus,
} from "./ui.js";

const FREQUENCIES = [
  ["daily", "Daily (the day before)"],
  ["weekly", "Weekly (the seven days before)"],
  ["monthly", "Monthly (the previous calendar month)"],
  ["quarterly", "Quarterly (the previous calendar quarter)"],
];
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const STATUS_TONES = { sent: "good", queued: "info", sending: "info", failed: "bad", refused: "bad" };
const PAGE = 20;

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

function scheduleSummary(schedule) {
  if (!schedule.configured) return "No recurring statement is set up.";
  const recipients = schedule.recipients.length ? schedule.recipients.join(", ") : "nobody";
  let text = `${capital(schedule.frequency)}${schedule.weekday ? ` on ${capital(schedule.weekday)}s` : ""}, to ${recipients}`;
  if (!schedule.enabled) return `${text}. Switched off.`;
  if (schedule.next_run_at) {
    text += `. Next: ${dateTime(schedule.next_run_at, schedule.time_zone)}`;
    if (schedule.next_period) {
      text += `, covering ${localDate(schedule.next_period.from)} – ${localDate(schedule.next_period.to)}`;
    }
  }
  return `${text}.`;
}

function scheduleForm(ctx, schedule, onSaved) {
  const enabled = h("input", { type: "checkbox", name: "enabled" });
  enabled.checked = schedule.configured ? schedule.enabled : true;
  const frequency = select({ name: "frequency" }, FREQUENCIES, schedule.frequency || "monthly");
  const weekday = select(
    { name: "weekday" },
    WEEKDAYS.map((day) => [day, capital(day)]),
    schedule.weekday || "monday",
  );
  const weekdayField = field("Day of the week", weekday);
  const showWeekday = () => {
    weekdayField.hidden = frequency.value !== "weekly";
  };
  frequency.addEventListener("change", showWeekday);
  showWeekday();
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
    h("div", { class: "row" }, field("How often", frequency), weekdayField),
    field("Email to", recipients, "Email addresses, separated by commas (up to 10)."),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { frequency: frequency.value, recipients: emailList(recipients.value), enabled: enabled.checked };
    if (frequency.value === "weekly") body.weekday = weekday.value;
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
    { label: "Closing balance", cell: (s) => money(s.closing_balance, s.currency), numeric: true },
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

  more.addEventListener("click", () => busy(more, () => load(false), "Could not load older statements"));
  refresh.addEventListener("click", () => busy(refresh, () => load(true), "Could not load the statements"));
  await load(true);
  settle(box, tableBox, h("div", { class: "actions" }, more, refresh));
  return () => load(true);
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
