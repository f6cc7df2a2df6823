// Raw Engine.IO v4 scripts against the `/engine.io/` echo endpoint. Each script drives
// one scenario over plain HTTP or a plain WebSocket and returns a normalised transcript
// (random sids replaced, timings reduced to "inside the expected window" booleans).
// engineio.test.js asserts the transcripts literally; differential.test.js compares the
// transcripts of the reference and Confab.

import { setTimeout as delay } from "node:timers/promises";
import { request, summarize } from "./http.js";
import { normalizeOpenPacket } from "./normalize.js";
import { RawWs } from "./rawws.js";
import { waitFor } from "./wait.js";

export const PATH = "/engine.io/";
export const PING_INTERVAL_MS = 300;
export const PING_TIMEOUT_MS = 200;
export const MAX_PAYLOAD_BYTES = 1_000_000;
/** Scheduling noise tolerated on a loaded 2-core machine, added to upper timing bounds. */
export const SLACK_MS = 300;
/** A request that must be seen by the server before the next one (no observable signal). */
const SETTLE_MS = 50;

const SEP = "\x1e";

export function httpUrl(srv, params, path = PATH) {
  return `${srv.http}${path}?${new URLSearchParams(params)}`;
}

export function wsUrl(srv, params, path = PATH) {
  return `${srv.ws}${path}?${new URLSearchParams(params)}`;
}

function within(ms, lo, hi) {
  return ms >= lo && ms <= hi;
}

/** Opens a polling session; returns `{ sid, poll }` where `poll` is the session URL. */
export async function openPolling(srv, path = PATH) {
  const res = await request(httpUrl(srv, { EIO: 4, transport: "polling" }, path));
  if (res.status !== 200) throw new Error(`polling handshake failed: ${res.status} ${res.text}`);
  const { sid } = JSON.parse(res.text.slice(1));
  return { sid, poll: httpUrl(srv, { EIO: 4, transport: "polling", sid }, path) };
}

/** Opens a WebSocket session and consumes the open packet; returns `{ ws, open }`. */
export async function openWebsocket(srv, { autoPong = true, path = PATH } = {}) {
  const ws = await RawWs.open(wsUrl(srv, { EIO: 4, transport: "websocket" }, path), { autoPong });
  try {
    return { ws, open: JSON.parse((await ws.next()).slice(1)) };
  } catch (err) {
    ws.destroy();
    throw err;
  }
}

/** GET on a polling session; the payload split into packets, pings answered and dropped. */
async function pollPackets(poll) {
  const res = await request(poll);
  const packets = res.status === 200 ? res.text.split(SEP) : [];
  if (packets.includes("2")) await request(poll, { method: "POST", body: "3" });
  return { res, packets: packets.filter((p) => p !== "2") };
}

// --- handshake -----------------------------------------------------------------------

export async function handshakePolling(srv) {
  const res = summarize(await request(httpUrl(srv, { EIO: 4, transport: "polling" })));
  return { ...res, body: normalizeOpenPacket(res.body) };
}

export async function handshakeWebsocket(srv) {
  const ws = await RawWs.open(wsUrl(srv, { EIO: 4, transport: "websocket" }));
  try {
    return { firstFrame: normalizeOpenPacket(await ws.next()) };
  } finally {
    ws.destroy();
  }
}

/** A cross-origin request: CORS allows any origin, without credentials. */
export async function corsSimpleRequest(srv) {
  const res = await request(httpUrl(srv, { EIO: 4, transport: "polling" }), {
    headers: { Origin: "http://app.example" },
  });
  const out = summarize(res);
  return { ...out, body: normalizeOpenPacket(out.body) };
}

export async function corsPreflight(srv) {
  const res = await request(httpUrl(srv, { EIO: 4, transport: "polling" }), {
    method: "OPTIONS",
    headers: {
      Origin: "http://app.example",
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type",
    },
  });
  return summarize(res);
}

// --- messages ------------------------------------------------------------------------

/** POST a batch (text, unicode, binary as b<base64>), then GET the echo back. */
export async function pollingEcho(srv) {
  const { poll } = await openPolling(srv);
  const batch = ["4hello", "4wörld €😀", "bAQIDBA==", "4", "b"].join(SEP);
  const post = summarize(
    await request(poll, { method: "POST", body: batch, headers: { "Content-Type": "text/plain;charset=UTF-8" } }),
  );
  const { res, packets } = await pollPackets(poll);
  const { body: _body, ...get } = summarize(res);
  return { post, get, packets };
}

