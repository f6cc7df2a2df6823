// A few DOM helpers: the views build elements with `h` and never parse HTML strings, so
// whatever users type is always shown as text.

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
  for (const child of children.flat()) {
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
