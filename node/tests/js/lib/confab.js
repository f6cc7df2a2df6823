// Helpers for end-to-end chat tests against a real `confab serve` process (CONFAB_BIN):
// one standalone node on a free port with a fresh SQLite database in a temp dir, the
// HTTP API as JSON, and official `socket.io-client` connections that are all closed by
// `closeAll()`. Waiting is always for a condition with a deadline (see `wait.js`, shared
// with the Socket.IO library's suites in socketio/tests/js).

import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { io } from "socket.io-client";
import { request } from "../../../../socketio/tests/js/lib/http.js";
import { waitFor, withTimeout } from "../../../../socketio/tests/js/lib/wait.js";
import { freePort } from "../../../../socketio/tests/js/lib/ports.js";

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 15_000;

/** Why the chat tests cannot run (CONFAB_BIN unset), or null when they can. */
export function confabUnavailableReason() {
  return process.env.CONFAB_BIN
    ? null
    : "CONFAB_BIN is not set: end-to-end chat tests need the confab binary (target/debug/confab)";
}

/**
 * The parent's environment without any CONFAB_* variable, plus `extra`. Every test user
 * registers and logs in from 127.0.0.1, so the per-address limits of logins and
 * registrations are raised out of the way (the Rust suite tests them).
 */
function childEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("CONFAB_")) env[key] = value;
  }
  return {
    ...env,
    RUST_LOG: "warn",
    CONFAB_AUTH_PER_MINUTE: "100000",
    CONFAB_AUTH_BURST: "100000",
    CONFAB_MAX_SESSIONS_PER_ADDRESS: "100000",
    ...extra,
  };
}

/** Every child still alive, killed if the test process exits without cleaning up. */
const live = new Set();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/**
 * One standalone Confab node. `start()` spawns it and waits for `/readyz`; `restart()`
 * stops it with SIGTERM and starts it again on the same port and database; `close()`
 * stops it and removes the temp dir.
 */
export class ConfabNode {
  /** `env`: extra CONFAB_* settings for this node (the parent's CONFAB_* are never passed). */
  /** `stopTimeoutMs`: how long SIGTERM may take (the default drain alone takes 10 s). */
  /** `databaseUrl`: a shared database (cluster mode); by default a fresh SQLite file. */
  constructor({ bin = process.env.CONFAB_BIN, env = {}, stopTimeoutMs = 30_000, databaseUrl } = {}) {
    this.bin = bin;
    this.env = env;
    this.stopTimeoutMs = stopTimeoutMs;
    this.dir = mkdtempSync(join(tmpdir(), "confab-chat-"));
    this.databaseUrl = databaseUrl ?? `sqlite://${join(this.dir, "c.db")}?mode=rwc`;
    this.port = null;
    this.child = null;
    this.exited = null;
    this.log = "";
    /** Date.now() when a node process of this object last exited. */
    this.exitedAt = null;
  }

  get url() {
    return `http://${HOST}:${this.port}`;
  }

  /** The last lines the node printed (for failure messages). */
  output() {
    return this.log;
  }

