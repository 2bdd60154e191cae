// Sends events over the Fluentd forward protocol with the Fluentd project's own Node client,
// unchanged: `node forward_client.js PORT MODE COUNT TAG_PREFIX` (MODE: Message, Forward,
// PackedForward, CompressedPackedForward). Every event waits for its chunk's acknowledgement
// (requireAckResponse); a missing ack is retried by the client. Prints one JSON line.
"use strict";
const { FluentClient, EventTime } = require("@fluent-org/logger");

async function main() {
  const [port, mode, count, prefix] = process.argv.slice(2);
  const errors = [];
  const client = new FluentClient(prefix, {
    eventMode: mode,
    socket: { host: "127.0.0.1", port: Number(port), timeout: 10000,
              reconnect: { backoff: 1.5, delay: 50, maxDelay: 500 } },
    ack: { ackTimeout: 1500 },
    eventRetry: { attempts: 20, backoff: 1.5, delay: 50, maxDelay: 1000,
                  onError: (err) => errors.push(String(err)) },
    flushInterval: 20,
    milliseconds: true,
  });
  const sends = [];
  for (let seq = 0; seq < Number(count); seq++) {
    const time = new EventTime(1764115200 + seq, 123456789);
    sends.push(client.emit("events", { seq, mode, message: `event ${seq} of ${mode}` }, time));
  }
  const results = await Promise.allSettled(sends);
  const failed = results.filter((r) => r.status === "rejected").map((r) => String(r.reason));
  await client.shutdown();
  console.log(JSON.stringify({ sent: Number(count), failed: failed.length, first_failure: failed[0] || null,
                               retried_errors: errors.length }));
}

main().catch((err) => { console.error(err); process.exit(1); });
