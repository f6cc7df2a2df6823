// One message of the open conversation as an element: its author (with their avatar), the
// quote of the message it answers, its files (attachments.js), its text (mentions marked,
// in the direction of its own script), the inline editor or a tombstone, its reactions,
// the time with "edited", ⏱ and the ticks, and — when clicked (or hovered with a mouse) —
// its actions: reply, react, edit, delete, and report another's message to the server's
// administrators (saying why, in a form like the editor's; then it says it was reported).
// One jumped to from the search is highlighted for a moment. One's own messages on their
// way show "sending…"; refused, they show why, with Retry and Discard.

import { AttachmentViews, summary } from "./attachments.js";
import { clock, h, hue, person } from "./dom.js";
import { byUsername, mentionTokens } from "./mentions.js";

/** The reactions offered. */
export const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢"];
/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 3000;

/** The inline forms of a message: editing one's own, and reporting another's. */
const FORMS = {
  edit: { label: "edit the message", submit: "Save", submitClass: "small primary", maxlength: null, hint: null },
  report: {
    label: "why you report this message",
    submit: "Report",
    submitClass: "small danger",
    maxlength: 1000,
    hint: "Why report this message to the server's administrators? Its author is not told.",
  },
};

/** How `reported` knows a message. */
function reportKey(conv, m) {
  return `${conv.id}/${m.seq}`;
}

export class MessageViews {
  /**
   * `act(promise)` resolves false (and shows the error) when the action was refused;
   * `reply(seq)` quotes a message above the composer; `changed()` renders the messages again.
   */
  constructor(chat, { act, reply, changed }) {
    this.chat = chat;
    this.act = act;
    this.reply = reply;
    this.changed = changed;
    this.files = new AttachmentViews(chat, { act });
    /** The messages reported from this page (`conversation/seq`), which say so. */
    this.reported = new Set();
    this.reset();
  }

  /** Forgets the selected message, the emoji picker, the open form, the highlight and the files. */
  reset() {
    this.selected = null;
    this.picking = false;
    /** The inline form open on a message, if any: `{kind, seq, input}` (`kind`: a key of FORMS). */
    this.form = null;
    this.found = null;
    this.files.keep([]);
  }

  /** Highlights the message `seq` (one jumped to from the search) for a moment. */
  highlight(seq) {
    this.found = seq;
    clearTimeout(this.highlightTimer);
    this.highlightTimer = setTimeout(() => {
      this.found = null;
      this.changed();
    }, HIGHLIGHT_MS);
  }

  /** `readers`: who has read one's own message. */
  bubble(conv, m, { showName, readers }) {
    const own = m.from === this.chat.me.id;
    const mentioned = Boolean(m.mentions?.includes(this.chat.me.id));
    const form = this.form?.seq === m.seq && !m.deleted_at ? this.form : null;
    const editing = form?.kind === "edit";
    const classes = ["msg", own && "own", m.deleted_at && "deleted", mentioned && "mentioned", this.selected === m.seq && "selected", this.found === m.seq && "found"];
    return h(
      "div",
      {
        class: classes.filter(Boolean).join(" "),
        dataset: { test: "message", seq: String(m.seq), status: own ? (readers.length ? "read" : "sent") : "", mentioned: String(mentioned) },
        onclick: (event) => this.select(m.seq, event),
      },
      showName ? this.author(m.from) : null,
      m.reply_to ? this.quote(conv, m.reply_to) : null,
      m.deleted_at ? h("span", { class: "body tombstone", dataset: { test: "tombstone" } }, "message deleted") : null,
      this.files.list(m),
      m.deleted_at || editing || !m.body ? null : h("span", { class: "body", dir: "auto", dataset: { test: "body" } }, this.text(m)),
      form ? this.formView(conv, m) : null,
      this.reported.has(reportKey(conv, m)) ? h("small", { class: "reported", dataset: { test: "reported" } }, "⚑ Reported to the administrators") : null,
      this.reactions(conv, m),
      this.meta(m, own, readers),
      m.deleted_at || form ? null : this.toolbar(conv, m, own),
    );
  }

  /** Who wrote a group's message: their avatar and name, in their colour. */
  author(id) {
    const user = this.chat.user(id);
    return h("span", { class: "author", style: `--hue: ${hue(this.chat.name(id))}`, dataset: { test: "author" } }, this.chat.avatars.view(user), person(user));
  }

  /** One's own message on its way, or refused: why, with Retry and Discard. */
  pending(conv, { payload, failed }) {
    const files = payload.attachments?.length ?? 0;
    const id = payload.client_msg_id;
    return h(
      "div",
      { class: failed ? "msg own failed" : "msg own pending", dataset: { test: "message", status: failed ? "failed" : "pending", code: failed?.code, clientMsgId: id } },
      files ? h("span", { class: "body" }, `📎 ${files} file${files === 1 ? "" : "s"}`) : null,
      payload.body ? h("span", { class: "body", dir: "auto", dataset: { test: "body" } }, payload.body) : null,
      failed
        ? h(
            "div",
            { class: "failure", role: "alert" },
            h("span", { class: "reason", dataset: { test: "failure" } }, `Not sent: ${failed.message}`),
            h(
              "span",
              { class: "row" },
              h("button", { type: "button", class: "small", dataset: { test: "retry" }, onclick: () => this.chat.actions.retry(conv.id, id) }, "Retry"),
              h("button", { type: "button", class: "small", dataset: { test: "discard" }, onclick: () => this.chat.actions.discard(conv.id, id) }, "Discard"),
            ),
          )
        : h("span", { class: "meta" }, "sending…"),
    );
  }

  select(seq, event) {
    if (event.target.closest("button, textarea, form")) return;
    this.selected = this.selected === seq ? null : seq;
    this.picking = false;
    this.changed();
  }

