// One conversation as the client holds it: its messages (by seq) and those still being
// sent or refused, the read positions, the unread count, typing, the expiry setting and
// how recent it is (for the order of the chat list).

/** The direct conversation id of two users (docs/API.md §1.4). */
export function directId(a, b) {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

/** Applies an edit or deletion entry to the message it changes. */
function applyChange(message, entry) {
  if (entry.kind === "edit") {
    Object.assign(message, { body: entry.body, meta: entry.meta, edited_at: entry.ts });
  } else {
    Object.assign(message, { body: "", meta: null, deleted_at: entry.ts, reactions: [], attachments: [] });
  }
}

export class Conversation {
  constructor(id, withWhom) {
    this.id = id;
    this.kind = id.startsWith("g:") ? "group" : "direct";
    this.with = withWhom;
    /** seq → message. */
    this.messages = new Map();
    /**
     * client_msg_id → a message on its way or refused: `{payload, from, failed}`, where
     * `payload` is what `message:send` sends (again, on a retry) and `failed` the server's
     * `{code, message}` once refused (null while on its way).
     */
    this.pending = new Map();
    this.lastSeq = 0;
    this.readSeq = 0;
    this.unread = 0;
    /** The newest seq that `unread` accounts for (from the conversation list, then live). */
    this.countedSeq = 0;
    /** When its newest entry was stored (ms since the epoch; 0: unknown), for the chat list. */
    this.lastAt = 0;
    /** Whether the newest page was fetched, and whether the oldest message is here. */
    this.loaded = false;
    this.complete = false;
    /** user id → seq the other members have read (from `conversation:reads`, then `receipt`). */
    this.reads = new Map();
    /** user id → time their typing stops showing. */
    this.typing = new Map();
    /** Seconds a new message lives here; null: for ever. */
    this.expireSecs = null;
    /** The `history` request on its way, if any. */
    this.loadingOlder = null;
  }

  add(message) {
    this.messages.set(message.seq, message);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    this.touched(message.ts);
  }

  /** Moves the conversation's time of last activity up to `ts` (RFC 3339), if later. */
  touched(ts) {
    if (ts) this.lastAt = Math.max(this.lastAt, Date.parse(ts));
  }

  /**
   * Counts a message in `unread` unless it is one's own, read, or counted already (the
   * server's count covers up to `countedSeq`).
   */
  count(message, me) {
    if (message.from !== me && message.seq > this.readSeq && message.seq > this.countedSeq) this.unread += 1;
    this.countedSeq = Math.max(this.countedSeq, message.seq);
  }

  /**
   * Others' messages after the read position among those held: the unread count once the
   * user has read here (the server's count, from the conversation list, covers the rest).
   */
  unreadHeld(me) {
    let count = 0;
    for (const message of this.messages.values()) {
      if (message.from !== me && message.seq > this.readSeq && !message.deleted_at) count += 1;
    }
    return count;
  }

  /** Applies an edit or deletion entry to the message it changes, if held. */
  change(entry) {
    this.lastSeq = Math.max(this.lastSeq, entry.seq);
    this.touched(entry.ts);
    const target = this.messages.get(entry.target);
    if (target && !target.deleted_at) applyChange(target, entry);
  }

  /** Moves another member's read position up to `seq` (a client keeps the highest). */
  readUpTo(user, seq) {
    this.reads.set(user, Math.max(this.reads.get(user) ?? 0, seq));
  }

  /** Counts `user`'s reaction `emoji` to the message `seq` in or out. */
  react(seq, emoji, added, mine) {
    const message = this.messages.get(seq);
    if (!message) return;
    const chips = message.reactions ?? [];
    let chip = chips.find((r) => r.emoji === emoji);
    if (!chip) {
      chip = { emoji, count: 0, me: false };
      chips.push(chip);
    }
    chip.count = Math.max(0, chip.count + (added ? 1 : -1));
    if (mine) chip.me = added;
    // The order of `history`: most frequent first, then by emoji.
    message.reactions = chips
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count || (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0));
  }

  /** Messages oldest first. */
  sorted() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The newest message held (the chat list's preview), or undefined. */
  newest() {
    let newest;
    for (const message of this.messages.values()) if (!newest || message.seq > newest.seq) newest = message;
    return newest;
  }

  oldestSeq() {
    let min = Infinity;
    for (const seq of this.messages.keys()) min = Math.min(min, seq);
    return min;
  }
}
