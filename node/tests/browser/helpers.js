// What the browser tests share: a real two-node cluster (../js/lib/cluster.js) serving the
// built client (web/dist) and Debian's chromium driven by playwright-core, started once
// per test file by `useCluster`; pages of their own browser context; waiting for what a
// page shows (always a condition with a deadline); screenshots in artifacts/; and the
// steps of the client's common actions (sign in, send, act on a message).

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { chromium } from "playwright-core";
import { apiOk, confabUnavailableReason } from "../js/lib/confab.js";
import { startCluster } from "../js/lib/cluster.js";
import { waitFor } from "../../../socketio/tests/js/lib/wait.js";

const WEB_DIR = fileURLToPath(new URL("../../../web/dist", import.meta.url));
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const PASSWORD = "correct horse battery";
/** Registration hashes with Argon2, which a debug build on a busy machine does slowly. */
export const REGISTER_WITHIN_MS = 60_000;
export const WITHIN_MS = 15_000;
/** A laptop-sized and a phone-sized window. */
export const LAPTOP = { width: 1200, height: 760 };
export const PHONE = { width: 390, height: 760 };

/** Why the tests cannot run (no CONFAB_BIN), or undefined when they can: `test(name, { skip })`. */
export const skip = confabUnavailableReason() ?? false;

/** The cluster and the browser of the running test file (set by `useCluster`). */
export const harness = { cluster: null, browser: null };

/**
 * Starts the cluster (every node with `env()`'s settings, asked once the hooks before it
 * have run) and the browser before the tests of this file, and stops them after.
 */
export function useCluster(env = () => ({})) {
  before(async () => {
    if (skip) return;
    assert.ok(existsSync(`${WEB_DIR}/index.html`), `the web client is not built in ${WEB_DIR}: run scripts/build-web`);
    mkdirSync(ARTIFACTS, { recursive: true });
    harness.cluster = await startCluster({ nodes: 2, env: { CONFAB_WEB_DIR: WEB_DIR, ...env() } });
    harness.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });
  after(async () => {
    await harness.browser?.close();
    await harness.cluster?.stop();
  });
}

/**
 * A page of its own browser context (own storage: its own signed-in user).
 * `prepare(context)` runs before the page opens (permissions, init scripts).
 */
export async function openPage(url, viewport, prepare = async () => {}) {
  const context = await harness.browser.newContext({ viewport, deviceScaleFactor: 1 });
  await prepare(context);
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  page.on("pageerror", (err) => console.error(`page error on ${url}:`, err));
  await page.goto(url);
  return page;
}

/** Registers `username` over HTTP (with a display name if given); resolves `{user, token}`. */
export function register(node, username, displayName) {
  const body = { username, password: PASSWORD };
  if (displayName) body.display_name = displayName;
  return apiOk(node, "POST", "/api/v1/auth/register", { body, timeoutMs: REGISTER_WITHIN_MS }, 201);
}

/** Waits until `selector` (optionally containing `text`) is visible; returns the locator. */
export async function see(page, selector, text, timeout = WITHIN_MS) {
  const locator = text === undefined ? page.locator(selector) : page.locator(selector, { hasText: text });
  await locator.first().waitFor({ state: "visible", timeout });
  return locator.first();
}

/** Waits until nothing matches `selector` on the page. */
export function gone(page, selector, timeout = WITHIN_MS) {
  return page.locator(selector).first().waitFor({ state: "detached", timeout });
}

/** Polls `read()` until it deep-equals `expected`; at the deadline, fails showing what it read last. */
export async function eventually(read, expected, what, timeout = WITHIN_MS) {
  let last;
  try {
    await waitFor(async () => isDeepStrictEqual((last = await read()), expected), timeout, what);
  } catch (err) {
    assert.deepEqual(last, expected, err.message);
  }
}

export function shot(page, name) {
  return page.screenshot({ path: `${ARTIFACTS}${name}.png` });
}

/**
 * Runs each step as a subtest of `t`; a failing one leaves a screenshot of each of `pages`
 * (`{laptop, phone}`: name → page) and the nodes' logs.
 */
export function stepper(t, pages) {
  const [nodeA, nodeB] = harness.cluster.nodes;
  return (name, fn) =>
    t.test(name, async () => {
      try {
        await fn();
      } catch (err) {
        const slug = name.replace(/\W+/g, "-").slice(0, 40);
        for (const [which, page] of Object.entries(pages)) await shot(page, `failure-${slug}-${which}`).catch(() => {});
        err.message += `\nnode A:\n${nodeA.output()}\nnode B:\n${nodeB.output()}`;
        throw err;
      }
    });
}

/** Signs in on the sign-in screen: `how` is "register" or "login". */
export async function signInPage(page, username, how) {
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", PASSWORD);
  await page.click(`[data-test=${how}]`);
  await see(page, "[data-test=me]", username, REGISTER_WITHIN_MS);
  await see(page, "[data-test=connection][data-state=synced]");
}

/** One's own message once the server has it: sent, or already read. */
export const STORED = "[data-test=message][data-status=sent], [data-test=message][data-status=read]";

/** Sends `body` from the composer; resolves its seq once the server has it. */
export async function send(page, body) {
  await page.fill("[data-test=composer]", body);
  await page.press("[data-test=composer]", "Enter");
  const sent = await see(page, STORED, body);
  return Number(await sent.getAttribute("data-seq"));
}

/** The message `seq` of the open conversation, or a selector inside it. */
export function at(seq, inside = "") {
  return `[data-test=message][data-seq='${seq}'] ${inside}`.trim();
}

/** Clicks a message (which shows its actions), then its action `name`. */
export async function messageAction(page, seq, name) {
  await page.locator(at(seq, ".meta")).click();
  await page.locator(at(seq, `[data-test=${name}]`)).click();
}
