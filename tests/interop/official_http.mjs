// The official JS HTTP client (npm `convex`, ConvexHttpClient from convex/browser)
// against the syncwire dev server; driven by test_http_interop.py.
//
// argv[2] is the deployment URL, argv[3] a JSON plan: a list of calls
//   {"label": ..., "kind": "query"|"mutation"|"action", "name": ..., "args": {...},
//    "auth": null | "<jwt>"}
// (args as Convex JSON). stdout: one JSON object per call, in order:
//   {"label": ..., "value": <Convex JSON>}                         it succeeded
//   {"label": ..., "error": "ConvexError", "message": ..., "data": <Convex JSON>}
//   {"label": ..., "error": "Error", "message": ...}               any other failure
// The whole run is bounded: after 60 s the script exits with status 3.
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError, convexToJson, jsonToConvex } from "convex/values";

for (const level of ["log", "info", "warn", "debug"]) console[level] = console.error;

const deadline = setTimeout(() => {
  process.stdout.write(JSON.stringify({ label: "timeout", error: "timeout" }) + "\n");
  process.exit(3);
}, 60_000);

const url = process.argv[2];
const plan = JSON.parse(process.argv[3]);
for (const call of plan) {
  const client = new ConvexHttpClient(url, { logger: false });
  if (call.auth) client.setAuth(call.auth);
  const reference = makeFunctionReference(call.name);
  const args = jsonToConvex(call.args);
  let line;
  try {
    const value = await client[call.kind](reference, args);
    line = { label: call.label, value: convexToJson(value) };
  } catch (error) {
    line =
      error instanceof ConvexError
        ? { label: call.label, error: "ConvexError", message: error.message, data: convexToJson(error.data) }
        : { label: call.label, error: "Error", message: String(error.message ?? error) };
  }
  process.stdout.write(JSON.stringify(line) + "\n");
}
clearTimeout(deadline);
