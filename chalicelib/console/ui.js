// DOM helpers. Text always goes in as text (textContent), never as HTML.

import { ApiError } from "./api.js";
import { exactMoney, isSubCent, money } from "./format.js";

export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.className = value;
    else if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace an element's children (null and false are skipped, unlike replaceChildren). */
export function fill(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let nextId = 0;

export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled control, with an optional hint tied to it by aria-describedby. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid();
  const parts = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** A field that takes more room in its row. */
export function wide(fieldElement) {
  fieldElement.classList.add("wide");
  return fieldElement;
}

/** A field that needs little room (a short select). */
export function narrow(fieldElement) {
  fieldElement.classList.add("narrow");
  return fieldElement;
}

export function checkboxField(labelText, checkbox) {
  if (!checkbox.id) checkbox.id = uid();
  return h("div", { class: "field checkbox" }, checkbox, h("label", { for: checkbox.id }, labelText));
}

export function select(attrs, options, selected) {
  const control = h("select", attrs);
  for (const [value, label] of options) {
    const option = h("option", { value }, label);
    if (value === selected) option.selected = true;
    control.append(option);
  }
  return control;
}

export function button(label, attrs = {}) {
  return h("button", { type: "button", class: "button", ...attrs }, label);
}

export function badge(text, tone) {
  return h("span", { class: `badge ${tone || ""}`.trim() }, text);
}

/**
 * A table: columns [{label, cell(row) -> Node|string, numeric?}]. Wide tables scroll
 * inside a focusable region, so the keyboard can scroll them too.
 */
export function dataTable({ caption, columns, rows, empty = "Nothing to show." }) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const table = h(
    "table",
    { class: "data" },
    caption ? h("caption", {}, caption) : null,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((column) => h("th", { scope: "col", class: column.numeric ? "num" : null }, column.label)),
      ),
    ),
  );
  const body = h("tbody");
  for (const row of rows) body.append(tableRow(columns, row));
  table.append(body);
  return h("div", { class: "table-wrap", role: "region", "aria-label": caption || "Table", tabindex: 0 }, table);
}

export function tableRow(columns, row) {
  return h(
    "tr",
    {},
    columns.map((column, index) => {
      const content = column.cell(row);
      const tag = index === 0 && column.rowHeader ? "th" : "td";
      return h(tag, { class: column.numeric ? "num" : null, scope: tag === "th" ? "row" : null }, content);
    }),
  );
}

/** The API's words for a failure (its error.message, plus field details when given). */
export function errorText(error, doing) {
  let text = error instanceof Error ? error.message : String(error);
  if (error instanceof ApiError && Array.isArray(error.details)) {
    const notes = error.details
      .map((detail) => (detail && (detail.message || detail.msg || detail.reason)) || null)
      .filter(Boolean);
    if (notes.length) text += ` (${notes.join("; ")})`;
  }
  return doing ? `${doing}: ${text}` : text;
}

/**
 * Money to the cent, with the exact amount as its hover title when the cents hide part
 * of it ("$581.53", title "$581.5258").
 */
export function moneyText(amount, currency, attrs = {}) {
  const exact = isSubCent(amount) ? exactMoney(amount, currency) : null;
  return h("span", { class: "money", title: exact ? `Exactly ${exact}` : null, "data-exact": exact, ...attrs }, money(amount, currency));
}

// The section of the control whose action is running (busy): its messages are repeated
// there, next to the control, for whoever scrolled away from the page's notices at the top.
// (The section, not the control: a reload after the action may replace the form.)
let activePanel = null;

function echo(text, tone) {
  const panel = activePanel && activePanel.isConnected ? activePanel : null;
  for (const old of document.querySelectorAll(".feedback")) {
    if (old.parentElement !== panel) old.remove(); // one answer on the page: the latest
  }
  if (!panel) return;
  let line = panel.querySelector(":scope > .feedback");
  if (!line) {
    // The page's notices are the live regions; this copy is for the eyes only.
    line = h("p", { class: "feedback", "aria-hidden": "true" });
    panel.append(line);
  }
  line.className = `feedback ${tone}`;
  line.textContent = text;
}

export function showError(error, doing) {
  const region = document.getElementById("error");
  region.textContent = errorText(error, doing);
  document.getElementById("status").textContent = "";
  echo(region.textContent, "error");
}

export function showStatus(message) {
  document.getElementById("status").textContent = message;
  document.getElementById("error").textContent = "";
  echo(message, "status");
}

export function clearNotices() {
  document.getElementById("status").textContent = "";
  document.getElementById("error").textContent = "";
  for (const line of document.querySelectorAll(".feedback")) line.remove();
}

/** An inline message in a section (a failed load), in addition to the page's alert. */
export function inlineError(error, doing) {
  return h("p", { class: "inline-error" }, errorText(error, doing));
}

/** A section's box has loaded (or failed to): its content replaces the loading note. */
export function settle(box, ...children) {
  box.classList.remove("loading");
  return fill(box, ...children);
}

/** Run a button's action: busy while it runs, errors shown in words. */
export async function busy(control, action, doing) {
  control.disabled = true;
  control.setAttribute("aria-busy", "true");
  const panel = control.closest(".panel");
  activePanel = panel;
  try {
    return await action();
  } catch (error) {
    activePanel = panel;
    showError(error, doing);
    return undefined;
  } finally {
    if (activePanel === panel) activePanel = null;
    control.disabled = false;
    control.removeAttribute("aria-busy");
  }
}

export function section(title, ...children) {
  const id = uid("sec");
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), children);
}

export function dateInput(value, attrs = {}) {
  return h("input", { type: "date", value, ...attrs });
}

const ATTENTION_TITLES = {
  past_due: "Past due",
  auto_recharge_paused: "Auto-recharge paused",
  card_declined: "Card declined",
};

/**
 * The banner of an account whose balance needs a person (past due, auto-recharge paused, a
 * declined card), above every page, with what to do. `about` prefixes whose balance it is (a
 * client on its agency's billing); `goToBilling` offers the way there when not on Billing already.
 */
export function showAttention(notices, { about, goToBilling } = {}) {
  let box = document.getElementById("attention");
  if (!box) {
    const view = document.getElementById("view");
    box = h("div", { id: "attention" });
    view.parentElement.insertBefore(box, view);
  }
  if (!notices || !notices.length) {
    box.replaceChildren();
    return;
  }
  const worst = notices.some((n) => n.kind === "past_due" || n.kind === "auto_recharge_paused") ? "bad" : "warn";
  fill(
    box,
    h(
      "section",
      { class: `banner ${worst}`, "aria-label": "Needs attention", "data-testid": "attention-banner" },
      h("h2", { class: "banner-title" }, about ? `Needs attention: ${about}` : "Needs attention"),
      h(
        "ul",
        {},
        notices.map((n) =>
          h(
            "li",
            { "data-kind": n.kind },
            h("strong", {}, `${ATTENTION_TITLES[n.kind] || n.kind}. `),
            `${n.message} `,
            h("span", { class: "banner-action" }, n.action),
          ),
        ),
      ),
      goToBilling ? button("Go to Billing", { class: "button primary", onclick: goToBilling }) : null,
    ),
  );
}

/** Short words for an attention kind (the dashboard's marks). */
export function attentionLabel(kind) {
  return ATTENTION_TITLES[kind] || String(kind).replaceAll("_", " ");
}
