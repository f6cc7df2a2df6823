// Engine.IO v4 at the wire level, against the `/engine.io/` echo endpoint: raw HTTP
// long-polling and raw WebSocket. Every expected value below is what the reference
// (npm engine.io 6.6) does; Confab must do the same.

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import * as eio from "../lib/eio-scripts.js";
import { startServerUnderTest } from "./server.js";

const CORS = { "access-control-allow-origin": "*" };
const TEXT = { "content-type": "text/plain; charset=UTF-8", "cache-control": "no-store", ...CORS };
const POST_OK = {
  status: 200,
  headers: { "content-type": "text/html", "cache-control": "no-store", ...CORS },
  body: "ok",
};
const errorReply = (code, message) => ({
  status: 400,
  headers: { "content-type": "application/json", ...CORS },
  body: JSON.stringify({ code, message }),
});
const SESSION_UNKNOWN = errorReply(1, "Session ID unknown");
const BAD_REQUEST = errorReply(3, "Bad request");
const OPEN_POLLING =
  '0{"maxPayload":1000000,"pingInterval":300,"pingTimeout":200,"sid":"<sid>","upgrades":["websocket"]}';
const OPEN_WEBSOCKET = '0{"maxPayload":1000000,"pingInterval":300,"pingTimeout":200,"sid":"<sid>","upgrades":[]}';

let srv;
before(async () => {
  srv = await startServerUnderTest();
});
after(async () => {
  await srv?.stop();
});

describe("handshake", () => {
  test("polling: 200, text/plain open packet with sid, upgrades, timers, maxPayload", async () => {
    assert.deepEqual(await eio.handshakePolling(srv), { status: 200, headers: TEXT, body: OPEN_POLLING });
  });

  test("websocket: first frame is the open packet, no upgrades", async () => {
    assert.deepEqual(await eio.handshakeWebsocket(srv), { firstFrame: OPEN_WEBSOCKET });
  });

  test("CORS: any origin gets `*`, never credentials", async () => {
    assert.deepEqual(await eio.corsSimpleRequest(srv), { status: 200, headers: TEXT, body: OPEN_POLLING });
  });

  test("CORS preflight: 204 with methods, echoed request headers, Vary", async () => {
    assert.deepEqual(await eio.corsPreflight(srv), {
      status: 204,
      headers: {
        ...CORS,
        "access-control-allow-methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
        "access-control-allow-headers": "content-type",
        vary: "Access-Control-Request-Headers",
      },
      body: "",
    });
  });
});

describe("messages", () => {
  test("polling: a \\x1e-separated batch (text, unicode, b<base64> binary, empty) is echoed", async () => {
    assert.deepEqual(await eio.pollingEcho(srv), {
      post: POST_OK,
      get: { status: 200, headers: TEXT },
      packets: ["4hello", "4wörld €😀", "bAQIDBA==", "4", "b"],
    });
  });

  test("websocket: text and binary frames (binary without type prefix) are echoed", async () => {
    assert.deepEqual(await eio.websocketEcho(srv), {
      frames: ["4hello", "4wörld €😀", "4", { binary: "01020304" }, { binary: "" }],
    });
  });
});

describe("upgrade", () => {
  test("2probe -> 3probe, pending GET gets noop 6, then 5; polling is then refused", async () => {
    assert.deepEqual(await eio.upgrade(srv), {
      probeReply: "3probe",
      pendingGet: { status: 200, headers: TEXT, body: "6" },
      echo: "4after-upgrade",
      pollAfter: BAD_REQUEST,
      postAfter: BAD_REQUEST,
      secondWs: { opened: true, closeCode: 1005 },
      stillOpen: true,
    });
  });

  test("data buffered before the probe is flushed to the next GET, then noop", async () => {
    assert.deepEqual(await eio.upgradeFlushesBuffer(srv), {
      probeReply: "3probe",
      firstGet: "4buffered",
      secondGet: "6",
      echo: "4done",
    });
  });
});

describe("heartbeat", () => {
  test("websocket: pinged within pingInterval; no pong -> closed after pingTimeout", async () => {
    assert.deepEqual(await eio.heartbeatWebsocketNoPong(srv), {
      firstPingInWindow: true,
      pingsBeforeClose: 1,
      closeCode: 1005,
      closedAfterPingInWindow: true,
    });
  });

  test("websocket: a client that pongs stays open, pinged every pingInterval", async () => {
    assert.deepEqual(await eio.heartbeatWebsocketPong(srv), { stillOpen: true, gapsInWindow: true });
  });

  test("polling: the long GET returns the ping; pong keeps the session; no pong ends it", async () => {
    assert.deepEqual(await eio.heartbeatPolling(srv), {
      first: "2",
      firstInWindow: true,
      pong: "ok",
      second: "2",
      secondInWindow: true,
      unanswered: { status: 200, headers: TEXT, body: "1" },
      closedAfterTimeoutInWindow: true,
      after: SESSION_UNKNOWN,
    });
  });

  test("a ping from the client (wrong heartbeat direction in v4) closes the session", async () => {
    assert.deepEqual(await eio.clientPingWebsocket(srv), { closeCode: 1005 });
  });
});

