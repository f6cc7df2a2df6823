// The peer Confab is compared with: the chat a socket.io user would write, on Node
// `socket.io` 4.8 with `@socket.io/redis-adapter`, run as several instances on one Redis.
//
// It speaks the subset of Confab's contract that `confab-loadtest --target chat` drives
// (loadtest's contract; docs/API.md for the shapes), with the same events and acks:
//   POST /api/v1/auth/register {username, password}  -> 201 {user: {id, username, display_name}, token}
//   POST /api/v1/groups {name, members, public}  (Bearer) -> 201 {group: {id, name, owner, members}}
//   POST /api/v1/groups/{id}/join  (Bearer)           -> 200 {group: {id}} (a public group)
//   GET  /readyz                                      -> 200 {status: "ready"} while Redis answers
//   Socket.IO `/`, CONNECT auth {token}; events message:send, typing, read, sync (always empty), presence:query.
//
// What it does NOT do, unlike Confab: nothing is persisted (messages live only on the
// wire: no seq, no history, no sync, no idempotency by client_msg_id), there is no login
// and passwords are checked for length and then dropped, a direct message to an unknown
// user is acked and delivered to nobody, no rate limits, and a crashed instance leaves its
// users' presence counters behind.
//
// Accounts work on every instance: the token is stateless (`<user id>.<HMAC-SHA256 of it>`,
// keyed by PEER_SECRET, the same on every instance), user names and group memberships
// live in Redis. A socket joins `user:<id>` and its groups' `group:<gid>` rooms on
// connect; a new group makes its members' connected sockets join it through the adapter
// (`socketsJoin`), so messages reach them on any instance.
//
// Usage: node server.js [--port 3000] [--host 127.0.0.1] [--redis redis://127.0.0.1:6379]
// (or PORT, HOST, REDIS_URL; PEER_SECRET for the token key).

import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "3000" },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    redis: { type: "string", default: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" },
  },
});
const SECRET = process.env.PEER_SECRET ?? "confab-peer-socketio-redis-benchmark-secret";
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/;
const MAX_BODY_BYTES = 256 * 1024;

// ---- Redis: one client for data, two for the adapter's pub/sub --------------------------

const redis = createClient({ url: args.redis });
const pub = redis.duplicate();
const sub = redis.duplicate();
for (const client of [redis, pub, sub]) client.on("error", (err) => console.error("redis:", err.message));
await Promise.all([redis.connect(), pub.connect(), sub.connect()]);

const key = {
  username: (name) => `peer:username:${name}`,
  users: "peer:users",
  userGroups: (id) => `peer:user:${id}:groups`,
  publicGroups: "peer:groups:public",
  presence: "peer:presence",
};

// ---- Tokens --------------------------------------------------------------------------------

const sign = (userId) => createHmac("sha256", SECRET).update(userId).digest("base64url");
const issueToken = (userId) => `${userId}.${sign(userId)}`;

/** The user id a token was issued for, or null if it is not one of ours. */
function verifyToken(token) {
  if (typeof token !== "string") return null;
  const dot = token.lastIndexOf(".");
  if (dot <= 0) return null;
  const userId = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1));
  const expected = Buffer.from(sign(userId));
  return given.length === expected.length && timingSafeEqual(given, expected) ? userId : null;
}

// ---- HTTP ----------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function reply(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "payload_too_large", "the body is too large");
    chunks.push(chunk);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    if (body && typeof body === "object" && !Array.isArray(body)) return body;
  } catch {
    // reported below
  }
  throw new HttpError(400, "malformed_json", "the body is not a JSON object");
}

function bearer(req) {
  const header = req.headers.authorization ?? "";
  const userId = header.startsWith("Bearer ") ? verifyToken(header.slice(7).trim()) : null;
  if (!userId) throw new HttpError(401, "invalid_token", "the token is not valid");
  return userId;
}

