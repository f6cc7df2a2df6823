// Smoke test of the socket.io-redis peer (correctness, not speed): two instances of
// server.js on a private redis-server, driven with the official socket.io-client the way
// `confab-loadtest --target chat` drives them. Accounts, groups and deliveries must work
// across the two instances, with Confab's acks.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const HOST = "127.0.0.1";
const SERVER = fileURLToPath(new URL("../server.js", import.meta.url));
const WAIT_MS = 5000;

async function freePort() {
  const srv = createServer().listen(0, HOST);
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

/** Polls `probe` until it returns a truthy value, or throws after `timeoutMs`. */
async function waitFor(what, probe, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** The next `event` on `socket`, or a rejection after WAIT_MS. */
function next(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${WAIT_MS} ms`)), WAIT_MS);
    socket.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

const children = [];
function start(command, argv, env = {}) {
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}

async function api(base, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe("socket.io-redis peer, two instances on one Redis", () => {
  const dir = mkdtempSync(join(tmpdir(), "peer-redis-"));
  const sockets = [];
  let a, b;
  const users = {};

  const connect = async (base, token) => {
    const socket = io(base, { auth: { token }, transports: ["websocket"], reconnection: false });
    sockets.push(socket);
    await next(socket, "connect");
    return socket;
  };

  before(async () => {
    const redisPort = await freePort();
    start("redis-server", ["--port", String(redisPort), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", dir]);
    const redis = `redis://${HOST}:${redisPort}`;
    [a, b] = await Promise.all(
      [0, 1].map(async () => {
        const port = await freePort();
        start("node", [SERVER, "--port", String(port), "--redis", redis]);
        const base = `http://${HOST}:${port}`;
        await waitFor(`the instance on ${port}`, async () => (await fetch(`${base}/readyz`)).ok);
        return base;
      }),
    );
    const run = Date.now().toString(36);
    for (const [name, base] of [["alice", a], ["bob", b], ["carol", a]]) {
      const { status, body } = await api(base, "/api/v1/auth/register", { username: `${name}${run}`, password: "password1" });
      assert.equal(status, 201, JSON.stringify(body));
      users[name] = body;
    }
  });

  after(async () => {
    for (const socket of sockets) socket.disconnect();
    for (const child of children.reverse()) {
      child.kill();
      if (child.exitCode === null) await once(child, "exit");
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("registration checks its input and usernames are unique across instances", async () => {
    const taken = await api(b, "/api/v1/auth/register", { username: users.alice.user.username, password: "password1" });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, "username_taken");
    const short = await api(a, "/api/v1/auth/register", { username: "shortpw", password: "1" });
    assert.equal(short.body.error.code, "invalid_password");
  });

  test("a bad token is refused with invalid_token", async () => {
    const socket = io(a, { auth: { token: `${users.alice.user.id}.forged` }, transports: ["websocket"], reconnection: false });
    sockets.push(socket);
    const err = await next(socket, "connect_error");
    assert.equal(err.data.code, "invalid_token");
  });

  test("direct messages cross instances; the sender gets the ack, its other device the message", async () => {
    const { alice, bob } = users;
    const alice1 = await connect(a, alice.token);
    const alice2 = await connect(b, alice.token);
    const bob1 = await connect(b, bob.token);
    let echoed = 0;
    alice1.on("message:new", () => echoed++);

    const delivered = next(bob1, "message:new");
    const mirrored = next(alice2, "message:new");
    const to = { user: bob.user.id };
    const ack = await alice1.timeout(WAIT_MS).emitWithAck("message:send", { to, body: "hi bob", client_msg_id: "c-1" });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const { message } = ack;
    const conversation = [alice.user.id, bob.user.id].sort().join(":");
    assert.equal(message.conversation, `d:${conversation}`);
    assert.deepEqual([message.from, message.to, message.body, message.client_msg_id], [alice.user.id, to, "hi bob", "c-1"]);
    assert.deepEqual(await delivered, message);
    assert.deepEqual(await mirrored, message);

    const receipt = next(alice1, "receipt");
    assert.deepEqual(await bob1.timeout(WAIT_MS).emitWithAck("read", { conversation: message.conversation, seq: 1 }), { ok: true });
    assert.deepEqual(await receipt, { conversation: message.conversation, user: bob.user.id, seq: 1 });
    const typing = next(alice2, "typing");
    bob1.emit("typing", { conversation: message.conversation, typing: true });
    assert.deepEqual(await typing, { conversation: message.conversation, user: bob.user.id, typing: true });
    assert.equal(echoed, 0, "the sending connection must not receive its own message");
  });

  test("group members get messages on both instances, including sockets connected before the group existed", async () => {
    const { alice, bob, carol } = users;
    const bob1 = await connect(b, bob.token);
    const carol1 = await connect(a, carol.token);
    const created = await api(a, "/api/v1/groups", { name: "team", members: [bob.user.id, carol.user.id] }, alice.token);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const gid = created.body.group.id;
    // connected after the group was created: joins its room on connect
    const alice1 = await connect(b, alice.token);
    const to = { group: gid };
    const atBob = next(bob1, "message:new");
    const atCarol = next(carol1, "message:new");
    const ack = await alice1.timeout(WAIT_MS).emitWithAck("message:send", { to, body: "hi team", client_msg_id: "g-1" });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.message.conversation, `g:${gid}`);
    assert.deepEqual(await atBob, ack.message);
    assert.deepEqual(await atCarol, ack.message);

    const outsider = await api(a, "/api/v1/auth/register", { username: `dave${Date.now().toString(36)}`, password: "password1" });
    const dave = await connect(b, outsider.body.token);
    const refused = await dave.timeout(WAIT_MS).emitWithAck("message:send", { to, body: "let me in", client_msg_id: "x" });
    assert.equal(refused.error.code, "not_found");
  });

  test("members who join a public group get its messages on both instances; a private one cannot be joined", async () => {
    const { alice, bob, carol } = users;
    const created = await api(a, "/api/v1/groups", { name: "open", public: true }, alice.token);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const gid = created.body.group.id;
    const bob1 = await connect(b, bob.token);
    const joined = await api(b, `/api/v1/groups/${gid}/join`, {}, bob.token);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    const alice1 = await connect(a, alice.token);
    const atBob = next(bob1, "message:new");
    const ack = await alice1.timeout(WAIT_MS).emitWithAck("message:send", { to: { group: gid }, body: "hi", client_msg_id: "o-1" });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.deepEqual(await atBob, ack.message);

    const closed = await api(a, "/api/v1/groups", { name: "closed" }, alice.token);
    const refused = await api(a, `/api/v1/groups/${closed.body.group.id}/join`, {}, carol.token);
    assert.equal(refused.status, 404, JSON.stringify(refused.body));
  });

  test("presence:query sees connections on every instance", async () => {
    const { alice, carol } = users;
    const carol1 = await connect(b, carol.token);
    const answer = await carol1.timeout(WAIT_MS).emitWithAck("presence:query", { users: [alice.user.id, "nobody"] });
    assert.deepEqual(answer, {
      ok: true,
      presence: [
        { user: alice.user.id, online: true, last_seen: null },
        { user: "nobody", online: false, last_seen: null },
      ],
    });
  });
});
