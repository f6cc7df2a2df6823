// Raw Socket.IO v5 scripts over a plain WebSocket at `/socket.io/?EIO=4&transport=websocket`
// (two, closeTransportPollingIdle and closeTransportWhileUpgrading, over long-polling).
// Each script returns a normalised transcript (see normalize.js: sids, pids and recovery
// offsets replaced by placeholders). socketio.test.js asserts them literally;
// differential.test.js compares the reference's and Confab's.
//
// Frames are written as received, after normalisation: "40{...}" is Engine.IO message "4"
// carrying Socket.IO CONNECT "0"; binary frames appear as "<bin HEX>".

import { openPolling } from "./eio-scripts.js";
import { request, summarize } from "./http.js";
import { normalizeSocketIoFrame } from "./normalize.js";
import { RawWs } from "./rawws.js";
import { waitFor } from "./wait.js";

export const PATH = "/socket.io/";
export const CONNECT_TIMEOUT_MS = 1000;
export const PING_INTERVAL_MS = 300;
/** Scheduling noise tolerated on a loaded 2-core machine, added to upper timing bounds. */
export const SLACK_MS = 300;
/** How long a probe is watched for a close that must not come. */
const PROBE_GRACE_MS = 200;

const norm = (frames) => frames.map(normalizeSocketIoFrame);

function within(ms, lo, hi) {
  return ms >= lo && ms <= hi;
}

/** Opens an Engine.IO WebSocket session on the Socket.IO path, consuming the open packet. */
export async function openSession(srv, { autoPong = true } = {}) {
  const ws = await RawWs.open(`${srv.ws}${PATH}?EIO=4&transport=websocket`, { autoPong });
  try {
    const open = await ws.next();
    ws.engineSid = JSON.parse(open.slice(1)).sid;
  } catch (err) {
    ws.destroy();
    throw err;
  }
  return ws;
}

/** Sends a CONNECT and returns the reply plus the `auth` event (two frames, raw). */
async function connect(ws, packet = "40") {
  ws.send(packet);
  return ws.take(2);
}

/** A session connected to `/`. */
export async function connectedSession(srv) {
  const ws = await openSession(srv);
  try {
    await connect(ws);
  } catch (err) {
    ws.destroy();
    throw err;
  }
  return ws;
}

async function withSession(srv, fn, { autoPong = true } = {}) {
  const ws = await openSession(srv, { autoPong });
  try {
    return await fn(ws);
  } finally {
    ws.destroy();
  }
}

/**
 * Round trip on `/` used as a barrier: everything the server sent before answering it has
 * been received. Returns the frames received before the echo (normally none).
 */
async function barrier(ws, tag = "barrier", before = []) {
  ws.send(`42["message",{"${tag}":1}]`);
  for (;;) {
    const frame = await ws.next();
    if (typeof frame === "string" && frame.startsWith(`42["message-back",{"${tag}":1}`)) return before;
    before.push(frame);
  }
}

// --- connect -------------------------------------------------------------------------

export async function connectMain(srv) {
  return withSession(srv, async (ws) => ({ frames: norm(await connect(ws, "40")) }));
}

export async function connectMainWithAuth(srv) {
  return withSession(srv, async (ws) => ({ frames: norm(await connect(ws, '40{"token":"123"}')) }));
}

export async function connectCustom(srv) {
  return withSession(srv, async (ws) => ({
    withComma: norm(await connect(ws, "40/custom,")),
  }));
}

export async function connectCustomWithAuth(srv) {
  return withSession(srv, async (ws) => ({ frames: norm(await connect(ws, '40/custom,{"token":"abc"}')) }));
}

/** `40/custom` without the trailing comma is accepted too. */
export async function connectCustomNoComma(srv) {
  return withSession(srv, async (ws) => ({ frames: norm(await connect(ws, "40/custom")) }));
}

