// Paging through an agency's accounts (dashboard and usage): a search box, the order, and
// previous/next pages. The API pages with opaque cursors; going back re-asks with the
// cursor the earlier page was reached with. Totals never depend on this: they cover every account.

import { count } from "./format.js";
import { button, field, h, select } from "./ui.js";

export const PAGE_SIZE = 50;

/**
 * Controls for a paged account list. `onChange()` reloads the list (with `params()`);
 * after each answer call `update(body)` with it (`matched`, `next_cursor`, and the rows shown).
 */
export function accountListControls({ sort = "cost", label = "accounts", onChange }) {
  const search = h("input", { type: "search", name: "q", autocomplete: "off", placeholder: "Name or id" });
  const order = select({ name: "sort" }, [["cost", "Highest cost first"], ["name", "Name"]], sort);
  const previous = button("Previous page", { class: "button secondary", type: "button", disabled: true });
  const next = button("Next page", { class: "button secondary", type: "button", disabled: true });
  const where = h("p", { class: "note", "aria-live": "polite" });
  let cursors = [null]; // the cursor each page up to the current one was reached with
  let nextCursor = null;
  let timer = null;

  function restart() {
    cursors = [null];
    onChange();
  }
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(restart, 300);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      restart();
    }
  });
  order.addEventListener("change", restart);
  previous.addEventListener("click", () => {
    if (cursors.length > 1) {
      cursors.pop();
      onChange();
    }
  });
  next.addEventListener("click", () => {
    if (nextCursor) {
      cursors.push(nextCursor);
      onChange();
    }
  });

  return {
    element: h(
      "div",
      { class: "list-controls" },
      h("div", { class: "row" }, field(`Find ${label}`, search), field("Order", order)),
      h("div", { class: "actions" }, previous, next, where),
    ),
    params() {
      const cursor = cursors[cursors.length - 1];
      return { q: search.value.trim(), sort: order.value, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) };
    },
    /** Call after a new query (dates changed): back to the first page. */
    reset() {
      cursors = [null];
    },
    update(body, shown) {
      nextCursor = body.next_cursor;
      next.disabled = !nextCursor;
      previous.disabled = cursors.length <= 1;
      const first = (cursors.length - 1) * PAGE_SIZE + 1;
      where.textContent = body.matched
        ? `${count(first)}–${count(first + shown - 1)} of ${count(body.matched)} ${label}` +
          (search.value.trim() ? ` matching “${search.value.trim()}”` : "")
        : `No ${label} match “${search.value.trim()}”.`;
    },
  };
}
