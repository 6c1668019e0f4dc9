// The account filter of the Logs and Usage pages: the whole agency, or one account.
// Sub-account users have only their own account, so they are never offered the agency.

/** [value, label] options: "agency" and "account:<id>" (agency users: the whole agency, its own
 * account, and the sub-account being viewed; another one is a switch away), or the one account. */
export function scopeOptions(ctx) {
  if (!ctx.isAgencyUser) return [[`account:${ctx.me.account_id}`, ctx.me.name]];
  const options = [
    ["agency", `All accounts of ${ctx.me.name}`],
    [`account:${ctx.me.account_id}`, `${ctx.me.name} (agency's own)`],
  ];
  if (ctx.account.account_id !== ctx.me.account_id) options.push([`account:${ctx.account.account_id}`, ctx.account.name]);
  return options;
}

/** The agency when the agency itself is being viewed, else the account being viewed. */
export function initialScope(ctx) {
  return ctx.isAgencyUser && ctx.account.account_id === ctx.me.account_id ? "agency" : `account:${ctx.account.account_id}`;
}

/** Where a scope's report lives: {path, name (the CSV file), agency}; `what` is "logs" or "usage". */
export function scopeSource(ctx, scope, what) {
  if (scope === "agency") {
    const id = ctx.me.account_id;
    return { path: `/agencies/${encodeURIComponent(id)}/${what}`, name: `${what}-${id}.csv`, agency: true };
  }
  const id = scope.slice("account:".length);
  return { path: `/accounts/${encodeURIComponent(id)}/${what}`, name: `${what}-${id}.csv`, agency: false };
}
