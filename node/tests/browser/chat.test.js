// The web client (web/dist) in a real browser: Debian's chromium driven by playwright-core,
// against a real two-node cluster (helpers.js). Alice's browser talks to node A on a
// laptop-sized window, Bob's to node B on a phone-sized one; Carol exists only through
// the HTTP API. A second test has Dave (laptop, node A) and Erin (phone, node B) edit,
// delete, answer, react to, mention and expire messages; a third has Gina (laptop, node A)
// and Hank (phone, node B) search the messages and jump to one far back in the history; a
// fourth has Ivan (laptop, node A) and Judy (phone, node B) send each other files.
// Screenshots of the main screens go to artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { api, apiOk, befriend } from "../js/lib/confab.js";
import { waitFor } from "../../../socketio/tests/js/lib/wait.js";
import {
  LAPTOP,
  PASSWORD,
  PHONE,
  REGISTER_WITHIN_MS,
  STORED,
  WITHIN_MS,
  at,
  harness,
  loaded,
  messageAction,
  openPage,
  png,
  register,
  see,
  send,
  shot,
  signInPage,
  skip,
  stepper,
  useCluster,
} from "./helpers.js";

const MAX_UPLOAD_BYTES = 1024 * 1024;

// Uploads up to 1 MiB, so that a test can have one refused as too large.
useCluster(() => ({ CONFAB_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) }));

async function editMessage(page, seq, body) {
  await messageAction(page, seq, "edit");
  await page.fill("[data-test=edit-input]", body);
  await page.press("[data-test=edit-input]", "Enter");
  await see(page, at(seq, "[data-test=edited]"));
}

