// The directory of public groups, in the sidebar below "New group": opened, it lists the
// public groups by name with how many members each has; a search narrows them to the
// names containing its words, "More groups" pages on; Join makes the user a member — the
// group joins the chat list and opens — and a group one is in already opens instead.

import { avatar, fill, h } from "./dom.js";

/** Groups per page of the directory. */
const PAGE = 20;

export class GroupDirectory {
  /** `open(id)` opens a conversation. */
  constructor(chat, { open }) {
    this.chat = chat;
    this.open = open;
    this.input = h("input", { type: "search", placeholder: "group name", "aria-label": "find public groups", dir: "auto", dataset: { test: "directory-query" } });
    this.list = h("div", { class: "directory", dataset: { test: "directory" } });
    this.error = h("p", { class: "error small", role: "alert", dataset: { test: "directory-error" } });
    this.groups = [];
    this.more = false;
    this.busy = false;
    /** Counts the requests, so that the answer to a replaced one is dropped. */
    this.asked = 0;
    this.el = h(
      "details",
      { class: "tool", ontoggle: (event) => event.target.open && this.search() },
      h("summary", { dataset: { test: "directory-open" } }, "Public groups"),
      h(
        "form",
        {
          class: "row",
          role: "search",
          onsubmit: (event) => {
            event.preventDefault();
            this.search();
          },
        },
        this.input,
        h("button", { type: "submit", dataset: { test: "directory-search" } }, "Find"),
      ),
      this.list,
      this.error,
    );
    // "Join" becomes "Open" once the user is in the group.
    chat.addEventListener("change", () => this.el.open && this.render());
  }

  /** Lists the public groups whose name contains what is typed (all of them when nothing is). */
  search() {
    this.groups = [];
    return this.fetch();
  }

  /** Appends the next page. */
  async fetch() {
    const asked = ++this.asked;
    this.busy = true;
    this.error.textContent = "";
    this.render();
    try {
      const groups = await this.chat.people.directory(this.input.value.trim(), this.groups.length, PAGE);
      if (asked !== this.asked) return;
      this.groups.push(...groups);
      this.more = groups.length === PAGE;
    } catch (err) {
      if (asked !== this.asked) return;
      this.error.textContent = err.message;
    }
    this.busy = false;
    this.render();
  }

  async join(group) {
    this.error.textContent = "";
    try {
      await this.open(await this.chat.people.joinGroup(group.id));
    } catch (err) {
      this.error.textContent = err.message;
      return;
    }
    // Its member count has changed.
    await this.search();
  }

  render() {
    fill(
      this.list,
      this.groups.map((group) => this.group(group)),
      !this.busy && !this.groups.length ? h("p", { class: "muted small pad" }, "No public groups found.") : null,
      this.more ? h("button", { type: "button", class: "small more", disabled: this.busy, dataset: { test: "directory-more" }, onclick: () => this.fetch() }, "More groups") : null,
    );
  }

  group(group) {
    const member = this.chat.people.groups.has(group.id);
    return h(
      "div",
      { class: "item", dataset: { test: "directory-group", name: group.name } },
      avatar(group.name),
      h(
        "span",
        { class: "grow" },
        h("span", { class: "name", dir: "auto" }, group.name),
        h("small", { class: "muted", dataset: { test: "directory-members" } }, `${group.members} member${group.members === 1 ? "" : "s"}`),
      ),
      member
        ? h("button", { type: "button", class: "small", dataset: { test: "directory-view" }, onclick: () => this.open(`g:${group.id}`) }, "Open")
        : h("button", { type: "button", class: "primary small", dataset: { test: "directory-join" }, onclick: () => this.join(group) }, "Join"),
    );
  }
}
