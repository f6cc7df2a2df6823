// Full-text search of the messages (the `search` event): the box at the top of the
// sidebar, and in place of the lists while a search is shown, its results — conversation,
// sender, time and the snippet with the matching words marked — with "More results" for
// the next page. Clicking a result jumps to the message.

import { fill, h, when } from "./dom.js";

export class SearchView {
  /** `jump(message)` opens the message's conversation and shows the message. */
  constructor(chat, { jump }) {
    this.chat = chat;
    this.jump = jump;
    this.input = h("input", {
      type: "search",
      placeholder: "Search messages",
      "aria-label": "search messages",
      dataset: { test: "search-input" },
      onkeydown: (event) => event.key === "Escape" && this.clear(),
    });
    this.form = h(
      "form",
      { class: "search", role: "search", onsubmit: (event) => this.submit(event) },
      this.input,
      h("button", { type: "submit", class: "small", dataset: { test: "search" } }, "Search"),
    );
    this.el = h("section", { class: "results", dataset: { test: "search-results" } });
    /** Counts the requests, so that the answer to a replaced one is dropped. */
    this.asked = 0;
    this.clear();
  }

  /** Searches anew; an empty query too, which the server refuses and says why. */
  submit(event) {
    event.preventDefault();
    this.query = this.input.value;
    this.results = [];
    this.more = false;
    this.fetch(0);
  }

  /** Closes the results (and forgets the request on its way, if any). */
  clear() {
    this.asked += 1;
    this.query = null;
    this.results = [];
    this.more = false;
    this.busy = false;
    this.error = "";
    this.input.value = "";
    this.render();
  }

  /** Appends the page of results at `offset`, or shows the server's error. */
  async fetch(offset) {
    const asked = ++this.asked;
    this.busy = true;
    this.error = "";
    this.render();
    try {
      const { results, more } = await this.chat.search(this.query, offset);
      if (asked !== this.asked) return;
      this.results.push(...results);
      this.more = more;
    } catch (err) {
      if (asked !== this.asked) return;
      this.error = err.message;
    }
    this.busy = false;
    this.render();
  }

  render() {
    this.el.hidden = this.query === null;
    if (this.query === null) {
      this.el.replaceChildren();
      return;
    }
    // A result of a group left since is not shown: its conversation is gone.
    const shown = this.results.filter((r) => this.chat.conversations.has(r.message.conversation));
    fill(
      this.el,
      h(
        "header",
        { class: "row" },
        h("h3", { class: "grow", dataset: { test: "search-heading" } }, this.heading()),
        h("button", { type: "button", class: "ghost small", title: "Close the search", dataset: { test: "search-close" }, onclick: () => this.clear() }, "×"),
      ),
      h("p", { class: "error small pad", role: "alert", dataset: { test: "search-error" } }, this.error),
      shown.map((r) => this.result(r)),
      this.more
        ? h("button", { type: "button", class: "small more", disabled: this.busy, dataset: { test: "search-more" }, onclick: () => this.fetch(this.results.length) }, this.busy ? "Searching…" : "More results")
        : null,
    );
  }

  heading() {
    if (this.error) return "Search";
    if (this.busy && !this.results.length) return "Searching…";
    const n = this.results.length;
    if (!n) return "No messages found";
    return `${n}${this.more ? "+" : ""} message${n === 1 ? "" : "s"} found`;
  }

  /** One result: where and when, who, and the snippet with its hits marked. */
  result({ message, snippet }) {
    const conv = this.chat.conversations.get(message.conversation);
    const from = message.from === this.chat.me.id ? "You" : this.chat.name(message.from);
    return h(
      "button",
      {
        type: "button",
        class: "item result",
        dataset: { test: "search-result", conversation: message.conversation, seq: String(message.seq) },
        onclick: () => this.jump(message),
      },
      h(
        "span",
        { class: "grow" },
        h("span", { class: "where" }, h("span", { class: "name", dir: "auto" }, this.chat.title(conv)), h("small", { class: "muted" }, when(message.ts))),
        h(
          "small",
          { class: "snippet", dataset: { test: "snippet" } },
          h("span", { class: "from" }, `${from}: `),
          h("span", { dir: "auto" }, snippet.map(({ text, hit }) => (hit ? h("mark", { dataset: { test: "hit" } }, text) : text))),
        ),
      ),
    );
  }
}
