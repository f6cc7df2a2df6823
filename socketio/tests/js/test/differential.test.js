// Differential: the same raw Engine.IO and Socket.IO scripts (lib/eio-scripts.js,
// lib/sio-scripts.js) against the reference and against Confab, side by side; their
// normalised transcripts (status codes, bodies, content types, CORS headers, frames,
// close codes, timer windows) must be equal. Needs CONFAB_CONFORMANCE_BIN; skipped
// otherwise.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as eio from "../lib/eio-scripts.js";
import * as sio from "../lib/sio-scripts.js";
import { bothUnavailableReason, startBoth } from "./server.js";

const skipReason = bothUnavailableReason();
let servers;

before(async () => {
  if (!skipReason) servers = await startBoth();
});
after(async () => {
  await Promise.all([servers?.reference.stop(), servers?.confab.stop()]);
});

for (const [suite, scripts] of [
  ["engine.io", eio.SCRIPTS],
  ["socket.io", sio.SCRIPTS],
]) {
  describe(`differential ${suite}`, () => {
    for (const [name, script] of Object.entries(scripts)) {
      test(name, async (t) => {
        if (skipReason) {
          t.skip(skipReason);
          return;
        }
        // One server at a time: the timer windows must not compete for the 2 cores.
        const reference = await script(servers.reference);
        const confab = await script(servers.confab);
        assert.deepEqual(confab, reference, `Confab differs from the reference in ${suite} ${name}`);
      });
    }
  });
}
