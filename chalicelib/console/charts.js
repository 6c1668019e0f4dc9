// Charts drawn as SVG by our own code. Each chart is an image with a title and a
// description for assistive technology; the page shows the same numbers in a table.
//
// Amounts arrive as the API's decimal strings and are shown as such. They are
// converted to Number ONLY to compute bar lengths and axis positions: that is
// geometry, where a float's rounding is invisible; no displayed money comes from it.

import { money, sumAmounts } from "./format.js";
import { h, uid } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A phone: charts are drawn narrower, so that their text stays readable once scaled to the screen. */
function narrowScreen() {
  return typeof window !== "undefined" && window.matchMedia && window.matchMedia("(max-width: 600px)").matches;
}

/** Geometry only (see the note at the top): a decimal string as a Number, never below 0. */
function length(amount) {
  const value = Number(amount);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) {
    if (raw <= factor * power) return factor * power;
  }
  return 10 * power;
}

function axisLabel(value, step, currency) {
  // An axis position (geometry), not an amount from the API: whole units when the step is.
  const text = money(value.toFixed(step >= 1 ? 0 : 2), currency);
  return step >= 1 ? text.replace(/\.00(?= |$)/, "") : text;
}

function frame(title, description, width, height) {
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-labelledby": `${titleId} ${descId}`,
      preserveAspectRatio: "xMinYMin meet",
    },
    s("title", { id: titleId }, title),
    s("desc", { id: descId }, description),
  );
}

/**
 * Horizontal bars, one per item: [{label, amount}] (amount a decimal string).
 * Used for the Agency Dashboard's cost by sub-account.
 */
export function horizontalBars({ title, items, currency }) {
  const narrow = narrowScreen();
  const width = narrow ? 400 : 720;
  const labelWidth = narrow ? 130 : 190;
  const valueWidth = narrow ? 90 : 120;
  const barHeight = 26;
  const gap = 12;
  const top = 8;
  const height = top + items.length * (barHeight + gap) + 4;
  const max = Math.max(...items.map((item) => length(item.amount)), 0);
  const description = items.map((item) => `${item.label}: ${money(item.amount, currency)}`).join("; ");
  const svg = frame(title, description || "No data", width, Math.max(height, 40));
  const room = width - labelWidth - valueWidth;
  items.forEach((item, index) => {
    const y = top + index * (barHeight + gap);
    const barLength = max > 0 ? Math.max((length(item.amount) / max) * room, length(item.amount) > 0 ? 2 : 0) : 0;
    svg.append(
      s(
        "g",
        { class: "bar" },
        s("title", {}, `${item.label}: ${money(item.amount, currency)}`),
        s(
          "text",
          { x: labelWidth - 10, y: y + barHeight / 2, "text-anchor": "end", "dominant-baseline": "middle" },
          item.label,
        ),
        s("rect", { x: labelWidth, y, width: barLength.toFixed(1), height: barHeight, rx: 3, class: "bar-fill" }),
        s(
          "text",
          { x: labelWidth + barLength + 8, y: y + barHeight / 2, "dominant-baseline": "middle", class: "value" },
          money(item.amount, currency),
        ),
      ),
    );
  });
  return h("figure", { class: "chart-figure" }, svg);
}

export const CATEGORY_COLORS = {
  call_minutes: "#1f5fa8",
  text_messages: "#2e7d32",
  number_renewals: "#b4501a",
  subscription_fees: "#6a3d9a",
};

function colorOf(category) {
  return CATEGORY_COLORS[category] || "#5f6b76";
}

// Fixed fees (a plan, a number's renewal) come once a month and can be a hundred times
// a day of calls: on one scale the usage disappears. They get a panel of their own.
export const FEE_CATEGORIES = ["subscription_fees", "number_renewals"];

function panelTotal(period, categories, amount) {
  const values = categories.map((category) => amount(period.key, category.key)).filter((value) => value);
  return values.length ? sumAmounts(values) : "0";
}

