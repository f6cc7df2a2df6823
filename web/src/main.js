// The page: the sign-in screen (auth.js), then — for as long as the session lasts
// (session.js) — the chat: the sidebar (sidebar.js) with the directory of public groups
// (directory.js), the settings (settings.js), the administration page for the server's
// administrators (admin.js), and the open conversation — its header with the
// disappearing-messages setting and its tools (tools.js), the messages (messages.js), the
// reply being written, the @mention suggestions and the files waiting to be sent, picked
// or dropped onto the conversation. The skeleton is built once (so what is typed in forms
// survives); the views are rebuilt from the Chat model on every "change".

import "./style.css";
import { AdminView } from "./admin.js";
import { Uploads, summary } from "./attachments.js";
import { signIn } from "./auth.js";
import { Chat } from "./chat.js";
import { GroupDirectory } from "./directory.js";
import { avatar, fill, h, person } from "./dom.js";
import { MentionPicker, byUsername, mentionTokens } from "./mentions.js";
import { MessageViews } from "./messages.js";
import { Notifier, TITLE } from "./notify.js";
import { SearchView } from "./search.js";
import { Session, whyEnded } from "./session.js";
import { SettingsView } from "./settings.js";
import { Sidebar, lastSeen } from "./sidebar.js";
import { ConversationTools } from "./tools.js";

const root = document.getElementById("app");

/** The sign-in screen, with the `notice` of why the last session ended if it did (`whyEnded`); the chat once signed in. */
function showSignIn(notice) {
  document.title = TITLE;
  signIn(root, notice, (reply) => startChat(Session.started(reply)));
}

/** The disappearing-messages choices: seconds (null: off) and label. */
const EXPIRY = [
  [null, "Off"],
  [30, "30 s"],
  [300, "5 min"],
  [3600, "1 h"],
  [86400, "1 day"],
];

/** A label for any expiry (another client may have set one not in EXPIRY). */
function expiryLabel(secs) {
  const known = EXPIRY.find(([s]) => s === secs);
  if (known) return known[1];
  const [unit, name] = [[86400, "day"], [3600, "h"], [60, "min"], [1, "s"]].find(([u]) => secs % u === 0);
  return `${secs / unit} ${name}`;
}