test("two users on two nodes chat in the browser", { skip, timeout: 120_000 }, async () => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const alice = await openPage(nodeA.url, LAPTOP);
  const bob = await openPage(nodeB.url, PHONE);
  try {
    // Sign-in screen, then register from each browser.
    await see(alice, "[data-test=register]");
    await shot(alice, "01-sign-in");
    await Promise.all([signInPage(alice, "alice", "register"), signInPage(bob, "bob", "register")]);
    const carol = await register(nodeA, "carol");

    // Contact request from Alice (node A), accepted by Bob (node B).
    await alice.fill("[data-test=contact-username]", "bob");
    await alice.click("[data-test=contact-request]");
    await see(alice, "[data-test=outgoing]", "bob");
    const request = await see(bob, "[data-test=incoming][data-user=alice]");
    await shot(bob, "02-contact-request-phone");
    await request.locator("[data-test=accept]").click();

    // Presence: each sees the other online.
    await see(alice, "[data-test=contact][data-user=bob][data-online=true]");
    await see(bob, "[data-test=contact][data-user=alice][data-online=true]");

    // A direct conversation, typing and messages both ways, and the read receipt.
    await bob.click("[data-test=contact][data-user=alice]");
    await see(bob, "[data-test=title]", "alice");
    await alice.click("[data-test=contact][data-user=bob]");
    await see(alice, "[data-test=subtitle][data-online=true]");
    await alice.type("[data-test=composer]", "hello B", { delay: 20 });
    await see(bob, "[data-test=typing]", "alice is typing");
    await shot(bob, "03-typing-phone");
    await alice.fill("[data-test=composer]", "");
    await send(alice, "hello bob, this is alice on node A");
    await see(bob, "[data-test=message]", "hello bob, this is alice on node A");
    await send(bob, "hi alice! bob here, on node B");
    await see(alice, "[data-test=message]", "hi alice! bob here, on node B");
    await see(alice, "[data-test=message][data-status=read]", "hello bob, this is alice on node A");
    await shot(alice, "04-direct-chat-laptop");
    await shot(bob, "05-direct-chat-phone");

    // A group with a third user: created with Bob, Carol added afterwards. Only contacts
    // can be added: Carol (over HTTP) asks Alice, who accepts on her page.
    const [found] = (await apiOk(nodeA, "GET", "/api/v1/users?q=alice", { token: carol.token })).users;
    await apiOk(nodeA, "POST", "/api/v1/contacts/requests", { token: carol.token, body: { user_id: found.id } }, 201);
    const fromCarol = await see(alice, "[data-test=incoming][data-user=carol]");
    await fromCarol.locator("[data-test=accept]").click();
    await see(alice, "[data-test=contact][data-user=carol]");
    await alice.click("[data-test=new-group]");
    await alice.fill("[data-test=group-name]", "Weekend trip");
    await alice.fill("[data-test=group-members]", "bob");
    await alice.click("[data-test=group-create]");
    await see(alice, "[data-test=title]", "Weekend trip");
    await alice.fill("[data-test=member-username]", "carol");
    await alice.click("[data-test=member-add]");
    await see(alice, "[data-test=subtitle]", "carol");
    await send(alice, "who brings the tent?");
    await bob.click("[data-test=back]");
    await bob.click("[data-test=chat][data-name='Weekend trip']");
    await see(bob, "[data-test=message]", "who brings the tent?");
    await send(bob, "I do");
    await see(alice, "[data-test=message]", "I do");
    await shot(alice, "06-group-laptop");
    await shot(bob, "07-group-phone");

    // Bob's node goes away: Bob's page shows it reconnecting while Alice writes to him;
    // when the node is back, Bob's page reconnects and syncs the message.
    await bob.click("[data-test=back]");
    await shot(bob, "08-chat-list-phone");
    await bob.click("[data-test=chat][data-name=alice]");
    await nodeB.stop();
    await see(bob, "[data-test=connection-banner][data-state=reconnecting]");
    await shot(bob, "09-reconnecting-phone");
    await alice.click("[data-test=chat][data-name=bob]");
    await send(alice, "sent while you were away");
    await nodeB.start();
    await bob.locator("[data-test=connection][data-state=synced]").waitFor({ state: "attached", timeout: 30_000 });
    assert.equal(await bob.locator("[data-test=connection-banner]").isVisible(), false);
    await see(bob, "[data-test=message]", "sent while you were away");
    await see(alice, "[data-test=subtitle][data-online=true]");
    await shot(bob, "10-caught-up-phone");

    // Carol (HTTP only) has the whole group conversation.
    const { token } = await apiOk(nodeA, "POST", "/api/v1/auth/login", { body: { username: "carol", password: PASSWORD }, timeoutMs: REGISTER_WITHIN_MS });
    const { groups } = await apiOk(nodeA, "GET", "/api/v1/groups", { token });
    assert.equal(groups.length, 1);
    const { messages } = await apiOk(nodeA, "GET", `/api/v1/conversations/g:${groups[0].id}/messages`, { token });
    assert.deepEqual(messages.map((m) => m.body), ["who brings the tent?", "I do"]);

    // History pages on scroll: Carol posts 45 more over HTTP; Bob reloads the page (his
    // session survives), opens the group and sees the newest page, then scrolls up.
    for (let n = 1; n <= 45; n++) {
      const body = { to: { group: groups[0].id }, body: `carol says ${n}`, client_msg_id: `carol-${n}` };
      await apiOk(nodeA, "POST", "/api/v1/messages", { token, body });
    }
    await bob.reload();
    await bob.locator("[data-test=connection][data-state=synced]").waitFor({ state: "attached", timeout: WITHIN_MS });
    await bob.click("[data-test=chat][data-name='Weekend trip']");
    await see(bob, "[data-test=message]", "carol says 45");
    assert.equal(await bob.locator("[data-test=message][data-seq='1']").count(), 0);
    await bob.locator("[data-test=messages]").evaluate((el) => {
      el.scrollTop = 0;
    });
    await see(bob, "[data-test=message][data-seq='1']", "who brings the tent?");
    await shot(bob, "11-history-phone");

    // Bob leaves the group; Alice sees the member list without him.
    await bob.click("[data-test=leave]");
    await see(bob, "[data-test=chat][data-name=alice]");
    assert.equal(await bob.locator("[data-test=chat][data-name='Weekend trip']").count(), 0);
    await alice.click("[data-test=chat][data-name='Weekend trip']");
    await see(alice, "[data-test=subtitle]", "you, carol");

    // Presence pushed across nodes: Bob logs out and Alice sees him offline, then he logs
    // in again and she sees him online.
    await alice.click("[data-test=chat][data-name=bob]");
    await see(alice, "[data-test=subtitle][data-online=true]");
    await bob.click("[data-test=logout]");
    await see(alice, "[data-test=subtitle][data-online=false]", "last seen");
    await see(alice, "[data-test=contact][data-user=bob][data-online=false]");
    await shot(alice, "12-last-seen-laptop");
    await bob.fill("input[name=username]", "bob");
    await bob.fill("input[name=password]", PASSWORD);
    await bob.click("[data-test=login]");
    await see(bob, "[data-test=me]", "bob", REGISTER_WITHIN_MS);
    await see(alice, "[data-test=subtitle][data-online=true]");
  } catch (err) {
    await shot(alice, "failure-alice").catch(() => {});
    await shot(bob, "failure-bob").catch(() => {});
    err.message += `\nnode A:\n${nodeA.output()}\nnode B:\n${nodeB.output()}`;
    throw err;
  }
});