export async function websocketEcho(srv) {
  const { ws } = await openWebsocket(srv);
  try {
    const sent = ["4hello", "4wörld €😀", "4", Buffer.from([1, 2, 3, 4]), Buffer.alloc(0)];
    for (const frame of sent) ws.send(frame);
    const frames = await ws.take(sent.length);
    return {
      frames: frames.map((f) => (Buffer.isBuffer(f) ? { binary: f.toString("hex") } : f)),
    };
  } finally {
    ws.destroy();
  }
}

// --- upgrade -------------------------------------------------------------------------

/**
 * polling -> websocket with a GET pending during the probe: 2probe/3probe, the pending
 * GET ends with a noop, 5 completes the upgrade, and the polling transport is then gone.
 */
export async function upgrade(srv) {
  const { sid, poll } = await openPolling(srv);
  let sent;
  const sentPromise = new Promise((resolve) => (sent = resolve));
  const pending = request(poll, { onSent: sent });
  await sentPromise;
  await delay(SETTLE_MS);
  const ws = await RawWs.open(wsUrl(srv, { EIO: 4, transport: "websocket", sid }));
  try {
    ws.send("2probe");
    const probeReply = await ws.next();
    const pendingGet = summarize(await pending);
    ws.send("5");
    ws.send("4after-upgrade");
    const echo = await ws.next();
    const pollAfter = summarize(await request(poll));
    const postAfter = summarize(await request(poll, { method: "POST", body: "4x" }));
    let secondWs;
    let again;
    try {
      again = await RawWs.open(wsUrl(srv, { EIO: 4, transport: "websocket", sid }));
      const closed = await again.waitClosed(2000);
      secondWs = { opened: true, closeCode: closed.code };
    } catch (err) {
      secondWs = again ? { opened: true, closeCode: null } : { opened: false, status: err.response?.status };
    } finally {
      again?.destroy();
    }
    return { probeReply, pendingGet, echo, pollAfter, postAfter, secondWs, stillOpen: ws.isOpen };
  } finally {
    ws.destroy();
  }
}

/** Data buffered on polling before the probe is flushed to the next GET, then the noop. */
export async function upgradeFlushesBuffer(srv) {
  const { sid, poll } = await openPolling(srv);
  await request(poll, { method: "POST", body: "4buffered" });
  const ws = await RawWs.open(wsUrl(srv, { EIO: 4, transport: "websocket", sid }));
  try {
    ws.send("2probe");
    const probeReply = await ws.next();
    const firstGet = (await request(poll)).text;
    const secondGet = (await request(poll)).text;
    ws.send("5");
    ws.send("4done");
    return { probeReply, firstGet, secondGet, echo: await ws.next() };
  } finally {
    ws.destroy();
  }
}

// --- heartbeat -----------------------------------------------------------------------

/** A WebSocket client that never pongs: pinged after pingInterval, closed after pingTimeout. */
export async function heartbeatWebsocketNoPong(srv) {
  const { ws } = await openWebsocket(srv, { autoPong: false });
  try {
    await waitFor(() => ws.pings.length > 0, PING_INTERVAL_MS + SLACK_MS + 500, "first ping");
    const firstPingMs = ws.pings[0];
    const closed = await ws.waitClosed(PING_TIMEOUT_MS + SLACK_MS + 500);
    return {
      firstPingInWindow: within(firstPingMs, PING_INTERVAL_MS - 50, PING_INTERVAL_MS + SLACK_MS),
      pingsBeforeClose: ws.pings.length,
      closeCode: closed.code,
      closedAfterPingInWindow: within(closed.atMs - firstPingMs, PING_TIMEOUT_MS - 50, PING_TIMEOUT_MS + SLACK_MS),
    };
  } finally {
    ws.destroy();
  }
}

/** A WebSocket client that pongs stays open; pings keep coming every pingInterval. */
export async function heartbeatWebsocketPong(srv) {
  const { ws } = await openWebsocket(srv, { autoPong: true });
  try {
    await waitFor(() => ws.pings.length >= 4, 4 * (PING_INTERVAL_MS + SLACK_MS), "four pings");
    const gaps = ws.pings.slice(1).map((t, i) => t - ws.pings[i]);
    return {
      stillOpen: ws.isOpen,
      gapsInWindow: gaps.every((g) => within(g, PING_INTERVAL_MS - 50, PING_INTERVAL_MS + SLACK_MS)),
    };
  } finally {
    ws.destroy();
  }
}