const CONNECTION_LABELS = {
  connecting: "Connecting…",
  syncing: "Connected · syncing…",
  synced: "Connected · up to date",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

function startChat(session) {
  const chat = new Chat(session);

  // --- the skeleton ---
  const status = h("span", { class: "status", dataset: { test: "connection" } });
  const search = new SearchView(chat, { jump });
  const notifier = new Notifier(chat, { open: openConversation });
  const settings = new SettingsView(chat);
  const admin = new AdminView(chat);
  session.addEventListener("ended", ({ detail: reason }) => {
    chat.stop();
    settings.close();
    admin.close();
    showSignIn(whyEnded(reason));
  });
  const sidebar = new Sidebar(chat, {
    search,
    bell: notifier.button,
    status,
    directory: new GroupDirectory(chat, { open: openConversation }),
    open: openConversation,
    settings: () => settings.open(),
    admin: () => admin.open(),
    logout: () => {
      // Disconnected first: the server's `session:expired` would say the session was ended.
      chat.stop();
      session.logout();
    },
  });

  const face = h("span", { class: "face", dataset: { test: "conversation-avatar" } });
  const title = h("h2", { dataset: { test: "title" } });
  const subtitle = h("p", { class: "muted small", dataset: { test: "subtitle" } });
  const tools = new ConversationTools(chat, { act, close: () => openConversation(null) });
  const expiry = h("select", {
    "aria-label": "disappearing messages",
    dataset: { test: "expiry" },
    onchange: () => act(chat.actions.setExpiry(chat.active, expiry.value ? Number(expiry.value) : null)),
  });
  const banner = h("p", { class: "banner", role: "status", dataset: { test: "connection-banner" } });
  const messages = h("div", { class: "messages", dataset: { test: "messages" } });
  const typing = h("p", { class: "typing", "aria-live": "polite", dataset: { test: "typing" } });
  const paneError = h("p", { class: "error pane-error", role: "alert", title: "Dismiss", dataset: { test: "pane-error" }, onclick: () => (paneError.textContent = "") });
  const replying = h("div", { class: "replying", dataset: { test: "replying" } });
  const composerInput = h("textarea", { rows: 1, placeholder: "Write a message", "aria-label": "message", dataset: { test: "composer" } });
  const mentionPicker = new MentionPicker(composerInput, () => chat.people.mentionable(chat.conversations.get(chat.active)));
  const uploads = new Uploads(chat, { changed: () => renderComposer() });
  const sendButton = h("button", { type: "submit", class: "primary", dataset: { test: "send" } }, "Send");
  const composer = h("form", { class: "composer" }, mentionPicker.el, uploads.button, uploads.input, composerInput, sendButton);
  const pane = h(
    "main",
    { class: "pane" },
    h(
      "header",
      { class: "conv-head" },
      h("button", { class: "ghost back", title: "Back", onclick: () => openConversation(null), dataset: { test: "back" } }, "‹"),
      face,
      h("div", { class: "who" }, title, subtitle),
      h("label", { class: "expiry", title: "Disappearing messages" }, "⏱", expiry),
      tools.el,
    ),
    banner,
    messages,
    typing,
    paneError,
    replying,
    uploads.el,
    composer,
  );
  uploads.dropZone(pane);
  const empty = h("div", { class: "empty" }, h("p", {}, "Pick a chat or a contact, or start a group."));
  const shell = h("div", { class: "shell" }, sidebar.el, pane, empty);
  fill(root, shell);

  // --- behaviour ---
  /** The message being answered (its seq), quoted above the composer. */
  let replyTo = null;
  const views = new MessageViews(chat, {
    act,
    reply: (seq) => {
      replyTo = seq;
      renderPane();
      composerInput.focus();
    },
    changed: () => renderMessages(),
  });
  shell.append(views.files.lightbox, settings.el, admin.el);

  /** Awaits a user's action; shows the server's error if refused. Resolves whether it went through. */
  async function act(promise) {
    paneError.textContent = "";
    try {
      await promise;
      return true;
    } catch (err) {
      paneError.textContent = err.message;
      // Puts back what the refused action had changed on the page (the expiry choice).
      chat.changed();
      return false;
    }
  }

  async function openConversation(id) {
    shell.classList.toggle("open", Boolean(id));
    if (id !== chat.active) {
      views.reset();
      replyTo = null;
      paneError.textContent = "";
    }
    if (!id) {
      chat.active = null;
      chat.changed();
      return;
    }
    stickToBottom = true;
    // Focus first: focusing after the history arrives would steal it from another field.
    composerInput.focus();
    await chat.open(id);
  }

  /** Opens the conversation of a search result, then shows the message, highlighted. */
  async function jump({ conversation, seq }) {
    const held = await act(openConversation(conversation).then(() => chat.reveal(conversation, seq)));
    if (!held || chat.active !== conversation) return;
    views.highlight(seq);
    stickToBottom = false;
    renderMessages();
    messages.querySelector(`[data-seq='${seq}']`).scrollIntoView({ block: "center" });
  }

  composerInput.addEventListener("input", () => {
    composerInput.style.height = "auto";
    composerInput.style.height = `${Math.min(composerInput.scrollHeight, 160)}px`;
    if (chat.active && composerInput.value) chat.typed(chat.active);
  });
  composerInput.addEventListener("keydown", (event) => {
    if (mentionPicker.key(event)) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = composerInput.value.trim();
    const conv = chat.conversations.get(chat.active);
    // Files still on their way keep Send disabled; a message needs text or a file.
    if (!conv || uploads.busy(conv.id)) return;
    if (!body && !uploads.list(conv.id).some((item) => item.attachment)) return;
    const extra = {};
    if (replyTo !== null) extra.reply_to = replyTo;
    const mentions = new Set(mentionTokens(body, byUsername(chat.people.mentionable(conv))).map((t) => t.user.id));
    if (mentions.size) extra.mentions = [...mentions];
    const files = uploads.take(conv.id);
    if (files.length) extra.attachments = files.map((item) => item.attachment.id);
    composerInput.value = "";
    composerInput.style.height = "auto";
    replyTo = null;
    stickToBottom = true;
    // The message holds the files from now on, sent or refused (then to retry).
    uploads.forget(files);
    await chat.actions.send(conv.id, body, extra);
  });

  let stickToBottom = true;
  messages.addEventListener("scroll", async () => {
    stickToBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    if (messages.scrollTop < 60 && chat.active) {
      const before = messages.scrollHeight - messages.scrollTop;
      const got = await chat.loadOlder(chat.active).catch(() => 0);
      if (got) {
        renderMessages();
        messages.scrollTop = messages.scrollHeight - before;
      }
    }
  });
  document.addEventListener("visibilitychange", () => chat.markRead());

  // --- rendering ---
  function renderSidebar() {
    status.textContent = CONNECTION_LABELS[chat.connection];
    status.dataset.state = chat.connection;
    banner.textContent = chat.connection === "synced" ? "" : CONNECTION_LABELS[chat.connection];
    banner.dataset.state = chat.connection;
    sidebar.render();
    notifier.render();
  }

  function renderPane() {
    const conv = chat.conversations.get(chat.active);
    shell.classList.toggle("has-conv", Boolean(conv));
    if (!conv) return;
    const direct = conv.kind === "direct" && conv.with.user !== chat.me.id;
    fill(title, direct ? person(chat.user(conv.with.user)) : h("span", { dir: "auto" }, chat.title(conv)));
    fill(face, conv.kind === "direct" ? chat.avatars.view(chat.user(conv.with.user)) : avatar(chat.title(conv)));
    if (conv.kind === "direct") {
      const p = chat.presence.get(conv.with.user);
      // No entry: not known yet (or lost with the connection), so say nothing.
      subtitle.textContent = p ? (p.online ? "online" : lastSeen(p)) : "";
      subtitle.dataset.online = String(Boolean(p?.online));
    } else {
      fill(subtitle, chat.people.members(conv).flatMap((m, i) => [i ? ", " : "", m.user === chat.me.id ? "you" : person(chat.user(m.user))]));
    }
    tools.render(conv);
    renderExpiry(conv);
    renderReplying(conv);
    renderComposer();
    renderMessages();
    const names = chat.typingNames(conv);
    typing.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  function renderExpiry(conv) {
    const secs = conv.expireSecs ?? null;
    const choices = EXPIRY.some(([s]) => s === secs) ? EXPIRY : [...EXPIRY, [secs, expiryLabel(secs)]];
    // Rebuilt only when the choices change: that would close the list while it is open.
    const key = choices.map(([s]) => s).join();
    if (expiry.dataset.choices !== key) {
      expiry.dataset.choices = key;
      fill(expiry, choices.map(([s, label]) => h("option", { value: s ?? "" }, label)));
    }
    expiry.value = secs ?? "";
    expiry.dataset.secs = secs ?? "off";
    const allowed = conv.kind === "direct" || ["owner", "admin"].includes(chat.people.role(conv));
    expiry.disabled = !allowed;
    expiry.parentElement.title = allowed ? "Disappearing messages" : "Disappearing messages (set by the group's owner and admins)";
  }

  function renderReplying(conv) {
    const quoted = conv.messages.get(replyTo);
    // Deleted or expired meanwhile: there is nothing to answer any more.
    if (!quoted || quoted.deleted_at) replyTo = null;
    if (replyTo === null) {
      replying.replaceChildren();
      return;
    }
    fill(
      replying,
      h("span", { class: "grow" }, h("small", { class: "muted" }, `Replying to ${chat.name(quoted.from)}`), h("span", { class: "snippet", dir: "auto" }, summary(quoted))),
      h("button", { type: "button", class: "ghost small", title: "Cancel the reply", dataset: { test: "reply-cancel" }, onclick: () => views.reply(null) }, "×"),
    );
  }

  /** The files waiting to be sent; Send waits for their uploads. */
  function renderComposer() {
    uploads.render();
    const busy = uploads.busy(chat.active);
    sendButton.disabled = busy;
    sendButton.title = busy ? "Waiting for the uploads" : "";
  }

  function renderMessages() {
    const conv = chat.conversations.get(chat.active);
    if (!conv) return;
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    const me = chat.me.id;
    const others = conv.kind === "group" ? chat.people.members(conv).map((m) => m.user).filter((u) => u !== me) : [conv.with.user];
    const readBy = (seq) => others.filter((u) => (conv.reads.get(u) ?? 0) >= seq);
    const list = conv.sorted();
    const items = [];
    if (conv.loaded && conv.complete && list.length) items.push(h("p", { class: "muted small center" }, "Start of the conversation"));
    if (!conv.complete && list.length) items.push(h("p", { class: "muted small center" }, "Scroll up for older messages"));
    if (conv.loaded && !list.length && !conv.pending.size) items.push(h("p", { class: "muted center pad" }, "No messages yet. Say hello!"));
    let previous = null;
    for (const m of list) {
      const own = m.from === me;
      const readers = own ? readBy(m.seq) : [];
      const showName = conv.kind === "group" && !own && previous?.from !== m.from;
      items.push(views.bubble(conv, m, { showName, readers }));
      previous = m;
    }
    views.files.keep(list);
    for (const p of conv.pending.values()) items.push(views.pending(conv, p));
    // The inline editor's textarea is kept across renders, but moving it loses the focus.
    const focused = messages.contains(document.activeElement) ? document.activeElement : null;
    fill(messages, items);
    if (focused?.isConnected) focused.focus({ preventScroll: true });
    if (stickToBottom) messages.scrollTop = messages.scrollHeight;
    else messages.scrollTop = messages.scrollHeight - fromBottom;
  }

  chat.addEventListener("change", () => {
    renderSidebar();
    search.render();
    renderPane();
  });
  // A page whose messages do not fill the pane cannot scroll: fetch older ones then.
  chat.addEventListener("change", () => {
    const conv = chat.conversations.get(chat.active);
    if (conv?.loaded && !conv.complete && messages.scrollHeight <= messages.clientHeight) {
      chat.loadOlder(conv.id).catch(() => {});
    }
  });
  renderSidebar();
  chat.start();
  chat.moderation.check();
}

const session = Session.restore();
if (session) startChat(session);
else showSignIn();
