// Minimal HTTP client on node:http: one fresh connection per request (no pooling), so
// every response can be observed exactly, including ones without a body.

import { request as httpRequest } from "node:http";

/**
 * Sends one request. Resolves `{ status, headers, body, text }` (`body` is a Buffer,
 * `headers` has lower-case names). Rejects on socket errors. `onSent` is called once the
 * whole request has been handed to the OS.
 */
export function request(url, { method = "GET", body, headers = {}, timeoutMs = 5000, onSent } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`HTTP ${method} ${url} timed out`)));
    req.on("error", reject);
    if (onSent) req.once("finish", onSent);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** The headers the suites compare between servers (others, like Date, legitimately differ). */
export const COMPARED_HEADERS = [
  "content-type",
  "cache-control",
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "vary",
];

/** Reduces a response to what the suites assert on: status, compared headers, body text. */
export function summarize(res) {
  const headers = {};
  for (const name of COMPARED_HEADERS) {
    if (res.headers[name] !== undefined) headers[name] = res.headers[name];
  }
  return { status: res.status, headers, body: res.text };
}
