// The sign-in screen: log in, or create an account with a username, a password and an
// optional display name (shown to others; the username by default). Either starts a
// session named after the browser and its system ("Chrome on Linux"), so that the user
// can tell their devices apart in the settings.

import { ApiError, authenticate } from "./api.js";
import { fill, h } from "./dom.js";

const BROWSERS = [
  [/Edg\//, "Edge"],
  [/OPR\/|Opera/, "Opera"],
  [/Firefox\/|FxiOS\//, "Firefox"],
  [/Chrome\/|CriOS\//, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS = [
  [/Android/, "Android"],
  [/iPhone|iPad|iPod/, "iOS"],
  [/Windows/, "Windows"],
  [/Macintosh|Mac OS X/, "macOS"],
  [/CrOS/, "ChromeOS"],
  [/Linux/, "Linux"],
];

/** A short name for this browser's session, from its user agent: "Firefox on Android". */
function deviceName(userAgent = navigator.userAgent) {
  const [browser, system] = [BROWSERS, SYSTEMS].map((names) => names.find(([pattern]) => pattern.test(userAgent))?.[1]);
  return [browser ?? "A browser", system].filter(Boolean).join(" on ");
}

/**
 * Shows the sign-in screen in `root` — with `notice`, `{reason, text}`, saying why the
 * last session ended — and calls `signedIn(reply)` with the login's or registration's reply.
 */
export function signIn(root, notice, signedIn) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 32, placeholder: "alice" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8, maxlength: 128, placeholder: "at least 8 characters" });
  const displayName = h("input", { name: "display_name", autocomplete: "name", maxlength: 64, placeholder: "Alice Liddell", dir: "auto", dataset: { test: "display-name" } });
  const error = h("p", { class: "error", role: "alert", dataset: notice ? { test: "auth-error", reason: notice.reason } : { test: "auth-error" } }, notice?.text);
  const submit = (kind) => async (event) => {
    event.preventDefault();
    if (!username.reportValidity() || !password.reportValidity()) return;
    form.classList.add("busy");
    error.textContent = "";
    delete error.dataset.reason;
    try {
      const credentials = { username: username.value.trim(), password: password.value, displayName: displayName.value.trim(), device: deviceName() };
      signedIn(await authenticate(kind, credentials));
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
    } finally {
      form.classList.remove("busy");
    }
  };
  const form = h(
    "form",
    { class: "card auth", onsubmit: submit("login") },
    h("div", { class: "brand" }, h("span", { class: "logo" }, "C"), h("h1", {}, "Confab")),
    h("p", { class: "muted" }, "Log in, or create an account with a new username."),
    h("label", {}, "Username", username),
    h("label", {}, "Password", password),
    h("label", {}, h("span", {}, "Display name ", h("small", { class: "muted" }, "(new account, optional)")), displayName),
    error,
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "primary", dataset: { test: "login" } }, "Log in"),
      h("button", { type: "button", onclick: submit("register"), dataset: { test: "register" } }, "Create account"),
    ),
  );
  fill(root, h("main", { class: "auth-page" }, form));
  username.focus();
}
