// The user's bearer token: taken from the URL fragment (#token=...) or the paste box,
// kept in sessionStorage (this tab only), and read back for every API call.
// The payload is decoded to know the account and role; it is NOT verified here:
// the API checks the signature on every request.

const TOKEN_KEY = "charges-console.token";
const ACCOUNT_KEY = "charges-console.account";

export function takeTokenFromFragment() {
  const fragment = window.location.hash.replace(/^#/, "");
  if (!fragment.startsWith("token=")) return null;
  const token = new URLSearchParams(fragment).get("token");
  // The token leaves the address bar (and the history) at once.
  window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#/billing`);
  if (token) saveToken(token);
  return token;
}

export function saveToken(token) {
  window.sessionStorage.setItem(TOKEN_KEY, token.trim().replace(/^Bearer\s+/i, ""));
  window.sessionStorage.removeItem(ACCOUNT_KEY);
}

export function getToken() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function clearSession() {
  window.sessionStorage.removeItem(TOKEN_KEY);
  window.sessionStorage.removeItem(ACCOUNT_KEY);
}

export function savedAccount() {
  return window.sessionStorage.getItem(ACCOUNT_KEY);
}

export function saveAccount(accountId) {
  window.sessionStorage.setItem(ACCOUNT_KEY, accountId);
}

function base64UrlDecode(text) {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = window.atob(padded);
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The token's claims ({sub, account_id, role, exp}); throws with a reason a person can read. */
export function decodeClaims(token) {
  const parts = String(token || "").split(".");
  if (parts.length !== 3) throw new Error("a token has three parts separated by dots");
  let claims;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new Error("its payload is not readable JSON");
  }
  if (!claims || typeof claims.account_id !== "string" || typeof claims.role !== "string") {
    throw new Error("it names no account_id and role");
  }
  if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
    throw new Error(`it expired on ${new Date(claims.exp * 1000).toLocaleString()}`);
  }
  return claims;
}
