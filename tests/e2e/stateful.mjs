// Stateful reconnect with the official client in Node (tests/stateful_kit.py):
//
//   node tests/e2e/stateful.mjs stream '{"url": ..., "protocol": "json", "count": 1000, ...}'
//
// Prints "STEP streaming {id, stateful}" once the numbers flow (the test then
// cuts the connection through its proxy, at random moments), and one JSON
// result line at the end (tests/e2e/stateful_stream.mjs).
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { configure, finish, options, scenarioName } from "../scenario_kit.mjs";
import { streamNumbers } from "./stateful_stream.mjs";

const WAIT_MS = configure({ waitMs: 90000, watchdogMs: 150000 });

try {
  if (scenarioName !== "stream") {
    throw new Error(`unknown scenario ${scenarioName}`);
  }
  const report = (data) => process.stdout.write(`STEP streaming ${JSON.stringify(data)}\n`);
  finish(
    await streamNumbers(signalR, new MessagePackHubProtocol(), { waitMs: WAIT_MS, ...options }, report),
  );
} catch (error) {
  finish({ fatal: String(error && error.stack ? error.stack : error) }, 1);
}