/** Polling: a long GET returns the ping; a pong keeps the session; no pong closes it. */
export async function heartbeatPolling(srv) {
  const { poll } = await openPolling(srv);
  let t = Date.now();
  const first = await request(poll);
  const firstMs = Date.now() - t;
  const pong = (await request(poll, { method: "POST", body: "3" })).text;
  t = Date.now();
  const second = await request(poll);
  const secondMs = Date.now() - t;
  t = Date.now();
  const unanswered = await request(poll); // the ping in `second` is never answered
  const unansweredMs = Date.now() - t;
  const after = summarize(await request(poll));
  return {
    first: first.text,
    firstInWindow: within(firstMs, PING_INTERVAL_MS - 50, PING_INTERVAL_MS + SLACK_MS),
    pong,
    second: second.text,
    secondInWindow: within(secondMs, PING_INTERVAL_MS - 50, PING_INTERVAL_MS + SLACK_MS),
    unanswered: summarize(unanswered),
    closedAfterTimeoutInWindow: within(unansweredMs, PING_TIMEOUT_MS - 100, PING_TIMEOUT_MS + SLACK_MS),
    after,
  };
}

/** Engine.IO v4: the server pings, a client ping is a protocol error. */
export async function clientPingWebsocket(srv) {
  const { ws } = await openWebsocket(srv);
  try {
    ws.send("2");
    const closed = await ws.waitClosed(1500);
    return { closeCode: closed.code };
  } finally {
    ws.destroy();
  }
}

// --- errors --------------------------------------------------------------------------

/** Every handshake/request error answered with HTTP 400 `{"code":N,"message":...}`. */
export async function errorReplies(srv, path = PATH) {
  const live = await openPolling(srv, path);
  const wsBorn = await openWebsocket(srv, { path });
  try {
    const cases = {
      unknownTransport: [{ EIO: 4, transport: "tobi" }],
      missingTransport: [{ EIO: 4 }],
      unknownSidGet: [{ EIO: 4, transport: "polling", sid: "unknown-sid" }],
      unknownSidPost: [{ EIO: 4, transport: "polling", sid: "unknown-sid" }, { method: "POST", body: "4x" }],
      handshakeWithPost: [{ EIO: 4, transport: "polling" }, { method: "POST", body: "4x" }],
      handshakeWithPut: [{ EIO: 4, transport: "polling" }, { method: "PUT", body: "4x" }],
      websocketWithoutUpgrade: [{ EIO: 4, transport: "websocket" }],
      websocketWithoutUpgradeOnPollingSid: [{ EIO: 4, transport: "websocket", sid: live.sid }],
      pollingOnWebsocketSid: [{ EIO: 4, transport: "polling", sid: wsBorn.open.sid }],
      protocolV3: [{ EIO: 3, transport: "polling" }],
      protocolMissing: [{ transport: "polling" }],
      protocolNotANumber: [{ EIO: "abc", transport: "polling" }],
    };
    const out = {};
    for (const [name, [params, opts]] of Object.entries(cases)) {
      out[name] = summarize(await request(httpUrl(srv, params, path), opts));
    }
    return out;
  } finally {
    wsBorn.ws.destroy();
  }
}

/** The Socket.IO endpoint is an Engine.IO endpoint too: same handshake and error replies. */
export async function socketIoPathEngine(srv) {
  const SIO = "/socket.io/";
  const res = summarize(await request(httpUrl(srv, { EIO: 4, transport: "polling" }, SIO)));
  const { ws } = await openWebsocket(srv, { path: SIO });
  ws.destroy();
  return {
    handshake: { ...res, body: normalizeOpenPacket(res.body) },
    errors: await errorReplies(srv, SIO),
  };
}

/** WebSocket upgrades that cannot start a session. */
export async function websocketRefusals(srv) {
  const cases = {
    unknownSid: { EIO: 4, transport: "websocket", sid: "unknown-sid" },
    unknownTransport: { EIO: 4, transport: "tobi" },
    protocolV3: { EIO: 3, transport: "websocket" },
    protocolMissing: { transport: "websocket" },
  };
  const out = {};
  for (const [name, params] of Object.entries(cases)) {
    try {
      const ws = await RawWs.open(wsUrl(srv, params));
      try {
        const first = await ws.next(1500).catch(() => null);
        out[name] = first === null ? { outcome: "closed-without-open-packet" } : { outcome: "open", first };
      } finally {
        ws.destroy();
      }
    } catch (err) {
      out[name] = err.response
        ? {
            outcome: "http",
            status: err.response.status,
            contentType: err.response.headers["content-type"],
            body: err.response.body,
          }
        : { outcome: "connection-failed" };
    }
  }
  return out;
}

/** Two GETs at once on one sid: the second is rejected and the session is closed. */
export async function concurrentPolls(srv) {
  const { poll } = await openPolling(srv);
  let sent;
  const sentPromise = new Promise((resolve) => (sent = resolve));
  const first = request(poll, { onSent: sent });
  await sentPromise;
  await delay(SETTLE_MS);
  const second = summarize(await request(poll));
  return { first: summarize(await first), second, after: summarize(await request(poll)) };
}

