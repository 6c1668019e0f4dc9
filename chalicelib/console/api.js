// Calls to the billing API with the user's bearer token. Every failure becomes an
// ApiError carrying the API's own words (error.message); nothing is swallowed.

import { getToken } from "./session.js";

// The console is served at <api>/console and this file at <api>/console/api.js:
// the API is one level up, whatever the stage prefix (/api/ in API Gateway).
export const API_BASE = new URL("..", import.meta.url);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let onUnauthorized = () => {};

/** What to do when the API answers 401 (the token is missing, wrong or expired). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export function apiUrl(path, params) {
  const url = new URL(String(path).replace(/^\//, ""), API_BASE);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  return url;
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = `The API answered ${response.status} ${response.statusText}`.trim();
  let details;
  const text = await response.text().catch(() => "");
  try {
    const data = JSON.parse(text);
    if (data && data.error) {
      code = data.error.code || code;
      message = data.error.message || message;
      details = data.error.details;
    } else if (data && data.message) {
      message = data.message; // API Gateway's own answers, e.g. {"message": "Unauthorized"}
    }
  } catch {
    if (text) message = text.slice(0, 300);
  }
  return new ApiError(response.status, code, message, details);
}

async function send(path, { method = "GET", params, body, headers = {}, accept = "application/json" } = {}) {
  const init = { method, headers: { Accept: accept, ...headers }, cache: "no-store" };
  const token = getToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), init);
  } catch (error) {
    throw new ApiError(0, "network_error", `Could not reach the billing API: ${error.message}`);
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  return response;
}

export async function getJson(path, params) {
  const response = await send(path, { params });
  return response.json();
}

/** PUT/POST a JSON body; resolves to {status, data}. */
export async function sendJson(method, path, body, headers) {
  const response = await send(path, { method, body, headers });
  const text = await response.text();
  return { status: response.status, data: text ? JSON.parse(text) : null };
}

function filenameOf(response) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match ? match[1] : null;
}

/** An export (CSV, HTML, PDF) as a Blob; links cannot carry the bearer header, fetch can. */
export async function getBlob(path, params, accept = "*/*") {
  const response = await send(path, { params, accept });
  return { blob: await response.blob(), filename: filenameOf(response) };
}

function revokeLater(url) {
  // The new tab or the download has read it by then.
  window.setTimeout(() => URL.revokeObjectURL(url), 120000);
}

/** Fetch a file with the token and save it (a CSV export); resolves to its file name. */
export async function download(path, params, fallbackName) {
  const { blob, filename } = await getBlob(path, params);
  const name = filename || fallbackName;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  revokeLater(url);
  return name;
}

/**
 * Fetch a printable document (receipt, statement HTML or PDF) with the token and
 * open it in a new tab as a blob: URL. The tab is opened at once, inside the click,
 * so that pop-up blockers let it through; it is pointed at the document when it
 * arrives, and closed again if the API refuses. `accept` names the type wanted:
 * API Gateway sends a binary body (a PDF) only to a request that accepts its type.
 */
export async function openDocument(path, what, fallbackName, accept = "*/*") {
  const tab = window.open("", "_blank");
  if (tab) {
    tab.document.title = `Loading ${what}…`;
    tab.document.body.textContent = `Loading ${what}…`;
  }
  let blob;
  try {
    ({ blob } = await getBlob(path, undefined, accept));
  } catch (error) {
    if (tab) tab.close();
    throw error;
  }
  const url = URL.createObjectURL(blob);
  revokeLater(url);
  if (tab) {
    tab.location.href = url;
    return "opened";
  }
  // Pop-ups are blocked: save the file instead.
  const link = document.createElement("a");
  link.href = url;
  link.download = fallbackName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  return "downloaded";
}

/** A fresh Idempotency-Key (works outside secure contexts too, unlike randomUUID). */
export function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return `console-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