test("rich messages in the browser: edits, deletions, replies, reactions, mentions, expiry", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [dave, erin, frank] = await Promise.all(["dave", "erin", "frank"].map((name) => register(nodeA, name)));
  await befriend(nodeA, dave, erin);
  await befriend(nodeA, dave, frank);
  const { group } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: dave.token, body: { name: "Book club", members: [erin.user.id, frank.user.id] } }, 201);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });
  let plan;
  let answer;
  let draft;

  await step("Dave (laptop) and Erin (phone) log in and open their chat", async () => {
    await Promise.all([signInPage(laptop, "dave", "login"), signInPage(phone, "erin", "login")]);
    await laptop.click("[data-test=contact][data-user=erin]");
    await phone.click("[data-test=contact][data-user=dave]");
    await see(phone, "[data-test=title]", "dave");
  });

  await step("an edit shows in the other browser with the edited marker", async () => {
    plan = await send(laptop, "see you at 7");
    await see(phone, at(plan), "see you at 7");
    await editMessage(laptop, plan, "see you at 8");
    await see(phone, `${at(plan)}:has([data-test=edited])`, "see you at 8");
    await shot(phone, "13-edited-phone");
  });

  await step("a deletion leaves a tombstone in the other browser", async () => {
    const oops = await send(laptop, "oops, wrong chat");
    await see(phone, at(oops), "oops, wrong chat");
    await messageAction(laptop, oops, "delete");
    await see(laptop, at(oops, "[data-test=tombstone]"));
    await see(phone, at(oops, "[data-test=tombstone]"), "message deleted");
    assert.equal(await phone.locator("[data-test=message]", { hasText: "oops, wrong chat" }).count(), 0);
    await shot(phone, "14-deleted-phone");
  });

  await step("a reply quotes the answered message", async () => {
    await messageAction(phone, plan, "reply");
    await see(phone, "[data-test=replying]", "see you at 8");
    answer = await send(phone, "works for me");
    assert.equal(await phone.locator("[data-test=replying]").isVisible(), false);
    await see(phone, at(answer, "[data-test=quote]"), "see you at 8");
    await see(laptop, at(answer, "[data-test=quote]"), "see you at 8");
    await shot(laptop, "15-reply-laptop");
  });

  await step("a reaction is counted in the other browser, and one's own chip takes it back", async () => {
    const chip = (count, me) => at(answer, `[data-test=reaction][data-emoji='👍'][data-count='${count}'][data-me=${me}]`);
    await messageAction(laptop, answer, "react");
    await laptop.locator(at(answer, "[data-test=pick]"), { hasText: "👍" }).click();
    await see(laptop, chip(1, true));
    await see(phone, chip(1, false));
    await phone.click(chip(1, false));
    await see(phone, chip(2, true));
    await see(laptop, chip(2, true));
    await shot(phone, "16-reactions-phone");
    await laptop.click(chip(2, true));
    await see(laptop, chip(1, false));
    await see(phone, chip(1, true));
    // A history page carries the reactions.
    await phone.reload();
    await phone.click("[data-test=contact][data-user=dave]");
    await see(phone, chip(1, true));
  });

  await step("edits and deletions made while offline apply to their messages after the reconnect", async () => {
    draft = await send(laptop, "draft one");
    await see(phone, at(draft), "draft one");
    await nodeB.stop();
    await see(phone, "[data-test=connection-banner][data-state=reconnecting]");
    await editMessage(laptop, draft, "final one");
    await messageAction(laptop, plan, "delete");
    await see(laptop, at(plan, "[data-test=tombstone]"));
    await nodeB.start();
    await phone.locator("[data-test=connection][data-state=synced]").waitFor({ state: "attached", timeout: 30_000 });
    await see(phone, `${at(draft)}:has([data-test=edited])`, "final one");
    await see(phone, at(plan, "[data-test=tombstone]"));
    await see(phone, at(answer, "[data-test=quote]"), "message deleted");
    // The edit and the deletion are not shown as messages of their own.
    assert.equal(await phone.locator("[data-test=message]").count(), await laptop.locator("[data-test=message]").count());
    await shot(phone, "17-synced-changes-phone");
  });

  await step("a refused edit shows the server's error", async () => {
    await messageAction(laptop, draft, "edit");
    await laptop.fill("[data-test=edit-input]", "x".repeat(70_000));
    await laptop.click("[data-test=edit-save]");
    await see(laptop, "[data-test=pane-error]", "the body is over 65536 bytes");
    await see(laptop, "[data-test=edit-input]");
    await shot(laptop, "18-refused-edit-laptop");
    await laptop.press("[data-test=edit-input]", "Escape");
    await see(laptop, at(draft), "final one");
  });

  await step("an @mention in a group is offered, sent, and highlighted for the mentioned user", async () => {
    await laptop.click("[data-test=chat][data-name='Book club']");
    await see(laptop, "[data-test=subtitle]", "frank");
    await phone.click("[data-test=back]");
    await phone.click("[data-test=chat][data-name='Book club']");
    await see(phone, "[data-test=title]", "Book club");
    await laptop.type("[data-test=composer]", "bring the book @", { delay: 20 });
    await see(laptop, "[data-test=mention-option][data-user=frank]");
    await see(laptop, "[data-test=mention-option][data-user=erin]");
    await shot(laptop, "19-mention-list-laptop");
    await laptop.type("[data-test=composer]", "er", { delay: 20 });
    assert.equal(await laptop.locator("[data-test=mention-option]").count(), 1);
    await laptop.press("[data-test=composer]", "Enter");
    assert.equal(await laptop.inputValue("[data-test=composer]"), "bring the book @erin ");
    await laptop.type("[data-test=composer]", "please");
    await laptop.press("[data-test=composer]", "Enter");
    // Sent, or already read by Erin, whose page shows the group.
    await see(laptop, `:is(${STORED}) [data-test=mention]`, "@erin");
    await see(phone, "[data-test=message][data-mentioned=true] [data-test=mention]", "@erin");
    await shot(phone, "20-mention-phone");
    const { messages } = await apiOk(nodeA, "GET", `/api/v1/conversations/g:${group.id}/messages`, { token: frank.token });
    assert.deepEqual(messages.at(-1).mentions, [erin.user.id]);
  });

  await step("disappearing messages: the setting shows live, and an expired message goes", async () => {
    const expiry = "[data-test=expiry]";
    // Only the group's owner and admins set it.
    assert.equal(await phone.locator(expiry).isDisabled(), true);
    await laptop.selectOption(expiry, "30");
    await see(phone, `${expiry}[data-secs='30']`);
    // A new page has it from the conversation list.
    await phone.reload();
    await phone.click("[data-test=chat][data-name='Book club']");
    await see(phone, `${expiry}[data-secs='30']`);
    const timed = await send(laptop, "gone in 30 seconds");
    await see(phone, at(timed, "[data-test=expires]"));
    await shot(phone, "21-expiry-phone");
    // A few seconds (set over HTTP, as another client could) so that the test need not
    // wait for 30; the message is looked for until a deadline.
    await apiOk(nodeA, "PUT", `/api/v1/conversations/g:${group.id}/expiry`, { token: dave.token, body: { seconds: 5 } });
    await see(phone, `${expiry}[data-secs='5']`);
    await see(laptop, `${expiry}[data-secs='5']`);
    const brief = await send(laptop, "gone in 5 seconds");
    await see(phone, at(brief), "gone in 5 seconds");
    await phone.locator(at(brief)).waitFor({ state: "detached", timeout: 30_000 });
    await laptop.locator(at(brief)).waitFor({ state: "detached", timeout: WITHIN_MS });
    await laptop.selectOption(expiry, { label: "Off" });
    await see(phone, `${expiry}[data-secs=off]`);
    await shot(laptop, "22-expiry-laptop");
  });
});

