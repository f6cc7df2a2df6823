// What the browser tests share: a real two-node cluster (../js/lib/cluster.js) serving the
// built client (web/dist), its nodes sharing one storage directory for the files (as a
// cluster's nodes must), and Debian's chromium driven by playwright-core, started once
// per test file by `useCluster`; pages of their own browser context; waiting for what a
// page shows (always a condition with a deadline); screenshots in artifacts/; the steps
// of the client's common actions (sign in, send, act on a message); the session a page
// keeps; making a user a server administrator; images to upload; and whether a page fits
// its window.

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual, promisify } from "node:util";
import { crc32, deflateSync } from "node:zlib";
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

/** The cluster, its storage directory and the browser of the running test file (set by `useCluster`). */
export const harness = { cluster: null, storage: null, browser: null };

/**
 * Starts the cluster (every node with `env()`'s settings, asked once the hooks before it
 * have run) and the browser before the tests of this file, and stops them after.
 */
export function useCluster(env = () => ({})) {
  before(async () => {
    if (skip) return;
    assert.ok(existsSync(`${WEB_DIR}/index.html`), `the web client is not built in ${WEB_DIR}: run scripts/build-web`);
    mkdirSync(ARTIFACTS, { recursive: true });
    harness.storage = mkdtempSync(join(tmpdir(), "confab-browser-storage-"));
    harness.cluster = await startCluster({ nodes: 2, env: { CONFAB_WEB_DIR: WEB_DIR, CONFAB_STORAGE_DIR: harness.storage, ...env() } });
    harness.browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });
  after(async () => {
    await harness.browser?.close();
    await harness.cluster?.stop();
    if (harness.storage) rmSync(harness.storage, { recursive: true, force: true });
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

/** Registers `username` over HTTP (with a display name if given); resolves `{user, token, refresh_token, session_id}`. */
export function register(node, username, displayName) {
  const body = { username, password: PASSWORD };
  if (displayName) body.display_name = displayName;
  return apiOk(node, "POST", "/api/v1/auth/register", { body, timeoutMs: REGISTER_WITHIN_MS }, 201);
}

/** Logs `username` in over HTTP: a session of its own; resolves `{user, token, refresh_token, session_id}`. */
export function login(node, username) {
  return apiOk(node, "POST", "/api/v1/auth/login", { body: { username, password: PASSWORD, device: "test" }, timeoutMs: REGISTER_WITHIN_MS });
}

/** The session a page keeps in its localStorage (`{user, token, refresh_token, session_id}`), or null. */
export function storedSession(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("confab.session")));
}

/**
 * Makes `username` a server administrator as an operator does (docs/API.md §13.1): with
 * `confab admin grant`, on the cluster's database (and no other CONFAB_* setting).
 */
export function grantAdmin(username) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("CONFAB_")));
  env.CONFAB_DATABASE_URL = harness.cluster.databaseUrl;
  return promisify(execFile)(process.env.CONFAB_BIN, ["admin", "grant", username], { env });
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

/** A PNG of `width`×`height` pixels (a colour gradient), built chunk by chunk. */
export function png(width, height) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const framed = Buffer.alloc(body.length + 8);
    framed.writeUInt32BE(data.length, 0);
    body.copy(framed, 4);
    framed.writeUInt32BE(crc32(body), body.length + 4);
    return framed;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2], 8); // 8 bits per channel, RGB; default compression, filter, no interlace
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3); // filter type 0, then the pixels
    for (let x = 0; x < width; x++) row.set([255 - Math.round((120 * y) / height), Math.round((200 * x) / width), 120 + Math.round((100 * y) / height)], 1 + x * 3);
    rows.push(row);
  }
  const signature = Buffer.from("89504e470d0a1a0a", "hex");
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0))]);
}

/** Waits until the image `selector` has loaded (it has pixels); resolves its natural size. */
export async function loaded(page, selector) {
  await page.waitForFunction((css) => document.querySelector(css)?.naturalWidth > 0, selector, { timeout: WITHIN_MS });
  return page.locator(selector).evaluate((img) => [img.naturalWidth, img.naturalHeight]);
}

/** Elements shown past the right edge of the window (what an ancestor clips left out), as `tag.class`. */
function overflowing(page) {
  return page.evaluate(() => {
    const found = [];
    for (const el of document.body.querySelectorAll("*")) {
      const box = el.getBoundingClientRect();
      if (!box.width || !box.height) continue;
      let right = box.right;
      for (let up = el.parentElement; up; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== "visible") right = Math.min(right, up.getBoundingClientRect().right);
      }
      if (right > window.innerWidth + 0.5) found.push(`${el.tagName.toLowerCase()}.${el.className}`);
    }
    return found;
  });
}

/** Asserts that nothing on the page is wider than its window, and that each of `controls` is visible and whole. */
export async function fits(page, controls) {
  const { width } = page.viewportSize();
  assert.deepEqual(await overflowing(page), []);
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= width);
  for (const selector of controls) {
    const box = await (await see(page, selector)).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= width, `${selector} spans ${box.x}…${box.x + box.width}, outside 0…${width}`);
  }
}
