// The signed-in user's account (docs/API.md §2.3, §2.8–§2.13): the profile (display name
// and avatar) and the privacy settings, the password, the sessions of the user's devices,
// the export of their data, and the account's deletion. A changed profile shows at once
// wherever the page shows the user (chat.js `profileChanged`).

export class Account {
  /** `chat`: the model, whose session makes the requests and which shows the profile. */
  constructor(chat) {
    this.chat = chat;
    this.session = chat.session;
  }

  /** The account as the server has it now: `{user, privacy: {group_invites, presence}}`. */
  async load() {
    const account = await this.session.request("GET", "/api/v1/me");
    this.chat.profileChanged(account.user);
    return account;
  }

  /** Changes the profile or the privacy settings (`PATCH /me`); resolves the account as `load`. */
  async update(changes) {
    const account = await this.session.request("PATCH", "/api/v1/me", changes);
    this.chat.profileChanged(account.user);
    return account;
  }

  /** Uploads an image (`onProgress(fraction)` as it goes) and makes it the avatar. */
  async setAvatar(file, onProgress) {
    const attachment = await this.session.upload(file, onProgress).done;
    return this.update({ avatar: attachment.id });
  }

  /** Changes the password; resolves how many other sessions it ended. */
  async changePassword(current, next) {
    const { ended } = await this.session.request("PUT", "/api/v1/me/password", { current_password: current, new_password: next });
    return ended;
  }

  /** The live sessions, most recently used first (`{id, device, user_agent, created_at, last_used_at, current}`). */
  async sessions() {
    const { sessions } = await this.session.request("GET", "/api/v1/sessions");
    return sessions;
  }

  /** Ends another session: that device is logged out. */
  endSession(id) {
    return this.session.request("DELETE", `/api/v1/sessions/${encodeURIComponent(id)}`);
  }

  /** Ends every session but this one; resolves how many. */
  async endOtherSessions() {
    const { ended } = await this.session.request("DELETE", "/api/v1/sessions");
    return ended;
  }

  /** Everything the server keeps of the user, as a JSON Blob. */
  export() {
    return this.session.blob("/api/v1/me/export");
  }

  /** Deletes the account for good (its messages stay, from "Deleted user"): the session ends with it. */
  async delete(password) {
    await this.session.request("DELETE", "/api/v1/me", { password });
    this.session.end("account_deleted");
  }
}
