// Waiting without fixed sleeps: every wait here is for a condition, bounded by a deadline.

import { setTimeout as delay } from "node:timers/promises";

/**
 * Polls `predicate` (sync or async) until it returns a truthy value, which is returned.
 * Throws after `timeoutMs` with `what` in the message.
 */
export async function waitFor(predicate, timeoutMs = 2000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await delay(10);
  }
}

/** Rejects with a clear message if `promise` does not settle within `timeoutMs`. */
export function withTimeout(promise, timeoutMs, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with the arguments of the next `event` on an EventEmitter-like object
 * (`socket.io-client` sockets and managers, `ws` sockets), or rejects after `timeoutMs`.
 */
export function nextEvent(emitter, event, timeoutMs = 2000) {
  let listener;
  const promise = new Promise((resolve) => {
    listener = (...args) => resolve(args);
    emitter.once(event, listener);
  });
  return withTimeout(promise, timeoutMs, `event "${event}"`).catch((err) => {
    emitter.off(event, listener);
    throw err;
  });
}

/** Asserts that `promise` does NOT settle within `windowMs` (for "nothing happens" checks). */
export async function staysPending(promise, windowMs) {
  const marker = Symbol("pending");
  const result = await Promise.race([promise.then(() => "settled", () => "settled"), delay(windowMs, marker)]);
  return result === marker;
}
