// End-to-end chat scenarios: the official `socket.io-client` against a real `confab serve`
// (CONFAB_BIN), one standalone node per file on a free port with a fresh SQLite database.
// The contract is /work/shared/API.md (HTTP API and Socket.IO events).
//
// Registering costs ~2 s per user on a debug build (Argon2 unoptimised), so a pool of
// users is registered once, in parallel; every test that reads `sync` gets a receiver that
// is in no other conversation (sync without a cursor returns every conversation).
//
// The node drains for 1 s on SIGTERM (CONFAB_DRAIN_WINDOW_SECS=1, deadline 2 s) instead of
// the default 10 s, so the restart scenario stays short.
//
// Absence checks ("X does not receive") cannot wait for a condition; they wait a short,
// fixed ABSENCE_MS after a positive barrier (someone else received the same message).

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  ack,
  api,
  apiOk,
  befriend,
  client,
  clientMsgId,
  closeAll,
  connect,
  ConfabNode,
  confabUnavailableReason,
  received,
  register,
  send,
  syncAll,
} from "../lib/confab.js";
import { nextEvent, waitFor } from "../../../../socketio/tests/js/lib/wait.js";

/** How long "nothing arrives" is watched for, after a positive barrier. */
const ABSENCE_MS = 300;

const skip = confabUnavailableReason();