/** One panel of stacked columns with its own scale, drawn into `svg` between `top` and `top + height`. */
function drawPanel(svg, { top, height, width, left, right, periods, categories, amount, currency, heading, xLabels }) {
  const plotTop = top + (heading ? 20 : 8);
  const plotHeight = height - (plotTop - top) - (xLabels ? 40 : 10);
  const plotWidth = width - left - right;
  const totals = periods.map((period) => panelTotal(period, categories, amount));
  const max = Math.max(...totals.map(length), 0);
  const step = max > 0 ? niceStep(max, 4) : 1;
  const ceiling = max > 0 ? Math.ceil(max / step) * step : 4;
  const y = (value) => plotTop + plotHeight - (value / ceiling) * plotHeight;
  const panel = s("g", { class: "panel", "data-panel": heading ? heading.key : "all" });
  if (heading) {
    panel.append(s("text", { x: left, y: top + 12, class: "panel-title" }, heading.label));
  }
  for (let tick = 0; tick <= ceiling + step / 1000; tick += step) {
    panel.append(
      s("line", { x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: "grid" }),
      s(
        "text",
        { x: left - 8, y: y(tick), "text-anchor": "end", "dominant-baseline": "middle", class: "axis" },
        axisLabel(tick, step, currency),
      ),
    );
  }
  const slot = plotWidth / Math.max(periods.length, 1);
  const barWidth = Math.min(56, slot * 0.7);
  const labelEvery = Math.ceil(periods.length / 9);
  periods.forEach((period, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
    const total = totals[index];
    let base = 0;
    const group = s("g", { class: "column" }, s("title", {}, `${period.label}: ${money(total, currency)}`));
    for (const category of categories) {
      const value = amount(period.key, category.key);
      const size = length(value);
      if (!size) continue;
      group.append(
        s(
          "rect",
          {
            x: x.toFixed(1),
            y: y(base + size).toFixed(1),
            width: barWidth.toFixed(1),
            height: Math.max(y(base) - y(base + size), 0.5).toFixed(1),
            fill: colorOf(category.key),
            "data-category": category.key,
          },
          s("title", {}, `${period.label}, ${category.label}: ${money(value, currency)}`),
        ),
      );
      base += size;
    }
    if (xLabels && index % labelEvery === 0) {
      group.append(
        s(
          "text",
          { x: (x + barWidth / 2).toFixed(1), y: plotTop + plotHeight + 18, "text-anchor": "middle", class: "axis" },
          period.label,
        ),
      );
    }
    if (periods.length <= 8 && length(total) > 0) {
      group.append(
        s(
          "text",
          { x: (x + barWidth / 2).toFixed(1), y: y(base) - 6, "text-anchor": "middle", class: "value" },
          money(total, currency),
        ),
      );
    }
    panel.append(group);
  });
  panel.append(s("line", { x1: left, x2: width - right, y1: y(0), y2: y(0), class: "baseline" }));
  svg.append(panel);
}

/**
 * Stacked columns: one column per period, one segment per category.
 * periods: [{key, label, total}]; categories: [{key, label}]; amount(periodKey, category) -> string|null.
 *
 * split: when the categories hold both usage (minutes, texts) and fixed fees
 * (subscriptions, number renewals), "auto" (the default) draws them as two panels, each
 * with its own scale, over the same periods: usage above, fees below, so a month's plan
 * fee never flattens the days of calls. false draws one panel whatever the categories.
 */
export function stackedColumns({ title, periods, categories, amount, currency, split = "auto" }) {
  const width = narrowScreen() ? 480 : 760;
  const left = 78;
  const right = 12;
  const fees = categories.filter((category) => FEE_CATEGORIES.includes(category.key));
  const usage = categories.filter((category) => !FEE_CATEGORIES.includes(category.key));
  const twoPanels = split !== false && fees.length > 0 && usage.length > 0;
  const description = periods.map((period) => `${period.label}: ${money(period.total, currency)}`).join("; ");
  const height = twoPanels ? 440 : 320;
  const svg = frame(title, description || "No usage in this range", width, height);
  const common = { width, left, right, periods, amount, currency };
  if (twoPanels) {
    drawPanel(svg, {
      ...common,
      top: 0,
      height: 210,
      categories: usage,
      heading: { key: "usage", label: "Usage: calls and texts (own scale)" },
      xLabels: false,
    });
    drawPanel(svg, {
      ...common,
      top: 230,
      height: 210,
      categories: fees,
      heading: { key: "fees", label: "Fixed fees: subscriptions and numbers (own scale)" },
      xLabels: true,
    });
  } else {
    drawPanel(svg, { ...common, top: 8, height: 312, categories, heading: null, xLabels: true });
  }

  const legend = h(
    "ul",
    { class: "legend", "aria-label": "Categories" },
    categories.map((category) =>
      h(
        "li",
        {},
        h("span", { class: "swatch", style: `background:${colorOf(category.key)}`, "aria-hidden": "true" }),
        category.label,
      ),
    ),
  );
  return h("figure", { class: "chart-figure" }, svg, legend);
}
