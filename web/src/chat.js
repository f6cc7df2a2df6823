// The client's model: one Socket.IO connection (docs/API.md §7–§10) and what the user can
// see — the people (people.js: contacts and groups) with their presence and avatars,
// conversations with their messages (edits, deletions, replies, reactions, mentions,
// disappearing messages, attachments), typing and read receipts (how far the others have
// read, asked for when a conversation opens and after a reconnect, then followed by
// `receipt`), unread counts and the recency of the conversations — plus the connection
// state; what the user does to messages (send, retry, edit, delete, react, report) is
// actions.js, and the server's administration moderation.js. It reconnects by itself (the
// socket.io-client manager), each time with the session's newest access token (refreshed
// first if the server finds it expired), and catches up with `sync` after every
// (re)connect; the session ending (`session:expired`) ends it. Views listen for "change"
// and re-render from the fields, and for "message" (a `message:new`, as the event's
// `detail`) to tell of a new message.

import { io } from "socket.io-client";
import { MessageActions } from "./actions.js";
import { Avatars } from "./avatars.js";
import { Conversation, directId } from "./conversation.js";
import { displayName } from "./dom.js";
import { Moderation } from "./moderation.js";
import { People } from "./people.js";

/** How long a peer's "typing" shows without a refresh. */
const TYPING_SHOWS_MS = 6000;
/** How long after the last keystroke we say we stopped typing. */
const TYPING_IDLE_MS = 3000;
/** Messages per `history` page. */
export const PAGE = 30;
/** Results per `search` page. */
export const SEARCH_PAGE = 20;
/** How long to wait before a CONNECT the server refused is tried again. */
const RETRY_MS = 2000;

export class Chat extends EventTarget {
  /** `session`: the signed-in session (session.js), whose token every request and CONNECT carries. */
  constructor(session) {
    super();
    this.session = session;
    /** connecting | syncing | synced | reconnecting | offline */
    this.connection = "connecting";
    /** user id → user, as last read (the signed-in user is the session's). */
    this.users = new Map();
    this.lookups = new Map();
    this.people = new People(this);
    this.actions = new MessageActions(this);
    this.moderation = new Moderation(this);
    this.avatars = new Avatars((id) => this.attachment(id, true), () => this.changed());
    this.presence = new Map();
    this.conversations = new Map();
    this.active = null;
    this.typingTimer = null;
    this.typingIn = null;
    this.socket = null;
    /** The access token of the last CONNECT: the one to replace if it was refused as expired. */
    this.connectToken = null;
    /** Whether `stop` was called (signed out): nothing connects again. */
    this.stopped = false;
    this.scheduled = false;
  }

  /** The signed-in user. */
  get me() {
    return this.session.user;
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
      // Asked at every CONNECT, so a reconnect carries the newest token.
      auth: (send) => {
        this.connectToken = this.session.token;
        send({ token: this.connectToken });
      },
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
      if (code === "invalid_token") {
        this.session.end(code);
        return;
      }
      this.setConnection("reconnecting");
      // Refused by the server (not a network failure): the client does not retry by
      // itself. An access token that expired since the last CONNECT is refreshed first
      // (a refresh that fails for want of the network is tried again with the CONNECT);
      // an empty rate-limit bucket is waited out.
      const again = () => !this.stopped && socket.connect();
      if (code === "token_expired") this.session.refresh(this.connectToken).then(again, () => setTimeout(again, RETRY_MS));
      else if (code === "rate_limited") setTimeout(again, RETRY_MS);
    });
    // The session ended (logged out, ended from another device…): the server disconnects.
    socket.on("session:expired", ({ code }) => this.session.end(code));
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
        conv.readUpTo(user, seq);
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
    socket.on("group:updated", (group) => this.people.groupUpdated(group));
    socket.on("contact:updated", () => this.people.refreshContacts());
  }

  /** Disconnects for good (signed out), and lets go of the avatars. */
  stop() {
    this.stopped = true;
    this.socket?.io.reconnection(false);
    this.socket?.disconnect();
    this.avatars.clear();
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
      await Promise.all([this.people.refreshContacts(), this.people.refreshGroups(), this.refreshConversations()]);
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
      // Receipts sent while the page was away are not replayed: ask for the open one's.
      if (this.active) this.refreshReads(this.active);
    } catch (err) {
      console.warn("catching up failed", err);
      if (this.socket.connected) this.socket.disconnect().connect();
    }
  }

  /** The conversation list (docs/API.md §3.2), page after page (each page's `next`) to its end. */
  async refreshConversations() {
    const unpreviewed = [];
    let next = null;
    do {
      const query = next ? `?before=${encodeURIComponent(next)}` : "";
      const page = await this.session.request("GET", `/api/v1/conversations${query}`);
      for (const c of page.conversations) {
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
      next = page.next;
    } while (next);
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
    if (id === this.me.id) return this.me;
    const known = this.users.get(id);
    if (known) return known;
    if (!this.lookups.has(id)) {
      this.lookups.set(
        id,
        this.session
          .request("GET", `/api/v1/users/${encodeURIComponent(id)}`)
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
    return user ? displayName(user) : "…";
  }

  /** Shows the signed-in user's new profile (name, avatar) everywhere, and keeps it. */
  profileChanged(user) {
    this.session.updateUser(user);
    this.changed();
  }

  /** A title for a conversation. */
  title(conv) {
    if (conv.kind === "group") return this.people.groups.get(conv.with.group)?.name ?? "Group";
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
    this.refreshReads(id);
    if (conv && !conv.loaded) await this.loadOlder(id);
    this.markRead();
  }

  /**
   * How far the other members have read a conversation (`conversation:reads`), in the
   * background: the ticks of one's own messages, also after a reload or a reconnect.
   */
  refreshReads(id) {
    const conv = this.conversations.get(id);
    if (!conv?.lastSeq) return;
    this.call("conversation:reads", { conversation: id })
      .then(({ reads }) => {
        for (const { user, seq } of reads) conv.readUpTo(user, seq);
        this.changed();
      })
      .catch((err) => console.warn("reading the read positions failed", err));
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

  /** Uploads a file (`onProgress(fraction)` as it goes): `{done, abort}`, see api.js `upload`. */
  upload(file, onProgress) {
    return this.session.upload(file, onProgress);
  }

  /** An attachment's file, or its thumbnail, as a Blob. */
  attachment(id, thumbnail = false) {
    return this.session.blob(`/api/v1/attachments/${encodeURIComponent(id)}${thumbnail ? "/thumbnail" : ""}`);
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

}
