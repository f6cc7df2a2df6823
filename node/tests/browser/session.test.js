// The web client's session in a real browser, against a two-node cluster whose access
// tokens live 2 seconds (helpers.js): Nina's page (laptop, node A) goes on after her token
// expired — a refused HTTP request or upload is made again with a refreshed token, a
// reconnect refreshes first, and two tabs sharing the session never present one refresh
// token twice, not even when one reads the other's refresh late — and she stays signed
// in. Then Tara's session is ended from elsewhere and Uri's account is disabled by an
// operator: each page goes back to the sign-in screen, saying why. Screenshots go to
// artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { api, apiOk } from "../js/lib/confab.js";
import { waitFor } from "../../../socketio/tests/js/lib/wait.js";
import { LAPTOP, PHONE, WITHIN_MS, harness, login, openPage, register, see, send, shot, signInPage, skip, stepper, storedSession, useCluster } from "./helpers.js";

// The test logs its users in anew for each request (its tokens expire as fast as the
// page's), past the default limit of logins per username.
useCluster(() => ({ CONFAB_TOKEN_TTL_SECS: "2", CONFAB_LOGINS_PER_USERNAME_PER_MINUTE: "1000" }));

const SYNCED = "[data-test=connection][data-state=synced]";
/** The settings' devices, listed: "This device" among them. */
const THIS_DEVICE = "[data-test=device][data-current=true] [data-test=this-device]";

/** A fresh access token of `username` (a login of its own). */
async function tokenOf(node, username) {
  return (await login(node, username)).token;
}

/** Waits until the server refuses `token` as expired. */
function expired(node, token) {
  return waitFor(
    async () => {
      const { status, body } = await api(node, "GET", "/api/v1/me", { token });
      return status === 401 && body.error.code === "token_expired";
    },
    WITHIN_MS,
    "the access token to expire",
  );
}

/** An init script: keeps the page's WebSockets in `window.openSockets`, for `dropConnection`. */
function trackSockets() {
  const Native = window.WebSocket;
  window.openSockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.openSockets.push(this);
    }
  };
}

/**
 * A network blip: closes the page's WebSocket (Socket.IO's transport, once upgraded to
 * it), then waits until the client has opened a new one and caught up again.
 */
async function dropConnection(page) {
  const opened = await page.waitForFunction(() => window.openSockets.some((ws) => ws.readyState === WebSocket.OPEN) && window.openSockets.length, null, { timeout: WITHIN_MS });
  const count = await opened.jsonValue();
  await page.evaluate(() => window.openSockets.forEach((ws) => ws.close()));
  await page.waitForFunction((before) => window.openSockets.length > before && window.openSockets.at(-1).readyState === WebSocket.OPEN, count, { timeout: WITHIN_MS });
  await see(page, SYNCED);
}

/**
 * An init script: the tab's localStorage shows the session another tab stores only 3 s
 * later. Chromium hands a tab's writes to the other tabs' renderers asynchronously, so
 * for a moment a tab may read the session as it was before another tab refreshed it.
 */
function lagBehindOtherTabs() {
  const KEY = "confab.session";
  const { getItem, setItem, removeItem } = Storage.prototype;
  let view;
  let read = false;
  Storage.prototype.getItem = function (key) {
    if (key !== KEY) return getItem.call(this, key);
    if (!read) {
      view = getItem.call(this, key);
      read = true;
    }
    return view;
  };
  Storage.prototype.setItem = function (key, value) {
    setItem.call(this, key, value);
    if (key === KEY) [view, read] = [String(value), true];
  };
  Storage.prototype.removeItem = function (key) {
    removeItem.call(this, key);
    if (key === KEY) [view, read] = [null, true];
  };
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) setTimeout(() => (view = event.newValue), 3000);
  });
}

/** The refresh tokens that a browser context's pages present to `POST /auth/refresh`, in order. */
function spyOnRefreshes(context) {
  const presented = [];
  context.on("request", (request) => {
    if (request.url().endsWith("/api/v1/auth/refresh")) presented.push(request.postDataJSON().refresh_token);
  });
  return presented;
}

