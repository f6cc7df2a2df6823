// The sign-in screen: log in, or create an account with a username, a password and an
// optional display name (shown to others; the username by default).

import { ApiError, authenticate } from "./api.js";
import { fill, h } from "./dom.js";

/** Shows the sign-in screen in `root` (with `notice`, e.g. why the session ended); `signedIn(session)` once in. */
export function signIn(root, notice, signedIn) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 32, placeholder: "alice" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8, maxlength: 128, placeholder: "at least 8 characters" });
  const displayName = h("input", { name: "display_name", autocomplete: "name", maxlength: 64, placeholder: "Alice Liddell", dir: "auto", dataset: { test: "display-name" } });
  const error = h("p", { class: "error", role: "alert", dataset: { test: "auth-error" } }, notice ?? "");
  const submit = (kind) => async (event) => {
    event.preventDefault();
    if (!username.reportValidity() || !password.reportValidity()) return;
    form.classList.add("busy");
    error.textContent = "";
    try {
      signedIn(await authenticate(kind, username.value.trim(), password.value, displayName.value.trim()));
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
