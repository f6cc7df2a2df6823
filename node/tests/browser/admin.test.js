// Moderation in the browser, against a real two-node cluster (helpers.js): Ned (phone,
// node B) reports Mia's message (laptop, node A); Root, a server administrator (made one
// with `confab admin grant`), finds the report in the queue of his administration page
// (laptop, node A) and deletes the message, which both pages then show deleted; he closes
// other reports with a note or dismisses them, dissolves a group from a report and
// another by its id, finds users with their badges, disables Ned — whose page goes back
// to the sign-in screen saying why — and enables him again, and pages through the audit
// log, which nothing on the page can change. The page fits a phone too. Screenshots go
// to artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { api, apiOk, befriend } from "../js/lib/confab.js";
import {
  LAPTOP,
  PASSWORD,
  PHONE,
  WITHIN_MS,
  at,
  eventually,
  fits,
  gone,
  grantAdmin,
  harness,
  messageAction,
  openPage,
  login,
  register,
  see,
  send,
  shot,
  signInPage,
  skip,
  stepper,
  useCluster,
} from "./helpers.js";

// Root disables and enables a user many times over, past the default burst of HTTP writes.
useCluster(() => ({ CONFAB_HTTP_WRITES_BURST: "1000" }));

/** The administration API's page size as the client asks for it. */
const ADMIN_PAGE = 20;

/** Every entry of the audit log as the API pages it, newest first: their actions. */
async function auditActions(node, token) {
  const actions = [];
  let before = null;
  do {
    const page = await apiOk(node, "GET", `/api/v1/admin/audit?limit=200${before ? `&before=${before}` : ""}`, { token });
    actions.push(...page.entries.map((e) => e.action));
    before = page.next;
  } while (before);
  return actions;
}

/** The reports of one status as the API lists them: `[reason, resolution]` each. */
async function reportsOf(node, token, status) {
  const { reports } = await apiOk(node, "GET", `/api/v1/admin/reports?status=${status}`, { token });
  return reports.map((r) => [r.reason, r.resolution]);
}

/** The report in the queue whose reason is `reason`, or a selector inside it. */
function report(reason, inside = "") {
  return `[data-test=report]:has([data-test=report-reason]:has-text("${reason}")) ${inside}`.trim();
}

/** Shows the reports of `status` on the administration page, once listed. */
async function showReports(page, status) {
  await page.selectOption("[data-test=report-status]", status);
  await page.locator("[data-test=reports-more], [data-test=report], [data-test=paged-empty]").first().waitFor({ timeout: WITHIN_MS });
}

