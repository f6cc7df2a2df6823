// People's pictures (docs/API.md §2.10): the thumbnail of each user's avatar, fetched once
// as a Blob (it needs the token) and kept as an object URL per attachment id while signed
// in, as the same face shows in many places and again on every render.

import { avatar, displayName } from "./dom.js";

export class Avatars {
  /** `thumbnail(id)` resolves an attachment's thumbnail as a Blob; `changed()` renders again once one is here. */
  constructor(thumbnail, changed) {
    this.thumbnail = thumbnail;
    this.changed = changed;
    /** attachment id → its object URL; null while it loads, or if it cannot be had. */
    this.urls = new Map();
  }

  /** The object URL of a user's avatar; null if they have none, or it is not here (yet). */
  url(user) {
    const id = user?.avatar;
    if (!id) return null;
    if (!this.urls.has(id)) {
      this.urls.set(id, null);
      this.thumbnail(id).then(
        (blob) => {
          this.urls.set(id, URL.createObjectURL(blob));
          this.changed();
        },
        // Gone meanwhile (replaced, or the account deleted): the initials stay.
        () => {},
      );
    }
    return this.urls.get(id);
  }

  /**
   * A user's round avatar (their picture, else their initials; "?" for a deleted account),
   * with a presence dot when `online` is given.
   */
  view(user, online) {
    const name = user?.deleted ? "?" : user ? displayName(user) : "…";
    return avatar(name, online, this.url(user));
  }

  /** Revokes every object URL (signed out). */
  clear() {
    for (const url of this.urls.values()) if (url) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}
