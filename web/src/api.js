// The HTTP API (docs/API.md §2–§5) on the page's own origin, as JSON; uploads with their
// progress, and attachments fetched as Blobs (they need the Bearer token, which an
// `<img src>` cannot send). Each call takes the access token it is made with: session.js
// refreshes it and calls again when it has expired.

/** An API failure: `code` is the stable error code, `message` is for people. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const UNREACHABLE = () => new ApiError(0, "network", "the server cannot be reached");

/** The body of a response as JSON; null when empty or not JSON. */
function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** The ApiError of a refused request, from its status and error envelope. */
function failure(status, json) {
  const error = json?.error ?? {};
  return new ApiError(status, error.code ?? "http_error", error.message ?? `HTTP ${status}`);
}

/** `fetch`, with the token as a Bearer; throws ApiError when the server cannot be reached. */
async function call(path, { token, ...init } = {}) {
  const headers = { ...init.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { ...init, headers });
  } catch {
    throw UNREACHABLE();
  }
}

/** One request; resolves the parsed body (null for 204), throws ApiError otherwise. */
export async function request(method, path, { token, body } = {}) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  const res = await call(path, { method, token, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = parse(await res.text());
  if (!res.ok) throw failure(res.status, json);
  return json;
}

/** `GET path` (an attachment or its thumbnail); resolves its body as a Blob, throws ApiError otherwise. */
export async function blob(path, token) {
  const res = await call(path, { token });
  if (!res.ok) throw failure(res.status, parse(await res.text()));
  return res.blob();
}

/**
 * `POST /uploads?name=` with the file as the body, through XMLHttpRequest for its upload
 * progress (`onProgress(fraction)`). Returns `{done, abort}`: `done` resolves the
 * attachment, or rejects with the ApiError of the refusal.
 */
export function upload(file, { token, onProgress }) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open("POST", `/api/v1/uploads?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.addEventListener("progress", (event) => event.lengthComputable && onProgress(event.loaded / event.total));
    xhr.addEventListener("load", () => {
      const json = parse(xhr.responseText);
      if (xhr.status === 201 && json?.attachment) resolve(json.attachment);
      else reject(failure(xhr.status, json));
    });
    xhr.addEventListener("error", () => reject(UNREACHABLE()));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "the upload was cancelled")));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * `POST /auth/register` (with the optional `displayName`) or `/auth/login`, naming the
 * session `device`; resolves `{user, token, refresh_token, expires_in, session_id}`.
 */
export function authenticate(kind, { username, password, displayName, device }) {
  const body = { username, password, device };
  if (kind === "register" && displayName) body.display_name = displayName;
  return request("POST", `/api/v1/auth/${kind}`, { body });
}

/** `POST /auth/refresh`: trades the refresh token (spent from then on) for a new pair, as `authenticate`. */
export function refresh(refreshToken) {
  return request("POST", "/api/v1/auth/refresh", { body: { refresh_token: refreshToken } });
}
