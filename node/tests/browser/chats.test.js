// The web client's chat list and screens, in a real browser against a real two-node
// cluster (helpers.js): Rita's chat list (laptop, node A) — previews, most recent first,
// unread badges and the unread total in the tab's title, kept right as messages arrive
// (from others and from her other devices) and as she reads — and her notifications while
// the page is hidden; Wes's chats, more than one page of the conversation list; Abe's
// messages that Bea read, still shown read after he reloads the page; then Uma
// signs up on a phone (390×844, node B) with a display name, sees names with their
// @username and right-to-left text shown right to left, and no screen is wider than the
// phone. Screenshots go to artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ack, apiOk, befriend, closeAll, connect } from "../js/lib/confab.js";
import { LAPTOP, PASSWORD, PHONE, REGISTER_WITHIN_MS, at, eventually, fits, harness, openPage, register, see, send, shot, signInPage, skip, stepper, useCluster } from "./helpers.js";

/** Conversations per page of `GET /api/v1/conversations` when the client asks for no `limit`. */
const CONVERSATIONS_PAGE = 100;

// Wes creates more groups than one page of the conversation list holds, faster than a
// user may by default.
useCluster(() => ({ CONFAB_GROUP_CHANGES_PER_MINUTE: "1000", CONFAB_HTTP_WRITES_BURST: "1000" }));

/** The chat list from the top: `[name, unread badge ("" if none), preview]` each. */
function chatList(page) {
  return page
    .locator("[data-test=chat]")
    .evaluateAll((items) => items.map((el) => [el.dataset.name, el.querySelector("[data-test=unread]")?.textContent ?? "", el.querySelector("[data-test=preview]").textContent]));
}

function expectChats(page, expected) {
  return eventually(() => chatList(page), expected, "the chat list");
}

function expectTitle(page, expected) {
  return eventually(() => page.title(), expected, "the page's title");
}

/**
 * Records the page's notifications in `window.notified` (`{title, body}` each) and its
 * permission requests in `window.permissionRequests`, around the browser's own Notification.
 */
function spyOnNotifications() {
  const Browser = window.Notification;
  window.notified = [];
  window.permissionRequests = 0;
  window.Notification = class extends Browser {
    constructor(title, options) {
      super(title, options);
      window.notified.push({ title, body: options?.body });
    }

    static requestPermission() {
      window.permissionRequests += 1;
      return Browser.requestPermission();
    }
  };
}

/** Makes the page look hidden (another tab in front) or visible again, as the browser tells it. */
function setHidden(page, hidden) {
  return page.evaluate((hide) => {
    if (hide) {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    } else {
      delete document.hidden;
      delete document.visibilityState;
    }
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
}

test("the chat list: previews, most recent first, unread badges and the title; notifications while hidden", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA] = harness.cluster.nodes;
  const [rita, sam, tess] = await Promise.all(["rita", "sam", "tess"].map((name) => register(nodeA, name)));
  await befriend(nodeA, rita, tess);
  const { group } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: rita.token, body: { name: "Quiz night", members: [tess.user.id] } }, 201);
  let posted = 0;
  const post = async (from, to, body) => {
    posted += 1;
    const { message } = await apiOk(nodeA, "POST", "/api/v1/messages", { token: from.token, body: { to, body, client_msg_id: `post-${posted}` } });
    return message;
  };
  const toRita = { user: rita.user.id };
  // Oldest first: the group's, Sam's two, Rita's answer (from another device), Tess's.
  await post(tess, { group: group.id }, "q1");
  await post(sam, toRita, "s1");
  await post(sam, toRita, "s2");
  await post(rita, { user: sam.user.id }, "r1");
  await post(tess, toRita, "t1");
  const laptop = await openPage(nodeA.url, LAPTOP, async (context) => {
    await context.grantPermissions(["notifications"], { origin: nodeA.url });
    await context.addInitScript(spyOnNotifications);
  });
  const step = stepper(t, { laptop });
  let r2;

  await step("Rita's chats: most recent first, with the newest message and the unread count; the title sums them", async () => {
    await signInPage(laptop, "rita", "login");
    await expectChats(laptop, [
      ["tess", "1", "t1"],
      ["sam", "2", "You: r1"],
      ["Quiz night", "1", "tess: q1"],
    ]);
    await expectTitle(laptop, "(4) Confab");
    await shot(laptop, "44-chat-list-laptop");
  });

  await step("a new message moves its chat to the top, counted in its badge and the title", async () => {
    await post(sam, toRita, "s3");
    await expectChats(laptop, [
      ["sam", "3", "s3"],
      ["tess", "1", "t1"],
      ["Quiz night", "1", "tess: q1"],
    ]);
    await expectTitle(laptop, "(5) Confab");
  });

  await step("one's own message from another device moves its chat up, and is never unread", async () => {
    r2 = await post(rita, { user: tess.user.id }, "r2");
    await expectChats(laptop, [
      ["tess", "1", "You: r2"],
      ["sam", "3", "s3"],
      ["Quiz night", "1", "tess: q1"],
    ]);
    await expectTitle(laptop, "(5) Confab");
  });

  await step("reading a chat clears its badge and its share of the title, for good", async () => {
    await laptop.click("[data-test=chat][data-name=sam]");
    await see(laptop, "[data-test=message]", "s3");
    await expectTitle(laptop, "(2) Confab");
    await laptop.click("[data-test=chat][data-name='Quiz night']");
    await expectTitle(laptop, "(1) Confab");
    await laptop.click("[data-test=chat][data-name=tess]");
    await expectTitle(laptop, "Confab");
    await laptop.reload();
    await see(laptop, "[data-test=connection][data-state=synced]");
    await expectChats(laptop, [
      ["tess", "", "You: r2"],
      ["sam", "", "s3"],
      ["Quiz night", "", "tess: q1"],
    ]);
    await expectTitle(laptop, "Confab");
  });

  await step("a deleted message's preview says so", async () => {
    await apiOk(nodeA, "DELETE", `/api/v1/conversations/${r2.conversation}/messages/${r2.seq}`, { token: rita.token });
    await expectChats(laptop, [
      ["tess", "", "You: message deleted"],
      ["sam", "", "s3"],
      ["Quiz night", "", "tess: q1"],
    ]);
  });

  await step("notifications: asked for only from the bell, then shown for others' messages while the page is hidden", async () => {
    assert.equal(await laptop.evaluate(() => window.permissionRequests), 0);
    await laptop.click("[data-test=notifications][data-state=off]");
    await see(laptop, "[data-test=notifications][data-state=on]");
    assert.equal(await laptop.evaluate(() => window.permissionRequests), 1);
    await laptop.click("[data-test=chat][data-name=sam]");
    await setHidden(laptop, true);
    await post(sam, toRita, "s4");
    await post(rita, { user: tess.user.id }, "r3");
    await post(tess, { group: group.id }, "q2");
    await eventually(() => laptop.evaluate(() => window.notified), [
      { title: "sam", body: "s4" },
      { title: "tess in Quiz night", body: "q2" },
    ], "the notifications");
    // Hidden, the open conversation is not read either.
    await expectTitle(laptop, "(2) Confab");
    await shot(laptop, "45-notified-laptop");
    await setHidden(laptop, false);
    await expectTitle(laptop, "(1) Confab");
    await post(sam, toRita, "s5");
    await see(laptop, "[data-test=message]", "s5");
    assert.equal(await laptop.evaluate(() => window.notified.length), 2);
  });
});

