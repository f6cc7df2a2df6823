// Normalisation of server output, so that two servers (or two runs) compare equal when
// they only differ in random values: Engine.IO sids, Socket.IO sids and pids, and
// connection-state-recovery offsets. Object keys are sorted (key order is not protocol).

/** JSON.stringify with object keys sorted recursively. */
export function canonicalJson(value) {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

/** `0{"sid":"abc",...}` -> `0{"maxPayload":...,"sid":"<sid>",...}` (keys sorted). */
export function normalizeOpenPacket(text) {
  if (typeof text !== "string" || !text.startsWith("0")) return text;
  const open = JSON.parse(text.slice(1));
  if (typeof open.sid === "string") open.sid = "<sid>";
  return "0" + canonicalJson(open);
}

/**
 * Parses a Socket.IO packet (the Engine.IO message payload, without the leading "4").
 * Returns `{ type, attachments, nsp, id, data }` or throws on malformed input.
 */
export function parseSocketIoPacket(text) {
  let i = 0;
  const type = Number(text[i++]);
  if (!Number.isInteger(type)) throw new Error(`bad packet type in ${JSON.stringify(text)}`);
  let attachments;
  if (type === 5 || type === 6) {
    const dash = text.indexOf("-", i);
    attachments = Number(text.slice(i, dash));
    i = dash + 1;
  }
  let nsp = "/";
  if (text[i] === "/") {
    const comma = text.indexOf(",", i);
    nsp = comma < 0 ? text.slice(i) : text.slice(i, comma);
    i = comma < 0 ? text.length : comma + 1;
  }
  let id = "";
  while (i < text.length && text[i] >= "0" && text[i] <= "9") id += text[i++];
  const data = i < text.length ? JSON.parse(text.slice(i)) : undefined;
  return { type, attachments, nsp, id: id === "" ? undefined : Number(id), data };
}

/** Encodes a parsed packet back, canonically (the inverse of parseSocketIoPacket). */
export function encodeSocketIoPacket({ type, attachments, nsp, id, data }) {
  let out = String(type);
  if (attachments !== undefined) out += `${attachments}-`;
  if (nsp && nsp !== "/") out += `${nsp},`;
  if (id !== undefined) out += String(id);
  if (data !== undefined) out += canonicalJson(data);
  return out;
}

/**
 * Normalises one frame received on a Socket.IO WebSocket:
 * - binary frames become `<bin HEX>`;
 * - Engine.IO messages ("4...") are parsed as Socket.IO packets: CONNECT payload
 *   `sid`/`pid` become `<sid>`/`<pid>`; for EVENT/BINARY_EVENT packets without an ack id
 *   a trailing string argument is taken to be the recovery offset and becomes `<offset>`
 *   (the suites never send a string as the last argument of such events);
 * - the ack id of EVENT/BINARY_EVENT packets sent by the server becomes `<ack>` (the
 *   reference draws them from a counter shared by the whole namespace);
 * - anything else is returned as is.
 */
export function normalizeSocketIoFrame(frame) {
  if (Buffer.isBuffer(frame)) return `<bin ${frame.toString("hex")}>`;
  if (typeof frame !== "string" || !frame.startsWith("4")) return normalizeOpenPacket(frame);
  let packet;
  try {
    packet = parseSocketIoPacket(frame.slice(1));
  } catch {
    return frame;
  }
  if (packet.type === 0 && packet.data && typeof packet.data === "object") {
    if (typeof packet.data.sid === "string") packet.data.sid = "<sid>";
    if (typeof packet.data.pid === "string") packet.data.pid = "<pid>";
  }
  if ((packet.type === 2 || packet.type === 5) && packet.id === undefined && Array.isArray(packet.data)) {
    const last = packet.data.length - 1;
    if (last >= 1 && typeof packet.data[last] === "string") packet.data[last] = "<offset>";
  }
  if ((packet.type === 2 || packet.type === 5) && packet.id !== undefined) packet.id = "<ack>";
  return "4" + encodeSocketIoPacket(packet);
}

/** Reduces an upgrade attempt outcome to comparable fields. */
export function describeWsRefusal(err) {
  if (err.response) {
    return { refused: "http", status: err.response.status, body: err.response.body };
  }
  return { refused: "socket", error: err.code ?? err.message };
}