/** The Socket.IO sid is per namespace and differs from the Engine.IO sid. */
export async function sidsAreDistinct(srv) {
  return withSession(srv, async (ws) => {
    const [main] = await connect(ws, "40");
    const [custom] = await connect(ws, "40/custom,");
    const mainSid = JSON.parse(main.slice(2)).sid;
    const customSid = JSON.parse(custom.slice("40/custom,".length)).sid;
    return {
      mainDiffersFromEngine: mainSid !== ws.engineSid,
      customDiffersFromMain: customSid !== mainSid,
    };
  });
}

/** Unknown namespace: CONNECT_ERROR; with no namespace joined, closed at connectTimeout. */
export async function unknownNamespace(srv) {
  return withSession(srv, async (ws) => {
    ws.send("40/random,");
    const frames = norm([await ws.next()]);
    const closed = await ws.waitClosed(CONNECT_TIMEOUT_MS + SLACK_MS + 500);
    return {
      frames,
      closeCode: closed.code,
      closedAtConnectTimeout: within(closed.atMs, CONNECT_TIMEOUT_MS - 100, CONNECT_TIMEOUT_MS + SLACK_MS),
    };
  });
}

/** Middleware refusal (`{"refuse":true}`): CONNECT_ERROR with message and data. */
export async function refusedConnect(srv) {
  return withSession(srv, async (ws) => {
    ws.send('40{"refuse":true}');
    const frames = norm([await ws.next()]);
    const closed = await ws.waitClosed(CONNECT_TIMEOUT_MS + SLACK_MS + 500);
    return {
      frames,
      closeCode: closed.code,
      closedAtConnectTimeout: within(closed.atMs, CONNECT_TIMEOUT_MS - 100, CONNECT_TIMEOUT_MS + SLACK_MS),
    };
  });
}

/** After a refusal the same Engine.IO session may CONNECT again. */
export async function refusedThenAccepted(srv) {
  return withSession(srv, async (ws) => {
    ws.send('40{"refuse":true}');
    const refused = normalizeSocketIoFrame(await ws.next());
    const accepted = norm(await connect(ws, '40{"refuse":false}'));
    return { refused, accepted, barrier: norm(await barrier(ws)) };
  });
}

/** No CONNECT at all: the server closes the session after connectTimeout. */
export async function connectTimeout(srv) {
  return withSession(srv, async (ws) => {
    const closed = await ws.waitClosed(CONNECT_TIMEOUT_MS + SLACK_MS + 500);
    return {
      closeCode: closed.code,
      closedAtConnectTimeout: within(closed.atMs, CONNECT_TIMEOUT_MS - 100, CONNECT_TIMEOUT_MS + SLACK_MS),
      framesBeforeClose: ws.queue.length,
    };
  });
}

// --- events and acks -----------------------------------------------------------------

export async function eventEcho(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send('42["message",1,"2",{"3":[true]}]');
    ws.send('42["message"]');
    ws.send('42["message",null,false,1.5,"wörld €😀",[],{"x":{"y":[1,{"z":null}]}}]');
    return { frames: norm(await ws.take(3)) };
  } finally {
    ws.destroy();
  }
}

export async function eventWithAck(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send('421["message-with-ack",1,"2",{"3":[true]}]');
    ws.send('4212345["message-with-ack"]');
    return { frames: norm(await ws.take(2)) };
  } finally {
    ws.destroy();
  }
}

export async function binaryEvent(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send('452-["message",{"_placeholder":true,"num":0},{"list":[{"_placeholder":true,"num":1}]}]');
    ws.send(Buffer.from([1, 2, 3]));
    ws.send(Buffer.from([4, 5, 6]));
    return { frames: norm(await ws.take(3)) };
  } finally {
    ws.destroy();
  }
}

export async function binaryAck(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send('451-7["message-with-ack",{"_placeholder":true,"num":0}]');
    ws.send(Buffer.from([1, 2, 3]));
    return { frames: norm(await ws.take(2)) };
  } finally {
    ws.destroy();
  }
}

