// The user's people: the contacts, with the requests both ways and the users one blocked,
// and the groups, with their members and roles — as `contact:list` and `group:list` give
// them, refreshed on `contact:updated` and changed by `group:updated` — and what the user
// does with them (docs/API.md §8.7, §8.8): ask someone, accept or decline, remove, block
// and unblock a contact; create a group (public or private), add, remove and promote its
// members, rename it, leave it or dissolve it; find public groups and join one.

export class People {
  /** `chat`: the model (chat.js), whose socket, users and conversations these share. */
  constructor(chat) {
    this.chat = chat;
    this.contacts = { contacts: [], incoming: [], outgoing: [], blocked: [] };
    /** group id → group (`{id, name, members: [{user, role}]}`). */
    this.groups = new Map();
  }

  async refreshContacts() {
    const reply = await this.chat.call("contact:list", {});
    this.contacts = reply;
    for (const entry of [...reply.contacts, ...reply.incoming, ...reply.outgoing, ...reply.blocked]) {
      this.chat.users.set(entry.user.id, entry.user);
    }
    const ids = reply.contacts.map((c) => c.user.id);
    if (ids.length) await this.chat.queryPresence(ids);
    this.chat.changed();
  }

  async refreshGroups() {
    const { groups } = await this.chat.call("group:list", {});
    this.groups = new Map(groups.map((g) => [g.id, g]));
    for (const g of groups) this.chat.conversation(`g:${g.id}`, { group: g.id });
    this.chat.changed();
  }

  /** The user's role in a group conversation (owner, admin or member); null in a direct one. */
  role(conv) {
    return this.members(conv).find((m) => m.user === this.chat.me.id)?.role ?? null;
  }

  /** The members of a group conversation (`[{user, role}]`); none in a direct one. */
  members(conv) {
    return conv?.kind === "group" ? (this.groups.get(conv.with.group)?.members ?? []) : [];
  }

  /** The other members of a group conversation (those known so far), to mention. */
  mentionable(conv) {
    return this.members(conv).filter((m) => m.user !== this.chat.me.id).map((m) => this.chat.user(m.user)).filter(Boolean);
  }

  /** A user by exact username (the search is by prefix). */
  async findUser(username) {
    const q = username.trim().toLowerCase();
    const { users } = await this.chat.session.request("GET", `/api/v1/users?q=${encodeURIComponent(q)}`);
    const user = users.find((u) => u.username === q);
    if (!user) throw new Error(`no user named “${q}”`);
    this.chat.users.set(user.id, user);
    return user;
  }

  async requestContact(username) {
    const user = await this.findUser(username);
    await this.chat.call("contact:request", { user_id: user.id });
    await this.refreshContacts();
  }

  async answerRequest(id, accept) {
    await this.chat.call(accept ? "contact:accept" : "contact:decline", { id });
    await this.refreshContacts();
  }

  /** `action` is `remove` (the contact, for both), `block` or `unblock` (docs/API.md §5.5–§5.7). */
  async changeContact(action, userId) {
    await this.chat.call(`contact:${action}`, { user_id: userId });
    await this.refreshContacts();
  }

  /** Whether a user is one of the contacts, and whether the user blocked them. */
  isContact(userId) {
    return this.contacts.contacts.some((c) => c.user.id === userId);
  }

  isBlocked(userId) {
    return this.contacts.blocked.some((c) => c.user.id === userId);
  }

  /** Creates a group with the users named; a public one is listed in the directory, for anyone to join. */
  async createGroup(name, usernames, isPublic) {
    const members = [];
    for (const username of usernames) members.push((await this.findUser(username)).id);
    const { group } = await this.chat.call("group:create", { name, members, public: isPublic });
    this.groupUpdated(group);
    return `g:${group.id}`;
  }

  async addMember(groupId, username) {
    const user = await this.findUser(username);
    await this.changeGroup("group:add_member", { group: groupId, user_id: user.id });
  }

  /** Renames a group (its owner and admins). */
  renameGroup(groupId, name) {
    return this.changeGroup("group:rename", { group: groupId, name });
  }

  /** Takes a member out (the owner: anyone else; an admin: plain members). */
  removeMember(groupId, userId) {
    return this.changeGroup("group:remove_member", { group: groupId, user_id: userId });
  }

  /** Sets another member's role (the owner); `owner` hands the group over. */
  setRole(groupId, userId, role) {
    return this.changeGroup("group:set_role", { group: groupId, user_id: userId, role });
  }

  /** A `group:*` event whose ack carries the group after the change. */
  async changeGroup(event, payload) {
    const { group } = await this.chat.call(event, payload);
    this.groupUpdated(group);
  }

  /** A page of the public groups whose name contains `q` (any case), by name: `[{id, name, members}]`. */
  async directory(q, offset, limit) {
    const { groups } = await this.chat.call("group:directory", { q, offset, limit });
    return groups;
  }

  /** Joins a public group; resolves the id of its conversation. */
  async joinGroup(groupId) {
    await this.changeGroup("group:join", { group: groupId });
    return `g:${groupId}`;
  }

  leaveGroup(groupId) {
    return this.quitGroup("group:leave", groupId);
  }

  /** Dissolves a group (its owner), with its conversation. */
  dissolveGroup(groupId) {
    return this.quitGroup("group:delete", groupId);
  }

  async quitGroup(event, groupId) {
    await this.chat.call(event, { group: groupId });
    this.groupUpdated({ id: groupId, dissolved: true });
  }

  groupUpdated(group) {
    const mine = !group.dissolved && group.members.some((m) => m.user === this.chat.me.id);
    if (mine) {
      this.groups.set(group.id, group);
      this.chat.conversation(`g:${group.id}`, { group: group.id });
      for (const m of group.members) this.chat.user(m.user);
    } else {
      this.groups.delete(group.id);
      this.chat.conversations.delete(`g:${group.id}`);
      if (this.chat.active === `g:${group.id}`) this.chat.active = null;
    }
    this.chat.changed();
  }
}
