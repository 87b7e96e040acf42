// The official JS client (npm `convex`, ConvexClient from convex/browser) as a
// client role of bench/bench_results.py: the same work as that script's Python
// roles, timed the same way (see its docstring). tests/devserver/official_client.mjs
// drives the same client against the dev server.
//
//   node bench/official_js.mjs large URL BYTES REPEATS BACKSTOP_S
//   node bench/official_js.mjs subs URL COUNT 1 BACKSTOP_S
//
// stdout, one line each:
//   START                  the client is connected (its warm-up query answered);
//                          the timed work begins now (the parent's cap starts here)
//   PROGRESS N SECONDS     subscriptions: N first values in hand after SECONDS
//   RESULT {json}          the figures, last
// Peak memory is VmHWM from /proc/self/status, as for the Python roles. The whole
// run is bounded: after BACKSTOP_S seconds the script exits with status 3.
import { readFileSync } from "node:fs";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";

// The client logs to the console; stdout carries only the lines above.
for (const level of ["log", "info", "warn", "debug"]) console[level] = console.error;

const [mode, url, amountText, repeatsText, backstopText] = process.argv.slice(2);
const amount = Number(amountText);
const repeats = Number(repeatsText);
const backstop = setTimeout(() => {
  process.stderr.write(`official_js.mjs: no result within ${backstopText} s\n`);
  process.exit(3);
}, Number(backstopText) * 1000);

const WARM = makeFunctionReference("bench:warm");
const BIG = makeFunctionReference("bench:big");
const ITEM = makeFunctionReference("bench:item");

function statusMiB(field) {
  let status = "";
  try {
    status = readFileSync("/proc/self/status", "utf8");
  } catch {
    return null; // not Linux: the figure is left out
  }
  const found = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return found ? Number(found[1]) / 1024 : null;
}

const client = new ConvexClient(url, { skipConvexDeploymentUrlCheck: true });

// The first value of one query, and the time (performance.now()) it was in hand.
function firstValue(query, args) {
  return new Promise((resolve, reject) => {
    const unsubscribe = client.onUpdate(
      query,
      args,
      (value) => resolve({ value, at: performance.now(), unsubscribe }),
      (error) => reject(error),
    );
  });
}

await firstValue(WARM, {});
process.stdout.write("START\n");
const rssBefore = statusMiB("VmRSS");
let result;
if (mode === "large") {
  const ms = [];
  for (let n = 0; n < repeats; n++) {
    const started = performance.now();
    const { value, at, unsubscribe } = await firstValue(BIG, { bytes: amount, n });
    if (value.bytes !== amount || !Array.isArray(value.docs)) {
      throw new Error(`unexpected value for ${amount} bytes`);
    }
    ms.push(at - started);
    unsubscribe();
  }
  result = { ms, rss_before_mib: rssBefore, peak_mib: statusMiB("VmHWM") };
} else if (mode === "subs") {
  const step = Math.max(1, Math.floor(amount / 10));
  const seen = new Uint8Array(amount);
  let inHand = 0;
  const started = performance.now();
  const elapsed = await new Promise((resolve, reject) => {
    for (let i = 0; i < amount; i++) {
      client.onUpdate(
        ITEM,
        { i },
        (value) => {
          if (seen[i] || value.i !== i) return;
          seen[i] = 1;
          inHand += 1;
          const now = performance.now() - started;
          if (inHand % step === 0) process.stdout.write(`PROGRESS ${inHand} ${now / 1000}\n`);
          if (inHand === amount) resolve(now);
        },
        (error) => reject(error),
      );
    }
  });
  result = {
    ms: [elapsed],
    rss_before_mib: rssBefore,
    rss_after_mib: statusMiB("VmRSS"),
    peak_mib: statusMiB("VmHWM"),
  };
} else {
  throw new Error(`unknown mode ${mode}`);
}
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
await client.close();
clearTimeout(backstop);
process.exit(0);