test("moderation: a report from the conversation, the queue, deleting, closing, dissolving, disabling, and the audit log", { skip, timeout: 300_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [root, mia, ned, gus, vera] = await Promise.all(["root", "mia", "ned", "gus", "vera"].map((name) => register(nodeA, name)));
  await grantAdmin("root");
  await befriend(nodeA, mia, ned);
  // (node:http sends a DELETE's body without a length, which api() cannot change: fetch does.)
  const deletion = await fetch(`${nodeA.url}/api/v1/me`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${gus.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ password: PASSWORD }),
  });
  assert.equal(deletion.status, 204);
  const post = async (from, to, body) => (await apiOk(nodeA, "POST", "/api/v1/messages", { token: from.token, body: { to, body, client_msg_id: body } })).message;
  const spam = await post(mia, { user: ned.user.id }, "cheap watches at spam.example");
  const rude = await post(mia, { user: ned.user.id }, "you are all idiots");
  const meh = await post(mia, { user: ned.user.id }, "meh");
  const again = await post(mia, { user: ned.user.id }, "idiots, all of you");
  const { group: owls } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: mia.token, body: { name: "Night owls", members: [ned.user.id] } }, 201);
  const { group: club } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: mia.token, body: { name: "Old club", members: [ned.user.id] } }, 201);
  const hoot = await post(mia, { group: owls.id }, "a flood of hoots");
  let nedToken = ned.token;
  const reportOver = (message, reason) => apiOk(nodeB, "POST", "/api/v1/reports", { token: nedToken, body: { conversation: message.conversation, seq: message.seq, reason } }, 201);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const author = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, author, phone });

  await step("Root, Mia and Ned log in: only Root, an administrator, sees Admin", async () => {
    await Promise.all([signInPage(laptop, "root", "login"), signInPage(author, "mia", "login"), signInPage(phone, "ned", "login")]);
    await see(laptop, "[data-test=admin-open]");
    await see(author, "[data-test=contact][data-user=ned]");
    assert.equal(await author.locator("[data-test=admin-open]").isVisible(), false);
    assert.equal(await phone.locator("[data-test=admin-open]").isVisible(), false);
    await author.click("[data-test=contact][data-user=ned]");
    await see(author, at(spam.seq), "cheap watches");
  });

  await step("Ned reports Mia's message from his phone, saying why; the message says it was reported", async () => {
    await phone.click("[data-test=contact][data-user=mia]");
    await see(phone, at(spam.seq), "cheap watches");
    await messageAction(phone, spam.seq, "report");
    await phone.fill("[data-test=report-input]", "spam, again");
    await fits(phone, ["[data-test=report-save]", "[data-test=back]"]);
    await shot(phone, "62-report-phone");
    await phone.click("[data-test=report-save]");
    await see(phone, at(spam.seq, "[data-test=reported]"), "Reported to the administrators");
    assert.equal(await phone.locator("[data-test=report-input]").count(), 0);
    assert.deepEqual(await reportsOf(nodeA, root.token, "open"), [["spam, again", null]]);
    // One's own messages offer no Report.
    const own = await send(phone, "stop it");
    await phone.locator(at(own, ".meta")).click();
    await see(phone, at(own, "[data-test=reply]"));
    assert.equal(await phone.locator(at(own, "[data-test=report]")).count(), 0);
    await shot(phone, "63-reported-phone");
  });

  await step("the queue on Root's administration page shows the message, who reported it and why", async () => {
    await laptop.click("[data-test=admin-open]");
    await see(laptop, "[data-test=admin-tab][data-tab=reports][aria-selected=true]");
    await see(laptop, report("spam, again", "[data-test=report-message]"), "cheap watches at spam.example");
    await see(laptop, report("spam, again", "[data-test=report-message] .name"), "mia");
    await see(laptop, report("spam, again"), "Reported by ned");
    await shot(laptop, "64-admin-reports-laptop");
  });

  await step("Delete message deletes it for the reporter and the author, and resolves the report", async () => {
    await laptop.click(report("spam, again", "[data-test=report-delete]"));
    await see(laptop, "[data-test=reports-status]", "Message deleted; report resolved.");
    await gone(laptop, report("spam, again"));
    await see(phone, at(spam.seq, "[data-test=tombstone]"), "message deleted");
    await see(author, at(spam.seq, "[data-test=tombstone]"), "message deleted");
    assert.deepEqual(await reportsOf(nodeA, root.token, "resolved"), [["spam, again", null]]);
    await showReports(laptop, "resolved");
    await see(laptop, report("spam, again", "[data-test=report-outcome]"), "Resolved by root");
    await see(laptop, report("spam, again", "[data-test=report-message][data-deleted=true]"), "message deleted");
    await shot(laptop, "65-admin-resolved-laptop");
  });

  await step("an open report is resolved with a note, another dismissed", async () => {
    await reportOver(rude, "insults");
    await reportOver(meh, "I just dislike it");
    await showReports(laptop, "open");
    await see(laptop, report("I just dislike it"));
    await laptop.fill(report("insults", "[data-test=report-note]"), "warned mia");
    // The note typed survives the renders that names arriving bring.
    await see(laptop, report("insults", "[data-test=report-message] .name"), "mia");
    await laptop.click(report("insults", "[data-test=report-resolve]"));
    await see(laptop, "[data-test=reports-status]", "Report resolved.");
    await laptop.click(report("I just dislike it", "[data-test=report-dismiss]"));
    await see(laptop, "[data-test=reports-status]", "Report dismissed.");
    await see(laptop, "[data-test=paged-empty]", "No reports.");
    assert.deepEqual(await reportsOf(nodeA, root.token, "resolved"), [["spam, again", null], ["insults", "warned mia"]]);
    assert.deepEqual(await reportsOf(nodeA, root.token, "dismissed"), [["I just dislike it", null]]);
    await showReports(laptop, "resolved");
    await see(laptop, report("insults", "[data-test=report-outcome]"), "Note: warned mia");
    // The message stays: resolving a report deletes nothing.
    await see(phone, at(rude.seq), "you are all idiots");
  });

  await step("a report of a group's message dissolves its group from the queue", async () => {
    await reportOver(hoot, "flooding");
    await showReports(laptop, "open");
    await see(laptop, report("flooding", "[data-test=report-message]"), "a flood of hoots");
    await see(author, "[data-test=chat][data-name='Night owls']");
    await laptop.click(report("flooding", "[data-test=report-dissolve]"));
    await see(laptop, "[data-test=reports-status]", "Group dissolved; report resolved.");
    await gone(author, "[data-test=chat][data-name='Night owls']");
    await gone(phone, "[data-test=chat][data-name='Night owls']");
    assert.equal((await api(nodeA, "GET", `/api/v1/groups/${owls.id}`, { token: mia.token })).status, 404);
  });

  await step("a group dissolved by its id is gone for its members", async () => {
    await laptop.click("[data-test=admin-tab][data-tab=groups]");
    await laptop.fill("[data-test=admin-group-id]", `g:${club.id}`);
    await laptop.click("[data-test=admin-group-dissolve]");
    await see(laptop, "[data-test=admin-groups-status]", `The group ${club.id} is dissolved.`);
    await gone(author, "[data-test=chat][data-name='Old club']");
    assert.equal((await api(nodeA, "GET", `/api/v1/groups/${club.id}`, { token: mia.token })).status, 404);
  });

  await step("users are found in any case, with their badges; disabling Ned sends his page to the sign-in screen, saying why", async () => {
    await laptop.click("[data-test=admin-tab][data-tab=users]");
    await see(laptop, "[data-test=admin-user][data-user=root] [data-test=user-badge][data-badge=admin]");
    const deleted = await see(laptop, "[data-test=admin-user] [data-test=user-badge][data-badge=deleted]");
    assert.equal(await laptop.locator("[data-test=admin-user]:has([data-badge=deleted]) button").count(), 0);
    assert.ok(await deleted.isVisible());
    assert.equal(await laptop.locator("[data-test=admin-user][data-user=root] button").count(), 0);
    await laptop.fill("[data-test=admin-user-query]", "NED");
    await laptop.click("[data-test=admin-user-search]");
    await eventually(() => laptop.locator("[data-test=admin-user]").evaluateAll((rows) => rows.map((row) => row.dataset.user)), ["ned"], "the users found");
    await laptop.click("[data-test=admin-user][data-user=ned] [data-test=user-disable]");
    await see(laptop, "[data-test=admin-user][data-user=ned][data-disabled=true] [data-test=user-badge][data-badge=disabled]");
    await see(laptop, "[data-test=admin-users-status]", "ned is disabled.");
    await see(phone, "[data-test=auth-error][data-reason=account_disabled]", "this account has been disabled");
    await shot(laptop, "66-admin-users-laptop");
    await shot(phone, "67-disabled-phone");
  });

  await step("enabled again, Ned logs in", async () => {
    await laptop.click("[data-test=admin-user][data-user=ned] [data-test=user-enable]");
    await see(laptop, "[data-test=admin-user][data-user=ned][data-disabled=false] [data-test=user-disable]");
    assert.equal(await laptop.locator("[data-test=admin-user][data-user=ned] [data-badge=disabled]").count(), 0);
    await signInPage(phone, "ned", "login");
    nedToken = (await login(nodeB, "ned")).token;
  });

  await step("the audit log: newest first, a page at a time, and nothing in it to change", async () => {
    for (let n = 0; n < 8; n++) {
      for (const action of ["disable", "enable"]) await apiOk(nodeA, "POST", `/api/v1/admin/users/${vera.user.id}/${action}`, { token: root.token });
    }
    const actions = await auditActions(nodeA, root.token);
    assert.ok(actions.length > ADMIN_PAGE, `${actions.length} entries`);
    assert.deepEqual(actions.slice(0, 2), ["user.enable", "user.disable"]);
    assert.equal(actions.at(-1), "admin.grant");
    await laptop.click("[data-test=admin-tab][data-tab=audit]");
    await see(laptop, "[data-test=audit-more]");
    const shown = () => laptop.locator("[data-test=audit-entry]").evaluateAll((rows) => rows.map((row) => row.dataset.action));
    assert.deepEqual(await shown(), actions.slice(0, ADMIN_PAGE));
    await see(laptop, "[data-test=audit-entry][data-action='user.disable']", "disabled vera");
    await shot(laptop, "68-audit-laptop");
    await laptop.click("[data-test=audit-more]");
    await eventually(shown, actions, "the audit log");
    await gone(laptop, "[data-test=audit-more]");
    await see(laptop, "[data-test=audit-entry][data-action='message.delete']", `deleted the message ${spam.conversation}/${spam.seq}`);
    await see(laptop, "[data-test=audit-entry][data-action='report.close']", "note: warned mia");
    await see(laptop, `[data-test=audit-entry][data-action='group.dissolve']:has-text("${club.id}")`, "name: Old club");
    const granted = await see(laptop, "[data-test=audit-entry][data-action='admin.grant']", "the confab command made an administrator: root");
    await granted.scrollIntoViewIfNeeded();
    await shot(laptop, "69-audit-older-laptop");
    assert.equal(await laptop.locator("[data-test=audit] :is(button, input, textarea, select, [contenteditable])").count(), 0);
  });

  await step("on a phone the administration page fits the screen, tab by tab", async () => {
    // (A user reports a message once: this is another.)
    await reportOver(again, "still rude");
    const small = await openPage(nodeB.url, PHONE);
    await signInPage(small, "root", "login");
    await fits(small, ["[data-test=admin-open]", "[data-test=settings-open]", "[data-test=logout]"]);
    await shot(small, "70-admin-link-phone");
    await small.click("[data-test=admin-open]");
    await see(small, report("still rude", "[data-test=report-delete]"));
    await fits(small, ["[data-test=admin-close]", "[data-test=report-status]", report("still rude", "[data-test=report-note]"), report("still rude", "[data-test=report-dismiss]")]);
    await shot(small, "71-admin-reports-phone");
    await small.click("[data-test=admin-tab][data-tab=users]");
    await see(small, "[data-test=admin-user][data-user=vera] [data-test=user-disable]");
    await fits(small, ["[data-test=admin-user-search]", "[data-test=admin-user][data-user=vera] [data-test=user-disable]"]);
    await shot(small, "72-admin-users-phone");
    await small.click("[data-test=admin-tab][data-tab=audit]");
    await see(small, "[data-test=audit-more]");
    await fits(small, ["[data-test=audit-more]", "[data-test=admin-tab][data-tab=audit]"]);
    await shot(small, "73-audit-phone");
  });
});