/** Server -> client ack: `ping-client` carries an ack id; the client's ack comes back. */
export async function serverAck(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send('42["server-ack"]');
    const request1 = await ws.next();
    const id1 = request1.match(/^42(\d+)\[/)?.[1];
    ws.send(`43${id1}["pong",{"n":1}]`);
    const acked1 = await ws.next();
    ws.send('42["server-ack"]');
    const request2 = await ws.next();
    const id2 = request2.match(/^42(\d+)\[/)?.[1];
    ws.send(`461-${id2}[{"_placeholder":true,"num":0}]`);
    ws.send(Buffer.from([9, 9]));
    const acked2 = await ws.take(2);
    return { frames: norm([request1, acked1, request2, ...acked2]), ackIdsDiffer: id1 !== id2 };
  } finally {
    ws.destroy();
  }
}

// --- namespaces ----------------------------------------------------------------------

/** DISCONNECT from `/custom` leaves `/` working on the same connection. */
export async function disconnectOneNamespace(srv) {
  const ws = await connectedSession(srv);
  try {
    await connect(ws, "40/custom,");
    ws.send("41/custom,");
    const before = await barrier(ws);
    return { framesBeforeEcho: norm(before), stillOpen: ws.isOpen };
  } finally {
    ws.destroy();
  }
}

/**
 * DISCONNECT from the last namespace: the reference keeps the Engine.IO session open
 * (heartbeats continue past connectTimeout), and a new CONNECT on it works.
 */
export async function disconnectLastNamespace(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send("41");
    const pingsAtDisconnect = ws.pings.length;
    await waitFor(
      () => ws.pings.length >= pingsAtDisconnect + 4 || !ws.isOpen,
      4 * (PING_INTERVAL_MS + SLACK_MS),
      "four heartbeats after the last namespace disconnected",
    );
    const openAfterHeartbeats = ws.isOpen;
    const reconnect = norm(await connect(ws, '40{"again":true}'));
    return { openAfterHeartbeats, framesWhileDisconnected: ws.queue.length, reconnect };
  } finally {
    ws.destroy();
  }
}

// --- rooms and broadcasts ------------------------------------------------------------

/** `join` + `to-room`: members get `room-message`; non-members and the sender don't. */
export async function rooms(srv) {
  const sessions = await Promise.allSettled([connectedSession(srv), connectedSession(srv), connectedSession(srv)]);
  const failed = sessions.find((s) => s.status === "rejected");
  if (failed) {
    for (const s of sessions) if (s.status === "fulfilled") s.value.destroy();
    throw failed.reason;
  }
  const [member, outsider, sender] = sessions.map((s) => s.value);
  try {
    member.send('421["join","r1"]');
    const joinAck = normalizeSocketIoFrame(await member.next());
    sender.send('42["to-room","r1",{"a":1},[2]]');
    const senderBefore = await barrier(sender);
    const memberGot = normalizeSocketIoFrame(await member.next());
    const outsiderBefore = await barrier(outsider);
    return {
      joinAck,
      memberGot,
      outsiderGot: norm(outsiderBefore),
      senderGot: norm(senderBefore),
    };
  } finally {
    member.destroy();
    outsider.destroy();
    sender.destroy();
  }
}

export async function broadcastAll(srv) {
  const a = await connectedSession(srv);
  const b = await connectedSession(srv).catch((err) => {
    a.destroy();
    throw err;
  });
  try {
    a.send('42["broadcast-all",{"b":2}]');
    return {
      a: normalizeSocketIoFrame(await a.next()),
      b: normalizeSocketIoFrame(await b.next()),
    };
  } finally {
    a.destroy();
    b.destroy();
  }
}

/** `close-transport`: the server closes the WebSocket, with no packet before. */
export async function closeTransport(srv) {
  const ws = await connectedSession(srv);
  try {
    ws.send('42["close-transport"]');
    const closed = await ws.waitClosed(1500);
    return { closeCode: closed.code, framesBeforeClose: ws.queue.length };
  } finally {
    ws.destroy();
  }
}

/**
 * `close-transport` over polling with no GET pending (as while a client pauses polling to
 * upgrade): the next GET still gets the close packet, then the session is gone.
 */