/** Whether the message `seq` is inside the visible part of the messages pane. */
function inView(page, seq) {
  return page.locator(at(seq)).evaluate((el) => {
    const box = el.getBoundingClientRect();
    const pane = el.closest("[data-test=messages]").getBoundingClientRect();
    return box.top >= pane.top && box.bottom <= pane.bottom;
  });
}

/** Searches from the sidebar's box; resolves once the results (or an error) show. */
async function searchFor(page, query) {
  await page.fill("[data-test=search-input]", query);
  await page.press("[data-test=search-input]", "Enter");
  await page.locator("[data-test=search-heading]", { hasNotText: "Searching…" }).waitFor({ timeout: WITHIN_MS });
}

test("search in the browser: hits marked, paging, and a jump far back in the history", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [gina, hank] = await Promise.all(["gina", "hank"].map((name) => register(nodeA, name)));
  await befriend(nodeA, gina, hank);
  const { group } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: gina.token, body: { name: "Planning", members: [hank.user.id] } }, 201);
  const post = (from, to, body, tag) => apiOk(nodeA, "POST", "/api/v1/messages", { token: from.token, body: { to, body, client_msg_id: tag } });
  // The target first, then more than two history pages (PAGE = 30) after it.
  const { message: target } = await post(gina, { user: hank.user.id }, "The Quarterly report is ready: see the shared folder", "target");
  for (let n = 1; n <= 70; n++) await post(n % 2 ? gina : hank, { user: n % 2 ? hank.user.id : gina.user.id }, `filler message ${n} of the history`, `filler-${n}`);
  // Markup in a message is shown as text, in the snippet as everywhere.
  await post(hank, { group: group.id }, "<b>quarterly</b> numbers look <i>good</i>", "markup");
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });
  const result = (seq, conversation) => `[data-test=search-result][data-conversation='${conversation}'][data-seq='${seq}']`;

  await step("Gina (laptop) and Hank (phone) log in", async () => {
    await Promise.all([signInPage(laptop, "gina", "login"), signInPage(phone, "hank", "login")]);
  });

  await step("a query without a word shows the server's error", async () => {
    await searchFor(laptop, "  ?! ");
    await see(laptop, "[data-test=search-error]");
    assert.equal(await laptop.locator("[data-test=search-result]").count(), 0);
    await shot(laptop, "23-search-error-laptop");
  });

  await step("a word prefix finds the messages of both conversations, hits marked as text", async () => {
    await searchFor(laptop, "quart");
    await see(laptop, "[data-test=search-heading]", "2 messages found");
    const direct = await see(laptop, result(target.seq, target.conversation));
    assert.deepEqual(await direct.locator("[data-test=hit]").allTextContents(), ["Quarterly"]);
    await see(laptop, `${result(target.seq, target.conversation)} [data-test=snippet]`, "The Quarterly report is ready");
    await see(laptop, `${result(target.seq, target.conversation)}`, "hank");
    const markup = await see(laptop, `[data-test=search-result][data-conversation='g:${group.id}']`, "Planning");
    assert.deepEqual(await markup.locator("[data-test=hit]").allTextContents(), ["quarterly"]);
    assert.match(await markup.locator("[data-test=snippet]").textContent(), /<b>quarterly<\/b> numbers look <i>good<\/i>/);
    assert.equal(await markup.locator("[data-test=snippet] b, [data-test=snippet] i").count(), 0);
    await shot(laptop, "24-search-results-laptop");
  });

  await step("clicking a result loads older pages until the message shows, highlighted", async () => {
    await laptop.click(result(target.seq, target.conversation));
    await see(laptop, "[data-test=title]", "hank");
    await see(laptop, `${at(target.seq)}.found`, "The Quarterly report is ready");
    assert.equal(await inView(laptop, target.seq), true);
    assert.equal(await laptop.locator("[data-test=message]").count(), 71);
    await shot(laptop, "25-search-jump-laptop");
    await laptop.locator(`${at(target.seq)}.found`).waitFor({ state: "detached", timeout: WITHIN_MS });
    await see(laptop, at(target.seq), "The Quarterly report is ready");
  });

  await step("on the phone: every word must match, and the result opens the conversation", async () => {
    await searchFor(phone, "REPORT quarterly");
    await see(phone, "[data-test=search-heading]", "1 message found");
    await see(phone, `${result(target.seq, target.conversation)} [data-test=hit]`, "Quarterly");
    await see(phone, `${result(target.seq, target.conversation)} [data-test=hit]`, "report");
    await shot(phone, "26-search-results-phone");
    await phone.click(result(target.seq, target.conversation));
    await see(phone, `${at(target.seq)}.found`, "The Quarterly report is ready");
    assert.equal(await inView(phone, target.seq), true);
    await shot(phone, "27-search-jump-phone");
  });

  await step("more results page on, and closing the search brings the lists back", async () => {
    await phone.click("[data-test=back]");
    await see(phone, result(target.seq, target.conversation));
    await searchFor(phone, "filler");
    await see(phone, "[data-test=search-heading]", "20+ messages found");
    await phone.click("[data-test=search-more]");
    await see(phone, "[data-test=search-heading]", "40+ messages found");
    assert.equal(await phone.locator("[data-test=search-result]").count(), 40);
    await see(phone, "[data-test=search-result] [data-test=hit]", "filler");
    await shot(phone, "28-search-more-phone");
    await phone.click("[data-test=search-close]");
    await see(phone, "[data-test=chat][data-name=gina]");
    assert.equal(await phone.locator("[data-test=search-results]").isVisible(), false);
  });
});

