// Socket.IO v5 at the wire level: raw packets over a plain WebSocket at
// `/socket.io/?EIO=4&transport=websocket`. Frames are normalised (lib/normalize.js):
// `<sid>`/`<pid>` in CONNECT replies, `<offset>` for the connection-state-recovery offset
// the reference appends to every event it emits without an ack, `<ack>` for ack ids the
// server allocates, `<bin HEX>` for binary frames.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as sio from "../lib/sio-scripts.js";
import { startServerUnderTest } from "./server.js";

const CONNECTED = '40{"pid":"<pid>","sid":"<sid>"}';
const CONNECTED_CUSTOM = '40/custom,{"pid":"<pid>","sid":"<sid>"}';
const REFUSED = '44{"data":{"code":"refused"},"message":"refused"}';

let srv;
before(async () => {
  srv = await startServerUnderTest();
});
after(async () => {
  await srv?.stop();
});

describe("connect", () => {
  test("CONNECT / -> 40{sid,pid}, then the auth event (with a recovery offset)", async () => {
    assert.deepEqual(await sio.connectMain(srv), { frames: [CONNECTED, '42["auth",{},"<offset>"]'] });
  });

  test("CONNECT / with an auth payload: echoed in the auth event", async () => {
    assert.deepEqual(await sio.connectMainWithAuth(srv), {
      frames: [CONNECTED, '42["auth",{"token":"123"},"<offset>"]'],
    });
  });

  test("CONNECT /custom -> 40/custom,{sid,pid}", async () => {
    assert.deepEqual(await sio.connectCustom(srv), {
      withComma: [CONNECTED_CUSTOM, '42/custom,["auth",{},"<offset>"]'],
    });
  });

  test("CONNECT /custom with an auth payload", async () => {
    assert.deepEqual(await sio.connectCustomWithAuth(srv), {
      frames: [CONNECTED_CUSTOM, '42/custom,["auth",{"token":"abc"},"<offset>"]'],
    });
  });

  test("CONNECT /custom without the trailing comma is accepted", async () => {
    assert.deepEqual(await sio.connectCustomNoComma(srv), {
      frames: [CONNECTED_CUSTOM, '42/custom,["auth",{},"<offset>"]'],
    });
  });

  test("Socket.IO sids differ from the Engine.IO sid and between namespaces", async () => {
    assert.deepEqual(await sio.sidsAreDistinct(srv), { mainDiffersFromEngine: true, customDiffersFromMain: true });
  });

  test("unknown namespace: 44/random,{message}; no namespace joined -> closed at connectTimeout", async () => {
    assert.deepEqual(await sio.unknownNamespace(srv), {
      frames: ['44/random,{"message":"Invalid namespace"}'],
      closeCode: 1005,
      closedAtConnectTimeout: true,
    });
  });

  test("refused by middleware: 44{message,data}; no namespace joined -> closed at connectTimeout", async () => {
    assert.deepEqual(await sio.refusedConnect(srv), {
      frames: [REFUSED],
      closeCode: 1005,
      closedAtConnectTimeout: true,
    });
  });

  test("after a refusal the same session can CONNECT again", async () => {
    assert.deepEqual(await sio.refusedThenAccepted(srv), {
      refused: REFUSED,
      accepted: [CONNECTED, '42["auth",{"refuse":false},"<offset>"]'],
      barrier: [],
    });
  });

  test("no CONNECT within connectTimeout: the server closes the WebSocket", async () => {
    assert.deepEqual(await sio.connectTimeout(srv), {
      closeCode: 1005,
      closedAtConnectTimeout: true,
      framesBeforeClose: 0,
    });
  });
});

