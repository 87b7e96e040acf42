// The official Convex client (npm `convex`, ConvexClient from convex/browser)
// against the syncwire dev server; driven by test_official_client.py.
//
// argv[2] is the deployment URL. stdout: one JSON object per line, events:
//   {"event":"update","bodies":[...]}         messages:list {channel:"general"} changed
//   {"event":"sent","body":..., "id":...}     a messages:send mutation resolved
//   {"event":"error","message":...}           a subscription or mutation failed
//   {"event":"closed","connectionCount":N}    after `quit`, before exiting 0
// stdin: one command per line: `send BODY` runs messages:send, `quit` closes.
// The whole run is bounded: after 60 s the script exits with status 3.
import { createInterface } from "node:readline";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";

// The client logs (e.g. "WebSocket closed with code 1013: …") to stderr, so
// stdout carries only events.
for (const level of ["log", "info", "warn", "debug"]) console[level] = console.error;

const url = process.argv[2];
const list = makeFunctionReference("messages:list");
const send = makeFunctionReference("messages:send");
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

const deadline = setTimeout(() => {
  emit({ event: "error", message: "official_client.mjs timed out" });
  process.exit(3);
}, 60_000);

const client = new ConvexClient(url, { skipConvexDeploymentUrlCheck: true });
client.onUpdate(
  list,
  { channel: "general" },
  (messages) => emit({ event: "update", bodies: messages.map((m) => m.body) }),
  (error) => emit({ event: "error", message: String(error) }),
);

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const [command, ...rest] = line.trim().split(" ");
  if (command === "send") {
    const body = rest.join(" ");
    client.mutation(send, { channel: "general", body }).then(
      (id) => emit({ event: "sent", body, id }),
      (error) => emit({ event: "error", message: String(error) }),
    );
  } else if (command === "quit") {
    const { connectionCount } = client.connectionState();
    await client.close();
    emit({ event: "closed", connectionCount });
    break;
  }
}
clearTimeout(deadline);
process.exit(0);
