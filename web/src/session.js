// The signed-in session (docs/API.md §1.3): its tokens and user, kept in localStorage so
// that a reload — and every tab of the page, which share the one session — stays signed
// in; the HTTP calls made with its access token, refreshed when it has expired (one
// refresh at a time, across tabs: two with one refresh token would revoke the session)
// and the call made again once; and its end, logged out here or ended elsewhere, told by
// the "ended" event (its `detail` is why: a code of REASONS). Each refresh is recorded in
// IndexedDB too, before the next tab may refresh: a tab's localStorage may not show yet
// what another tab stored a moment ago, IndexedDB always does.

import { blob, refresh, request, upload } from "./api.js";

const KEY = "confab.session";
/** Serializes the refreshes of the page's tabs (Web Locks), where the browser has them. */
const REFRESH_LOCK = "confab.refresh";

/** Why a session ended, for the sign-in screen; null: nothing to say (the user logged out). */
const REASONS = {
  logged_out: null,
  account_deleted: "Your account was deleted.",
  session_revoked: "You were logged out: this session was ended from another device, or the password was changed.",
  session_expired: "You were logged out: this session went unused for too long.",
  account_disabled: "You were logged out: this account has been disabled.",
  invalid_refresh_token: "You were logged out: this session is no longer valid.",
  invalid_token: "You were logged out: this session is no longer valid.",
  missing_token: "You were logged out: this session is no longer valid.",
};

/**
 * What the sign-in screen says of a session that ended for `reason` (a code of REASONS,
 * or another one the server sent): `{reason, text}`, or null when there is nothing to say.
 */
export function whyEnded(reason) {
  const text = Object.hasOwn(REASONS, reason) ? REASONS[reason] : "You were logged out.";
  return text && { reason, text };
}

/** The session stored by this browser, or null. */
function stored() {
  try {
    const data = JSON.parse(localStorage.getItem(KEY));
    return data?.token && data?.refresh_token && data?.user?.id ? data : null;
  } catch {
    return null;
  }
}

/** Runs `fn` alone among the page's tabs (where the browser can tell them apart). */
function exclusive(fn) {
  return navigator.locks ? navigator.locks.request(REFRESH_LOCK, fn) : fn();
}

/** IndexedDB: the last refresh of each session (by session id), written before its lock is let go. */
const DB = "confab";
const REFRESHES = "refreshes";

/** Runs `fn(store)` on the refreshes' store; resolves its request's result once the transaction is done. */
function refreshes(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(REFRESHES);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      try {
        const tx = db.transaction(REFRESHES, mode);
        const request = fn(tx.objectStore(REFRESHES));
        tx.oncomplete = () => {
          db.close();
          resolve(request.result);
        };
        tx.onabort = () => {
          db.close();
          reject(tx.error);
        };
      } catch (err) {
        db.close();
        reject(err);
      }
    };
  });
}

/**
 * `fn(store)` on the refreshes' store; null where the browser has no IndexedDB or it
 * fails: then the tabs read the tokens from localStorage alone.
 */
function recorded(mode, fn) {
  if (!globalThis.indexedDB) return Promise.resolve(null);
  return refreshes(mode, fn).catch((err) => {
    console.warn("the record of the session's refreshes is out of reach", err);
    return null;
  });
}

/** How many times a session's tokens were refreshed: which of two copies of them is newer. */
function generation(data) {
  return data?.generation ?? 0;
}

export class Session extends EventTarget {
  /** The session this browser signed in with before, or null. */
  static restore() {
    const data = stored();
    return data ? new Session(data) : null;
  }

  /** A session just started (a login's or registration's reply), stored for the next visits. */
  static started(data) {
    localStorage.setItem(KEY, JSON.stringify(data));
    return new Session(data);
  }

