// Starts the conformance server under test, one per test file.
//
// - CONFAB_CONFORMANCE_BIN set: spawns `$CONFAB_CONFORMANCE_BIN --port <free port>`
//   (Confab's `socketio_conformance` example).
// - Otherwise: spawns `node reference-server.js --port <free port>` (npm socket.io/engine.io).
//
// (node --test also loads this file as a test file when given the test/ folder; it
// defines no tests and starts nothing at import, so that is harmless.)

import { spawn } from "node:child_process";
import { once } from "node:events";
import { createConnection } from "node:net";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../lib/ports.js";

const REFERENCE_SCRIPT = fileURLToPath(new URL("../reference-server.js", import.meta.url));
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 15_000;

/** Contract constants the suites assert on. */
export const PING_INTERVAL_MS = 300;
export const PING_TIMEOUT_MS = 200;
export const MAX_PAYLOAD_BYTES = 1_000_000;
export const CONNECT_TIMEOUT_MS = 1000;

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = createConnection({ host: HOST, port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

/**
 * Spawns `command args... --port N` and resolves once N accepts TCP connections.
 * The result has `label`, `port`, `http` (http://127.0.0.1:N), `ws` (ws://...) and `stop()`.
 */
export async function spawnServer(label, command, args) {
  const port = await freePort();
  const child = spawn(command, [...args, "--port", String(port)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
  });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk.toString("utf8")).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null;
  child.once("exit", (code, signal) => {
    exited = { code, signal };
  });
  child.once("error", (err) => {
    exited = { error: err.message };
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      throw new Error(`${label} server exited before listening: ${JSON.stringify(exited)}\n${output}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${label} server did not listen on ${port} within ${START_TIMEOUT_MS} ms\n${output}`);
    }
    await delay(25);
  }

  return {
    label,
    port,
    http: `http://${HOST}:${port}`,
    ws: `ws://${HOST}:${port}`,
    output: () => output,
    async stop() {
      if (exited) return;
      const gone = once(child, "exit");
      child.kill("SIGTERM");
      const done = await Promise.race([gone.then(() => true), delay(3000).then(() => false)]);
      if (!done) {
        child.kill("SIGKILL");
        await gone;
      }
    },
  };
}

export function startReference() {
  return spawnServer("reference", process.execPath, [REFERENCE_SCRIPT]);
}

export function startConfab() {
  const bin = process.env.CONFAB_CONFORMANCE_BIN;
  if (!bin) throw new Error("CONFAB_CONFORMANCE_BIN is not set");
  // With recovery, as the reference server of these suites runs.
  return spawnServer("confab", bin, ["--recovery"]);
}

/** The server the suites run against: Confab if CONFAB_CONFORMANCE_BIN is set, else the reference. */
export function startServerUnderTest() {
  return process.env.CONFAB_CONFORMANCE_BIN ? startConfab() : startReference();
}

/** Why both servers cannot be started, or null when they can (for differential tests). */
export function bothUnavailableReason() {
  return process.env.CONFAB_CONFORMANCE_BIN
    ? null
    : "CONFAB_CONFORMANCE_BIN is not set: differential tests need the Confab socketio_conformance binary";
}

/** Starts the reference and Confab side by side. Returns `{ reference, confab }`. */
export async function startBoth() {
  const reason = bothUnavailableReason();
  if (reason) throw new Error(reason);
  const [reference, confab] = await Promise.allSettled([startReference(), startConfab()]);
  if (reference.status === "rejected" || confab.status === "rejected") {
    await Promise.all([reference, confab].filter((r) => r.status === "fulfilled").map((r) => r.value.stop()));
    throw (reference.status === "rejected" ? reference : confab).reason;
  }
  return { reference: reference.value, confab: confab.value };
}