test("an expired access token is refreshed: requests, uploads and reconnects go on, in two tabs sharing the session", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA] = harness.cluster.nodes;
  const [nina, omar] = await Promise.all(["nina", "omar", "pia"].map((name) => register(nodeA, name)));
  const asked = await apiOk(nodeA, "POST", "/api/v1/contacts/requests", { token: await tokenOf(nodeA, "nina"), body: { user_id: omar.user.id } }, 201);
  await apiOk(nodeA, "POST", `/api/v1/contacts/requests/${asked.request.id}/accept`, { token: await tokenOf(nodeA, "omar") });
  let refreshes;
  const laptop = await openPage(nodeA.url, LAPTOP, async (context) => {
    await context.addInitScript(trackSockets);
    refreshes = spyOnRefreshes(context);
  });
  const second = await laptop.context().newPage();
  second.on("pageerror", (err) => console.error("page error in the second tab:", err));
  const step = stepper(t, { laptop, second });
  let first;

  await step("Nina logs in: the page keeps the whole session, named after the browser", async () => {
    await signInPage(laptop, "nina", "login");
    first = await storedSession(laptop);
    assert.equal(first.user.username, "nina");
    assert.ok(first.token && first.refresh_token && first.session_id);
    const { sessions } = await apiOk(nodeA, "GET", "/api/v1/sessions", { token: await tokenOf(nodeA, "nina") });
    assert.equal(sessions.find((s) => s.id === first.session_id)?.device, "Chrome on Linux");
  });

  await step("with the token expired, a user search and an upload are made again with a refreshed token", async () => {
    await expired(nodeA, first.token);
    await laptop.fill("[data-test=contact-username]", "pia");
    await laptop.click("[data-test=contact-request]");
    await see(laptop, "[data-test=outgoing]", "pia");
    await laptop.click("[data-test=contact][data-user=omar]");
    await expired(nodeA, (await storedSession(laptop)).token);
    await laptop.setInputFiles("[data-test=file-input]", { name: "plan.txt", mimeType: "text/plain", buffer: Buffer.from("the plan\n") });
    await see(laptop, "[data-test=upload][data-name='plan.txt'][data-state=ready]");
    await send(laptop, "here is the plan");
    const now = await storedSession(laptop);
    assert.equal(now.session_id, first.session_id);
    assert.notEqual(now.refresh_token, first.refresh_token);
    assert.ok(refreshes.length >= 2, `${refreshes.length} refreshes`);
    const conversation = `d:${[nina.user.id, omar.user.id].sort().join(":")}`;
    const { messages } = await apiOk(nodeA, "GET", `/api/v1/conversations/${conversation}/messages`, { token: await tokenOf(nodeA, "omar") });
    assert.deepEqual(messages.at(-1).attachments.map((a) => a.name), ["plan.txt"]);
    await see(laptop, SYNCED);
  });

  await step("a reconnect with an expired token refreshes it first, and the page stays signed in", async () => {
    const before = await storedSession(laptop);
    const refreshed = refreshes.length;
    await expired(nodeA, before.token);
    await dropConnection(laptop);
    assert.ok(refreshes.length > refreshed, "no refresh before the reconnect");
    assert.notEqual((await storedSession(laptop)).refresh_token, before.refresh_token);
    const body = { to: { user: nina.user.id }, body: "got it, thanks", client_msg_id: "omar-1" };
    await apiOk(nodeA, "POST", "/api/v1/messages", { token: await tokenOf(nodeA, "omar"), body });
    await see(laptop, "[data-test=message]", "got it, thanks");
    await shot(laptop, "51-refreshed-laptop");
  });

  await step("two tabs share the session: after a blip with an expired token both reconnect, and no refresh token is presented twice", async () => {
    await second.goto(nodeA.url);
    await see(second, "[data-test=me]", "nina");
    await see(second, SYNCED);
    await expired(nodeA, (await storedSession(second)).token);
    await Promise.all([dropConnection(laptop), dropConnection(second)]);
    assert.equal(new Set(refreshes).size, refreshes.length, `a refresh token was presented twice: ${refreshes.join(", ")}`);
    const { session_id: current } = await storedSession(second);
    assert.equal(current, first.session_id);
    const { sessions } = await apiOk(nodeA, "GET", "/api/v1/sessions", { token: await tokenOf(nodeA, "nina") });
    assert.ok(sessions.some((s) => s.id === current), "the session was revoked");
    await see(laptop, "[data-test=me]", "nina");
    await shot(second, "52-second-tab-laptop");
  });

  await step("a tab that sees another tab's refresh late takes its tokens rather than refresh again", async () => {
    await second.addInitScript(lagBehindOtherTabs);
    await second.reload();
    await see(second, SYNCED);
    await expired(nodeA, (await storedSession(laptop)).token);
    const before = refreshes.length;
    await laptop.click("[data-test=settings-open]");
    await see(laptop, THIS_DEVICE);
    assert.equal(refreshes.length - before, 1);
    // The second tab still reads the old session in its localStorage.
    await second.click("[data-test=settings-open]");
    await see(second, THIS_DEVICE);
    assert.equal(refreshes.length - before, 1, "the second tab refreshed again");
    assert.equal(new Set(refreshes).size, refreshes.length, `a refresh token was presented twice: ${refreshes.join(", ")}`);
    const { sessions } = await apiOk(nodeA, "GET", "/api/v1/sessions", { token: await tokenOf(nodeA, "nina") });
    assert.ok(sessions.some((s) => s.id === first.session_id), "the session was revoked");
  });
});

test("a session ended elsewhere, or an account disabled, sends the page back to the sign-in screen saying why", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  await Promise.all(["tara", "uri"].map((name) => register(nodeA, name)));
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });

  await step("Tara (laptop) and Uri (phone) log in", async () => {
    await Promise.all([signInPage(laptop, "tara", "login"), signInPage(phone, "uri", "login")]);
  });

  await step("Tara's session ended from another device: her page shows the sign-in screen and why", async () => {
    const { session_id } = await storedSession(laptop);
    await apiOk(nodeB, "DELETE", `/api/v1/sessions/${session_id}`, { token: await tokenOf(nodeB, "tara") }, 204);
    await see(laptop, "[data-test=auth-error][data-reason=session_revoked]", "this session was ended from another device");
    assert.equal(await storedSession(laptop), null);
    await shot(laptop, "53-session-ended-laptop");
  });

  await step("Uri's account disabled by an operator: his page shows the sign-in screen and why", async () => {
    const sql = `UPDATE users SET disabled_at = now() WHERE username = 'uri';
      UPDATE sessions SET revoked_at = now(), revoked_reason = 'disabled'
       WHERE user_id = (SELECT id FROM users WHERE username = 'uri') AND revoked_at IS NULL;`;
    await promisify(execFile)("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-d", harness.cluster.databaseUrl, "-1", "-c", sql]);
    await see(phone, "[data-test=auth-error][data-reason=account_disabled]", "this account has been disabled");
    assert.equal(await storedSession(phone), null);
    await shot(phone, "54-account-disabled-phone");
  });
});
