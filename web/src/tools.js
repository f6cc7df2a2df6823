// The tools in the header of the open conversation. With a person: remove the contact,
// block or unblock them. In a group: add a member (its owner and admins), leave, and for
// its owner and admins "Manage": rename it, change a member's role (the owner), remove a
// member (the owner: anyone else; an admin: plain members) and dissolve it (the owner).
// Members without those rights never see those controls.

import { fill, h, person } from "./dom.js";

const ROLES = ["member", "admin", "owner"];

export class ConversationTools {
  /** `act(promise)` shows the error of a refused action; `close()` leaves the conversation's view. */
  constructor(chat, { act, close }) {
    this.chat = chat;
    this.act = act;
    this.close = close;
    this.el = h("div", { class: "tools" });
    /** The conversation shown, and the state its tools were built from: rebuilt only when it changes. */
    this.shown = null;
    this.key = "";
    // The group's inputs and the "Manage" panel are kept across renders, so that what is
    // being typed, and whether the panel is open, survive incoming events.
    this.memberInput = h("input", { placeholder: "add a member", required: true, "aria-label": "member to add", dataset: { test: "member-username" } });
    this.nameInput = h("input", { required: true, maxlength: 128, dir: "auto", "aria-label": "group name", dataset: { test: "group-rename-input" } });
    this.members = h("ul", { class: "members", dataset: { test: "group-members-list" } });
    this.manage = h("details", { class: "manage", dataset: { test: "group-manage" } });
  }

  render(conv) {
    const group = conv.kind === "group" ? this.chat.people.groups.get(conv.with.group) : null;
    const key = JSON.stringify(group ? [group, this.known(group)] : [this.chat.people.isContact(conv.with.user), this.chat.people.isBlocked(conv.with.user)]);
    if (conv.id === this.shown && key === this.key) return;
    if (conv.id !== this.shown) {
      this.memberInput.value = "";
      this.manage.open = false;
    }
    this.shown = conv.id;
    this.key = key;
    // Moving the kept inputs loses their focus: give it back.
    const focused = this.el.contains(document.activeElement) ? document.activeElement : null;
    if (group) this.groupTools(group);
    else fill(this.el, conv.kind === "direct" ? this.personTools(conv.with.user) : null);
    if (focused?.isConnected) focused.focus();
  }

  /** The usernames of the members looked up so far (their rows change as they arrive). */
  known(group) {
    return group.members.map((m) => this.chat.user(m.user)?.username ?? "");
  }

  personTools(userId) {
    if (userId === this.chat.me.id) return null;
    // The question names the user as known when it is asked.
    const confirmed = (action, question) => () => confirm(question(this.chat.name(userId))) && this.act(this.chat.people.changeContact(action, userId));
    return h(
      "div",
      { class: "row" },
      this.chat.people.isContact(userId)
        ? h("button", { type: "button", class: "small", dataset: { test: "contact-remove" }, onclick: confirmed("remove", (name) => `Remove ${name} from your contacts?`) }, "Remove contact")
        : null,
      this.chat.people.isBlocked(userId)
        ? h("button", { type: "button", class: "small", dataset: { test: "unblock" }, onclick: () => this.act(this.chat.people.changeContact("unblock", userId)) }, "Unblock")
        : h("button", { type: "button", class: "small danger", dataset: { test: "block" }, onclick: confirmed("block", (name) => `Block ${name}? Neither of you can then write to the other.`) }, "Block"),
    );
  }

  groupTools(group) {
    const role = group.members.find((m) => m.user === this.chat.me.id)?.role;
    const manager = role === "owner" || role === "admin";
    if (document.activeElement !== this.nameInput) this.nameInput.value = group.name;
    fill(this.members, group.members.map((m) => this.memberRow(group, role, m)));
    fill(
      this.manage,
      h("summary", { dataset: { test: "group-manage-open" } }, "Manage"),
      h(
        "div",
        { class: "panel" },
        h(
          "form",
          { class: "row", onsubmit: (event) => this.submit(event, this.chat.people.renameGroup(group.id, this.nameInput.value.trim())) },
          this.nameInput,
          h("button", { type: "submit", class: "small", dataset: { test: "group-rename" } }, "Rename"),
        ),
        this.members,
        role === "owner" ? h("button", { type: "button", class: "small danger", dataset: { test: "group-dissolve" }, onclick: () => this.dissolve(group) }, "Dissolve the group") : null,
      ),
    );
    fill(
      this.el,
      h(
        "div",
        { class: "row wrap" },
        manager
          ? h(
              "form",
              { class: "row", onsubmit: (event) => this.submit(event, this.chat.people.addMember(group.id, this.memberInput.value)).then((ok) => ok && (this.memberInput.value = "")) },
              this.memberInput,
              h("button", { type: "submit", class: "small", dataset: { test: "member-add" } }, "Add"),
            )
          : null,
        manager ? this.manage : null,
        h("button", { type: "button", class: "small danger", dataset: { test: "leave" }, onclick: () => this.leave(group) }, "Leave"),
      ),
    );
  }

  /** One member: name, role (a choice for the owner), and Remove where the caller may. */
  memberRow(group, myRole, member) {
    const me = member.user === this.chat.me.id;
    const removable = !me && (myRole === "owner" || (myRole === "admin" && member.role === "member"));
    const role =
      myRole === "owner" && !me
        ? h(
            "select",
            { "aria-label": `role of ${this.chat.name(member.user)}`, dataset: { test: "member-role" }, onchange: (event) => this.setRole(group, member, event.target) },
            ROLES.map((r) => h("option", { value: r, selected: r === member.role }, r)),
          )
        : h("small", { class: "muted", dataset: { test: "member-role" } }, me ? `${member.role} (you)` : member.role);
    return h(
      "li",
      { class: "row", dataset: { test: "member", user: this.chat.user(member.user)?.username ?? "", role: member.role } },
      person(this.chat.user(member.user)),
      role,
      removable ? h("button", { type: "button", class: "small", title: "Remove from the group", dataset: { test: "member-remove" }, onclick: () => this.remove(group, member) }, "Remove") : null,
    );
  }

  /** Awaits a form's action (shown as refused if it was); resolves whether it went through. */
  submit(event, promise) {
    event.preventDefault();
    return this.act(promise);
  }

  setRole(group, member, select) {
    const name = this.chat.name(member.user);
    if (select.value === "owner" && !confirm(`Hand “${group.name}” over to ${name}? You become an admin.`)) {
      select.value = member.role;
      return;
    }
    this.act(this.chat.people.setRole(group.id, member.user, select.value));
  }

  remove(group, member) {
    if (confirm(`Remove ${this.chat.name(member.user)} from “${group.name}”?`)) this.act(this.chat.people.removeMember(group.id, member.user));
  }

  async leave(group) {
    if (confirm(`Leave “${group.name}”?`) && (await this.act(this.chat.people.leaveGroup(group.id)))) this.close();
  }

  async dissolve(group) {
    if (confirm(`Dissolve “${group.name}” for everyone? Its messages are deleted.`) && (await this.act(this.chat.people.dissolveGroup(group.id)))) this.close();
  }
}
