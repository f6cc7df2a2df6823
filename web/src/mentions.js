// @mentions: finding `@username` in text, and the list of members the composer offers
// while one is typed.

import { fill, h } from "./dom.js";

/** `@` and a username (docs/API.md §2.1: ASCII letters, digits, `_`, `.`, `-`). */
const TOKEN = /(^|[^\w.@-])@([a-z0-9][\w.-]*)/gi;
/** The `@name` being typed just before the caret. */
const TYPING = /(?:^|[^\w.@-])@([\w.-]*)$/;
/** At most this many members offered at once. */
const OFFERED = 6;

/**
 * The `@username` tokens of `text` naming one of `users` (a username → user map):
 * `[{start, end, user}]`. A full stop or hyphen ending a token ends the sentence, not the name.
 */
export function mentionTokens(text, users) {
  const found = [];
  for (const match of text.matchAll(TOKEN)) {
    const name = match[2].toLowerCase();
    const username = users.has(name) ? name : name.replace(/[.-]+$/, "");
    const user = users.get(username);
    if (!user) continue;
    const start = match.index + match[1].length;
    found.push({ start, end: start + 1 + username.length, user });
  }
  return found;
}

/** A username → user map of `users`. */
export function byUsername(users) {
  return new Map(users.map((u) => [u.username, u]));
}

/**
 * The suggestions under a composer: while `@name` is typed, the members (from
 * `candidates()`) whose username or display name starts with it; arrows, Enter or Tab,
 * or a click picks one, Escape closes the list.
 */
export class MentionPicker {
  constructor(input, candidates) {
    this.input = input;
    this.candidates = candidates;
    this.offered = [];
    this.index = 0;
    this.el = h("div", { class: "mentions", role: "listbox", dataset: { test: "mention-list" } });
    input.addEventListener("input", () => this.update());
    input.addEventListener("blur", () => this.close());
  }

  get open() {
    return this.offered.length > 0;
  }

  update() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const typed = before.match(TYPING)?.[1].toLowerCase();
    const matches = (user) => user.username.startsWith(typed) || user.display_name.toLowerCase().startsWith(typed);
    this.offered = typed === undefined ? [] : this.candidates().filter(matches).slice(0, OFFERED);
    this.index = 0;
    this.render();
  }

  render() {
    fill(
      this.el,
      this.offered.map((user, i) =>
        h(
          "button",
          {
            type: "button",
            class: i === this.index ? "active" : null,
            role: "option",
            dataset: { test: "mention-option", user: user.username },
            // Before the composer's blur, which would close the list.
            onmousedown: (event) => event.preventDefault(),
            onclick: () => this.pick(user),
          },
          h("strong", { dir: "auto" }, user.display_name),
          h("small", { class: "muted" }, ` @${user.username}`),
        ),
      ),
    );
  }

  /** Handles a key of the composer; true when it was for the list. */
  key(event) {
    if (!this.open) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.index = (this.index + step + this.offered.length) % this.offered.length;
      this.render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.pick(this.offered[this.index]);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  /** Replaces the `@name` being typed with the user's full `@username `. */
  pick(user) {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret).replace(/@[\w.-]*$/, `@${user.username} `);
    this.input.value = before + this.input.value.slice(caret);
    this.input.setSelectionRange(before.length, before.length);
    this.input.focus();
    this.close();
  }

  close() {
    this.offered = [];
    this.render();
  }
}
