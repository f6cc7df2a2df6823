// The reports queue of the administration page: the reports users made of messages, of
// one status at a time (open by default, oldest first; or those resolved or dismissed),
// page after page. Each shows the reported message as it is now (who wrote it and its
// text, or that it was deleted or is gone), who reported it, when and why. An open one
// is closed with an optional note: "Delete message" deletes the message for everyone and
// resolves the report, "Dissolve group" (a group's message) dissolves its group and
// resolves it, "Resolve" and "Dismiss" close it as they say.

import { summary } from "./attachments.js";
import { PagedList, h, person, run, say, section, statusLine, when } from "./dom.js";
import { Pager } from "./moderation.js";

const STATUSES = [
  ["open", "Open"],
  ["resolved", "Resolved"],
  ["dismissed", "Dismissed"],
];

export class ReportsView {
  /** `chat`: the model (the names of the people, and its `moderation`). */
  constructor(chat) {
    this.chat = chat;
    this.moderation = chat.moderation;
    this.status = h(
      "select",
      {
        "aria-label": "reports to show",
        dataset: { test: "report-status" },
        onchange: () => {
          say(this.line, "");
          this.load();
        },
      },
      STATUSES.map(([value, label]) => h("option", { value }, label)),
    );
    this.line = statusLine("reports-status");
    this.pager = new Pager((after) => this.moderation.reports(this.status.value, after), () => this.render());
    this.list = new PagedList(this.pager, { test: "reports", item: (report) => this.report(report), empty: "No reports." });
    /** report id → the input of its note, kept across renders so that what is typed survives. */
    this.notes = new Map();
    this.el = section("Reports", "admin-reports", h("label", { class: "row" }, "Show", this.status), this.line, this.list.el);
  }

  /** Shows the open reports, from the first. */
  open() {
    this.status.value = "open";
    say(this.line, "");
    return this.load();
  }

  load() {
    this.notes.clear();
    return this.pager.reset();
  }

  render() {
    this.list.render();
  }

  report(r) {
    const closed = r.status !== "open";
    return h(
      "li",
      { class: "report", dataset: { test: "report", report: r.id, status: r.status } },
      h("p", { class: "small muted" }, "Reported by ", person(this.chat.user(r.reporter)), ` · ${when(r.created_at)}`),
      this.message(r),
      h("p", { class: "reason", dataset: { test: "report-reason" } }, h("small", { class: "muted" }, "Reason: "), h("span", { dir: "auto" }, r.reason)),
      closed ? this.outcome(r) : this.actions(r),
    );
  }

  /** The reported message as it is now: its author and text, a tombstone, or gone. */
  message(r) {
    const m = r.message;
    const where = r.conversation.startsWith("g:") ? `in the group ${r.conversation.slice(2)}` : "in a direct conversation";
    let text = h("span", { class: "tombstone" }, "no longer there (expired, or its group was dissolved)");
    if (m?.deleted_at) text = h("span", { class: "tombstone" }, `message deleted ${when(m.deleted_at)}`);
    else if (m) text = h("span", { class: "body", dir: "auto" }, summary(m));
    return h(
      "blockquote",
      { class: "reported-message", dataset: { test: "report-message", deleted: String(Boolean(m?.deleted_at)) } },
      m ? h("span", { class: "author" }, person(this.chat.user(m.from))) : null,
      text,
      h("small", { class: "muted" }, `#${r.seq} ${where}`),
    );
  }

  /** How a closed report was closed: by whom, when, and the note. */
  outcome(r) {
    const how = r.status === "resolved" ? "Resolved" : "Dismissed";
    return h(
      "p",
      { class: "small outcome", dataset: { test: "report-outcome" } },
      `${how} by `,
      person(this.chat.user(r.resolved_by)),
      ` · ${when(r.resolved_at)}`,
      r.resolution ? [h("br"), h("span", { class: "muted" }, "Note: "), h("span", { dir: "auto" }, r.resolution)] : null,
    );
  }

  /** An open report's note and the ways to close it. */
  actions(r) {
    const m = r.message;
    const group = r.conversation.startsWith("g:") ? r.conversation.slice(2) : null;
    const button = (label, test, onclick, danger = false) => h("button", { type: "button", class: danger ? "small danger" : "small", dataset: { test }, onclick }, label);
    return h(
      "div",
      { class: "stack" },
      this.note(r.id),
      h(
        "div",
        { class: "row wrap" },
        m && !m.deleted_at
          ? button("Delete message", "report-delete", () => this.close(r, "Delete this message for everyone?", () => this.moderation.deleteMessage(r.conversation, r.seq), "Message deleted; report resolved."), true)
          : null,
        group && m
          ? button("Dissolve group", "report-dissolve", () => this.close(r, "Dissolve this group for everyone? Its messages are deleted.", () => this.moderation.dissolveGroup(group), "Group dissolved; report resolved."), true)
          : null,
        button("Resolve", "report-resolve", () => this.close(r, null, null, "Report resolved.")),
        button("Dismiss", "report-dismiss", () => this.close(r, null, null, "Report dismissed.", "dismissed")),
      ),
    );
  }

  note(id) {
    if (!this.notes.has(id)) {
      this.notes.set(id, h("input", { maxlength: 1000, dir: "auto", placeholder: "note for the record (optional)", "aria-label": "note", dataset: { test: "report-note" } }));
    }
    return this.notes.get(id);
  }

  /**
   * Closes a report as `status` with its note, after `act()` if given (asking `question`
   * first); then says `done` and shows the list as it is now.
   */
  async close(r, question, act, done, status = "resolved") {
    if (question && !confirm(question)) return;
    say(this.line, "");
    const closed = await run(
      this.line,
      async () => {
        if (act) await act();
        await this.moderation.resolve(r.id, status, this.note(r.id).value.trim());
      },
      () => done,
    );
    if (closed) await this.load();
  }
}