/** A raw HTTP/1.0 GET on `path`: the status line, the headers and the body, once closed. */
function http10Get(srv, path) {
  const url = new URL(srv.http);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${path} HTTP/1.0\r\nHost: ${url.host}\r\n\r\n`);
    });
    const chunks = [];
    socket.setTimeout(3000, () => socket.destroy(new Error("no complete HTTP/1.0 answer in 3 s")));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const [head, body] = Buffer.concat(chunks).toString("latin1").split("\r\n\r\n");
      const [status, ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(
        lines.map((line) => line.split(/:\s*/, 2)).map(([name, value]) => [name.toLowerCase(), value]),
      );
      resolve({ status, headers, body });
    });
  });
}

describe("a waiting GET over HTTP/1.0", () => {
  test("gets its answer (the ping) whole, sized, never chunked", async () => {
    const { sid } = await eio.openPolling(srv);
    const url = new URL(eio.httpUrl(srv, { EIO: 4, transport: "polling", sid }));
    const { status, headers, body } = await http10Get(srv, `${url.pathname}${url.search}`);
    assert.match(status, /^HTTP\/1\.[01] 200 /);
    assert.equal(headers["transfer-encoding"], undefined);
    assert.equal(headers["content-length"], "1");
    assert.equal(body, "2");
  });
});

describe("errors", () => {
  test("HTTP 400 application/json {code,message} for every handshake/request error", async () => {
    assert.deepEqual(await eio.errorReplies(srv), {
      unknownTransport: errorReply(0, "Transport unknown"),
      missingTransport: errorReply(0, "Transport unknown"),
      unknownSidGet: SESSION_UNKNOWN,
      unknownSidPost: SESSION_UNKNOWN,
      handshakeWithPost: errorReply(2, "Bad handshake method"),
      handshakeWithPut: errorReply(2, "Bad handshake method"),
      websocketWithoutUpgrade: BAD_REQUEST,
      websocketWithoutUpgradeOnPollingSid: BAD_REQUEST,
      pollingOnWebsocketSid: BAD_REQUEST,
      protocolV3: errorReply(5, "Unsupported protocol version"),
      protocolMissing: errorReply(5, "Unsupported protocol version"),
      protocolNotANumber: errorReply(5, "Unsupported protocol version"),
    });
  });

  test("/socket.io/ answers the same Engine.IO handshake and error replies", async () => {
    const reference = await eio.errorReplies(srv);
    assert.deepEqual(await eio.socketIoPathEngine(srv), {
      handshake: { status: 200, headers: TEXT, body: OPEN_POLLING },
      errors: reference,
    });
  });

  test("WebSocket upgrades that cannot start a session", async () => {
    assert.deepEqual(await eio.websocketRefusals(srv), {
      unknownSid: { outcome: "http", status: 400, contentType: "text/html", body: "Session ID unknown" },
      unknownTransport: { outcome: "http", status: 400, contentType: "text/html", body: "Transport unknown" },
      protocolV3: { outcome: "closed-without-open-packet" },
      protocolMissing: { outcome: "closed-without-open-packet" },
    });
  });

  test("two concurrent GETs on one sid: second gets a bare 400, first gets close, session gone", async () => {
    assert.deepEqual(await eio.concurrentPolls(srv), {
      first: { status: 200, headers: TEXT, body: "1" },
      second: { status: 400, headers: CORS, body: "" },
      after: SESSION_UNKNOWN,
    });
  });

  test("polling POST over maxPayload: bare 413, the session survives", async () => {
    assert.deepEqual(await eio.maxPayloadPolling(srv), {
      exact: POST_OK,
      exactEchoLengths: [1_000_000],
      over: { status: 413, headers: CORS, body: "" },
      afterPost: POST_OK,
      afterPackets: ["4alive"],
    });
  });

  test("websocket frame over maxPayload: closed with 1009", async () => {
    assert.deepEqual(await eio.maxPayloadWebsocket(srv), { exactEchoLength: 1_000_000, overCloseCode: 1009 });
  });

  test("binary (application/octet-stream) POST: bare 400, session closed", async () => {
    assert.deepEqual(await eio.binaryPostPolling(srv), {
      post: { status: 400, headers: CORS, body: "" },
      after: SESSION_UNKNOWN,
    });
  });

  test("undecodable packet: polling POST still answers ok but the session is closed", async () => {
    assert.deepEqual(await eio.invalidPacketPolling(srv), { post: POST_OK, after: SESSION_UNKNOWN });
  });

  test("undecodable packet over websocket: closed (1005)", async () => {
    assert.deepEqual(await eio.invalidPacketWebsocket(srv), { closeCode: 1005 });
  });
});

describe("close packet from the client", () => {
  test("polling with a pending GET: POST ok, the GET ends with noop 6, session gone", async () => {
    assert.deepEqual(await eio.closePacketPolling(srv), {
      post: POST_OK,
      pendingGet: { status: 200, headers: TEXT, body: "6" },
      after: SESSION_UNKNOWN,
    });
  });

  test("polling without a pending GET: POST ok, session gone", async () => {
    assert.deepEqual(await eio.closePacketPollingIdle(srv), { post: POST_OK, after: SESSION_UNKNOWN });
  });

  test("websocket: the close packet is ignored, the session stays open", async () => {
    assert.deepEqual(await eio.closePacketWebsocket(srv), { next: "4still-there", stillOpen: true });
  });
});
