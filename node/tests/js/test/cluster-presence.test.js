// Presence across a drain: when a node stops (SIGTERM), its users' contacts on the other
// node hear that they went offline, whatever the users did before (here: typing, which
// once left the announcement cut off by the node's exit).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { apiOk, closeAll, confabUnavailableReason, connect, register, send } from "../lib/confab.js";
import { startCluster } from "../lib/cluster.js";
import { waitFor } from "../../../../socketio/tests/js/lib/wait.js";

const skip = confabUnavailableReason();

describe("presence when a node drains", { skip: skip ?? false }, () => {
  let cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 2 });
  });
  after(async () => {
    closeAll();
    await cluster?.stop();
  });

  test("contacts on another node hear that a draining node's user went offline", async () => {
    const [nodeA, nodeB] = cluster.nodes;
    const [alice, bob] = await Promise.all([register(nodeA, "stayer"), register(nodeB, "leaver")]);
    const asked = await apiOk(nodeB, "POST", "/api/v1/contacts/requests", { token: bob.token, body: { user_id: alice.user.id } }, 201);
    await apiOk(nodeA, "POST", `/api/v1/contacts/requests/${asked.request.id}/accept`, { token: alice.token });

    const aliceSocket = await connect(nodeA, alice.token);
    const presence = [];
    aliceSocket.on("presence", (event) => presence.push(event));
    const bobSocket = await connect(nodeB, bob.token);
    await waitFor(() => presence.some((p) => p.user === bob.user.id && p.online), 5000, "bob online at alice");

    const sent = await send(bobSocket, { user: alice.user.id }, "about to go");
    assert.equal(sent.ok, true, JSON.stringify(sent));
    await new Promise((resolve) => bobSocket.emit("typing", { conversation: sent.message.conversation, typing: true }, resolve));

    await nodeB.stop();
    const offline = await waitFor(
      () => presence.find((p) => p.user === bob.user.id && !p.online),
      10_000,
      "bob offline at alice after node B drained",
    );
    assert.equal(typeof offline.last_seen, "string");
  });
});
