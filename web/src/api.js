// The HTTP API (docs/API.md §2–§5) on the page's own origin, as JSON.

/** An API failure: `code` is the stable error code, `message` is for people. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** One request; resolves the parsed body (null for 204), throws ApiError otherwise. */
export async function request(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "the server cannot be reached");
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const error = json?.error ?? {};
    throw new ApiError(res.status, error.code ?? "http_error", error.message ?? `HTTP ${res.status}`);
  }
  return json;
}

/** `POST /auth/register` or `/auth/login`; resolves `{user, token}`. */
export function authenticate(kind, username, password) {
  return request("POST", `/api/v1/auth/${kind}`, { body: { username, password } });
}