test("the chat list follows the conversation list's pages: the oldest chat shows its news, read already", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA] = harness.cluster.nodes;
  const [wes, xena] = await Promise.all(["wes", "xena"].map((name) => register(nodeA, name)));
  await befriend(nodeA, wes, xena);
  const create = (name) => apiOk(nodeA, "POST", "/api/v1/groups", { token: wes.token, body: { name, members: [xena.user.id] } }, 201);
  // The first club's news, which Wes read on another device, is older than the creation of
  // every other club: it comes on the list's second page, which alone says it was read
  // (`sync` would bring the message, but not that it was read).
  const { group } = await create("club 0");
  const news = { to: { group: group.id }, body: "news from the first club", client_msg_id: "club-news" };
  const { message } = await apiOk(nodeA, "POST", "/api/v1/messages", { token: xena.token, body: news });
  const device = await connect(nodeA, wes.token);
  assert.equal((await ack(device, "read", { conversation: message.conversation, seq: message.seq })).ok, true);
  closeAll();
  for (let n = 1; n <= CONVERSATIONS_PAGE; n++) await create(`club ${n}`);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const step = stepper(t, { laptop });

  await step("Wes's oldest chat, on the second page, shows its newest message, read", async () => {
    await signInPage(laptop, "wes", "login");
    assert.equal(await laptop.locator("[data-test=chat]").count(), CONVERSATIONS_PAGE + 1);
    await eventually(async () => (await chatList(laptop)).at(-1), ["club 0", "", "xena: news from the first club"], "the oldest chat");
    await expectTitle(laptop, "Confab");
    await laptop.locator("[data-test=chat][data-name='club 0']").scrollIntoViewIfNeeded();
    await shot(laptop, "61-chat-list-pages-laptop");
  });
});

