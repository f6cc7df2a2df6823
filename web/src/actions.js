// What the user does to messages (docs/API.md §8.1, §8.9–§8.13, §13.2): sends them — each
// shown as on its way until acknowledged, and kept when refused, with the server's error,
// to retry (with the same client id) or discard — edits and deletes them, reacts to them,
// reports others' to the server's administrators, and sets how long a conversation's new
// messages live.

let sent = 0;
function clientMsgId() {
  sent += 1;
  return `w-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${sent}`;
}

export class MessageActions {
  /** `chat`: the model (chat.js), whose socket and conversations these act on. */
  constructor(chat) {
    this.chat = chat;
  }

  /**
   * Sends a message (`extra`: `reply_to`, `mentions`, `attachments`: upload ids); it shows
   * as pending until acknowledged (sent after a reconnect). Refused, it stays in the
   * conversation with the server's error, to `retry` or `discard`. Resolves whether it went.
   */
  send(id, body, extra = {}) {
    const conv = this.chat.conversations.get(id);
    const to = conv.kind === "group" ? { group: conv.with.group } : { user: conv.with.user };
    const payload = { to, body, client_msg_id: clientMsgId(), ...extra };
    conv.pending.set(payload.client_msg_id, { payload, from: this.chat.me.id, failed: null });
    this.chat.typingStopped();
    return this.deliver(conv, payload.client_msg_id);
  }

  /**
   * Sends a refused message again, with the same client id: the server stores it at most
   * once (docs/API.md §10.2). Resolves whether it went.
   */
  retry(id, clientId) {
    return this.deliver(this.chat.conversations.get(id), clientId);
  }

  /** Forgets a refused message. */
  discard(id, clientId) {
    this.chat.conversations.get(id)?.pending.delete(clientId);
    this.chat.changed();
  }

  async deliver(conv, clientId) {
    const pending = conv.pending.get(clientId);
    pending.failed = null;
    this.chat.changed();
    const reply = await this.chat.socket.emitWithAck("message:send", pending.payload);
    if (reply?.ok) {
      conv.pending.delete(clientId);
      conv.add(reply.message);
      conv.count(reply.message, this.chat.me.id);
      conv.readSeq = Math.max(conv.readSeq, reply.message.seq);
    } else {
      pending.failed = reply?.error ?? { code: "unknown", message: "the message was not sent" };
    }
    this.chat.changed();
    return Boolean(reply?.ok);
  }

  /** Replaces the text of one's own message (its meta is kept). */
  async edit(id, seq, body) {
    const meta = this.chat.conversations.get(id)?.messages.get(seq)?.meta;
    const payload = { conversation: id, seq, body };
    if (meta !== null && meta !== undefined) payload.meta = meta;
    const { message } = await this.chat.call("message:edit", payload);
    this.chat.received(message);
  }

  /** Deletes a message for everyone (one's own, or any as a group's owner or admin). */
  async remove(id, seq) {
    const { message } = await this.chat.call("message:delete", { conversation: id, seq });
    this.chat.received(message);
  }

  /** Adds the user's reaction `emoji` to a message, or takes it back if there. */
  async toggleReaction(id, seq, emoji) {
    const conv = this.chat.conversations.get(id);
    const added = !conv.messages.get(seq)?.reactions?.some((r) => r.emoji === emoji && r.me);
    await this.chat.call(added ? "reaction:add" : "reaction:remove", { conversation: id, seq, emoji });
    // The reacting connection is not told: count it here.
    conv.react(seq, emoji, added, true);
    this.chat.changed();
  }

  /** Reports a message to the server's administrators, saying why (1–1000 characters). */
  report(id, seq, reason) {
    return this.chat.session.request("POST", "/api/v1/reports", { conversation: id, seq, reason });
  }

  /** Sets how long new messages of a conversation live (null: for ever). */
  async setExpiry(id, seconds) {
    const { conversation } = await this.chat.call("conversation:set_expiry", { conversation: id, seconds });
    this.chat.expiryUpdated(conversation);
  }
}