async function register(req) {
  const { username, password } = await readJson(req);
  if (typeof username !== "string" || !USERNAME.test(username)) {
    throw new HttpError(400, "invalid_username", "3 to 32 letters, digits, _ . -");
  }
  if (typeof password !== "string" || password.length < 8 || password.length > 128) {
    throw new HttpError(400, "invalid_password", "8 to 128 characters");
  }
  const name = username.toLowerCase();
  const id = randomUUID();
  if (!(await redis.set(key.username(name), id, { NX: true }))) {
    throw new HttpError(409, "username_taken", "the username is taken");
  }
  await redis.sAdd(key.users, id);
  return [201, { user: { id, username: name, display_name: name }, token: issueToken(id) }];
}

async function createGroup(req) {
  const owner = bearer(req);
  const { name, members = [], public: isPublic = false } = await readJson(req);
  if (typeof name !== "string" || !name.trim() || name.trim().length > 128) {
    throw new HttpError(400, "invalid_request", "the name has 1 to 128 characters");
  }
  if (!Array.isArray(members) || members.some((m) => typeof m !== "string")) {
    throw new HttpError(422, "invalid_request", "members is a list of user ids");
  }
  const everyone = [...new Set([owner, ...members])];
  const known = await redis.smIsMember(key.users, everyone);
  if (known.some((isMember) => !isMember)) throw new HttpError(404, "not_found", "no such user");
  const id = randomUUID();
  const multi = redis.multi();
  for (const user of everyone) multi.sAdd(key.userGroups(user), id);
  if (isPublic === true) multi.sAdd(key.publicGroups, id);
  await multi.exec();
  // Members connected right now (on any instance) join the room. Every instance applies
  // adapter requests in the order Redis relays them, so once all have answered the
  // fetchSockets request published after the join, the join is done everywhere and the
  // group works as soon as the client has this reply.
  io.in(everyone.map((user) => `user:${user}`)).socketsJoin(`group:${id}`);
  await io.in(`group:${id}`).fetchSockets();
  const roles = everyone.map((user) => ({ user, role: user === owner ? "owner" : "member" }));
  return [201, { group: { id, name: name.trim(), public: isPublic === true, owner, members: roles } }];
}

/** Joins a public group: the caller's connected sockets join its room, as at creation. */
async function joinGroup(req, id) {
  const me = bearer(req);
  if (!(await redis.sIsMember(key.publicGroups, id))) throw new HttpError(404, "not_found", "no such group");
  await redis.sAdd(key.userGroups(me), id);
  io.in(`user:${me}`).socketsJoin(`group:${id}`);
  await io.in(`group:${id}`).fetchSockets();
  return [200, { group: { id } }];
}

async function readyz() {
  await redis.ping();
  return [200, { status: "ready" }];
}

const routes = {
  "POST /api/v1/auth/register": register,
  "POST /api/v1/groups": createGroup,
  "GET /readyz": readyz,
};

/** The handler of a request: an exact route, or a group's join. */
function route(req) {
  const path = req.url.split("?")[0];
  const exact = routes[`${req.method} ${path}`];
  if (exact) return exact;
  const join = req.method === "POST" && /^\/api\/v1\/groups\/([^/]+)\/join$/.exec(path);
  return join ? (request) => joinGroup(request, decodeURIComponent(join[1])) : null;
}

const httpServer = createServer(async (req, res) => {
  const handler = route(req);
  try {
    if (!handler) throw new HttpError(404, "not_found", "no such endpoint");
    const [status, body] = await handler(req);
    reply(res, status, body);
  } catch (err) {
    if (err instanceof HttpError) return reply(res, err.status, { error: { code: err.code, message: err.message } });
    console.error(err);
    reply(res, 500, { error: { code: "internal_error", message: "internal error" } });
  }
});

// ---- Socket.IO -----------------------------------------------------------------------------

const io = new Server(httpServer, { serveClient: false, adapter: createAdapter(pub, sub) });

const ok = (fields = {}) => ({ ok: true, ...fields });
const fail = (code, message) => ({ ok: false, error: { code, message } });
const directConversation = (a, b) => (a < b ? `d:${a}:${b}` : `d:${b}:${a}`);

/**
 * The room of a conversation the socket's user is in, and the other user of a direct one;
 * null if it is not a conversation of theirs.
 */
