// The official npm `socket.io-client` 4.8 against the server under test, unchanged.
//
// Note on offsets: with connection-state recovery enabled, the reference appends a
// recovery offset (a string) to every event it emits without an ack, direct emits
// included, and socket.io-client passes it to listeners as an extra last argument.
// `payload()` below checks that offset is there and strips it.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { io, Manager } from "socket.io-client";
import { nextEvent, waitFor } from "../lib/wait.js";
import { PING_INTERVAL_MS, startServerUnderTest } from "./server.js";

let srv;
before(async () => {
  srv = await startServerUnderTest();
});
after(async () => {
  await srv?.stop();
});

/** Every socket a test opened, closed after it whatever happened. */
const opened = new Set();
afterEach(() => {
  for (const socket of opened) {
    socket.io.reconnection(false);
    socket.disconnect();
    socket.io.engine?.close();
  }
  opened.clear();
});

function client(nsp = "/", opts = {}) {
  const socket = io(`${srv.http}${nsp}`, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
  opened.add(socket);
  return socket;
}

/** Resolves once connected; rejects on connect_error. */
async function connected(socket) {
  if (socket.connected) return socket;
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

/** Listener arguments without the trailing recovery offset (asserted to be a string). */
function payload(args) {
  assert.ok(args.length >= 1, "expected at least the recovery offset");
  assert.equal(typeof args.at(-1), "string", "expected a recovery offset as the last argument");
  return args.slice(0, -1);
}

/** Sends `message` and resolves the `message-back` arguments (offset stripped). */
async function echo(socket, ...args) {
  const back = nextEvent(socket, "message-back", 3000);
  socket.emit("message", ...args);
  return payload(await back);
}

/** `auth` is emitted by the server right after connect; listen before connecting. */
function authEvent(socket) {
  return nextEvent(socket, "auth", 3000).then(payload);
}

describe("transports", () => {
  test("websocket only", async () => {
    const socket = client("/", { transports: ["websocket"] });
    const auth = authEvent(socket);
    await connected(socket);
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.deepEqual(await auth, [{}]);
    assert.deepEqual(await echo(socket, "hi", { n: 1 }), ["hi", { n: 1 }]);
  });

  test("polling only", async () => {
    const socket = client("/", { transports: ["polling"] });
    await connected(socket);
    assert.equal(socket.io.engine.transport.name, "polling");
    assert.deepEqual(await echo(socket, "hi", [1, 2]), ["hi", [1, 2]]);
    assert.equal(socket.io.engine.transport.name, "polling");
  });

  test("polling, then upgrade to websocket", async () => {
    const socket = client("/", { transports: ["polling", "websocket"] });
    await connected(socket);
    const engineId = socket.io.engine.id;
    await waitFor(() => socket.io.engine.transport.name === "websocket", 3000, "the upgrade to websocket");
    assert.equal(socket.io.engine.id, engineId, "the upgrade keeps the Engine.IO session");
    assert.deepEqual(await echo(socket, "after upgrade"), ["after upgrade"]);
  });
});

describe("auth", () => {
  test("accepted: the auth event echoes the CONNECT payload", async () => {
    const socket = client("/", { auth: { token: "abc", n: 1 } });
    const auth = authEvent(socket);
    await connected(socket);
    assert.deepEqual(await auth, [{ token: "abc", n: 1 }]);
  });

  test("refused: connect_error carries message and data; no reconnection", async () => {
    const socket = client("/", { auth: { refuse: true }, reconnection: true });
    const [err] = await nextEvent(socket, "connect_error", 3000);
    assert.equal(err.message, "refused");
    assert.deepEqual(err.data, { code: "refused" });
    assert.equal(socket.connected, false);
    assert.equal(socket.active, false, "a middleware refusal is final");
  });
});

describe("acks", () => {
  test("client -> server: message-with-ack acks with the same arguments", async () => {
    const socket = await connected(client());
    const reply = await new Promise((resolve) => {
      socket.emit("message-with-ack", 1, "2", { 3: [true] }, (...args) => resolve(args));
    });
    assert.deepEqual(reply, [1, "2", { 3: [true] }]);
  });

  test("client -> server with a timeout: emitWithAck resolves the first argument", async () => {
    const socket = await connected(client());
    assert.deepEqual(await socket.timeout(3000).emitWithAck("message-with-ack", { ok: true }), { ok: true });
  });

  test("server -> client: ping-client with an ack; the server reports what the client acked", async () => {
    const socket = await connected(client());
    socket.on("ping-client", (...args) => {
      const ack = args.at(-1);
      assert.equal(typeof ack, "function", "ping-client must carry an ack callback");
      assert.equal(args.length, 1, "an event with an ack carries no recovery offset");
      ack("pong", { n: 1 });
    });
    const acked = nextEvent(socket, "client-acked", 3000);
    socket.emit("server-ack");
    assert.deepEqual(payload(await acked), ["pong", { n: 1 }]);
  });
});

describe("binary", () => {
  const sent = () => [
    { file: Buffer.from([1, 2, 3]), meta: { name: "a.bin", parts: [new Uint8Array([4, 5]), "text"] } },
    [Buffer.from([]), Buffer.from([255, 0, 127])],
    "plain",
  ];
  const expected = [
    { file: Buffer.from([1, 2, 3]), meta: { name: "a.bin", parts: [Buffer.from([4, 5]), "text"] } },
    [Buffer.from([]), Buffer.from([255, 0, 127])],
    "plain",
  ];

  for (const transport of ["websocket", "polling"]) {
    test(`nested Buffers/Uint8Arrays both ways over ${transport}`, async () => {
      const socket = await connected(client("/", { transports: [transport] }));
      const back = await echo(socket, ...sent());
      assert.deepEqual(back, expected);
      assert.ok(Buffer.isBuffer(back[0].file), "binary comes back as a Buffer");
    });

    test(`binary in acks over ${transport}`, async () => {
      const socket = await connected(client("/", { transports: [transport] }));
      const reply = await new Promise((resolve) => {
        socket.emit("message-with-ack", { data: Buffer.from([7, 8, 9]) }, (...args) => resolve(args));
      });
      assert.deepEqual(reply, [{ data: Buffer.from([7, 8, 9]) }]);
    });
  }
});

describe("namespaces and rooms", () => {
  test("/ and /custom multiplexed on one Manager (one Engine.IO connection)", async () => {
    const manager = new Manager(srv.http, { reconnection: false, transports: ["websocket"] });
    const main = manager.socket("/");
    const custom = manager.socket("/custom", { auth: { ns: "custom" } });
    opened.add(main);
    opened.add(custom);
    const mainAuth = authEvent(main);
    const customAuth = authEvent(custom);
    await Promise.all([connected(main), connected(custom)]);
    assert.equal(main.io.engine, custom.io.engine, "both namespaces share one Engine.IO connection");
    assert.notEqual(main.id, custom.id);
    assert.deepEqual(await mainAuth, [{}]);
    assert.deepEqual(await customAuth, [{ ns: "custom" }]);

    custom.disconnect();
    assert.deepEqual(await echo(main, "still here"), ["still here"]);
    assert.equal(main.connected, true);
  });

  test("join + to-room reaches members only", async () => {
    const [member, outsider, sender] = await Promise.all([client(), client(), client()].map(connected));
    assert.equal(await member.timeout(3000).emitWithAck("join", "room-1"), true);

    const got = { member: [], outsider: [], sender: [] };
    member.on("room-message", (...args) => got.member.push(payload(args)));
    outsider.on("room-message", (...args) => got.outsider.push(payload(args)));
    sender.on("room-message", (...args) => got.sender.push(payload(args)));

    sender.emit("to-room", "room-1", { text: "hello room" }, 42);
    await waitFor(() => got.member.length === 1, 3000, "room-message at the member");
    // Round trips after the broadcast: anything misrouted would have arrived by now.
    await echo(sender, "barrier");
    await echo(outsider, "barrier");
    assert.deepEqual(got, { member: [[{ text: "hello room" }, 42]], outsider: [], sender: [] });
  });
});

describe("reconnection and recovery", () => {
  test("close-transport: the client reconnects by itself", async () => {
    const socket = await connected(
      client("/", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 }),
    );
    const firstEngine = socket.io.engine.id;
    const disconnected = nextEvent(socket, "disconnect", 3000);
    socket.emit("close-transport");
    const [reason] = await disconnected;
    assert.equal(reason, "transport close");
    await nextEvent(socket, "connect", 5000);
    assert.equal(socket.connected, true);
    assert.notEqual(socket.io.engine.id, firstEngine, "a new Engine.IO session");
    assert.deepEqual(await echo(socket, "back"), ["back"]);
  });

  test("connection-state recovery: every broadcast exactly once, in order, same id", async () => {
    const RECONNECT_DELAY_MS = 500;
    const away = await connected(
      client("/", {
        reconnection: true,
        reconnectionDelay: RECONNECT_DELAY_MS,
        reconnectionDelayMax: RECONNECT_DELAY_MS,
        randomizationFactor: 0,
      }),
    );
    const sender = await connected(client());
    const got = [];
    const senderGot = [];
    away.on("broadcast", (...args) => got.push(payload(args)[0]));
    sender.on("broadcast", (...args) => senderGot.push(payload(args)[0]));
    const idBefore = away.id;

    sender.emit("broadcast-all", 1);
    sender.emit("broadcast-all", 2);
    await waitFor(() => got.length === 2, 3000, "the first two broadcasts");

    const disconnected = nextEvent(away, "disconnect", 3000);
    away.emit("close-transport");
    await disconnected;
    const reconnected = nextEvent(away, "connect", 5000);

    sender.emit("broadcast-all", 3);
    sender.emit("broadcast-all", 4);
    await waitFor(() => senderGot.includes(4), 3000, "broadcasts 3 and 4 at the sender");
    assert.equal(away.connected, false, "test precondition: 3 and 4 were sent while the client was away");

    await reconnected;
    assert.equal(away.recovered, true, "socket.recovered");
    assert.equal(away.id, idBefore, "a recovered socket keeps its id");
    await waitFor(() => got.length >= 4, 3000, "the missed broadcasts");
    await echo(away, "barrier"); // duplicates, if any, would have arrived by now
    assert.deepEqual(got, [1, 2, 3, 4]);
  });

  // 60 heartbeats at the conformance server's 300 ms: what a polling-only client behind a
  // proxy goes through in 25 minutes at the default 25 s interval.
  test("polling-only client survives 60 heartbeats with the same id", async () => {
    const socket = await connected(client("/", { transports: ["polling"] }));
    const id = socket.id;
    const engineId = socket.io.engine.id;
    let disconnects = 0;
    socket.on("disconnect", () => disconnects++);
    let pings = 0;
    socket.io.on("ping", () => pings++);
    await waitFor(() => pings >= 60 || disconnects > 0, 60 * PING_INTERVAL_MS + 5000, "sixty heartbeats");
    assert.equal(disconnects, 0);
    assert.equal(socket.connected, true);
    assert.equal(socket.id, id);
    assert.equal(socket.io.engine.id, engineId);
    assert.deepEqual(await echo(socket, "alive"), ["alive"]);
  });
});
