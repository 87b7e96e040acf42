// The official Convex client as an oracle for tests/protocol/test_differential.py.
//
// Reads one JSON request per line on stdin and writes one JSON reply per line
// on stdout, in the same order:
//
//   {"kind": "client", "message": T}  ->  {"frame": JSON.stringify(encodeClientMessage(msg))}
//   {"kind": "server", "text": str}   ->  {"message": T}   parseServerMessage + jsonToConvex
//   {"kind": "udfPath", "path": str}  ->  {"path": str}    canonicalizeUdfPath
//
// and {"error": "..."} when the official code throws. T is a tagged transport
// that keeps what plain JSON would lose. Plain JSON null, booleans, strings,
// numbers (only ever safe integers) and arrays stand for themselves; every
// object is a one-key tag:
//
//   {"$obj": [[key, T], ...]}   plain object, keys in this order
//   {"$f64": "16 hex digits"}   a number, by its IEEE-754 bits (big-endian hex)
//   {"$bigint": "-12"}          bigint (Convex int64)
//   {"$bytes": "hex"}           ArrayBuffer
//   {"$u64": "123"}             Long (u64 timestamp), unsigned decimal
//   {"$commitTs": null}         the commit-timestamp placeholder
//   {"$convex": T}              request only: convexToJson(<T decoded>)
//   {"$undefined": null}        reply only: a key present with value undefined
//
// The sync files are not in the package's `exports` map, so they are imported
// by path from the repository's node_modules.

import { createInterface } from "node:readline";

const dist = new URL("../../node_modules/convex/dist/esm/", import.meta.url);
const { encodeClientMessage, parseServerMessage } = await import(
  new URL("browser/sync/protocol.js", dist).href
);
const { convexToJson, jsonToConvex, commitTsPlaceholder } = await import(
  new URL("values/value.js", dist).href
);
const { canonicalizeUdfPath } = await import(
  new URL("browser/sync/udf_path_utils.js", dist).href
);
const { Long } = await import(new URL("vendor/long.js", dist).href);

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return bytes;
}

function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function numberFromHex(hex) {
  return new DataView(hexToBytes(hex).buffer).getFloat64(0, false);
}

function numberToHex(x) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x, false);
  return bytesToHex(new Uint8Array(view.buffer));
}

function longFromDecimal(text) {
  const value = BigInt.asUintN(64, BigInt(text));
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, value, true);
  return Long.fromBytesLE(Array.from(new Uint8Array(view.buffer)));
}

function longToDecimal(long) {
  // Not long.toString(): the vendored Long treats its low word as signed there.
  return new DataView(new Uint8Array(long.toBytesLE()).buffer)
    .getBigUint64(0, true)
    .toString();
}

function fromTransport(x) {
  if (x === null || ["boolean", "string", "number"].includes(typeof x)) {
    return x;
  }
  if (Array.isArray(x)) {
    return x.map(fromTransport);
  }
  const entries = Object.entries(x);
  if (entries.length !== 1) {
    throw new Error(`bad transport object with keys ${Object.keys(x)}`);
  }
  const [[tag, payload]] = entries;
  switch (tag) {
    case "$obj":
      // fromEntries defines own properties, even for a key like "__proto__".
      return Object.fromEntries(payload.map(([k, v]) => [k, fromTransport(v)]));
    case "$f64":
      return numberFromHex(payload);
    case "$bigint":
      return BigInt(payload);
    case "$bytes":
      return hexToBytes(payload).buffer;
    case "$u64":
      return longFromDecimal(payload);
    case "$commitTs":
      return commitTsPlaceholder;
    case "$convex":
      return convexToJson(fromTransport(payload));
    default:
      throw new Error(`unknown transport tag ${tag}`);
  }
}

function toTransport(x) {
  if (x === undefined) {
    return { $undefined: null };
  }
  if (x === null || typeof x === "boolean" || typeof x === "string") {
    return x;
  }
  if (typeof x === "number") {
    return { $f64: numberToHex(x) };
  }
  if (typeof x === "bigint") {
    return { $bigint: x.toString() };
  }
  if (x instanceof ArrayBuffer) {
    return { $bytes: bytesToHex(new Uint8Array(x)) };
  }
  if (x === commitTsPlaceholder) {
    return { $commitTs: null };
  }
  if (Long.isLong(x)) {
    return { $u64: longToDecimal(x) };
  }
  if (Array.isArray(x)) {
    return x.map(toTransport);
  }
  if (typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
    return { $obj: Object.entries(x).map(([k, v]) => [k, toTransport(v)]) };
  }
  throw new Error(`cannot transport a ${typeof x} (${x?.constructor?.name})`);
}

// What the official client does with the value fields of a parsed message
// (remote_query_set.js, request_manager.js): jsonToConvex on results and on
// errorData when it is present.
function convertValues(message) {
  const out = { ...message };
  if (out.type === "Transition") {
    out.modifications = out.modifications.map((mod) => {
      const m = { ...mod };
      if (m.type === "QueryUpdated") {
        m.value = jsonToConvex(m.value);
      } else if (m.type === "QueryFailed" && m.errorData !== undefined) {
        m.errorData = jsonToConvex(m.errorData);
      }
      return m;
    });
  } else if (out.type === "MutationResponse" || out.type === "ActionResponse") {
    if (out.success) {
      out.result = jsonToConvex(out.result);
    } else if (out.errorData !== undefined) {
      out.errorData = jsonToConvex(out.errorData);
    }
  }
  return out;
}

function handle(request) {
  switch (request.kind) {
    case "client":
      return { frame: JSON.stringify(encodeClientMessage(fromTransport(request.message))) };
    case "server":
      return { message: toTransport(convertValues(parseServerMessage(JSON.parse(request.text)))) };
    case "udfPath":
      return { path: canonicalizeUdfPath(request.path) };
    default:
      throw new Error(`unknown request kind ${request.kind}`);
  }
}

const out = [];
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line === "") {
    continue;
  }
  let reply;
  try {
    reply = handle(JSON.parse(line));
  } catch (error) {
    reply = { error: String(error?.message ?? error) };
  }
  out.push(JSON.stringify(reply));
}
process.stdout.write(out.length ? out.join("\n") + "\n" : "");
