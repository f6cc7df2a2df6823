// The sidebar: who is signed in (their avatar and name, the connection state, the
// notification bell, the settings, "Admin" for the server's administrators and "Log
// out"), the message search, then the lists — contact requests; the chats, most recent
// first, each with the preview of its newest message and its unread count; the contacts
// with their presence; the users one blocked, to unblock — the forms to add a contact and
// to start a group (public or not), and the directory of public groups. People show with
// their avatars. The forms are built once (what is typed survives); the rest is rebuilt
// from the Chat model.

import { summary } from "./attachments.js";
import { avatar, clock, fill, h, person } from "./dom.js";

/** The longest preview shown, in characters. */
const PREVIEW_CHARS = 80;

export class Sidebar {
  /**
   * `search`: the SearchView; `bell`: the notification button; `status`: the connection
   * state element; `directory`: the GroupDirectory; `open(id)` opens a conversation
   * (null: none); `settings()` opens the settings; `admin()` the administration page;
   * `logout()` signs out.
   */
  constructor(chat, { search, bell, status, directory, open, settings, admin, logout }) {
    this.chat = chat;
    this.open = open;
    this.face = h("span", { class: "face", dataset: { test: "me-avatar" } });
    this.me = h("strong", { dataset: { test: "me" } });
    this.requests = h("section", { class: "list" });
    this.chats = h("section", { class: "list", dataset: { test: "chats" } });
    this.contacts = h("section", { class: "list" });
    this.blocked = h("section", { class: "list" });
    this.adminLink = h("button", { class: "ghost admin-link", title: "Administration", hidden: true, dataset: { test: "admin-open" }, onclick: admin }, "Admin");
    this.el = h(
      "aside",
      { class: "sidebar" },
      h(
        "header",
        { class: "me" },
        this.face,
        h("div", { class: "who" }, this.me, status),
        bell,
        h("button", { class: "ghost gear", title: "Settings", "aria-label": "Settings", dataset: { test: "settings-open" }, onclick: settings }, "⚙"),
        this.adminLink,
        h("button", { class: "ghost logout", title: "Log out", dataset: { test: "logout" }, onclick: logout }, "Log out"),
      ),
      search.form,
      search.el,
      h("div", { class: "scroll" }, this.requests, this.chats, this.contacts, this.blocked, this.contactForm(), this.groupForm(), directory.el),
    );
  }

  contactForm() {
    const input = h("input", { placeholder: "username", required: true, "aria-label": "username to add", dataset: { test: "contact-username" } });
    const error = h("p", { class: "error small" });
    return h(
      "details",
      { class: "tool", open: true },
      h("summary", {}, "Add a contact"),
      h(
        "form",
        {
          class: "row",
          onsubmit: guarded(error, async () => {
            await this.chat.people.requestContact(input.value);
            input.value = "";
          }),
        },
        input,
        h("button", { type: "submit", dataset: { test: "contact-request" } }, "Request"),
      ),
      error,
    );
  }

  groupForm() {
    const name = h("input", { placeholder: "group name", "aria-label": "group name", required: true, dir: "auto", dataset: { test: "group-name" } });
    const members = h("input", { placeholder: "members: bob, carol", "aria-label": "group members", dataset: { test: "group-members" } });
    const isPublic = h("input", { type: "checkbox", dataset: { test: "group-public" } });
    const error = h("p", { class: "error small" });
    return h(
      "details",
      { class: "tool" },
      h("summary", { dataset: { test: "new-group" } }, "New group"),
      h(
        "form",
        {
          class: "stack",
          onsubmit: guarded(error, async () => {
            const id = await this.chat.people.createGroup(name.value.trim(), members.value.split(/[\s,]+/).filter(Boolean), isPublic.checked);
            name.value = "";
            members.value = "";
            isPublic.checked = false;
            await this.open(id);
          }),
        },
        name,
        members,
        h("label", { class: "check small" }, isPublic, "Public (anyone can find and join it)"),
        h("button", { type: "submit", dataset: { test: "group-create" } }, "Create group"),
      ),
      error,
    );
  }

  render() {
    fill(this.face, this.chat.avatars.view(this.chat.me));
    fill(this.me, person(this.chat.me));
    this.adminLink.hidden = !this.chat.moderation.admin;
    this.renderRequests();
    this.renderChats();
    this.renderContacts();
  }