  constructor(data) {
    super();
    /**
     * `{user, token, refresh_token, session_id, expires_in, generation}`: the newest this
     * tab knows (`generation`: how many refreshes made its tokens; none after a login).
     */
    this.data = data;
    /** Whether it ended (then nothing is told any more). */
    this.over = false;
    /** The refresh on its way in this tab, if any: the calls refused meanwhile wait for it. */
    this.refreshing = null;
  }

  /** The session's id (as `GET /api/v1/sessions` lists it). */
  get id() {
    return this.data.session_id;
  }

  /** The signed-in user, as the last login, refresh or profile change gave it. */
  get user() {
    return this.data.user;
  }

  /** The newest access token (another tab may have refreshed it). */
  get token() {
    this.adopt();
    return this.data.token;
  }

  /** Takes what another tab stored for this session, unless its tokens are older than these. */
  adopt() {
    const newer = stored();
    if (newer?.session_id === this.id && generation(newer) >= generation(this.data)) this.data = newer;
  }

  /** Keeps the user's new profile, for the next visits too. */
  updateUser(user) {
    this.adopt();
    this.store({ ...this.data, user });
  }

  /** Keeps `data` as the newest, here and for the other tabs. */
  store(data) {
    this.data = data;
    localStorage.setItem(KEY, JSON.stringify(data));
  }

  /**
   * Replaces `stale`, the access token a call was refused with as expired. One refresh
   * at a time: a tab's calls share the one on its way, and between tabs a lock orders
   * them; then whoever comes after finds the recorded token changed and takes it.
   */
  refresh(stale) {
    this.refreshing ??= exclusive(async () => {
      this.adopt();
      const last = await recorded("readonly", (store) => store.get(this.id));
      if (generation(last) > generation(this.data)) this.store({ ...this.data, ...last });
      if (this.data.token !== stale) return;
      const { user, ...tokens } = await refresh(this.data.refresh_token);
      const next = { ...tokens, generation: generation(this.data) + 1 };
      await recorded("readwrite", (store) => store.put(next, this.id));
      this.store({ ...next, user });
    })
      .catch((err) => {
        throw this.check(err);
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  /**
   * Resolves `call(token)` (a request with the access token); refused as expired, it is
   * made once more after a refresh. A refusal that says the session is over ends it.
   */
  async call(call) {
    const token = this.token;
    try {
      return await call(token);
    } catch (err) {
      if (err.code !== "token_expired") throw this.check(err);
    }
    await this.refresh(token);
    return call(this.token).catch((err) => {
      throw this.check(err);
    });
  }

  /** One JSON request (api.js `request`) with the token. */
  request(method, path, body) {
    return this.call((token) => request(method, path, { token, body }));
  }

  /** A download (api.js `blob`) with the token. */
  blob(path) {
    return this.call((token) => blob(path, token));
  }

  /** An upload (api.js `upload`) with the token: `{done, abort}`. */
  upload(file, onProgress) {
    let current = null;
    let aborted = false;
    const done = this.call((token) => {
      current = upload(file, { token, onProgress });
      // Cancelled while the token was being refreshed: the second try stops at once.
      if (aborted) current.abort();
      return current.done;
    });
    const abort = () => {
      aborted = true;
      current.abort();
    };
    return { done, abort };
  }

  /** Ends the session if `err` says that it is over (docs/API.md §1.3); returns `err`. */
  check(err) {
    if (Object.hasOwn(REASONS, err.code)) this.end(err.code);
    return err;
  }

  /** Logs out (`POST /auth/logout`); the session is forgotten here even if the server cannot be told. */
  async logout() {
    await this.request("POST", "/api/v1/auth/logout").catch((err) => console.warn("logging out failed", err));
    this.end("logged_out");
  }

  /** Forgets the session (unless another one was stored since) and tells why it ended, once. */
  end(reason) {
    if (this.over) return;
    this.over = true;
    if (stored()?.session_id === this.id) localStorage.removeItem(KEY);
    recorded("readwrite", (store) => store.delete(this.id));
    this.dispatchEvent(new CustomEvent("ended", { detail: reason }));
  }
}
