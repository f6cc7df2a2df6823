// The page: the sign-in screen, then the chat (a sidebar with the connection state, the
// message search, requests, chats and contacts, and the open conversation with its
// disappearing-messages setting, the reply being written, the @mention suggestions and
// the files waiting to be sent, picked or dropped onto the conversation).
// The skeleton is built once (so what is typed in forms survives); the lists are rebuilt
// from the Chat model on every "change".

import "./style.css";
import { ApiError, authenticate } from "./api.js";
import { Uploads, summary } from "./attachments.js";
import { Chat } from "./chat.js";
import { clock, fill, h, hue, initials } from "./dom.js";
import { MentionPicker, byUsername, mentionTokens } from "./mentions.js";
import { MessageViews } from "./messages.js";
import { SearchView } from "./search.js";

const SESSION_KEY = "confab.session";
const root = document.getElementById("app");

function savedSession() {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY));
    return session?.token && session?.user?.id ? session : null;
  } catch {
    return null;
  }
}

function signIn(notice) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 32, placeholder: "alice" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8, maxlength: 128, placeholder: "at least 8 characters" });
  const error = h("p", { class: "error", role: "alert", dataset: { test: "auth-error" } }, notice ?? "");
  const submit = (kind) => async (event) => {
    event.preventDefault();
    if (!username.reportValidity() || !password.reportValidity()) return;
    form.classList.add("busy");
    error.textContent = "";
    try {
      const session = await authenticate(kind, username.value.trim(), password.value);
      localStorage.setItem(SESSION_KEY, JSON.stringify(session));
      startChat(session);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
    } finally {
      form.classList.remove("busy");
    }
  };
  const form = h(
    "form",
    { class: "card auth", onsubmit: submit("login") },
    h("div", { class: "brand" }, h("span", { class: "logo" }, "C"), h("h1", {}, "Confab")),
    h("p", { class: "muted" }, "Log in, or create an account with a new username."),
    h("label", {}, "Username", username),
    h("label", {}, "Password", password),
    error,
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "primary", dataset: { test: "login" } }, "Log in"),
      h("button", { type: "button", onclick: submit("register"), dataset: { test: "register" } }, "Create account"),
    ),
  );
  fill(root, h("main", { class: "auth-page" }, form));
  username.focus();
}