function conversationRoom(socket, conversation) {
  const me = socket.data.user;
  if (typeof conversation !== "string") return null;
  if (conversation.startsWith("g:")) {
    const room = `group:${conversation.slice(2)}`;
    return socket.rooms.has(room) ? { room } : null;
  }
  const [kind, a, b] = conversation.split(":");
  if (kind !== "d" || (a !== me && b !== me) || directConversation(a, b) !== conversation) return null;
  const other = a === me ? b : a;
  return { room: `user:${other}`, other };
}

io.use(async (socket, next) => {
  const user = verifyToken(socket.handshake.auth?.token);
  if (!user) {
    const err = new Error("the token is not valid");
    err.data = { code: "invalid_token" };
    return next(err);
  }
  socket.data.user = user;
  socket.data.groups = await redis.sMembers(key.userGroups(user));
  next();
});

io.on("connection", (socket) => {
  const me = socket.data.user;
  socket.join([`user:${me}`, ...socket.data.groups.map((gid) => `group:${gid}`)]);
  redis.hIncrBy(key.presence, me, 1);
  socket.on("disconnect", () => redis.hIncrBy(key.presence, me, -1));

  // Every handler answers an ack if one was asked for; without one, errors are dropped.
  const handle = (event, handler) =>
    socket.on(event, async (payload, callback) => {
      const answer = payload && typeof payload === "object" ? await handler(payload) : fail("invalid_request", "payload");
      if (typeof callback === "function") callback(answer);
    });

  handle("message:send", ({ to, body, client_msg_id }) => {
    if (typeof body !== "string" || !body) return fail("invalid_request", "empty message");
    if (typeof client_msg_id !== "string" || !client_msg_id || client_msg_id.length > 64) {
      return fail("invalid_request", "client_msg_id has 1 to 64 bytes");
    }
    let conversation, room;
    if (typeof to?.user === "string") {
      conversation = directConversation(me, to.user);
      room = `user:${to.user}`;
    } else if (typeof to?.group === "string") {
      conversation = `g:${to.group}`;
      room = `group:${to.group}`;
      if (!socket.rooms.has(room)) return fail("not_found", "no such group");
    } else {
      return fail("invalid_request", "to is {user} or {group}");
    }
    const message = { id: randomUUID(), conversation, from: me, to, body, meta: null, client_msg_id, ts: new Date().toISOString() };
    // The recipients, and the sender's other connections; never the sending socket.
    socket.to(room).to(`user:${me}`).emit("message:new", message);
    return ok({ message });
  });

  handle("typing", ({ conversation, typing }) => {
    const target = conversationRoom(socket, conversation);
    if (!target) return fail("not_found", "no such conversation");
    socket.to(target.room).except(`user:${me}`).emit("typing", { conversation, user: me, typing: Boolean(typing) });
    return ok();
  });

  handle("read", ({ conversation, seq }) => {
    const target = conversationRoom(socket, conversation);
    if (!target) return fail("not_found", "no such conversation");
    if (!Number.isInteger(seq) || seq < 1) return fail("invalid_request", "seq is at least 1");
    socket.to(target.room).to(`user:${me}`).emit("receipt", { conversation, user: me, seq });
    return ok();
  });

  // Nothing is stored, so there is never anything to catch up on.
  handle("sync", () => ok({ messages: [], more: false }));

  handle("presence:query", async ({ users }) => {
    if (!Array.isArray(users) || users.length > 200) return fail("invalid_request", "at most 200 users");
    if (users.length === 0) return ok({ presence: [] });
    const counts = await redis.hmGet(key.presence, users.map(String));
    return ok({ presence: users.map((user, i) => ({ user, online: Number(counts[i]) > 0, last_seen: null })) });
  });
});

httpServer.listen(Number(args.port), args.host, () => {
  console.log(`socketio-redis peer listening on http://${args.host}:${args.port} (pid ${process.pid})`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    Promise.allSettled([redis.quit(), pub.quit(), sub.quit()]).then(() => process.exit(0));
  });
}