  /** The answered message in short; "a message" when it is not loaded (or is gone). */
  quote(conv, seq) {
    const quoted = conv.messages.get(seq);
    let text = "a message";
    if (quoted) text = quoted.deleted_at ? "message deleted" : summary(quoted);
    return h(
      "div",
      { class: "quote", dataset: { test: "quote" } },
      quoted ? h("strong", { dir: "auto" }, this.chat.name(quoted.from)) : null,
      quoted ? " " : null,
      h("span", { dir: "auto" }, text),
    );
  }

  /** The body, with the `@username`s of the users it mentions marked. */
  text(m) {
    if (!m.mentions?.length) return m.body;
    const users = byUsername(m.mentions.map((id) => this.chat.user(id)).filter(Boolean));
    const parts = [];
    let at = 0;
    for (const { start, end, user } of mentionTokens(m.body, users)) {
      const mine = user.id === this.chat.me.id;
      parts.push(m.body.slice(at, start), h("span", { class: mine ? "mention mine" : "mention", dataset: { test: "mention" } }, m.body.slice(start, end)));
      at = end;
    }
    parts.push(m.body.slice(at));
    return parts;
  }

  reactions(conv, m) {
    if (!m.reactions?.length) return null;
    return h(
      "div",
      { class: "reactions" },
      m.reactions.map((r) =>
        h(
          "button",
          {
            type: "button",
            class: r.me ? "chip mine" : "chip",
            title: r.me ? "Take your reaction back" : "React too",
            dataset: { test: "reaction", emoji: r.emoji, count: String(r.count), me: String(r.me) },
            onclick: () => this.act(this.chat.actions.toggleReaction(conv.id, m.seq, r.emoji)),
          },
          r.emoji,
          h("span", { class: "count" }, String(r.count)),
        ),
      ),
    );
  }

  meta(m, own, readers) {
    const read = readers.length > 0;
    return h(
      "span",
      { class: "meta" },
      m.expires_at ? h("span", { title: `Disappears at ${clock(m.expires_at)}`, dataset: { test: "expires" } }, "⏱ ") : null,
      m.edited_at && !m.deleted_at ? h("span", { class: "edited", title: `Edited at ${clock(m.edited_at)}`, dataset: { test: "edited" } }, "edited ") : null,
      clock(m.ts),
      own ? h("span", { class: read ? "tick read" : "tick", title: read ? `Read by ${readers.map((u) => this.chat.name(u)).join(", ")}` : "Sent" }, read ? " ✓✓" : " ✓") : null,
    );
  }

  /** The actions of a message, or the emoji to react with once "react" was clicked. */
  toolbar(conv, m, own) {
    if (this.picking && this.selected === m.seq) {
      const react = (emoji) => () => {
        this.selected = null;
        this.act(this.chat.actions.toggleReaction(conv.id, m.seq, emoji));
      };
      return h("div", { class: "toolbar picker", dataset: { test: "picker" } }, EMOJI.map((emoji) => tool(emoji, `React with ${emoji}`, "pick", react(emoji))));
    }
    const manager = ["owner", "admin"].includes(this.chat.people.role(conv));
    return h(
      "div",
      { class: "toolbar" },
      tool("↩", "Reply", "reply", () => {
        this.selected = null;
        this.reply(m.seq);
      }),
      tool("☺", "React", "react", () => {
        this.selected = m.seq;
        this.picking = true;
        this.changed();
      }),
      own ? null : tool("⚑", "Report", "report", () => this.openForm("report", m)),
      own ? tool("✎", "Edit", "edit", () => this.openForm("edit", m)) : null,
      own || manager ? tool("🗑", "Delete for everyone", "delete", () => this.remove(conv, m)) : null,
    );
  }

  remove(conv, m) {
    if (!confirm("Delete this message for everyone?")) return;
    this.selected = null;
    this.act(this.chat.actions.remove(conv.id, m.seq));
  }

  /**
   * Opens a message's inline form (`kind`: a key of FORMS), an edit starting from its
   * text. The textarea is kept across renders, so typing survives them.
   */
  openForm(kind, m) {
    const { label, maxlength } = FORMS[kind];
    const input = h("textarea", { rows: 2, maxlength, "aria-label": label, dataset: { test: `${kind}-input` } });
    if (kind === "edit") input.value = m.body;
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        input.form.requestSubmit();
      } else if (event.key === "Escape") {
        this.closeForm();
      }
    });
    this.form = { kind, seq: m.seq, input };
    this.selected = null;
    this.changed();
    input.focus();
  }

  closeForm() {
    this.form = null;
    this.changed();
  }

  /** The inline form open on a message: its new text, or why it is reported. */
  formView(conv, m) {
    const { kind, input } = this.form;
    const { hint, submit, submitClass } = FORMS[kind];
    const actions = {
      edit: (text) => text === m.body || this.act(this.chat.actions.edit(conv.id, m.seq, text)),
      report: async (text) => {
        const sent = await this.act(this.chat.actions.report(conv.id, m.seq, text));
        if (sent) this.reported.add(reportKey(conv, m));
        return sent;
      },
    };
    const save = async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (text && (await actions[kind](text))) this.closeForm();
    };
    return h(
      "form",
      { class: `editor ${kind}`, onsubmit: save },
      hint ? h("small", { class: "hint" }, hint) : null,
      input,
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "small", onclick: () => this.closeForm() }, "Cancel"),
        h("button", { type: "submit", class: submitClass, dataset: { test: `${kind}-save` } }, submit),
      ),
    );
  }
}

function tool(label, title, test, onclick) {
  return h("button", { type: "button", class: "action", title, "aria-label": title, dataset: { test }, onclick }, label);
}