function avatar(name, online) {
  return h(
    "span",
    { class: "avatar", style: `--hue: ${hue(name)}` },
    initials(name),
    online === undefined ? null : h("span", { class: online ? "dot online" : "dot", title: online ? "online" : "offline" }),
  );
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
  const chat = new Chat(session, {
    onSignedOut: (notice) => {
      localStorage.removeItem(SESSION_KEY);
      signIn(notice);
    },
  });

  // --- the skeleton ---
  const status = h("span", { class: "status", dataset: { test: "connection" } });
  const requests = h("section", { class: "list" });
  const chats = h("section", { class: "list" });
  const contacts = h("section", { class: "list" });
  const contactInput = h("input", { placeholder: "username", required: true, "aria-label": "username to add", dataset: { test: "contact-username" } });
  const contactError = h("p", { class: "error small" });
  const groupName = h("input", { placeholder: "group name", "aria-label": "group name", required: true, dataset: { test: "group-name" } });
  const groupMembers = h("input", { placeholder: "members: bob, carol", "aria-label": "group members", dataset: { test: "group-members" } });
  const groupError = h("p", { class: "error small" });
  const search = new SearchView(chat, { jump });

  const guarded = (errorEl, action) => async (event) => {
    event.preventDefault();
    errorEl.textContent = "";
    try {
      await action();
    } catch (err) {
      errorEl.textContent = err.message;
    }
  };

  const sidebar = h(
    "aside",
    { class: "sidebar" },
    h(
      "header",
      { class: "me" },
      avatar(session.user.display_name),
      h("div", { class: "who" }, h("strong", { dataset: { test: "me" } }, session.user.display_name), status),
      h(
        "button",
        {
          class: "ghost",
          title: "Log out",
          dataset: { test: "logout" },
          onclick: () => {
            chat.stop();
            localStorage.removeItem(SESSION_KEY);
            signIn();
          },
        },
        "Log out",
      ),
    ),
    search.form,
    search.el,
    h("div", { class: "scroll" }, requests, chats, contacts,
      h(
        "details",
        { class: "tool", open: true },
        h("summary", {}, "Add a contact"),
        h(
          "form",
          {
            class: "row",
            onsubmit: guarded(contactError, async () => {
              await chat.requestContact(contactInput.value);
              contactInput.value = "";
            }),
          },
          contactInput,
          h("button", { type: "submit", dataset: { test: "contact-request" } }, "Request"),
        ),
        contactError,
      ),
      h(
        "details",
        { class: "tool" },
        h("summary", { dataset: { test: "new-group" } }, "New group"),
        h(
          "form",
          {
            class: "stack",
            onsubmit: guarded(groupError, async () => {
              const names = groupMembers.value.split(/[\s,]+/).filter(Boolean);
              const id = await chat.createGroup(groupName.value.trim(), names);
              groupName.value = "";
              groupMembers.value = "";
              await openConversation(id);
            }),
          },
          groupName,
          groupMembers,
          h("button", { type: "submit", dataset: { test: "group-create" } }, "Create group"),
        ),
        groupError,
      ),
    ),
  );

  const title = h("h2", { dataset: { test: "title" } });
  const subtitle = h("p", { class: "muted small", dataset: { test: "subtitle" } });
  const tools = h("div", { class: "tools" });
  const expiry = h("select", {
    "aria-label": "disappearing messages",
    dataset: { test: "expiry" },
    onchange: () => act(chat.setExpiry(chat.active, expiry.value ? Number(expiry.value) : null)),
  });
  const banner = h("p", { class: "banner", role: "status", dataset: { test: "connection-banner" } });
  const messages = h("div", { class: "messages", dataset: { test: "messages" } });
  const typing = h("p", { class: "typing", "aria-live": "polite", dataset: { test: "typing" } });
  const paneError = h("p", { class: "error pane-error", role: "alert", title: "Dismiss", dataset: { test: "pane-error" }, onclick: () => (paneError.textContent = "") });
  const replying = h("div", { class: "replying", dataset: { test: "replying" } });
  const composerInput = h("textarea", { rows: 1, placeholder: "Write a message", "aria-label": "message", dataset: { test: "composer" } });
  const mentionPicker = new MentionPicker(composerInput, () => chat.mentionable(chat.conversations.get(chat.active)));
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
      h("div", { class: "who" }, title, subtitle),
      h("label", { class: "expiry", title: "Disappearing messages" }, "⏱", expiry),
      tools,
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
  const shell = h("div", { class: "shell" }, sidebar, pane, empty);
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
  shell.append(views.files.lightbox);

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
    const mentions = new Set(mentionTokens(body, byUsername(chat.mentionable(conv))).map((t) => t.user.id));
    if (mentions.size) extra.mentions = [...mentions];
    const files = uploads.take(conv.id);
    if (files.length) extra.attachments = files.map((item) => item.attachment.id);
    composerInput.value = "";
    composerInput.style.height = "auto";
    replyTo = null;
    stickToBottom = true;
    const sent = await act(chat.send(conv.id, body, extra));
    uploads.sent(conv.id, files, sent);
    // Refused: give the text back to fix it, unless something new was typed meanwhile.
    if (!sent && !composerInput.value) composerInput.value = body;
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

    const { incoming, outgoing } = chat.contacts;
    fill(
      requests,
      incoming.length || outgoing.length ? h("h3", {}, "Requests") : null,
      incoming.map((r) =>
        h(
          "div",
          { class: "item", dataset: { test: "incoming", user: r.user.username } },
          avatar(r.user.display_name),
          h("span", { class: "grow" }, r.user.display_name, h("small", { class: "muted" }, " wants to connect")),
          h("button", { class: "primary small", onclick: () => chat.answerRequest(r.id, true), dataset: { test: "accept" } }, "Accept"),
          h("button", { class: "small", onclick: () => chat.answerRequest(r.id, false) }, "Decline"),
        ),
      ),
      outgoing.map((r) =>
        h("div", { class: "item", dataset: { test: "outgoing" } }, avatar(r.user.display_name), h("span", { class: "grow" }, r.user.display_name), h("small", { class: "muted" }, "pending")),
      ),
    );

    const list = [...chat.conversations.values()]
      .filter((c) => c.kind === "group" || c.lastSeq > 0 || c.id === chat.active)
      .sort((a, b) => lastTime(b) - lastTime(a) || (chat.title(a) < chat.title(b) ? -1 : 1));
    fill(
      chats,
      h("h3", {}, "Chats"),
      list.length ? null : h("p", { class: "muted small pad" }, "No chats yet."),
      list.map((c) => {
        const name = chat.title(c);
        const last = c.sorted().at(-1);
        const online = c.kind === "direct" ? chat.presence.get(c.with.user)?.online ?? false : undefined;
        return h(
          "button",
          { class: c.id === chat.active ? "item active" : "item", onclick: () => openConversation(c.id), dataset: { test: "chat", name } },
          avatar(name, online),
          h("span", { class: "grow" }, h("span", { class: "name" }, name), h("small", { class: "muted preview" }, last ? preview(last) : c.kind === "group" ? "group" : "")),
          c.unread && c.id !== chat.active ? h("span", { class: "badge", dataset: { test: "unread" } }, c.unread) : null,
        );
      }),
    );

    fill(
      contacts,
      h("h3", {}, "Contacts"),
      chat.contacts.contacts.length ? null : h("p", { class: "muted small pad" }, "No contacts yet: add one below."),
      chat.contacts.contacts.map(({ user }) => {
        const online = chat.presence.get(user.id)?.online ?? false;
        return h(
          "button",
          { class: "item", onclick: () => openConversation(chat.direct(user.id)), dataset: { test: "contact", user: user.username, online: String(online) } },
          avatar(user.display_name, online),
          h("span", { class: "grow" }, h("span", { class: "name" }, user.display_name), h("small", { class: "muted" }, online ? "online" : lastSeen(chat.presence.get(user.id)))),
        );
      }),
    );
  }

  function lastTime(conv) {
    const last = conv.sorted().at(-1);
    return last ? Date.parse(last.ts) : 0;
  }

  function preview(message) {
    let who = "";
    if (message.from === session.user.id) who = "You: ";
    else if (message.to.group) who = `${chat.name(message.from)}: `;
    return `${who}${message.deleted_at ? "message deleted" : summary(message)}`.slice(0, 60);
  }

  function lastSeen(presence) {
    if (!presence?.last_seen) return "offline";
    return `last seen ${clock(presence.last_seen)}`;
  }

  function renderPane() {
    const conv = chat.conversations.get(chat.active);
    shell.classList.toggle("has-conv", Boolean(conv));
    if (!conv) return;
    title.textContent = chat.title(conv);
    if (conv.kind === "direct") {
      tools.replaceChildren();
      tools.dataset.key = "";
      const p = chat.presence.get(conv.with.user);
      // No entry: not known yet (or lost with the connection), so say nothing.
      subtitle.textContent = p ? (p.online ? "online" : lastSeen(p)) : "";
      subtitle.dataset.online = String(Boolean(p?.online));
    } else {
      const group = chat.groups.get(conv.with.group);
      subtitle.textContent = group ? group.members.map((m) => (m.user === session.user.id ? "you" : chat.name(m.user))).join(", ") : "";
      // Rebuilt only when the group or the caller's role changes, so what is being typed
      // into the member box survives the re-renders of incoming events.
      const role = group?.members.find((m) => m.user === session.user.id)?.role;
      const key = group ? `${group.id}:${role}` : "";
      if (tools.dataset.key !== key) {
        tools.dataset.key = key;
        fill(tools, group ? groupTools(group) : null);
      }
    }
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
    const allowed = conv.kind === "direct" || ["owner", "admin"].includes(chat.role(conv));
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
      h("span", { class: "grow" }, h("small", { class: "muted" }, `Replying to ${chat.name(quoted.from)}`), h("span", { class: "snippet" }, summary(quoted))),
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

  function groupTools(group) {
    const input = h("input", { placeholder: "add a member", required: true, "aria-label": "member to add", dataset: { test: "member-username" } });
    const error = h("span", { class: "error small" });
    const mine = group.members.find((m) => m.user === session.user.id);
    return h(
      "div",
      { class: "row" },
      mine && mine.role !== "member"
        ? h(
            "form",
            {
              class: "row",
              onsubmit: guarded(error, async () => {
                await chat.addMember(group.id, input.value);
                input.value = "";
              }),
            },
            input,
            h("button", { type: "submit", class: "small", dataset: { test: "member-add" } }, "Add"),
          )
        : null,
      h(
        "button",
        {
          class: "small danger",
          dataset: { test: "leave" },
          onclick: guarded(error, async () => {
            if (!confirm(`Leave “${group.name}”?`)) return;
            await chat.leaveGroup(group.id);
            openConversation(null);
          }),
        },
        "Leave",
      ),
      error,
    );
  }

  function renderMessages() {
    const conv = chat.conversations.get(chat.active);
    if (!conv) return;
    const fromBottom = messages.scrollHeight - messages.scrollTop;
    const others = conv.kind === "group" ? (chat.groups.get(conv.with.group)?.members ?? []).map((m) => m.user).filter((u) => u !== session.user.id) : [conv.with.user];
    const readBy = (seq) => others.filter((u) => (conv.reads.get(u) ?? 0) >= seq);
    const list = conv.sorted();
    const items = [];
    if (conv.loaded && conv.complete && list.length) items.push(h("p", { class: "muted small center" }, "Start of the conversation"));
    if (!conv.complete && list.length) items.push(h("p", { class: "muted small center" }, "Scroll up for older messages"));
    if (conv.loaded && !list.length && !conv.pending.size) items.push(h("p", { class: "muted center pad" }, "No messages yet. Say hello!"));
    let previous = null;
    for (const m of list) {
      const own = m.from === session.user.id;
      const readers = own ? readBy(m.seq) : [];
      const showName = conv.kind === "group" && !own && previous?.from !== m.from;
      items.push(views.bubble(conv, m, { showName, readers }));
      previous = m;
    }
    views.files.keep(list);
    for (const p of conv.pending.values()) {
      const files = p.files ? h("span", { class: "body" }, `📎 ${p.files} file${p.files === 1 ? "" : "s"}`) : null;
      items.push(h("div", { class: "msg own pending", dataset: { test: "message", status: "pending" } }, files, h("span", { class: "body" }, p.body), h("span", { class: "meta" }, "sending…")));
    }
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
}

const session = savedSession();
if (session) startChat(session);
else signIn();
