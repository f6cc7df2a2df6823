// The settings, opened from the sidebar's ⚙: a dialog, a card on a laptop and the whole
// screen on a phone. The profile — the avatar (an image uploaded, then set; or removed)
// and the display name —; who may add the user to groups and who sees them online; the
// password, saying how many other devices the change logged out; the devices signed in
// (each session: its name, browser, when it was last used, "This device", and "Log out"
// for each other one or for all of them); the download of the user's data; and the
// deletion of the account, with the password and a confirmation. Each part says below it
// what came of the last action, or the server's error.

import { Account } from "./account.js";
import { bytes } from "./attachments.js";
import { fill, h, run, say, section, sheet, statusLine, when } from "./dom.js";

/** The choices of both privacy settings (docs/API.md §2.3). */
const AUDIENCES = [
  ["everyone", "Everyone"],
  ["contacts", "My contacts"],
  ["nobody", "Nobody"],
];
const EXPORT_NAME = "confab-export.json";

/** "No other device was", "1 other device was", "3 other devices were" logged out. */
function othersLoggedOut(n) {
  if (!n) return "No other device was signed in.";
  return `${n} other device${n === 1 ? " was" : "s were"} logged out.`;
}

export class SettingsView {
  constructor(chat) {
    this.chat = chat;
    this.account = new Account(chat);
    /** The object URL of the last export, revoked when the settings close. */
    this.exported = null;
    /** The privacy settings as saved: what a choice the server refused goes back to. */
    this.saved = {};
    this.el = sheet(
      { title: "Settings", test: "settings", onclose: () => this.closed() },
      this.profile(),
      this.privacy(),
      this.password(),
      this.devices(),
      this.data(),
      this.deletion(),
    );
    // The avatar shows once its thumbnail is here, and after every change.
    chat.addEventListener("change", () => this.el.open && this.renderProfile());
  }

  open() {
    this.renderProfile();
    this.el.showModal();
    this.load();
  }

  close() {
    if (this.el.open) this.el.close();
  }

  closed() {
    if (this.exported) URL.revokeObjectURL(this.exported);
    this.exported = null;
  }

  /** The account and the devices as the server has them now. */
  load() {
    return Promise.all([
      run(this.profileStatus, async () => {
        const { user, privacy } = await this.account.load();
        this.nameInput.value = user.display_name;
        this.showPrivacy(privacy);
      }),
      this.loadDevices(),
    ]);
  }

  profile() {
    this.face = h("span", { class: "face big", dataset: { test: "settings-avatar" } });
    this.handle = h("small", { class: "muted", dir: "ltr" });
    this.avatarInput = h("input", { type: "file", accept: "image/*", hidden: true, dataset: { test: "avatar-input" }, onchange: () => this.pickAvatar() });
    this.removeButton = h("button", { type: "button", class: "small", dataset: { test: "avatar-remove" }, onclick: () => this.change({ avatar: null }, "Photo removed.") }, "Remove photo");
    this.nameInput = h("input", { required: true, maxlength: 64, dir: "auto", autocomplete: "name", "aria-label": "display name", dataset: { test: "settings-display-name" } });
    this.profileStatus = statusLine("profile-status");
    return section(
      "Profile",
      "settings-profile",
      h(
        "div",
        { class: "row" },
        this.face,
        h(
          "div",
          { class: "stack" },
          h("div", { class: "row wrap" }, h("button", { type: "button", class: "small", dataset: { test: "avatar-pick" }, onclick: () => this.avatarInput.click() }, "Change photo"), this.removeButton),
          this.handle,
        ),
        this.avatarInput,
      ),
      h(
        "form",
        {
          class: "row",
          onsubmit: (event) => {
            event.preventDefault();
            this.change({ display_name: this.nameInput.value.trim() }, "Display name saved.");
          },
        },
        this.nameInput,
        h("button", { type: "submit", class: "primary small", dataset: { test: "settings-name-save" } }, "Save"),
      ),
      this.profileStatus,
    );
  }

  renderProfile() {
    const me = this.chat.me;
    fill(this.face, this.chat.avatars.view(me));
    this.handle.textContent = `@${me.username}`;
    this.removeButton.hidden = !me.avatar;
  }

  /** A change of the profile (`PATCH /me`), then `done` said. */
  change(changes, done) {
    say(this.profileStatus, "");
    return run(this.profileStatus, () => this.account.update(changes), () => done);
  }

  pickAvatar() {
    const [file] = this.avatarInput.files;
    this.avatarInput.value = "";
    if (!file) return;
    say(this.profileStatus, "Uploading…");
    const progress = (fraction) => say(this.profileStatus, `Uploading… ${Math.round(fraction * 100)} %`);
    run(this.profileStatus, () => this.account.setAvatar(file, progress), () => "Photo changed.");
  }

