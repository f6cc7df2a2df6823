// Telling of new messages: the unread total in the tab's title ("(3) Confab"), and —
// once turned on with the bell, which is when the browser asks for the permission — a
// notification of each new message from someone else while the page is hidden; clicking
// it opens the conversation.

import { summary } from "./attachments.js";
import { h } from "./dom.js";

/** The page's title, without unread messages. */
export const TITLE = "Confab";
/** localStorage: "on" once the user turned notifications on (the permission alone is not enough). */
const PREFERENCE_KEY = "confab.notifications";

export class Notifier {
  /** `open(id)` shows a conversation. */
  constructor(chat, { open }) {
    this.chat = chat;
    this.open = open;
    this.button = h("button", { type: "button", class: "ghost bell", dataset: { test: "notifications" }, onclick: () => this.toggle() });
    chat.addEventListener("message", (event) => this.notify(event.detail));
  }

  get supported() {
    return "Notification" in window;
  }

  get on() {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(PREFERENCE_KEY) === "on";
  }

  /** Turns notifications off, or asks for the permission and turns them on if given. */
  async toggle() {
    if (this.on) localStorage.removeItem(PREFERENCE_KEY);
    else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(PREFERENCE_KEY, "on");
    this.render();
  }

  /** The title, and the bell: on, off, or refused by the browser. */
  render() {
    const total = this.chat.unreadTotal();
    document.title = total ? `(${total}) ${TITLE}` : TITLE;
    this.button.hidden = !this.supported;
    if (!this.supported) return;
    const denied = Notification.permission === "denied";
    const [state, label] = this.on
      ? ["on", "Turn notifications off"]
      : denied
        ? ["denied", "Notifications are blocked in the browser's settings"]
        : ["off", "Enable notifications"];
    Object.assign(this.button, { textContent: state === "on" ? "🔔" : "🔕", title: label, disabled: denied });
    this.button.setAttribute("aria-label", label);
    this.button.dataset.state = state;
  }

  notify(m) {
    if (!this.on || !document.hidden || m.from === this.chat.me.id) return;
    const conv = this.chat.conversations.get(m.conversation);
    const sender = this.chat.name(m.from);
    const title = conv.kind === "group" ? `${sender} in ${this.chat.title(conv)}` : sender;
    const note = new Notification(title, { body: summary(m), tag: m.conversation });
    note.addEventListener("click", () => {
      window.focus();
      this.open(m.conversation);
      note.close();
    });
  }
}
