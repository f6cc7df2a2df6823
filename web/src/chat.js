// The client's model: one Socket.IO connection (docs/API.md §7–§10) and what the user can
// see — contacts with presence and requests, groups, conversations with their messages
// (edits, deletions, replies, reactions, mentions, disappearing messages, attachments),
// typing and read receipts, messages refused by the server (kept to retry or discard),
// unread counts and the recency of the conversations — plus the connection state. It
// reconnects by itself (the socket.io-client manager) and catches up with `sync` after
// every (re)connect. Views listen for "change" and re-render from the fields, and for
// "message" (a `message:new`, as the event's `detail`) to tell of a new message.

import { io } from "socket.io-client";
import { blob, request, upload } from "./api.js";
import { Conversation, directId } from "./conversation.js";

/** How long a peer's "typing" shows without a refresh. */
const TYPING_SHOWS_MS = 6000;
/** How long after the last keystroke we say we stopped typing. */
const TYPING_IDLE_MS = 3000;
/** Messages per `history` page. */
export const PAGE = 30;
/** Results per `search` page. */
export const SEARCH_PAGE = 20;

let sent = 0;
function clientMsgId() {
  sent += 1;
  return `w-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${sent}`;
}

export class Chat extends EventTarget {
  constructor({ user, token }, { onSignedOut }) {
    super();
    this.me = user;
    this.token = token;
    this.onSignedOut = onSignedOut;
    /** connecting | syncing | synced | reconnecting | offline */
    this.connection = "connecting";
    this.users = new Map([[user.id, user]]);
    this.lookups = new Map();
    this.contacts = { contacts: [], incoming: [], outgoing: [], blocked: [] };
    this.presence = new Map();
    this.groups = new Map();
    this.conversations = new Map();
    this.active = null;
    this.typingTimer = null;
    this.typingIn = null;
    this.socket = null;
    this.scheduled = false;
  }

