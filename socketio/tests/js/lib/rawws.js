// A scriptable WebSocket peer (the `ws` package) for raw Engine.IO / Socket.IO tests.
// Every frame is queued in arrival order; text frames as strings, binary frames as Buffers.

import WebSocket from "ws";
import { withTimeout } from "./wait.js";

export class RawWs {
  /**
   * Opens `url`. With `autoPong` the peer answers every Engine.IO ping ("2") with a pong
   * ("3"); pings never enter the queue either way, they are recorded in `pings`.
   * Rejects with `err.response = { status, headers, body }` when the server answers the
   * upgrade with a plain HTTP response.
   */
  static open(url, { autoPong = true, timeoutMs = 3000 } = {}) {
    const ws = new WebSocket(url);
    const peer = new RawWs(ws, autoPong);
    const opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve(peer));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const err = new Error(`upgrade refused with HTTP ${res.statusCode}`);
          err.response = {
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          };
          reject(err);
          ws.terminate();
        });
      });
    });
    return withTimeout(opened, timeoutMs, `WebSocket open ${url}`).catch((err) => {
      ws.terminate();
      throw err;
    });
  }

  constructor(ws, autoPong) {
    this.ws = ws;
    this.autoPong = autoPong;
    this.openedAt = Date.now();
    /** @type {number[]} arrival times (ms since open) of Engine.IO pings */
    this.pings = [];
    this.queue = [];
    this.waiters = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString("utf8"), atMs: Date.now() - this.openedAt };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.reject(new Error(`socket closed (${code}) while waiting for a frame`));
      });
    });
    ws.on("error", () => {}); // surfaced through `closed`
    ws.on("message", (data, isBinary) => {
      const frame = isBinary ? Buffer.from(data) : data.toString("utf8");
      if (frame === "2") {
        this.pings.push(Date.now() - this.openedAt);
        if (this.autoPong) this.send("3");
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(frame);
      else this.queue.push(frame);
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame) {
    this.ws.send(frame);
  }

  /** The next non-ping frame (string or Buffer). */
  next(timeoutMs = 2000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code})`));
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      this.waiters.push(waiter);
    });
    return withTimeout(p, timeoutMs, "next WebSocket frame").catch((err) => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
      throw err;
    });
  }

  /** The next `n` non-ping frames. */
  async take(n, timeoutMs = 2000) {
    const frames = [];
    for (let i = 0; i < n; i++) frames.push(await this.next(timeoutMs));
    return frames;
  }

  /** Resolves the close info, or rejects if the server keeps the socket open `timeoutMs`. */
  waitClosed(timeoutMs = 2000) {
    return withTimeout(this.closed, timeoutMs, "the server to close the WebSocket");
  }

  /** Hard close for cleanup. */
  destroy() {
    this.ws.terminate();
  }
}