  privacy() {
    const line = statusLine("privacy-status");
    const choose = async (setting, value) => {
      say(line, "");
      const saved = await run(line, () => this.account.update({ privacy: { [setting]: value } }), ({ privacy }) => {
        this.saved = privacy;
        return "Saved.";
      });
      if (!saved) this.showPrivacy(this.saved);
    };
    const choice = (setting, test) =>
      h("select", { dataset: { test }, onchange: (event) => choose(setting, event.target.value) }, AUDIENCES.map(([value, label]) => h("option", { value }, label)));
    this.invites = choice("group_invites", "privacy-group-invites");
    this.presence = choice("presence", "privacy-presence");
    return section(
      "Privacy",
      "settings-privacy",
      h("label", {}, "Who can add me to groups", this.invites),
      h("label", {}, "Who can see when I am online", this.presence),
      line,
    );
  }

  showPrivacy(privacy) {
    this.saved = privacy;
    this.invites.value = privacy.group_invites;
    this.presence.value = privacy.presence;
  }

  password() {
    const field = (autocomplete, label, test) => h("input", { type: "password", autocomplete, required: true, minlength: 8, maxlength: 128, "aria-label": label, placeholder: label, dataset: { test } });
    const current = field("current-password", "current password", "password-current");
    const next = field("new-password", "new password", "password-new");
    const line = statusLine("password-status");
    const submit = async (event) => {
      event.preventDefault();
      say(line, "");
      const changed = await run(line, () => this.account.changePassword(current.value, next.value), (ended) => `Password changed. ${othersLoggedOut(ended)}`);
      if (!changed) return;
      current.value = "";
      next.value = "";
      await this.loadDevices();
    };
    return section(
      "Password",
      "settings-password",
      h("form", { class: "stack", onsubmit: submit }, current, next, h("button", { type: "submit", class: "small", dataset: { test: "password-change" } }, "Change password")),
      line,
    );
  }

  devices() {
    this.deviceList = h("ul", { class: "devices", dataset: { test: "devices" } });
    this.devicesStatus = statusLine("devices-status");
    this.endOthers = h(
      "button",
      { type: "button", class: "small danger", dataset: { test: "devices-logout-others" }, onclick: () => this.endSessions(() => this.account.endOtherSessions(), othersLoggedOut) },
      "Log out all other devices",
    );
    return section("Devices", "settings-devices", this.deviceList, this.endOthers, this.devicesStatus);
  }

  loadDevices() {
    return run(this.devicesStatus, async () => this.renderDevices(await this.account.sessions()));
  }

  renderDevices(sessions) {
    fill(
      this.deviceList,
      sessions.map((s) => {
        const name = s.device || "Unnamed device";
        return h(
          "li",
          { class: "device", dataset: { test: "device", session: s.id, current: String(s.current) } },
          h(
            "span",
            { class: "grow" },
            h("strong", { class: "name", dir: "auto" }, name),
            s.user_agent ? h("small", { class: "muted agent", title: s.user_agent }, s.user_agent) : null,
            h("small", { class: "muted" }, `Signed in ${when(s.created_at)} · last used ${when(s.last_used_at)}`),
          ),
          s.current
            ? h("span", { class: "badge", dataset: { test: "this-device" } }, "This device")
            : h("button", { type: "button", class: "small", dataset: { test: "device-logout" }, onclick: () => this.endSessions(() => this.account.endSession(s.id), () => `${name} was logged out.`) }, "Log out"),
        );
      }),
    );
    this.endOthers.disabled = sessions.every((s) => s.current);
  }

  /** Ends sessions with `action()`, says `done(result)`, and shows the devices left. */
  async endSessions(action, done) {
    say(this.devicesStatus, "");
    if (await run(this.devicesStatus, action, done)) await this.loadDevices();
  }

  data() {
    const line = statusLine("export-status");
    const download = async () => {
      const blob = await this.account.export();
      if (this.exported) URL.revokeObjectURL(this.exported);
      this.exported = URL.createObjectURL(blob);
      h("a", { href: this.exported, download: EXPORT_NAME }).click();
      return blob.size;
    };
    return section(
      "Your data",
      "settings-data",
      h("p", { class: "muted small" }, "Your profile, settings, devices, contacts, groups and every message you wrote, as one JSON file."),
      h("button", { type: "button", class: "small", dataset: { test: "export" }, onclick: () => run(line, download, (size) => `Downloaded ${EXPORT_NAME} (${bytes(size)}).`) }, "Download my data"),
      line,
    );
  }

  deletion() {
    const password = h("input", { type: "password", autocomplete: "current-password", required: true, maxlength: 128, placeholder: "your password", "aria-label": "password to delete the account", dataset: { test: "delete-password" } });
    const line = statusLine("delete-status");
    const submit = (event) => {
      event.preventDefault();
      say(line, "");
      if (confirm("Delete your account for good? You are logged out everywhere; your messages stay, from “Deleted user”.")) {
        run(line, () => this.account.delete(password.value));
      }
    };
    const el = section(
      "Delete the account",
      "settings-delete",
      h("p", { class: "muted small" }, "Your name, avatar, contacts and devices are erased and cannot be brought back. The messages you wrote stay in their conversations, from “Deleted user”."),
      h("form", { class: "row", onsubmit: submit }, password, h("button", { type: "submit", class: "small danger", dataset: { test: "delete-account" } }, "Delete my account")),
      line,
    );
    el.classList.add("danger-zone");
    return el;
  }
}
