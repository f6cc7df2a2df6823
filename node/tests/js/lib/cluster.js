// A real local Confab cluster for end-to-end tests: a private redis-server and nats-server
// on free ports, a fresh PostgreSQL database (CONFAB_TEST_POSTGRES_URL, created with psql),
// and `nodes` confab processes (CONFAB_BIN) in cluster mode sharing them. `stop()` kills
// everything and drops the database.

import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { ConfabNode } from "./confab.js";
import { freePort } from "../../../../socketio/tests/js/lib/ports.js";
import { waitFor } from "../../../../socketio/tests/js/lib/wait.js";

const HOST = "127.0.0.1";
const DEFAULT_POSTGRES_URL = "postgres://confab:confab@127.0.0.1:5432";
const SERVER_START_TIMEOUT_MS = 10_000;
/** Every node of a test cluster signs tokens with this key (cluster mode needs one). */
export const CLUSTER_JWT_SECRET = "confab-test-cluster-secret-0123456789abcdef";

const run = promisify(execFile);

/** Every helper server still alive, killed if the test process exits without cleaning up. */
const live = new Set();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Resolves true once something accepts TCP connections on `port`, false on refusal. */
function accepting(port) {
  return new Promise((resolve) => {
    const sock = connect({ host: HOST, port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

/** Spawns `bin args` and waits until it listens on `port`; resolves the child process. */
async function startServer(bin, args, port) {
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  live.add(child);
  let stderr = "";
  let exited = null;
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  child.once("exit", (code, signal) => {
    live.delete(child);
    exited = { code, signal };
  });
  child.once("error", (err) => {
    live.delete(child);
    exited = { error: err.message };
  });
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`${bin} exited: ${JSON.stringify(exited)}\n${stderr}`);
        return accepting(port);
      },
      SERVER_START_TIMEOUT_MS,
      `${bin} on port ${port}`,
    );
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return child;
}

/** SIGKILLs `child` (if still running) and waits for it to exit. */
async function kill(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = once(child, "exit");
  child.kill("SIGKILL");
  await gone;
}

/** Runs one SQL statement against the server's `postgres` database with psql. */
function psql(server, sql) {
  return run("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-d", `${server}/postgres`, "-c", sql]);
}

/**
 * Starts a cluster of `nodes` confab processes (one after the other: the first applies
 * the migrations). `env` adds CONFAB_* settings to every node. Resolves
 * `{ nodes: [ConfabNode…], urls: [...], databaseUrl, redisUrl, natsUrl, stop() }`;
 * on a failed start everything already started is stopped before the error is thrown.
 */
export async function startCluster({ nodes = 2, env = {} } = {}) {
  const server = (process.env.CONFAB_TEST_POSTGRES_URL || DEFAULT_POSTGRES_URL).replace(/\/+$/, "");
  const dbName = `confab_test_${randomBytes(8).toString("hex")}`;
  const children = [];
  const started = [];
  let dbCreated = false;

  const stop = async () => {
    const errors = [];
    for (const node of started.reverse()) {
      await node.close().catch((err) => errors.push(err));
    }
    for (const child of children) await kill(child);
    if (dbCreated) {
      await psql(server, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err) => errors.push(err));
    }
    if (errors.length) throw errors[0];
  };

  try {
    const redisPort = await freePort();
    children.push(await startServer("redis-server", ["--port", String(redisPort), "--bind", HOST, "--save", "", "--appendonly", "no"], redisPort));
    const natsPort = await freePort();
    children.push(await startServer("nats-server", ["-a", HOST, "-p", String(natsPort)], natsPort));
    await psql(server, `CREATE DATABASE ${dbName}`);
    dbCreated = true;

    const databaseUrl = `${server}/${dbName}`;
    const redisUrl = `redis://${HOST}:${redisPort}`;
    const natsUrl = `nats://${HOST}:${natsPort}`;
    for (let i = 0; i < nodes; i++) {
      const node = new ConfabNode({
        databaseUrl,
        // Cluster nodes stop fast: the tests never rely on a long drain.
        stopTimeoutMs: 15_000,
        env: {
          CONFAB_REDIS_URL: redisUrl,
          CONFAB_NATS_URL: natsUrl,
          CONFAB_JWT_SECRET: CLUSTER_JWT_SECRET,
          CONFAB_NODE_ID: `node-${String.fromCharCode(97 + i)}`,
          CONFAB_DRAIN_WINDOW_SECS: "1",
          CONFAB_DRAIN_DEADLINE_SECS: "5",
          ...env,
        },
      });
      started.push(node);
      await node.start();
    }
    return { nodes: started, urls: started.map((n) => n.url), databaseUrl, redisUrl, natsUrl, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}