/** seqs of `messages` as an array. */
const seqs = (messages) => messages.map((m) => m.seq);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("chat end to end", { skip: skip ?? false }, () => {
  /** @type {ConfabNode} */
  let node;
  /** name -> {user, token}; see the header. */
  const u = {};

  before(async () => {
    node = await new ConfabNode({
      env: { CONFAB_DRAIN_WINDOW_SECS: "1", CONFAB_DRAIN_DEADLINE_SECS: "2" },
      stopTimeoutMs: 6000,
    }).start();
    // alice: the shared sender (never syncs); bob1/carol: never sync; bob2..bob6: one
    // receiver per test that syncs.
    const names = ["alice", "bob1", "bob2", "bob3", "bob4", "bob6", "carol"];
    const users = await Promise.all(names.map((n) => register(node, n)));
    names.forEach((n, i) => (u[n] = users[i]));
  });
  after(async () => {
    closeAll();
    await node?.close();
  });
  afterEach(() => closeAll());

  test("two devices of a user receive message:new; the sending connection gets only the ack", async () => {
    const { alice, bob1: bob } = u;
    const a1 = await connect(node, alice.token);
    // one device on HTTP long-polling, to cover that transport end to end
    const a2 = await connect(node, alice.token, { transports: ["polling"] });
    assert.equal(a2.io.engine.transport.name, "polling");
    const b1 = await connect(node, bob.token);
    const b2 = await connect(node, bob.token);

    const id = clientMsgId();
    const reply = await send(b1, { user: alice.user.id }, "hello alice", { clientMsgId: id });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const m = reply.message;
    assert.equal(m.body, "hello alice");
    assert.equal(m.from, bob.user.id);
    assert.equal(m.client_msg_id, id);
    assert.equal(m.seq, 1);
    assert.ok(m.id && m.conversation, "message has id and conversation");
    assert.ok(!Number.isNaN(Date.parse(m.ts)), `ts is a date: ${m.ts}`);

    const got1 = await received(a1, (x) => x.id === m.id, 3000, "message:new on alice's websocket device");
    const got2 = await received(a2, (x) => x.id === m.id, 3000, "message:new on alice's polling device");
    const gotB2 = await received(b2, (x) => x.id === m.id, 3000, "message:new on bob's other device");
    assert.deepEqual(got1, m);
    assert.deepEqual(got2, m);
    assert.deepEqual(gotB2, m);

    // absence: the sending connection must not get its own message (short fixed wait)
    await delay(ABSENCE_MS);
    assert.deepEqual(b1.inbox, [], "the sending connection got message:new");
    assert.equal(a1.inbox.length, 1, "alice's device got a duplicate");
    assert.equal(a2.inbox.length, 1, "alice's polling device got a duplicate");
  });

  test("an offline user gets everything through sync after reconnecting, in order, once", async () => {
    const { alice, bob2: bob } = u;
    const a = await connect(node, alice.token);
    let b = await connect(node, bob.token);
    b.disconnect();

    for (let i = 1; i <= 30; i++) {
      const reply = await send(a, { user: bob.user.id }, `offline ${i}`);
      assert.equal(reply.ok, true, JSON.stringify(reply));
      assert.equal(reply.message.seq, i);
    }

    b = await connect(node, bob.token);
    const { messages, calls, pages } = await syncAll(b, {}, { limit: 7 });
    assert.ok(pages.every((n) => n <= 7), `a page exceeded the limit: ${pages}`);
    assert.deepEqual(seqs(messages), range(1, 30), `pages ${pages}`);
    assert.deepEqual(
      messages.map((m) => m.body),
      range(1, 30).map((i) => `offline ${i}`),
    );
    assert.equal(new Set(messages.map((m) => m.id)).size, 30, "duplicate message ids");
    assert.equal(new Set(messages.map((m) => m.conversation)).size, 1);
    assert.ok(calls >= 5 && calls <= 6, `expected 5 (or 6) sync calls with limit 7, got ${calls}: ${pages}`);
    // caught up: a further sync from the final cursor returns nothing
    const again = await ack(b, "sync", { cursors: { [messages[0].conversation]: 30 }, limit: 7 });
    assert.deepEqual({ ok: again.ok, messages: again.messages, more: again.more }, { ok: true, messages: [], more: false });
  });

  test("resending after a lost ack returns the same message and stores nothing", async () => {
    const { alice, bob3: bob } = u;
    const a = await connect(node, alice.token);
    const id = clientMsgId("resend");
    const first = await send(a, { user: bob.user.id }, "once", { clientMsgId: id });
    assert.equal(first.ok, true, JSON.stringify(first));
    // "lost ack": the client reconnects and sends the same client_msg_id again
    a.disconnect();
    const a2 = await connect(node, alice.token);
    const second = await send(a2, { user: bob.user.id }, "once", { clientMsgId: id });
    assert.equal(second.ok, true, JSON.stringify(second));
    assert.equal(second.message.id, first.message.id);
    assert.equal(second.message.seq, first.message.seq);
    assert.equal(second.message.conversation, first.message.conversation);

    const next = await send(a2, { user: bob.user.id }, "next");
    assert.equal(next.message.seq, first.message.seq + 1, "the resend consumed a seq");
    const b = await connect(node, bob.token);
    const { messages } = await syncAll(b);
    assert.deepEqual(
      messages.map((m) => [m.seq, m.body]),
      [
        [1, "once"],
        [2, "next"],
      ],
    );
  });

  test("5 concurrent senders x 20 messages to one conversation: acked seqs are exactly 1..100", async () => {
    const { alice, bob4: bob } = u;
    // five connections writing to the alice<->bob conversation: 3 of alice's, 2 of bob's
    const senders = await Promise.all([
      connect(node, alice.token),
      connect(node, alice.token),
      connect(node, alice.token),
      connect(node, bob.token),
      connect(node, bob.token),
    ]);
    const users = [alice, alice, alice, bob, bob];
    const target = (i) => ({ user: (users[i] === alice ? bob : alice).user.id });
    const replies = await Promise.all(
      senders.flatMap((s, i) => range(1, 20).map((j) => send(s, target(i), `c${i}-${j}`, { timeoutMs: 15_000 }))),
    );
    const failed = replies.filter((r) => !r.ok);
    assert.deepEqual(failed, [], "some sends were refused");
    const acked = replies.map((r) => r.message);
    assert.equal(new Set(acked.map((m) => m.conversation)).size, 1, "not one conversation");
    assert.deepEqual(
      seqs(acked).sort((x, y) => x - y),
      range(1, 100),
    );
    assert.equal(new Set(acked.map((m) => m.id)).size, 100);

    // what is stored agrees with the acks
    const { messages } = await syncAll(senders[3]);
    assert.deepEqual(seqs(messages), range(1, 100));
    const bySeq = new Map(acked.map((m) => [m.seq, m]));
    for (const m of messages) assert.equal(m.id, bySeq.get(m.seq).id, `seq ${m.seq}`);
  });

  test("a bad token gets connect_error with data {code: invalid_token}", async () => {
    const { alice } = u;
    const [head, payload] = alice.token.split(".");
    const tampered = `${head}.${payload}.AAAA${alice.token.split(".")[2].slice(4)}`;
    for (const token of ["not-a-token", tampered]) {
      const socket = client(node, token);
      const [err] = await nextEvent(socket, "connect_error", 5000);
      assert.deepEqual(err.data, { code: "invalid_token" }, `token ${token}`);
      assert.equal(socket.connected, false);
    }
  });

  test("a reconnecting client survives a node restart and catches up with sync", { timeout: 30_000 }, async () => {
    const { alice, bob6: bob } = u;
    const b = await connect(node, bob.token, {
      reconnection: true,
      reconnectionDelay: 300,
      reconnectionDelayMax: 500,
      randomizationFactor: 0,
    });
    const a = await connect(node, alice.token);
    for (let i = 1; i <= 3; i++) await send(a, { user: bob.user.id }, `before ${i}`);
    const last = await received(b, (m) => m.body === "before 3", 3000, "live message before the restart");
    const cursors = { [last.conversation]: last.seq };
    const firstSid = b.id;

    let disconnected = false;
    b.once("disconnect", () => (disconnected = true));
    const connects = [];
    b.on("connect", () => connects.push(Date.now()));
    // A failed graceful stop (SIGKILLed after 6 s) is reported at the end, so that the
    // reconnection and catch-up below are checked on the restarted node anyway.
    const stopError = await node.restart().then(
      () => null,
      (err) => err,
    );
    const toDrainingNode = connects.filter((t) => t < node.exitedAt).length;
    await waitFor(() => disconnected, 5000, "bob's client to notice the restart");

    // sent while (most likely) bob's client is still reconnecting; over HTTP so that the
    // test does not depend on alice's socket
    for (let i = 1; i <= 5; i++) {
      await apiOk(node, "POST", "/api/v1/messages", {
        token: alice.token,
        body: { to: { user: bob.user.id }, body: `after ${i}`, client_msg_id: clientMsgId("after") },
      });
    }
    // connected to the new process: a connect after the old one exited
    await waitFor(
      () => b.connected && connects.some((t) => t > node.exitedAt),
      10_000,
      "bob's client to reconnect by itself to the restarted node",
    );
    assert.notEqual(b.id, firstSid, "expected a new Socket.IO session after the restart");

    const { messages } = await syncAll(b, cursors);
    assert.deepEqual(
      messages.map((m) => [m.seq, m.body]),
      range(1, 5).map((i) => [3 + i, `after ${i}`]),
    );
    // and the reconnected client is live again
    const live = await send(b, { user: alice.user.id }, "back");
    assert.equal(live.ok, true, JSON.stringify(live));
    assert.equal(live.message.seq, 9);

    if (stopError) {
      assert.fail(
        `SIGTERM did not stop the node in time (drain window 1 s, deadline 2 s); bob's client ` +
          `had reconnected ${toDrainingNode} time(s) to the draining node before it exited: ${stopError.message}`,
      );
    }
  });

  describe("groups", () => {
    test("group members on two connections receive; added members receive; removed ones stop", async (t) => {
      const { alice, bob1: bob, carol } = u;
      // Only contacts can be put in a group by someone else.
      await befriend(node, bob, alice);
      await befriend(node, carol, alice);
      const created = await api(node, "POST", "/api/v1/groups", {
        token: alice.token,
        body: { name: "team", members: [bob.user.id] },
      });
      if (created.status === 404) {
        t.todo(`POST /api/v1/groups is not there yet (404 ${JSON.stringify(created.body)})`);
        return;
      }
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const group = created.body.group;
      assert.ok(group?.id, JSON.stringify(created.body));

      const a = await connect(node, alice.token);
      const b1 = await connect(node, bob.token);
      const b2 = await connect(node, bob.token);
      const c = await connect(node, carol.token); // connected before being added
      // A sync answers once its connection gets its groups' messages live.
      for (const socket of [b1, b2, c]) await ack(socket, "sync", { cursors: {}, limit: 1 });

      const r1 = await send(a, { group: group.id }, "g1");
      assert.equal(r1.ok, true, JSON.stringify(r1));
      assert.equal(r1.message.seq, 1);
      assert.deepEqual(r1.message.to, { group: group.id });
      assert.deepEqual(await received(b1, (m) => m.id === r1.message.id, 3000, "g1 on bob 1"), r1.message);
      assert.deepEqual(await received(b2, (m) => m.id === r1.message.id, 3000, "g1 on bob 2"), r1.message);

      // carol added over HTTP, without reconnecting
      const added = await api(node, "POST", `/api/v1/groups/${group.id}/members`, {
        token: alice.token,
        body: { user_id: carol.user.id },
      });
      if (added.status === 404 && added.body?.error?.code === "not_found" && /endpoint/.test(added.body.error.message)) {
        t.todo(`POST /api/v1/groups/{id}/members is not there yet (${JSON.stringify(added.body)})`);
        return;
      }
      assert.ok(added.status === 200 || added.status === 201, `add member: ${added.status} ${JSON.stringify(added.body)}`);
      const r2 = await send(a, { group: group.id }, "g2");
      assert.equal(r2.ok, true, JSON.stringify(r2));
      await received(c, (m) => m.id === r2.message.id, 3000, "g2 on carol, added while connected");
      await received(b1, (m) => m.id === r2.message.id, 3000, "g2 on bob 1");
      await received(b2, (m) => m.id === r2.message.id, 3000, "g2 on bob 2");
      assert.equal(c.inbox.some((m) => m.id === r1.message.id), false, "carol got a message from before she joined live");

      // bob removed: neither of his connections receives the next message
      const removed = await api(node, "DELETE", `/api/v1/groups/${group.id}/members/${bob.user.id}`, {
        token: alice.token,
      });
      if (removed.status === 404 && /endpoint/.test(removed.body?.error?.message ?? "")) {
        t.todo(`DELETE /api/v1/groups/{id}/members/{user_id} is not there yet (${JSON.stringify(removed.body)})`);
        return;
      }
      assert.ok(removed.status >= 200 && removed.status < 300, `remove member: ${removed.status} ${JSON.stringify(removed.body)}`);
      const r3 = await send(a, { group: group.id }, "g3");
      assert.equal(r3.ok, true, JSON.stringify(r3));
      await received(c, (m) => m.id === r3.message.id, 3000, "g3 on carol (barrier)");
      await delay(ABSENCE_MS); // absence check: short fixed wait after the barrier
      for (const [name, s] of [["bob 1", b1], ["bob 2", b2]]) {
        assert.equal(s.inbox.some((m) => m.id === r3.message.id), false, `${name} received g3 after removal`);
      }
      assert.equal(a.inbox.length, 0, "the sending connection got message:new");
      // and bob may no longer write to it
      const refused = await send(b1, { group: group.id }, "still here?");
      assert.equal(refused.ok, false, JSON.stringify(refused));
    });
  });
});
