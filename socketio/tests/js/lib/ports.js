// Free loopback ports for the servers the suites start.
import { once } from "node:events";
import { createServer } from "node:net";

const HOST = "127.0.0.1";

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function freePort() {
  const srv = createServer();
  srv.listen(0, HOST);
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}