  async start() {
    this.port ??= await freePort();
    const child = spawn(this.bin, ["serve"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: childEnv({ ...this.env, CONFAB_LISTEN: `${HOST}:${this.port}`, CONFAB_DATABASE_URL: this.databaseUrl }),
    });
    this.child = child;
    this.exited = null;
    live.add(child);
    const keep = (chunk) => {
      this.log = (this.log + chunk.toString("utf8")).slice(-8000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("exit", (code, signal) => {
      live.delete(child);
      this.exitedAt = Date.now();
      if (this.child === child) this.exited = { code, signal };
    });
    child.once("error", (err) => {
      live.delete(child);
      if (this.child === child) this.exited = { error: err.message };
    });

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.exited) {
        throw new Error(`confab exited before it was ready: ${JSON.stringify(this.exited)}\n${this.log}`);
      }
      const res = await request(`${this.url}/readyz`, { timeoutMs: 1000 }).catch(() => null);
      if (res?.status === 200) return this;
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`confab was not ready on ${this.port} within ${START_TIMEOUT_MS} ms\n${this.log}`);
      }
      await delay(25);
    }
  }

  /** SIGTERM (graceful drain); SIGKILL and an error if it has not exited in `stopTimeoutMs`. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = once(child, "exit");
    child.kill("SIGTERM");
    const done = await Promise.race([gone.then(() => true), delay(this.stopTimeoutMs, false, { ref: false })]);
    if (!done) {
      child.kill("SIGKILL");
      await gone;
      throw new Error(`confab did not exit within ${this.stopTimeoutMs} ms of SIGTERM\n${this.log}`);
    }
  }

  /** stop() then start(); starts again even when stop() failed, then rethrows that error. */
  async restart() {
    let stopError = null;
    try {
      await this.stop();
    } catch (err) {
      stopError = err;
    }
    await this.start();
    if (stopError) throw stopError;
  }

  async close() {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Starts a fresh node (new temp dir, new port). */
export function startNode(opts) {
  return new ConfabNode(opts).start();
}

/**
 * One JSON request to the HTTP API. Resolves `{status, body}` (`body` parsed JSON, or
 * null for an empty reply); never throws on a non-2xx status.
 */
export async function api(node, method, path, { token, body, timeoutMs = 10_000 } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await request(`${node.url}${path}`, { method, headers, body: payload, timeoutMs });
  let json = null;
  if (res.text) {
    try {
      json = JSON.parse(res.text);
    } catch {
      json = { unparsed: res.text };
    }
  }
  return { status: res.status, body: json };
}

/** Like `api`, but throws with the whole reply unless the status is `expected`. */
export async function apiOk(node, method, path, opts = {}, expected = 200) {
  const res = await api(node, method, path, opts);
  if (res.status !== expected) {
    throw new Error(`${method} ${path}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

let userCounter = 0;

/**
 * Registers a new user named `<prefix><n>`; resolves `{user, token}`. Password hashing
 * (Argon2) takes seconds on a debug build and more on a busy machine, hence the deadline.
 */
export async function register(node, prefix = "user") {
  userCounter += 1;
  const username = `${prefix}${userCounter}`;
  return apiOk(node, "POST", "/api/v1/auth/register", { body: { username, password: "correct horse battery" }, timeoutMs: 60_000 }, 201);
}

/**
 * Makes `a` and `b` (each `{user, token}`) contacts: `a` asks, `b` accepts. Adding someone
 * to a group needs them to be the adder's contact.
 */
export async function befriend(node, a, b) {
  const asked = await apiOk(node, "POST", "/api/v1/contacts/requests", { token: a.token, body: { user_id: b.user.id } }, 201);
  await apiOk(node, "POST", `/api/v1/contacts/requests/${asked.request.id}/accept`, { token: b.token });
}

/** Every socket opened through `connect`/`client`, closed by `closeAll`. */
const sockets = new Set();

/** A `socket.io-client` socket for `token` (not yet waited for); websocket only by default. */
export function client(node, token, opts = {}) {
  const socket = io(node.url, {
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    transports: ["websocket"],
    auth: { token },
    ...opts,
  });
  sockets.add(socket);
  return socket;
}

/** Resolves once `socket` is connected; rejects with the `connect_error`. */
export function connected(socket, timeoutMs = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  let onConnect;
  let onError;
  const p = new Promise((resolve, reject) => {
    onConnect = () => resolve(socket);
    onError = (err) => reject(err);
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
  });
  return withTimeout(p, timeoutMs, "socket connect").finally(() => {
    socket.off("connect", onConnect);
    socket.off("connect_error", onError);
  });
}

/** A connected client for `token`, with an `inbox` of every `message:new` it receives. */
export async function connect(node, token, opts = {}) {
  const socket = client(node, token, opts);
  socket.inbox = [];
  socket.on("message:new", (message) => socket.inbox.push(message));
  return connected(socket);
}

/** Disconnects every socket opened here (reconnection off first). */
export function closeAll() {
  for (const socket of sockets) {
    socket.io.reconnection(false);
    socket.disconnect();
    socket.io.engine?.close();
  }
  sockets.clear();
}

let msgCounter = 0;

/** A fresh client_msg_id. */
export function clientMsgId(tag = "m") {
  msgCounter += 1;
  return `${tag}-${process.pid}-${msgCounter}`;
}

/** `emitWithAck` with a deadline. */
export function ack(socket, event, payload, timeoutMs = 5000) {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

/** Sends a message over `socket`; resolves the ack (`{ok, message}` or `{ok: false, error}`). */
export function send(socket, to, body, { clientMsgId: id = clientMsgId(), meta, timeoutMs } = {}) {
  const payload = { to, body, client_msg_id: id };
  if (meta !== undefined) payload.meta = meta;
  return ack(socket, "message:send", payload, timeoutMs);
}

/** Waits until `socket.inbox` holds a message matching `pred`; returns it. */
export function received(socket, pred, timeoutMs = 3000, what = "message:new") {
  return waitFor(() => socket.inbox.find(pred), timeoutMs, what);
}

/**
 * Calls `sync` from `cursors` until `more` is false; returns every message in order and
 * the number of calls. Cursors advance to the last seq of each conversation seen.
 */
export async function syncAll(socket, cursors = {}, { limit, maxCalls = 50 } = {}) {
  const cur = { ...cursors };
  const messages = [];
  const pages = [];
  for (let calls = 1; ; calls++) {
    const payload = { cursors: cur };
    if (limit !== undefined) payload.limit = limit;
    const reply = await ack(socket, "sync", payload);
    if (!reply?.ok) throw new Error(`sync failed: ${JSON.stringify(reply)}`);
    pages.push(reply.messages.length);
    for (const m of reply.messages) {
      messages.push(m);
      cur[m.conversation] = Math.max(cur[m.conversation] ?? 0, m.seq);
    }
    if (!reply.more) return { messages, calls, pages, cursors: cur };
    if (calls >= maxCalls) throw new Error(`sync still had more after ${maxCalls} calls`);
  }
}
