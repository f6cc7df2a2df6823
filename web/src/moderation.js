// The server's administration (docs/API.md §13), for its administrators: whether the
// signed-in user is one (asked once after signing in: the user object does not say), and
// the administration API — users found, disabled and enabled; any message deleted, any
// group dissolved; the reports of messages, closed as resolved or dismissed; and the audit
// log, which nobody can change. The lists come a page at a time (`Pager`).

/** Entries per page of the administration's lists. */
const ADMIN_PAGE = 20;

/** A query string of the given parameters, leaving out the empty ones. */
function query(params) {
  const given = Object.entries(params).filter(([, value]) => value !== null && value !== undefined && value !== "");
  return new URLSearchParams(given).toString();
}

const enc = encodeURIComponent;

export class Moderation {
  /** `chat`: the model, whose session makes the requests and which renders again once it is known. */
  constructor(chat) {
    this.chat = chat;
    this.session = chat.session;
    /** Whether the user administers the server (false until `check` found it so). */
    this.admin = false;
  }

  /** Asks whether the user administers the server: only administrators may list its users. */
  async check() {
    try {
      await this.users("", 0, 1);
      this.admin = true;
    } catch (err) {
      if (err.code !== "forbidden") console.warn("asking whether this user administers the server failed", err);
      this.admin = false;
    }
    this.chat.changed();
  }

  /** A page of the accounts whose username or display name contains `q`: `{items, next}` (`next`: the offset of the next page). */
  async users(q, offset = 0, limit = ADMIN_PAGE) {
    const { users } = await this.session.request("GET", `/api/v1/admin/users?${query({ q, offset, limit })}`);
    return { items: users, next: users.length === limit ? offset + limit : null };
  }

  /** Disables an account (its sessions end) or enables it again; resolves the account as it is now. */
  async setDisabled(id, disabled) {
    const { user } = await this.session.request("POST", `/api/v1/admin/users/${enc(id)}/${disabled ? "disable" : "enable"}`);
    return user;
  }

  /** Deletes any message for everyone. */
  deleteMessage(conversation, seq) {
    return this.session.request("DELETE", `/api/v1/admin/conversations/${enc(conversation)}/messages/${seq}`);
  }

  /** Dissolves any group, with its conversation. */
  dissolveGroup(id) {
    return this.session.request("DELETE", `/api/v1/admin/groups/${enc(id)}`);
  }

  /** A page of the reports of one status (`open`, `resolved`, `dismissed`), oldest first: `{items, next}`. */
  async reports(status, after) {
    const { reports, next } = await this.session.request("GET", `/api/v1/admin/reports?${query({ status, after, limit: ADMIN_PAGE })}`);
    return { items: reports, next };
  }

  /** Closes an open report as `resolved` or `dismissed`, with an optional note. */
  resolve(id, status, note) {
    return this.session.request("POST", `/api/v1/admin/reports/${enc(id)}/resolve`, note ? { status, note } : { status });
  }

  /** A page of the audit log, newest first: `{items, next}`. */
  async audit(before) {
    const { entries, next } = await this.session.request("GET", `/api/v1/admin/audit?${query({ before, limit: ADMIN_PAGE })}`);
    return { items: entries, next };
  }
}

/**
 * A list read a page at a time: `fetch(cursor)` resolves a page, `{items, next}`, where
 * `next` is the cursor of the page after it (null after the last). `changed()` is called
 * whenever the list, its loading or its error changes.
 */
export class Pager {
  constructor(fetch, changed) {
    this.fetch = fetch;
    this.changed = changed;
    this.items = [];
    this.next = null;
    this.busy = false;
    this.error = "";
    /** Counts the requests, so that the answer to a replaced one is dropped. */
    this.asked = 0;
  }

  /** Reads the list anew from its first page. */
  reset() {
    this.items = [];
    this.next = null;
    return this.load(null);
  }

  /** Appends the next page. */
  more() {
    return this.load(this.next);
  }

  async load(cursor) {
    const asked = ++this.asked;
    this.busy = true;
    this.error = "";
    this.changed();
    try {
      const { items, next } = await this.fetch(cursor);
      if (asked !== this.asked) return;
      this.items.push(...items);
      this.next = next;
    } catch (err) {
      if (asked !== this.asked) return;
      this.error = err.message;
    }
    this.busy = false;
    this.changed();
  }

  /** Puts `item` in place of the one with its id. */
  replace(item) {
    this.items = this.items.map((old) => (old.id === item.id ? item : old));
    this.changed();
  }
}