describe("events and acks", () => {
  test("message -> message-back with the same arguments plus the offset", async () => {
    assert.deepEqual(await sio.eventEcho(srv), {
      frames: [
        '42["message-back",1,"2",{"3":[true]},"<offset>"]',
        '42["message-back","<offset>"]',
        '42["message-back",null,false,1.5,"wörld €😀",[],{"x":{"y":[1,{"z":null}]}},"<offset>"]',
      ],
    });
  });

  test("message-with-ack -> ACK with the client's id and the same arguments (no offset)", async () => {
    assert.deepEqual(await sio.eventWithAck(srv), { frames: ['431[1,"2",{"3":[true]}]', "4312345[]"] });
  });

  test("BINARY_EVENT with two attachments is echoed as BINARY_EVENT + two binary frames", async () => {
    assert.deepEqual(await sio.binaryEvent(srv), {
      frames: [
        '452-["message-back",{"_placeholder":true,"num":0},{"list":[{"_placeholder":true,"num":1}]},"<offset>"]',
        "<bin 010203>",
        "<bin 040506>",
      ],
    });
  });

  test("binary argument in an acked event -> BINARY_ACK", async () => {
    assert.deepEqual(await sio.binaryAck(srv), {
      frames: ['461-7[{"_placeholder":true,"num":0}]', "<bin 010203>"],
    });
  });

  test("server -> client ack: ping-client carries an id, the ACK (text or binary) comes back", async () => {
    assert.deepEqual(await sio.serverAck(srv), {
      frames: [
        '42<ack>["ping-client"]',
        '42["client-acked","pong",{"n":1},"<offset>"]',
        '42<ack>["ping-client"]',
        '451-["client-acked",{"_placeholder":true,"num":0},"<offset>"]',
        "<bin 0909>",
      ],
      ackIdsDiffer: true,
    });
  });
});

describe("namespaces, rooms, broadcasts", () => {
  test("DISCONNECT /custom: / keeps working on the same connection", async () => {
    assert.deepEqual(await sio.disconnectOneNamespace(srv), { framesBeforeEcho: [], stillOpen: true });
  });

  test("DISCONNECT of the last namespace: the Engine.IO session stays open, CONNECT works again", async () => {
    assert.deepEqual(await sio.disconnectLastNamespace(srv), {
      openAfterHeartbeats: true,
      framesWhileDisconnected: 0,
      reconnect: [CONNECTED, '42["auth",{"again":true},"<offset>"]'],
    });
  });

  test("join + to-room: only members get room-message (not outsiders, not the sender)", async () => {
    assert.deepEqual(await sio.rooms(srv), {
      joinAck: "431[true]",
      memberGot: '42["room-message",{"a":1},[2],"<offset>"]',
      outsiderGot: [],
      senderGot: [],
    });
  });

  test("broadcast-all reaches every socket, sender included", async () => {
    const b = '42["broadcast",{"b":2},"<offset>"]';
    assert.deepEqual(await sio.broadcastAll(srv), { a: b, b });
  });

  test("close-transport: the server closes the WebSocket without sending a packet", async () => {
    assert.deepEqual(await sio.closeTransport(srv), { closeCode: 1005, framesBeforeClose: 0 });
  });

  test("close-transport while the client moves to a WebSocket: closed there after 5", async () => {
    const { probeReply, released, probeClosedBeforeUpgrade, closeCode, framesBeforeClose, after } =
      await sio.closeTransportWhileUpgrading(srv);
    assert.deepEqual(
      { probeReply, released, probeClosedBeforeUpgrade, closeCode, framesBeforeClose },
      { probeReply: "3probe", released: "6", probeClosedBeforeUpgrade: false, closeCode: 1005, framesBeforeClose: 0 },
    );
    assert.deepEqual([after.status, JSON.parse(after.body)], [400, { code: 1, message: "Session ID unknown" }]);
  });
});

describe("malformed packets", () => {
  test("protocol violations close the connection (1005); harmless oddities are ignored", async () => {
    const closed = { outcome: "closed", closeCode: 1005, framesBefore: [] };
    const ignored = { outcome: "ignored", framesBefore: [] };
    assert.deepEqual(await sio.malformedPackets(srv), {
      garbage: closed,
      emptySocketIoPacket: closed,
      unknownPacketType: closed,
      invalidJson: closed,
      payloadNotArray: closed,
      reservedEventName: closed,
      connectErrorFromClient: closed,
      connectTwice: closed,
      connectPayloadNotObject: closed,
      disconnectUnknownNamespace: closed,
      eventOnUnconnectedNamespace: closed,
      binaryFrameUnannounced: closed,
      textWhileAwaitingAttachments: closed,
      eventWithoutData: ignored,
      numericEventName: ignored,
      ackWithoutId: ignored,
      ackUnknownId: ignored,
      eventWithoutHandler: ignored,
    });
  });
});
