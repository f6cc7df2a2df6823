// The web client (web/dist) in a real browser: Debian's chromium driven by playwright-core,
// against a real two-node cluster (../js/lib/cluster.js). Alice's browser talks to node A
// on a laptop-sized window, Bob's to node B on a phone-sized one; Carol exists only
// through the HTTP API. Screenshots of the main screens go to artifacts/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { apiOk, confabUnavailableReason } from "../js/lib/confab.js";
import { startCluster } from "../js/lib/cluster.js";

const WEB_DIR = fileURLToPath(new URL("../../../web/dist", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const PASSWORD = "correct horse battery";
/** Registration hashes with Argon2, which a debug build on a busy machine does slowly. */
const REGISTER_WITHIN_MS = 60_000;
const WITHIN_MS = 15_000;

const skip = confabUnavailableReason();
let cluster;
let browser;

before(async () => {
  if (skip) return;
  assert.ok(existsSync(`${WEB_DIR}/index.html`), `the web client is not built in ${WEB_DIR}: run scripts/build-web`);
  mkdirSync(ARTIFACTS, { recursive: true });
  cluster = await startCluster({ nodes: 2, env: { CONFAB_WEB_DIR: WEB_DIR } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  await cluster?.stop();
});

/** A page of its own browser context (own storage: its own signed-in user). */
async function openPage(url, viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  page.on("pageerror", (err) => console.error(`page error on ${url}:`, err));
  await page.goto(url);
  return page;
}

/** Waits until `selector` (optionally containing `text`) is visible; returns the locator. */
async function see(page, selector, text, timeout = WITHIN_MS) {
  const locator = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
  await locator.first().waitFor({ state: "visible", timeout });
  return locator.first();
}

function shot(page, name) {
  return page.screenshot({ path: `${ARTIFACTS}${name}.png` });
}

async function registerInPage(page, username) {
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", PASSWORD);
  await page.click("[data-test=register]");
  await see(page, "[data-test=me]", username, REGISTER_WITHIN_MS);
  await see(page, "[data-test=connection][data-state=synced]");
}

async function send(page, body) {
  await page.fill("[data-test=composer]", body);
  await page.press("[data-test=composer]", "Enter");
  await see(page, "[data-test=message][data-status=sent], [data-test=message][data-status=read]", body);
}

test("two users on two nodes chat in the browser", { skip: skip ?? false, timeout: 120_000 }, async () => {
  const [nodeA, nodeB] = cluster.nodes;
  const alice = await openPage(nodeA.url, { width: 1200, height: 760 });
  const bob = await openPage(nodeB.url, { width: 390, height: 760 });
  try {
    // Sign-in screen, then register from each browser.
    await see(alice, "[data-test=register]");
    await shot(alice, "01-sign-in");
    await Promise.all([registerInPage(alice, "alice"), registerInPage(bob, "bob")]);
    const carol = await apiOk(nodeA, "POST", "/api/v1/auth/register", { body: { username: "carol", password: PASSWORD }, timeoutMs: REGISTER_WITHIN_MS }, 201);

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