/** maxPayload: a POST one byte over is rejected with 413 and the session survives. */
export async function maxPayloadPolling(srv) {
  const { poll } = await openPolling(srv);
  const exact = summarize(await request(poll, { method: "POST", body: "4" + "a".repeat(MAX_PAYLOAD_BYTES - 1) }));
  const exactEcho = await pollPackets(poll);
  const over = summarize(await request(poll, { method: "POST", body: "4" + "a".repeat(MAX_PAYLOAD_BYTES) }));
  const afterPost = summarize(await request(poll, { method: "POST", body: "4alive" }));
  const { packets } = await pollPackets(poll);
  return {
    exact,
    exactEchoLengths: exactEcho.packets.map((p) => p.length),
    over,
    afterPost,
    afterPackets: packets,
  };
}

/** maxPayload over WebSocket: a frame one byte over closes the connection. */
export async function maxPayloadWebsocket(srv) {
  const { ws } = await openWebsocket(srv);
  try {
    ws.send("4" + "a".repeat(MAX_PAYLOAD_BYTES - 1));
    const exactEchoLength = (await ws.next(5000)).length;
    ws.send("4" + "a".repeat(MAX_PAYLOAD_BYTES));
    const closed = await ws.waitClosed(3000);
    return { exactEchoLength, overCloseCode: closed.code };
  } finally {
    ws.destroy();
  }
}

/** Binary POST bodies (application/octet-stream) are not Engine.IO v4: 400, session closed. */
export async function binaryPostPolling(srv) {
  const { poll } = await openPolling(srv);
  const post = summarize(
    await request(poll, {
      method: "POST",
      body: Buffer.from([4, 1, 2]),
      headers: { "Content-Type": "application/octet-stream" },
    }),
  );
  return { post, after: summarize(await request(poll)) };
}

// --- close ---------------------------------------------------------------------------

/** Close packet over polling, with a GET pending: the GET ends with a noop. */
export async function closePacketPolling(srv) {
  const { poll } = await openPolling(srv);
  let sent;
  const sentPromise = new Promise((resolve) => (sent = resolve));
  const pending = request(poll, { onSent: sent });
  await sentPromise;
  await delay(SETTLE_MS);
  const post = summarize(await request(poll, { method: "POST", body: "1" }));
  return { post, pendingGet: summarize(await pending), after: summarize(await request(poll)) };
}

/** Close packet over polling without a pending GET. */
export async function closePacketPollingIdle(srv) {
  const { poll } = await openPolling(srv);
  const post = summarize(await request(poll, { method: "POST", body: "1" }));
  return { post, after: summarize(await request(poll)) };
}

/**
 * Close packet over WebSocket: the reference (engine.io 6.6) ignores it; the session stays
 * open until the client closes the WebSocket itself.
 */
export async function closePacketWebsocket(srv) {
  const { ws } = await openWebsocket(srv);
  try {
    ws.send("1");
    ws.send("4still-there");
    const next = await ws.next().catch((err) => `error: ${err.message}`);
    return { next, stillOpen: ws.isOpen };
  } finally {
    ws.destroy();
  }
}

/** An undecodable packet closes the session (polling: POST still answered "ok"). */
export async function invalidPacketPolling(srv) {
  const { poll } = await openPolling(srv);
  const post = summarize(await request(poll, { method: "POST", body: "abc" }));
  return { post, after: summarize(await request(poll)) };
}

export async function invalidPacketWebsocket(srv) {
  const { ws } = await openWebsocket(srv);
  try {
    ws.send("abc");
    const closed = await ws.waitClosed(1500);
    return { closeCode: closed.code };
  } finally {
    ws.destroy();
  }
}

/** Every script, by name, for the differential suite. */
export const SCRIPTS = {
  handshakePolling,
  handshakeWebsocket,
  corsSimpleRequest,
  corsPreflight,
  pollingEcho,
  websocketEcho,
  upgrade,
  upgradeFlushesBuffer,
  heartbeatWebsocketNoPong,
  heartbeatWebsocketPong,
  heartbeatPolling,
  clientPingWebsocket,
  errorReplies,
  socketIoPathEngine,
  websocketRefusals,
  concurrentPolls,
  maxPayloadPolling,
  maxPayloadWebsocket,
  binaryPostPolling,
  closePacketPolling,
  closePacketPollingIdle,
  closePacketWebsocket,
  invalidPacketPolling,
  invalidPacketWebsocket,
};