  /** Tells the views something changed (once per burst of synchronous updates). */
  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.dispatchEvent(new Event("change"));
    });
  }

  setConnection(state) {
    this.connection = state;
    this.changed();
  }

  start() {
    const socket = io({
      auth: { token: this.token },
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    this.socket = socket;
    socket.on("connect", () => this.catchUp());
    socket.on("disconnect", (reason) => {
      // Presence pushed while disconnected is lost: show nobody online until caught up.
      this.presence.clear();
      this.setConnection(reason === "io client disconnect" ? "offline" : "reconnecting");
    });
    socket.io.on("reconnect_attempt", () => this.setConnection("reconnecting"));
    socket.on("connect_error", (err) => {
      const code = err?.data?.code;
      if (code === "invalid_token" || code === "token_expired") {
        this.stop();
        this.onSignedOut("Your session has expired: please log in again.");
        return;
      }
      this.setConnection("reconnecting");
      // Refused by the server (not a network failure): the client does not retry by
      // itself, so try again a little later.
      if (code === "rate_limited") setTimeout(() => socket.connect(), 2000);
    });
    // The token expired while connected: the server disconnects right after this.
    socket.on("session:expired", () => {
      this.stop();
      this.onSignedOut("Your session has expired: please log in again.");
    });
    socket.on("message:new", (m) => {
      this.received(m);
      this.dispatchEvent(new CustomEvent("message", { detail: m }));
    });
    socket.on("message:edited", (entry) => this.received(entry));
    socket.on("message:deleted", (entry) => this.received(entry));
    socket.on("reaction", ({ conversation, seq, user, emoji, added }) => {
      this.conversations.get(conversation)?.react(seq, emoji, added, user === this.me.id);
      this.changed();
    });
    socket.on("conversation:updated", (update) => this.expiryUpdated(update));
    socket.on("messages:expired", ({ conversation, seqs }) => {
      const conv = this.conversations.get(conversation);
      for (const seq of seqs) conv?.messages.delete(seq);
      this.changed();
    });
    socket.on("receipt", ({ conversation, user, seq }) => {
      const conv = this.conversations.get(conversation);
      if (!conv) return;
      if (user === this.me.id) {
        conv.readSeq = Math.max(conv.readSeq, seq);
        conv.unread = conv.unreadHeld(this.me.id);
      } else {
        conv.reads.set(user, Math.max(conv.reads.get(user) ?? 0, seq));
      }
      this.changed();
    });
    socket.on("typing", ({ conversation, user, typing }) => {
      const conv = this.conversations.get(conversation);
      if (!conv) return;
      if (typing) {
        conv.typing.set(user, Date.now() + TYPING_SHOWS_MS);
        setTimeout(() => this.changed(), TYPING_SHOWS_MS + 50);
      } else {
        conv.typing.delete(user);
      }
      this.user(user);
      this.changed();
    });
    socket.on("presence", ({ user, online, last_seen }) => {
      this.presence.set(user, { online, last_seen });
      this.changed();
    });
    socket.on("group:updated", (group) => this.groupUpdated(group));
    socket.on("contact:updated", () => this.refreshContacts());
  }

  stop() {
    this.socket?.io.reconnection(false);
    this.socket?.disconnect();
    this.setConnection("offline");
  }

  /** An acknowledged event; rejects with the error of `{ok: false}` acks. */
  async call(event, payload, timeoutMs = 15000) {
    const reply = await this.socket.timeout(timeoutMs).emitWithAck(event, payload);
    if (!reply?.ok) {
      const error = new Error(reply?.error?.message ?? `${event} failed`);
      error.code = reply?.error?.code;
      throw error;
    }
    return reply;
  }

  /** After every (re)connect: contacts, presence, groups, conversations, then `sync`. */
  async catchUp() {
    this.setConnection("syncing");
    try {
      await Promise.all([this.refreshContacts(), this.refreshGroups(), this.refreshConversations()]);
      const cursors = {};
      for (const conv of this.conversations.values()) cursors[conv.id] = conv.lastSeq;
      for (let calls = 0; calls < 50; calls++) {
        const reply = await this.call("sync", { cursors });
        for (const m of reply.messages) {
          this.received(m);
          cursors[m.conversation] = Math.max(cursors[m.conversation] ?? 0, m.seq);
        }
        if (!reply.more) break;
      }
      if (this.socket.connected) this.setConnection("synced");
      this.markRead();
    } catch (err) {
      console.warn("catching up failed", err);
      if (this.socket.connected) this.socket.disconnect().connect();
    }
  }

  async refreshContacts() {
    const reply = await this.call("contact:list", {});
    this.contacts = reply;
    for (const entry of [...reply.contacts, ...reply.incoming, ...reply.outgoing, ...reply.blocked]) {
      this.users.set(entry.user.id, entry.user);
    }
    const ids = reply.contacts.map((c) => c.user.id);
    if (ids.length) await this.queryPresence(ids);
    this.changed();
  }

  async refreshGroups() {
    const { groups } = await this.call("group:list", {});
    this.groups = new Map(groups.map((g) => [g.id, g]));
    for (const g of groups) this.conversation(`g:${g.id}`, { group: g.id });
    this.changed();
  }

  async refreshConversations() {
    const { conversations } = await request("GET", "/api/v1/conversations", { token: this.token });
    const unpreviewed = [];
    for (const c of conversations) {
      const conv = this.conversation(c.id, c.with);
      // A conversation not opened yet starts at the server's newest seq (older pages come
      // when it is opened); an opened one keeps its own, so that `sync` fills the gap.
      if (!conv.loaded) {
        conv.lastSeq = Math.max(conv.lastSeq, c.last_seq);
        if (c.last_message) conv.add(c.last_message);
        else if (!("last_message" in c) && c.last_seq > 0 && !conv.messages.size) unpreviewed.push(conv);
      }
      conv.touched(c.last_at);
      conv.readSeq = Math.max(conv.readSeq, c.read_seq);
      // The server counts others' messages only (edits and deletions take seqs too).
      conv.unread = c.unread;
      conv.countedSeq = c.last_seq;
      conv.expireSecs = c.expire_secs;
      if (c.with.user) this.user(c.with.user);
    }
    this.changed();
    this.fetchNewest(unpreviewed);
  }

  /**
   * The newest message of each conversation, in the background: the chat list's previews
   * and order, from a server whose conversation list has no `last_message`.
   */
  fetchNewest(convs) {
    for (const conv of convs) {
      this.call("history", { conversation: conv.id, limit: 1 })
        .then(({ messages }) => {
          for (const m of messages) conv.add(m);
          this.changed();
        })
        .catch(() => {});
    }
  }

  /** Others' messages not read yet, in every conversation (the tab's title). */
  unreadTotal() {
    let total = 0;
    for (const conv of this.conversations.values()) total += conv.unread;
    return total;
  }

  /** The conversation `id`, created (empty) if unknown. */
  conversation(id, withWhom) {
    let conv = this.conversations.get(id);
    if (!conv) {
      conv = new Conversation(id, withWhom);
      this.conversations.set(id, conv);
    }
    return conv;
  }

  /** The conversation of a message, created (empty) if unknown. */
  conversationOf(message) {
    const withWhom = message.to.group
      ? { group: message.to.group }
      : { user: message.from === this.me.id ? message.to.user : message.from };
    return this.conversation(message.conversation, withWhom);
  }

  /** A user by id (from the cache; looked up once in the background if unknown). */
  user(id) {
    const known = this.users.get(id);
    if (known) return known;
    if (!this.lookups.has(id)) {
      this.lookups.set(
        id,
        request("GET", `/api/v1/users/${encodeURIComponent(id)}`, { token: this.token })
          .then(({ user }) => {
            this.users.set(id, user);
            this.changed();
          })
          .catch(() => {}),
      );
    }
    return null;
  }

  /** A name to show for a user id. */
  name(id) {
    const user = this.user(id);
    return user ? user.display_name || user.username : "…";
  }

  /** The user's role in a group conversation (owner, admin or member); null in a direct one. */
  role(conv) {
    if (conv.kind !== "group") return null;
    return this.groups.get(conv.with.group)?.members.find((m) => m.user === this.me.id)?.role ?? null;
  }

  /** The other members of a group conversation (those known so far), to mention. */
  mentionable(conv) {
    if (conv?.kind !== "group") return [];
    const members = this.groups.get(conv.with.group)?.members ?? [];
    return members.filter((m) => m.user !== this.me.id).map((m) => this.user(m.user)).filter(Boolean);
  }

  /** A title for a conversation. */
  title(conv) {
    if (conv.kind === "group") return this.groups.get(conv.with.group)?.name ?? "Group";
    return conv.with.user === this.me.id ? "Notes to self" : this.name(conv.with.user);
  }

  /** A message, or an edit or deletion entry (live or from `sync`). */
  received(message) {
    if (message.kind === "edit" || message.kind === "delete") {
      this.conversations.get(message.conversation)?.change(message);
      this.changed();
      if (message.conversation === this.active) this.markRead();
      return;
    }
    const conv = this.conversationOf(message);
    conv.pending.delete(message.client_msg_id);
    conv.add(message);
    conv.count(message, this.me.id);
    conv.typing.delete(message.from);
    this.user(message.from);
    this.changed();
    if (conv.id === this.active) this.markRead();
  }

  /** Opens a conversation: loads its newest page the first time, refreshes the peer's presence. */
  async open(id) {
    this.active = id;
    const conv = this.conversations.get(id);
    this.changed();
    if (conv?.kind === "direct") this.queryPresence([conv.with.user]).catch(() => {});
    if (conv && !conv.loaded) await this.loadOlder(id);
    this.markRead();
  }

  /** Asks for the presence of up to 200 users and keeps the answer. */
  async queryPresence(ids) {
    const { presence } = await this.call("presence:query", { users: ids.slice(0, 200) });
    for (const p of presence) this.presence.set(p.user, { online: p.online, last_seen: p.last_seen });
    this.changed();
  }

  /** The id of the direct conversation with a user (known locally from now on). */
  direct(userId) {
    const id = directId(this.me.id, userId);
    this.conversation(id, { user: userId });
    return id;
  }

  /** The page before the oldest message held; resolves how many came (0 if one is on its way). */
  async loadOlder(id) {
    const conv = this.conversations.get(id);
    if (!conv || conv.complete || conv.loadingOlder) return 0;
    conv.loadingOlder = this.fetchOlder(conv).finally(() => {
      conv.loadingOlder = null;
    });
    return conv.loadingOlder;
  }

  async fetchOlder(conv) {
    try {
      const payload = { conversation: conv.id, limit: PAGE };
      if (conv.loaded && conv.messages.size) payload.before_seq = conv.oldestSeq();
      const { messages } = await this.call("history", payload);
      for (const m of messages) conv.add(m);
      if (messages.length < PAGE) conv.complete = true;
      conv.loaded = true;
      this.changed();
      return messages.length;
    } catch (err) {
      if (err.code === "not_found") {
        // A direct conversation without messages yet: nothing to load.
        conv.loaded = true;
        conv.complete = true;
        this.changed();
        return 0;
      }
      throw err;
    }
  }

  /** Loads older pages of a conversation until it holds the message `seq`. */
  async reveal(id, seq) {
    const conv = this.conversations.get(id);
    while (!conv.messages.has(seq) && !conv.complete) {
      if (conv.loadingOlder) await conv.loadingOlder;
      else await this.loadOlder(id);
    }
    if (!conv.messages.has(seq)) throw new Error("that message is no longer in the conversation");
  }

  /**
   * A page of the messages whose text matches `query` (every word, by prefix), best first:
   * resolves `{results: [{message, snippet: [{text, hit}]}], more}`.
   */
  async search(query, offset = 0) {
    const { results, more } = await this.call("search", { query, limit: SEARCH_PAGE, offset });
    for (const { message } of results) {
      this.conversationOf(message);
      this.user(message.from);
    }
    return { results, more };
  }

  /** Sends `read` for the active conversation if the page is visible and there is news. */
  markRead() {
    const conv = this.conversations.get(this.active);
    if (!conv || document.visibilityState !== "visible" || !this.socket?.connected) return;
    if (conv.lastSeq > conv.readSeq) {
      const seq = conv.lastSeq;
      conv.readSeq = seq;
      conv.unread = 0;
      this.changed();
      this.call("read", { conversation: conv.id, seq }).catch(() => {});
    }
  }

  /**
   * Sends a message (`extra`: `reply_to`, `mentions`, `attachments`: upload ids); it shows
   * as pending until acknowledged (sent after a reconnect). Refused, it stays in the
   * conversation with the server's error, to `retry` or `discard`. Resolves whether it went.
   */
  send(id, body, extra = {}) {
    const conv = this.conversations.get(id);
    const to = conv.kind === "group" ? { group: conv.with.group } : { user: conv.with.user };
    const payload = { to, body, client_msg_id: clientMsgId(), ...extra };
    conv.pending.set(payload.client_msg_id, { payload, from: this.me.id, failed: null });
    this.typingStopped();
    return this.deliver(conv, payload.client_msg_id);
  }

  /**
   * Sends a refused message again, with the same client id: the server stores it at most
   * once (docs/API.md §10.2). Resolves whether it went.
   */
  retry(id, clientId) {
    return this.deliver(this.conversations.get(id), clientId);
  }

  /** Forgets a refused message. */
  discard(id, clientId) {
    this.conversations.get(id)?.pending.delete(clientId);
    this.changed();
  }

  async deliver(conv, clientId) {
    const pending = conv.pending.get(clientId);
    pending.failed = null;
    this.changed();
    const reply = await this.socket.emitWithAck("message:send", pending.payload);
    if (reply?.ok) {
      conv.pending.delete(clientId);
      conv.add(reply.message);
      conv.count(reply.message, this.me.id);
      conv.readSeq = Math.max(conv.readSeq, reply.message.seq);
    } else {
      pending.failed = reply?.error ?? { code: "unknown", message: "the message was not sent" };
    }
    this.changed();
    return Boolean(reply?.ok);
  }

  /** Uploads a file (`onProgress(fraction)` as it goes): `{done, abort}`, see api.js `upload`. */
  upload(file, onProgress) {
    return upload(file, { token: this.token, onProgress });
  }

  /** An attachment's file, or its thumbnail, as a Blob. */
  attachment(id, thumbnail = false) {
    return blob(`/api/v1/attachments/${encodeURIComponent(id)}${thumbnail ? "/thumbnail" : ""}`, this.token);
  }

  /** Replaces the text of one's own message (its meta is kept). */
  async edit(id, seq, body) {
    const meta = this.conversations.get(id)?.messages.get(seq)?.meta;
    const payload = { conversation: id, seq, body };
    if (meta !== null && meta !== undefined) payload.meta = meta;
    const { message } = await this.call("message:edit", payload);
    this.received(message);
  }

  /** Deletes a message for everyone (one's own, or any as a group's owner or admin). */
  async remove(id, seq) {
    const { message } = await this.call("message:delete", { conversation: id, seq });
    this.received(message);
  }

  /** Adds the user's reaction `emoji` to a message, or takes it back if there. */
  async toggleReaction(id, seq, emoji) {
    const conv = this.conversations.get(id);
    const added = !conv.messages.get(seq)?.reactions?.some((r) => r.emoji === emoji && r.me);
    await this.call(added ? "reaction:add" : "reaction:remove", { conversation: id, seq, emoji });
    // The reacting connection is not told: count it here.
    conv.react(seq, emoji, added, true);
    this.changed();
  }

  /** Sets how long new messages of a conversation live (null: for ever). */
  async setExpiry(id, seconds) {
    const { conversation } = await this.call("conversation:set_expiry", { conversation: id, seconds });
    this.expiryUpdated(conversation);
  }

  expiryUpdated({ id, expire_secs }) {
    const conv = this.conversations.get(id);
    if (conv) conv.expireSecs = expire_secs;
    this.changed();
  }

  /** Called on every keystroke in the composer. */
  typed(id) {
    if (this.typingIn !== id) {
      this.typingStopped();
      this.typingIn = id;
      this.socket.emit("typing", { conversation: id, typing: true });
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.typingStopped(), TYPING_IDLE_MS);
  }

  typingStopped() {
    clearTimeout(this.typingTimer);
    if (this.typingIn) {
      if (this.socket.connected) this.socket.emit("typing", { conversation: this.typingIn, typing: false });
      this.typingIn = null;
    }
  }

  /** Names of the users typing in a conversation now. */
  typingNames(conv) {
    const now = Date.now();
    const names = [];
    for (const [user, until] of conv.typing) {
      if (until > now) names.push(this.name(user));
      else conv.typing.delete(user);
    }
    return names;
  }

  /** A user by exact username (the search is by prefix). */
  async findUser(username) {
    const q = username.trim().toLowerCase();
    const { users } = await request("GET", `/api/v1/users?q=${encodeURIComponent(q)}`, { token: this.token });
    const user = users.find((u) => u.username === q);
    if (!user) throw new Error(`no user named “${q}”`);
    this.users.set(user.id, user);
    return user;
  }

  async requestContact(username) {
    const user = await this.findUser(username);
    await this.call("contact:request", { user_id: user.id });
    await this.refreshContacts();
  }

  async answerRequest(id, accept) {
    await this.call(accept ? "contact:accept" : "contact:decline", { id });
    await this.refreshContacts();
  }

  /** `action` is `remove` (the contact, for both), `block` or `unblock` (docs/API.md §5.5–§5.7). */
  async changeContact(action, userId) {
    await this.call(`contact:${action}`, { user_id: userId });
    await this.refreshContacts();
  }

  /** Whether a user is one of the contacts, and whether the user blocked them. */
  isContact(userId) {
    return this.contacts.contacts.some((c) => c.user.id === userId);
  }

  isBlocked(userId) {
    return this.contacts.blocked.some((c) => c.user.id === userId);
  }

  async createGroup(name, usernames) {
    const members = [];
    for (const username of usernames) members.push((await this.findUser(username)).id);
    const { group } = await this.call("group:create", { name, members });
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
    const { group } = await this.call(event, payload);
    this.groupUpdated(group);
  }

  leaveGroup(groupId) {
    return this.quitGroup("group:leave", groupId);
  }

  /** Dissolves a group (its owner), with its conversation. */
  dissolveGroup(groupId) {
    return this.quitGroup("group:delete", groupId);
  }

  async quitGroup(event, groupId) {
    await this.call(event, { group: groupId });
    this.groupUpdated({ id: groupId, dissolved: true });
  }

  groupUpdated(group) {
    const mine = !group.dissolved && group.members.some((m) => m.user === this.me.id);
    if (mine) {
      this.groups.set(group.id, group);
      this.conversation(`g:${group.id}`, { group: group.id });
      for (const m of group.members) this.user(m.user);
    } else {
      this.groups.delete(group.id);
      this.conversations.delete(`g:${group.id}`);
      if (this.active === `g:${group.id}`) this.active = null;
    }
    this.changed();
  }
}
