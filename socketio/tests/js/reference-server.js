#!/usr/bin/env node
// Reference implementation of the Confab "conformance server" contract, built on the
// npm `engine.io` and `socket.io` packages. Confab's Rust example `socketio_conformance`
// implements the same contract; the suites in test/ run against either.
//
//   node reference-server.js --port 3000
//
// Contract (mirrors the configuration the official engine.io-protocol and
// socket.io-protocol test suites expect, plus Confab extensions):
// - `/engine.io/`: raw Engine.IO server that echoes every message, text or binary.
// - `/socket.io/`: Socket.IO server with namespaces `/` and `/custom`.
// - Both: pingInterval 300 ms, pingTimeout 200 ms, maxPayload (maxHttpBufferSize)
//   1000000 bytes, CORS `Access-Control-Allow-Origin: *` without credentials.
// - Socket.IO: connectTimeout 1000 ms, connection-state recovery
//   (maxDisconnectionDuration 30000 ms, skipMiddlewares).
// - Every namespace emits `auth` with the CONNECT payload on connection.
// - On `/`:
//   - CONNECT auth `{"refuse": true}` is refused: CONNECT_ERROR with
//     `{"message":"refused","data":{"code":"refused"}}`.
//   - `message` (...args)            -> emit `message-back` (...args)
//   - `message-with-ack` (...args)   -> ack (...args)
//   - `join` (room, ack)             -> join room, ack(true)
//   - `to-room` (room, ...args)      -> every socket in room gets `room-message` (...args)
//   - `server-ack` ()                -> emit `ping-client` with an ack; then emit
//                                       `client-acked` with whatever the client acked
//   - `close-transport` ()           -> close the Engine.IO connection (client reconnects)
//   - `broadcast-all` (...args)      -> io.emit(`broadcast`, ...args)

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server as EngineServer } from "engine.io";
import { Server as SocketServer } from "socket.io";

const PING_INTERVAL_MS = 300;
const PING_TIMEOUT_MS = 200;
const MAX_PAYLOAD_BYTES = 1_000_000;
const CONNECT_TIMEOUT_MS = 1000;

const engineOptions = {
  pingInterval: PING_INTERVAL_MS,
  pingTimeout: PING_TIMEOUT_MS,
  maxHttpBufferSize: MAX_PAYLOAD_BYTES,
  cors: { origin: "*" },
};

/** Attaches the raw Engine.IO echo endpoint at `/engine.io/`. */
function attachEngineEcho(httpServer) {
  const engine = new EngineServer({ ...engineOptions, path: "/engine.io/" });
  engine.attach(httpServer);
  engine.on("connection", (socket) => {
    socket.on("message", (data) => socket.send(data));
  });
  return engine;
}

/** Attaches the Socket.IO endpoint at `/socket.io/`. */
function attachSocketIo(httpServer) {
  const io = new SocketServer(httpServer, {
    ...engineOptions,
    path: "/socket.io/",
    serveClient: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    connectionStateRecovery: {
      maxDisconnectionDuration: 30_000,
      skipMiddlewares: true,
    },
  });

  io.use((socket, next) => {
    if (socket.handshake.auth?.refuse === true) {
      const err = new Error("refused");
      err.data = { code: "refused" };
      next(err);
      return;
    }
    next();
  });

  io.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);

    socket.on("message", (...args) => {
      socket.emit("message-back", ...args);
    });

    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });

    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });

    socket.on("to-room", (room, ...args) => {
      io.to(room).emit("room-message", ...args);
    });

    socket.on("server-ack", () => {
      socket.emit("ping-client", (...reply) => {
        socket.emit("client-acked", ...reply);
      });
    });

    socket.on("close-transport", () => {
      socket.conn.close();
    });

    socket.on("broadcast-all", (...args) => {
      io.emit("broadcast", ...args);
    });
  });

  io.of("/custom").on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
  });

  return io;
}

function main() {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "3000" },
      host: { type: "string", default: "127.0.0.1" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid --port ${values.port}`);
    process.exit(2);
  }

  const httpServer = createServer();
  const engine = attachEngineEcho(httpServer);
  const io = attachSocketIo(httpServer);

  httpServer.listen(port, values.host, () => {
    const { port: bound } = httpServer.address();
    console.log(`reference conformance server listening on http://${values.host}:${bound}`);
  });

  const shutdown = () => {
    engine.close();
    io.close();
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main();