export async function closeTransportPollingIdle(srv) {
  const { poll } = await openPolling(srv, PATH);
  const connect = summarize(await request(poll, { method: "POST", body: "40" }));
  const { body: _connected, ...connected } = summarize(await request(poll));
  const post = summarize(await request(poll, { method: "POST", body: '42["close-transport"]' }));
  return { connect, connected, post, next: summarize(await request(poll)), after: summarize(await request(poll)) };
}

/**
 * `close-transport` over polling while the client moves to a WebSocket (probed, its GET
 * released with a noop, so it pauses polling): the probe stays open until the client sends
 * `5`, and the session is then closed on the WebSocket, where the client is. Closing the
 * probe at once would leave a paused client nothing to hear the close on until its ping
 * timeout. The probe is watched for a grace period before `5`: it must not close by itself.
 */
export async function closeTransportWhileUpgrading(srv) {
  const { sid, poll } = await openPolling(srv, PATH);
  await request(poll, { method: "POST", body: "40" });
  await request(poll);
  const ws = await RawWs.open(`${srv.ws}${PATH}?EIO=4&transport=websocket&sid=${sid}`);
  try {
    ws.send("2probe");
    const probeReply = await ws.next();
    const released = (await request(poll)).text;
    const post = summarize(await request(poll, { method: "POST", body: '42["close-transport"]' }));
    const probeClosedBeforeUpgrade = await ws.waitClosed(PROBE_GRACE_MS).then(
      () => true,
      () => false,
    );
    ws.send("5");
    const closed = await ws.waitClosed(1500);
    return {
      probeReply,
      released,
      post,
      probeClosedBeforeUpgrade,
      closeCode: closed.code,
      framesBeforeClose: ws.queue.length,
      after: summarize(await request(poll)),
    };
  } finally {
    ws.destroy();
  }
}

// --- malformed packets ---------------------------------------------------------------

/** Frames sent on a session connected to `/`; each followed by an echo barrier. */
export const MALFORMED = {
  garbage: "4abc",
  emptySocketIoPacket: "4",
  unknownPacketType: "49",
  invalidJson: "42[",
  payloadNotArray: '42{"a":1}',
  reservedEventName: '42["disconnect"]',
  connectErrorFromClient: '44{"message":"x"}',
  connectTwice: "40",
  connectPayloadNotObject: '40"abc"',
  disconnectUnknownNamespace: "41/nope,",
  eventOnUnconnectedNamespace: '42/custom,["message",1]',
  binaryFrameUnannounced: Buffer.from([1, 2, 3]),
  textWhileAwaitingAttachments: '451-["message",{"_placeholder":true,"num":0}]',
  eventWithoutData: "42",
  numericEventName: "42[1]",
  ackWithoutId: '43["x"]',
  ackUnknownId: '431["x"]',
  eventWithoutHandler: '42["no-such-event",1]',
};

export async function malformedPackets(srv) {
  const out = {};
  for (const [name, frame] of Object.entries(MALFORMED)) {
    const ws = await connectedSession(srv);
    try {
      ws.send(frame);
      let result;
      const before = [];
      try {
        await barrier(ws, "barrier", before);
        result = { outcome: "ignored", framesBefore: norm(before) };
      } catch {
        const closed = await ws.waitClosed(1500);
        result = { outcome: "closed", closeCode: closed.code, framesBefore: norm([...before, ...ws.queue]) };
      }
      out[name] = result;
    } finally {
      ws.destroy();
    }
  }
  return out;
}

/** Every script, by name, for the differential suite. */
export const SCRIPTS = {
  connectMain,
  connectMainWithAuth,
  connectCustom,
  connectCustomWithAuth,
  connectCustomNoComma,
  sidsAreDistinct,
  unknownNamespace,
  refusedConnect,
  refusedThenAccepted,
  connectTimeout,
  eventEcho,
  eventWithAck,
  binaryEvent,
  binaryAck,
  serverAck,
  disconnectOneNamespace,
  disconnectLastNamespace,
  rooms,
  broadcastAll,
  closeTransport,
  closeTransportPollingIdle,
  closeTransportWhileUpgrading,
  malformedPackets,
};
