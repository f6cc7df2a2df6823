// A few DOM helpers: the views build elements with `h` and never parse HTML strings, so
// whatever users type is always shown as text. Also the parts the dialogs share (the
// settings, the administration): the dialog itself, its sections, and the status line
// under each that says what came of the last action.

/**
 * `h("button", {class: "x", onclick}, "text", child)`: an element with attributes
 * (`on*` become listeners, `dataset` fills data-*, false/null are left out) and children.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** The first letters of a name, for an avatar. */
export function initials(name) {
  return (name || "?")
    .split(/[\s._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}

/** A stable hue for a name, so each person's avatar keeps its colour. */
export function hue(text) {
  let n = 0;
  for (const ch of text || "") n = (n * 31 + ch.codePointAt(0)) % 360;
  return n;
}

/**
 * A round avatar: the picture at the object URL `image`, or else the initials of `name` in
 * its colour; a presence dot when `online` is given.
 */
export function avatar(name, online, image) {
  return h(
    "span",
    { class: "avatar", style: `--hue: ${hue(name)}` },
    image ? h("img", { src: image, alt: "", dataset: { test: "avatar-image" } }) : initials(name),
    online === undefined ? null : h("span", { class: online ? "dot online" : "dot", title: online ? "online" : "offline" }),
  );
}

/** The name to show for a user: "Deleted user" for a deleted account (docs/API.md §1.6). */
export function displayName(user) {
  return user.deleted ? "Deleted user" : user.display_name || user.username;
}

/**
 * A user's display name (in the direction of its own script) with `@username` beside it
 * (none for a deleted account); "…" while the user is being looked up.
 */
export function person(user) {
  if (!user) return h("span", { class: "person" }, "…");
  return h(
    "span",
    { class: user.deleted ? "person deleted" : "person" },
    h("span", { class: "name", dir: "auto" }, displayName(user)),
    user.deleted ? null : [" ", h("small", { class: "handle", dir: "ltr" }, `@${user.username}`)],
  );
}

/** `HH:MM` of an RFC 3339 time, in the browser's time zone. */
export function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** `HH:MM` of an RFC 3339 time today, with the day (`3 Dec`) before it on other days. */
export function when(ts) {
  const date = new Date(ts);
  if (date.toDateString() === new Date().toDateString()) return clock(ts);
  return `${date.toLocaleDateString([], { day: "numeric", month: "short" })}, ${clock(ts)}`;
}

/**
 * A dialog over the page — a card on a laptop, the whole screen on a phone — with its
 * title, × to close it, then `children`. `onclose` runs whenever it closes.
 */
export function sheet({ title, test, onclose }, ...children) {
  const dialog = h(
    "dialog",
    { class: "sheet", "aria-label": title, dataset: { test }, onclose },
    h(
      "header",
      { class: "row" },
      h("h2", { class: "grow" }, title),
      h("button", { type: "button", class: "ghost", title: "Close", "aria-label": `Close the ${title.toLowerCase()}`, dataset: { test: `${test}-close` }, onclick: () => dialog.close() }, "×"),
    ),
    ...children,
  );
  return dialog;
}

/** A part of a dialog, under its heading. */
export function section(title, test, ...children) {
  return h("section", { dataset: { test } }, h("h3", {}, title), ...children);
}

/** The status line of a part of a dialog. */
export function statusLine(test) {
  return h("p", { class: "small status-line", role: "status", dataset: { test } });
}

/** Says `text` on a status line, as an error if `failed`. */
export function say(line, text, failed = false) {
  line.textContent = text;
  line.classList.toggle("error", failed);
}

/**
 * Awaits `action()`; then `line` says `done(result)` (left as it is without `done`), or
 * the error. Resolves whether the action went through.
 */
export async function run(line, action, done) {
  try {
    const result = await action();
    if (done) say(line, done(result));
    return true;
  } catch (err) {
    say(line, err.message, true);
    return false;
  }
}

/**
 * A list read a page at a time (moderation.js `Pager`): its items, each shown by
 * `item(entry)`; a line saying there are `empty` while it has none; its error; and
 * "Load more" while there are more pages. `render()` after every change of the pager.
 */
export class PagedList {
  constructor(pager, { test, item, empty }) {
    this.pager = pager;
    this.item = item;
    this.empty = empty;
    this.list = h("ul", { class: "paged", dataset: { test } });
    this.foot = h("div", { class: "paged-foot" });
    this.more = h("button", { type: "button", class: "small", dataset: { test: `${test}-more` }, onclick: () => pager.more() });
    this.el = h("div", {}, this.list, this.foot);
  }

  render() {
    const { items, busy, error, next } = this.pager;
    // The items are built anew, but the inputs they hold are kept: give the focus back.
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    fill(this.list, items.map(this.item));
    if (focused?.isConnected) focused.focus({ preventScroll: true });
    Object.assign(this.more, { disabled: busy, textContent: busy ? "Loading…" : "Load more" });
    fill(
      this.foot,
      busy && !items.length ? h("p", { class: "muted small" }, "Loading…") : null,
      !busy && !error && !items.length ? h("p", { class: "muted small", dataset: { test: "paged-empty" } }, this.empty) : null,
      h("p", { class: "error small", role: "alert" }, error),
      next === null ? null : this.more,
    );
  }
}