/** Picks files with the composer's file input: `[{name, mimeType, buffer}]`. */
function attach(page, ...files) {
  return page.setInputFiles("[data-test=file-input]", files);
}

/** The file `name` waiting above the composer, in `state` (uploading, ready, failed). */
function upload(name, state) {
  return `[data-test=upload][data-name='${name}'][data-state=${state}]`;
}

/** Sends what waits above the composer with an empty text; resolves the message's seq. */
async function sendFiles(page, name) {
  await page.press("[data-test=composer]", "Enter");
  const sent = await see(page, `[data-test=message]:has([data-test=attachment][data-name='${name}'])`);
  return Number(await sent.getAttribute("data-seq"));
}

test("attachments in the browser: previews, progress, thumbnails, downloads, refusals", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [ivan, judy] = await Promise.all(["ivan", "judy"].map((name) => register(nodeA, name)));
  await befriend(nodeA, ivan, judy);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });
  const notes = "Agenda\n1. the hill walk\n2. who brings the map\n";
  let photo;

  await step("Ivan (laptop) and Judy (phone) log in and open their chat", async () => {
    await Promise.all([signInPage(laptop, "ivan", "login"), signInPage(phone, "judy", "login")]);
    await laptop.click("[data-test=contact][data-user=judy]");
    await phone.click("[data-test=contact][data-user=ivan]");
    await see(phone, "[data-test=title]", "ivan");
  });

  await step("an image is previewed before it is sent; the other browser shows its thumbnail and opens it whole", async () => {
    await attach(laptop, { name: "hill.png", mimeType: "image/png", buffer: png(160, 100) });
    assert.deepEqual(await loaded(laptop, `[data-test=upload][data-name='hill.png'] [data-test=upload-preview]`), [160, 100]);
    await see(laptop, upload("hill.png", "ready"));
    await shot(laptop, "29-attachment-waiting-laptop");
    photo = await send(laptop, "the view from the hill");
    assert.equal(await laptop.locator("[data-test=upload]").count(), 0);
    await loaded(laptop, at(photo, "[data-test=thumbnail]"));
    await see(phone, at(photo), "the view from the hill");
    const [width, height] = await loaded(phone, at(photo, "[data-test=thumbnail]"));
    assert.ok(width > 0 && height > 0);
    await shot(phone, "30-attachment-thumbnail-phone");
    await phone.click(at(photo, "[data-test=thumbnail]"));
    assert.deepEqual(await loaded(phone, "[data-test=lightbox-image]"), [160, 100]);
    await see(phone, "[data-test=lightbox]", "160×100");
    await shot(phone, "31-attachment-lightbox-phone");
    await phone.click("[data-test=lightbox-close]");
    assert.equal(await phone.locator("[data-test=lightbox]").isVisible(), false);
  });

  await step("a file taken out before sending stays out; a text file is a download with its name and size", async () => {
    await attach(
      laptop,
      { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from(notes) },
      { name: "draft.txt", mimeType: "text/plain", buffer: Buffer.from("not this one") },
    );
    await see(laptop, upload("notes.txt", "ready"));
    await see(laptop, upload("draft.txt", "ready"));
    await laptop.click("[data-test=upload][data-name='draft.txt'] [data-test=upload-remove]");
    assert.equal(await laptop.locator("[data-test=upload]").count(), 1);
    const seq = await sendFiles(laptop, "notes.txt");
    await see(laptop, "[data-test=chat][data-name=judy]", "You: 📎 notes.txt");
    const file = await see(phone, at(seq, "[data-test=attachment][data-name='notes.txt']"), `${notes.length} B`);
    assert.equal(await phone.locator("[data-test=attachment][data-name='draft.txt']").count(), 0);
    await shot(phone, "32-attachment-file-phone");
    const [download] = await Promise.all([phone.waitForEvent("download"), file.locator("[data-test=download]").click()]);
    assert.equal(download.suggestedFilename(), "notes.txt");
    assert.equal(readFileSync(await download.path(), "utf8"), notes);
    await shot(laptop, "33-attachments-laptop");
  });

  await step("a bigger file shows its upload progress, and Send waits for it", async () => {
    const minutes = Buffer.from("minutes of the meeting\n".repeat(12_000));
    const cdp = await laptop.context().newCDPSession(laptop);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 96 * 1024 });
    try {
      await attach(laptop, { name: "minutes.txt", mimeType: "text/plain", buffer: minutes });
      await laptop.waitForFunction(() => {
        const bar = document.querySelector("[data-test=upload][data-state=uploading] progress");
        return bar?.value > 0.1 && bar.value < 0.9;
      }, null, { timeout: WITHIN_MS });
      assert.equal(await laptop.locator("[data-test=send]").isDisabled(), true);
      await shot(laptop, "34-upload-progress-laptop");
      await see(laptop, upload("minutes.txt", "ready"), undefined, 30_000);
    } finally {
      await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    }
    assert.equal(await laptop.locator("[data-test=send]").isDisabled(), false);
    const seq = await send(laptop, "the minutes");
    await see(phone, at(seq, "[data-test=attachment][data-name='minutes.txt']"), `${Math.round(minutes.length / 1024)} KB`);
  });

  await step("a file dropped onto the conversation is uploaded and sent", async () => {
    const files = await laptop.evaluateHandle(() => {
      const data = new DataTransfer();
      data.items.add(new File(["dropped in\n"], "dropped.txt", { type: "text/plain" }));
      return data;
    });
    await laptop.dispatchEvent("[data-test=messages]", "dragover", { dataTransfer: files });
    await see(laptop, ".pane.dropping");
    await shot(laptop, "35-drop-laptop");
    await laptop.dispatchEvent("[data-test=messages]", "drop", { dataTransfer: files });
    assert.equal(await laptop.locator(".pane.dropping").count(), 0);
    await see(laptop, upload("dropped.txt", "ready"));
    const seq = await sendFiles(laptop, "dropped.txt");
    await see(phone, at(seq, "[data-test=attachment][data-name='dropped.txt']"));
  });

  await step("refused uploads show the server's error and are not sent", async () => {
    const elf = Buffer.alloc(64);
    elf.write("\x7fELF\x02\x01\x01", "latin1");
    const huge = Buffer.alloc(MAX_UPLOAD_BYTES + 1, "x");
    await attach(
      phone,
      { name: "tool", mimeType: "application/octet-stream", buffer: elf },
      { name: "huge.txt", mimeType: "text/plain", buffer: huge },
      { name: "map.png", mimeType: "image/png", buffer: png(90, 120) },
    );
    await see(phone, `${upload("tool", "failed")} [data-test=upload-error]`, "files of type application/x-executable are not accepted");
    await see(phone, `${upload("huge.txt", "failed")} [data-test=upload-error]`, `the file is over ${MAX_UPLOAD_BYTES} bytes`);
    await see(phone, upload("map.png", "ready"));
    await shot(phone, "36-upload-refused-phone");
    const seq = await send(phone, "here is the map");
    await see(phone, `${upload("tool", "failed")}`);
    await loaded(laptop, at(seq, "[data-test=thumbnail]"));
    assert.equal(await laptop.locator(at(seq, "[data-test=attachment]")).count(), 1);
    await phone.click(`${upload("tool", "failed")} [data-test=upload-remove]`);
    await phone.click(`${upload("huge.txt", "failed")} [data-test=upload-remove]`);
    assert.equal(await phone.locator("[data-test=upload]").count(), 0);
  });

  await step("deleting a message deletes its files, and the other browser lets go of them", async () => {
    const conversation = `d:${[ivan.user.id, judy.user.id].sort().join(":")}`;
    const { messages } = await apiOk(nodeB, "GET", `/api/v1/conversations/${conversation}/messages`, { token: judy.token });
    const [{ id }] = messages.find((m) => m.seq === photo).attachments;
    const thumbnail = await phone.locator(at(photo, "[data-test=thumbnail]")).getAttribute("src");
    await messageAction(laptop, photo, "delete");
    await see(phone, at(photo, "[data-test=tombstone]"));
    assert.equal(await phone.locator(at(photo, "[data-test=attachment]")).count(), 0);
    const revoked = await phone.evaluate((url) => fetch(url).then(() => false, () => true), thumbnail);
    assert.equal(revoked, true, `${thumbnail} was not revoked`);
    await waitFor(async () => (await api(nodeB, "GET", `/api/v1/attachments/${id}`, { token: judy.token })).status === 404, WITHIN_MS, "the deleted message's file to be gone");
    await shot(phone, "37-attachment-deleted-phone");
  });
});