  renderRequests() {
    const { incoming, outgoing } = this.chat.people.contacts;
    const face = (user) => this.chat.avatars.view(user);
    fill(
      this.requests,
      incoming.length || outgoing.length ? h("h3", {}, "Requests") : null,
      incoming.map((r) =>
        h(
          "div",
          { class: "item", dataset: { test: "incoming", user: r.user.username } },
          face(r.user),
          h("span", { class: "grow" }, person(r.user), h("small", { class: "muted" }, "wants to connect")),
          h("button", { class: "primary small", onclick: () => this.chat.people.answerRequest(r.id, true), dataset: { test: "accept" } }, "Accept"),
          h("button", { class: "small", onclick: () => this.chat.people.answerRequest(r.id, false) }, "Decline"),
        ),
      ),
      outgoing.map((r) =>
        h("div", { class: "item", dataset: { test: "outgoing" } }, face(r.user), h("span", { class: "grow" }, person(r.user)), h("small", { class: "muted" }, "pending")),
      ),
    );
  }

  /** The chats, most recent first; a group without messages yet goes by its name. */
  renderChats() {
    const chat = this.chat;
    const list = [...chat.conversations.values()]
      .filter((c) => c.kind === "group" || c.lastSeq > 0 || c.pending.size || c.id === chat.active)
      .sort((a, b) => b.lastAt - a.lastAt || (chat.title(a) < chat.title(b) ? -1 : 1));
    fill(
      this.chats,
      h("h3", {}, "Chats"),
      list.length ? null : h("p", { class: "muted small pad" }, "No chats yet."),
      list.map((c) => {
        const name = chat.title(c);
        const online = c.kind === "direct" ? chat.presence.get(c.with.user)?.online ?? false : undefined;
        const peer = c.kind === "direct" && c.with.user !== chat.me.id ? person(chat.user(c.with.user)) : h("span", { class: "name", dir: "auto" }, name);
        return h(
          "button",
          { class: c.id === chat.active ? "item active" : "item", onclick: () => this.open(c.id), dataset: { test: "chat", name, conversation: c.id } },
          c.kind === "direct" ? chat.avatars.view(chat.user(c.with.user), online) : avatar(name),
          h("span", { class: "grow" }, peer, this.preview(c)),
          c.unread && c.id !== chat.active ? h("span", { class: "badge", title: `${c.unread} unread`, dataset: { test: "unread" } }, c.unread) : null,
        );
      }),
    );
  }

  /** The newest message in short: who wrote it (in a group, or "You"), then its text. */
  preview(conv) {
    const last = conv.newest();
    let who = "";
    let text = conv.kind === "group" ? "group" : "";
    if (last) {
      if (last.from === this.chat.me.id) who = "You: ";
      else if (conv.kind === "group") who = `${this.chat.name(last.from)}: `;
      text = last.deleted_at ? "message deleted" : summary(last).slice(0, PREVIEW_CHARS);
    }
    return h("small", { class: "muted preview", dataset: { test: "preview" } }, who, h("span", { dir: "auto" }, text));
  }

  renderContacts() {
    const chat = this.chat;
    const { contacts, blocked } = chat.people.contacts;
    fill(
      this.contacts,
      h("h3", {}, "Contacts"),
      contacts.length ? null : h("p", { class: "muted small pad" }, "No contacts yet: add one below."),
      contacts.map(({ user }) => {
        const presence = chat.presence.get(user.id);
        const online = presence?.online ?? false;
        return h(
          "button",
          { class: "item", onclick: () => this.open(chat.direct(user.id)), dataset: { test: "contact", user: user.username, online: String(online) } },
          chat.avatars.view(user, online),
          h("span", { class: "grow" }, person(user), h("small", { class: "muted" }, online ? "online" : lastSeen(presence))),
        );
      }),
    );
    fill(
      this.blocked,
      blocked.length ? h("h3", {}, "Blocked") : null,
      blocked.map(({ user }) =>
        h(
          "div",
          { class: "item", dataset: { test: "blocked", user: user.username } },
          chat.avatars.view(user),
          h("span", { class: "grow" }, person(user)),
          h("button", { class: "small", onclick: () => chat.people.changeContact("unblock", user.id), dataset: { test: "blocked-unblock" } }, "Unblock"),
        ),
      ),
    );
  }
}

/** "last seen HH:MM", or "offline" when unknown. */
export function lastSeen(presence) {
  if (!presence?.last_seen) return "offline";
  return `last seen ${clock(presence.last_seen)}`;
}

/** A form's submit handler: runs `action`, showing its error in `errorEl` if it fails. */
function guarded(errorEl, action) {
  return async (event) => {
    event.preventDefault();
    errorEl.textContent = "";
    try {
      await action();
    } catch (err) {
      errorEl.textContent = err.message;
    }
  };
}