test("read receipts survive a reload: what the other read shows read when the chat opens again", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [abe, bea] = await Promise.all(["abe", "bea"].map((name) => register(nodeA, name)));
  await befriend(nodeA, abe, bea);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });
  const read = (seq) => `[data-test=message][data-seq='${seq}'][data-status=read]`;
  const openChat = async () => {
    await see(laptop, "[data-test=connection][data-state=synced]");
    await laptop.click("[data-test=chat][data-name=bea]");
  };
  let first;
  let second;

  await step("Abe writes; Bea reads it on her phone, and his page shows it read", async () => {
    await Promise.all([signInPage(laptop, "abe", "login"), signInPage(phone, "bea", "login")]);
    await laptop.click("[data-test=contact][data-user=bea]");
    first = await send(laptop, "did you get the tickets?");
    await phone.click("[data-test=chat][data-name=abe]");
    await see(phone, at(first), "did you get the tickets?");
    await see(laptop, read(first));
  });

  await step("Abe reloads the page: opened again, his message still shows read", async () => {
    await laptop.reload();
    await openChat();
    await see(laptop, read(first), "did you get the tickets?");
    await shot(laptop, "76-receipt-after-reload-laptop");
  });

  await step("what Bea read while Abe's page was closed shows read when he comes back", async () => {
    second = await send(laptop, "two of them, I hope");
    await laptop.goto("about:blank");
    await see(phone, at(second), "two of them, I hope");
    const conversation = `d:${[abe.user.id, bea.user.id].sort().join(":")}`;
    await eventually(async () => (await apiOk(nodeA, "GET", `/api/v1/conversations/${conversation}/reads`, { token: abe.token })).reads, [{ user: bea.user.id, seq: second }], "Bea's read position");
    await laptop.goto(nodeA.url);
    await openChat();
    await see(laptop, read(second), "two of them, I hope");
  });
});

test("on a phone: sign-up with a display name, names with their @username, right-to-left text, nothing wider than the screen", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const uma = "Uma Featherstonehaugh-Wilde";
  const hebrew = "שלום, נתראה בצהריים";
  const longGroup = "A rather long name for the weekend hiking trip";
  await register(nodeA, "vic", "Victor");
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, { width: 390, height: 844 });
  const step = stepper(t, { laptop, phone });

  await step("Uma signs up on her phone with a display name", async () => {
    await signInPage(laptop, "vic", "login");
    await phone.fill("input[name=username]", "uma");
    await phone.fill("input[name=password]", PASSWORD);
    await phone.fill("[data-test=display-name]", uma);
    await shot(phone, "46-sign-up-phone");
    await phone.click("[data-test=register]");
    await see(phone, "[data-test=me] .name", uma, REGISTER_WITHIN_MS);
    await see(phone, "[data-test=me] .handle", "@uma");
    const { user } = await apiOk(nodeB, "POST", "/api/v1/auth/login", { body: { username: "uma", password: PASSWORD }, timeoutMs: REGISTER_WITHIN_MS });
    assert.equal(user.display_name, uma);
  });

  await step("names show with their @username: requests, contacts, the conversation's title", async () => {
    await laptop.fill("[data-test=contact-username]", "uma");
    await laptop.click("[data-test=contact-request]");
    await see(laptop, "[data-test=outgoing] .name", uma);
    await see(phone, "[data-test=incoming][data-user=vic] .name", "Victor");
    await see(phone, "[data-test=incoming][data-user=vic] .handle", "@vic");
    await shot(phone, "47-request-names-phone");
    await phone.click("[data-test=incoming][data-user=vic] [data-test=accept]");
    await see(laptop, "[data-test=contact][data-user=uma] .name", uma);
    await see(laptop, "[data-test=contact][data-user=uma] .handle", "@uma");
    await phone.click("[data-test=contact][data-user=vic]");
    await see(phone, "[data-test=title] .name", "Victor");
    await see(phone, "[data-test=title] .handle", "@vic");
  });

  await step("text in a right-to-left script is shown right to left, in the message and the preview", async () => {
    await laptop.click("[data-test=contact][data-user=uma]");
    await send(laptop, "see you at noon");
    await send(laptop, hebrew);
    const direction = (locator) => locator.evaluate((el) => [el.getAttribute("dir"), getComputedStyle(el).direction]);
    assert.deepEqual(await direction(await see(phone, "[data-test=message] [data-test=body]", hebrew)), ["auto", "rtl"]);
    assert.deepEqual(await direction(await see(phone, "[data-test=message] [data-test=body]", "see you at noon")), ["auto", "ltr"]);
    assert.deepEqual(await direction(await see(laptop, `[data-test=chat][data-name='${uma}'] [data-test=preview] [dir]`, hebrew)), ["auto", "rtl"]);
    await shot(phone, "48-right-to-left-phone");
  });

  await step("nothing is wider than the phone: the chat list, a conversation, a group being managed", async () => {
    await fits(phone, ["[data-test=block]", "[data-test=contact-remove]", "[data-test=back]", "[data-test=attach]", "[data-test=send]", "[data-test=expiry]"]);
    await phone.click("[data-test=back]");
    await fits(phone, ["[data-test=logout]", "[data-test=notifications]", "[data-test=search]", "[data-test=contact-request]"]);
    await shot(phone, "49-chat-list-phone");
    await phone.click("[data-test=new-group]");
    await phone.fill("[data-test=group-name]", longGroup);
    await phone.fill("[data-test=group-members]", "vic");
    await phone.click("[data-test=group-create]");
    await see(phone, "[data-test=title]", longGroup);
    await phone.click("[data-test=group-manage-open]");
    await fits(phone, ["[data-test=back]", "[data-test=member-add]", "[data-test=leave]", "[data-test=group-rename]", "[data-test=member][data-user=vic] [data-test=member-remove]", "[data-test=group-dissolve]", "[data-test=send]"]);
    await shot(phone, "50-group-manage-phone");
  });
});
