// The administration page, for the server's administrators only (moderation.js), opened
// from the sidebar's "Admin": a dialog like the settings, one tab at a time — the reports
// queue (reports.js); the users, found by a part of their username or display name, each
// with their badges (admin, disabled, deleted) and Disable or Enable; dissolving a group
// by its id; and the audit log, newest first, page after page, which nothing here can
// change.

import { PagedList, h, person, run, say, section, sheet, statusLine, when } from "./dom.js";
import { Pager } from "./moderation.js";
import { ReportsView } from "./reports.js";

/** What each action of the audit log says (docs/API.md §13.9). */
const ACTIONS = {
  "user.disable": "disabled",
  "user.enable": "enabled",
  "message.delete": "deleted the message",
  "group.dissolve": "dissolved the group",
  "report.close": "closed the report",
  "admin.grant": "made an administrator:",
  "admin.revoke": "took administration from",
};

export class AdminView {
  /** `chat`: the model (the names and avatars of the people, and its `moderation`). */
  constructor(chat) {
    this.chat = chat;
    this.moderation = chat.moderation;
    /** name → `[label, panel]`, where a panel has `el`, `open()` and `render()`. */
    this.panels = {
      reports: ["Reports", new ReportsView(chat)],
      users: ["Users", this.usersPanel()],
      groups: ["Groups", this.groupsPanel()],
      audit: ["Audit log", this.auditPanel()],
    };
    this.tabs = Object.entries(this.panels).map(([name, [label]]) =>
      h("button", { type: "button", role: "tab", class: "tab", dataset: { test: "admin-tab", tab: name }, onclick: () => this.show(name) }, label),
    );
    this.el = sheet(
      { title: "Administration", test: "admin" },
      h("nav", { class: "tabs", role: "tablist" }, this.tabs),
      Object.values(this.panels).map(([, panel]) => panel.el),
    );
    this.el.classList.add("admin");
    this.current = null;
    // The names of the people show as they are looked up.
    chat.addEventListener("change", () => this.el.open && this.panels[this.current][1].render());
  }

  open() {
    this.el.showModal();
    this.show("reports");
  }

  close() {
    if (this.el.open) this.el.close();
  }

  /** Shows the tab `name`, its list read anew. */
  show(name) {
    this.current = name;
    for (const tab of this.tabs) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    for (const [key, [, panel]] of Object.entries(this.panels)) panel.el.hidden = key !== name;
    this.panels[name][1].open();
  }

  usersPanel() {
    const input = h("input", { type: "search", placeholder: "username or name", "aria-label": "find users", dataset: { test: "admin-user-query" } });
    const line = statusLine("admin-users-status");
    const pager = new Pager((offset) => this.moderation.users(input.value.trim(), offset ?? 0), () => list.render());
    const list = new PagedList(pager, { test: "admin-users", item: (user) => this.user(user, pager, line), empty: "No users found." });
    const search = (event) => {
      event.preventDefault();
      say(line, "");
      pager.reset();
    };
    const el = section(
      "Users",
      "admin-users-panel",
      h("form", { class: "row", role: "search", onsubmit: search }, input, h("button", { type: "submit", class: "small", dataset: { test: "admin-user-search" } }, "Find")),
      line,
      list.el,
    );
    return { el, open: () => pager.reset(), render: () => list.render() };
  }

  /** One account: who, since when, its badges, and Disable or Enable (not for oneself, nor a deleted account). */
  user(user, pager, line) {
    const disabled = Boolean(user.disabled_at);
    const badge = (shown, name) => (shown ? h("span", { class: `badge ${name}`, dataset: { test: "user-badge", badge: name } }, name) : null);
    const change = () => {
      if (!disabled && !confirm(`Disable ${user.username}? They are logged out everywhere and cannot log in until enabled again.`)) return;
      say(line, "");
      run(line, () => this.moderation.setDisabled(user.id, !disabled), (changed) => {
        pager.replace(changed);
        return `${changed.username} is ${disabled ? "enabled" : "disabled"}.`;
      });
    };
    const self = user.id === this.chat.me.id;
    return h(
      "li",
      { class: "admin-user", dataset: { test: "admin-user", user: user.username, disabled: String(disabled) } },
      this.chat.avatars.view(user),
      h(
        "span",
        { class: "grow" },
        person(user),
        h("small", { class: "muted" }, `joined ${when(user.created_at)}`, disabled ? ` · disabled ${when(user.disabled_at)}` : ""),
      ),
      h("span", { class: "badges" }, badge(user.admin, "admin"), badge(disabled, "disabled"), badge(user.deleted, "deleted")),
      user.deleted || (self && !disabled)
        ? null
        : h("button", { type: "button", class: disabled ? "small" : "small danger", dataset: { test: disabled ? "user-enable" : "user-disable" }, onclick: change }, disabled ? "Enable" : "Disable"),
    );
  }

  groupsPanel() {
    const input = h("input", { required: true, placeholder: "group id", "aria-label": "id of the group to dissolve", dataset: { test: "admin-group-id" } });
    const line = statusLine("admin-groups-status");
    const dissolve = async (event) => {
      event.preventDefault();
      // A group's conversation id (`g:<id>`, as reports show it) names it too.
      const id = input.value.trim().replace(/^g:/, "");
      if (!confirm(`Dissolve the group ${id} for everyone? Its conversation and messages are deleted.`)) return;
      say(line, "");
      if (await run(line, () => this.moderation.dissolveGroup(id), () => `The group ${id} is dissolved.`)) input.value = "";
    };
    const el = section(
      "Dissolve a group",
      "admin-groups-panel",
      h("p", { class: "muted small" }, "Any group, public or private, with its members, conversation and messages; its members are told. A group's id is in its reports."),
      h("form", { class: "row", onsubmit: dissolve }, input, h("button", { type: "submit", class: "small danger", dataset: { test: "admin-group-dissolve" } }, "Dissolve")),
      line,
    );
    return { el, open: () => say(line, ""), render: () => {} };
  }

  auditPanel() {
    const pager = new Pager((before) => this.moderation.audit(before), () => list.render());
    const list = new PagedList(pager, { test: "audit", item: (entry) => this.entry(entry), empty: "Nothing recorded yet." });
    const el = section("Audit log", "admin-audit-panel", h("p", { class: "muted small" }, "What the administrators did, newest first. Nothing here can be changed."), list.el);
    return { el, open: () => pager.reset(), render: () => list.render() };
  }

  /** One entry of the audit log: when, who did what to what, and its details. */
  entry(e) {
    const actor = e.actor === "cli" ? h("strong", {}, "the confab command") : person(this.chat.user(e.actor));
    const target = e.target_kind === "user" ? person(this.chat.user(e.target_id)) : h("code", { class: "target" }, e.target_id);
    const details = Object.entries(e.detail ?? {}).filter(([, value]) => value !== null);
    return h(
      "li",
      { class: "audit-entry", dataset: { test: "audit-entry", action: e.action } },
      h("p", {}, actor, ` ${ACTIONS[e.action] ?? e.action} `, target),
      h(
        "small",
        { class: "muted", title: e.at },
        `${when(e.at)} · ${e.action}`,
        details.map(([key, value]) => [" · ", `${key}: `, h("span", { dir: "auto" }, String(value))]),
      ),
    );
  }
}
