// Stateful reconnect with the official client: numbered server events and
// client invocations while the test cuts the TCP connection under it.
//
//   node tests/e2e/stateful.mjs stream '{"url": ..., "protocol": "json", "count": 1000, ...}'
//
// Prints "STEP streaming {id}" once the numbers flow (the test then cuts the
// connection through its proxy, at random moments), and one JSON result line
// when every number arrived (or a bounded wait ran out). No automatic
// reconnect is configured: if a resume fails, the connection closes, and the
// result says so.
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { configure, finish, options, scenarioName, sleep, withTimeout } from "../scenario_kit.mjs";

const WAIT_MS = configure({ waitMs: 90000, watchdogMs: 150000 });

function build() {
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(options.url, { transport: signalR.HttpTransportType[options.transport || "WebSockets"] })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.Warning);
  if (options.protocol === "messagepack") {
    builder.withHubProtocol(new MessagePackHubProtocol());
  }
  return builder.build();
}

async function stream() {
  const connection = build();
  const numbers = [];
  const tallied = [];
  const results = [];
  let closed = null;
  let stopping = false;
  let allNumbers;
  const complete = new Promise((resolve) => {
    allNumbers = resolve;
  });
  connection.on("Number", (n) => {
    numbers.push(n);
    if (numbers.length >= options.count) {
      allNumbers();
    }
  });
  connection.on("Tallied", (n) => {
    tallied.push(n);
  });
  connection.onclose((error) => {
    if (!stopping) {
      closed = String(error);
    }
    allNumbers();
  });
  await connection.start();
  const stateful = connection.connection.features.reconnect === true;
  const id = connection.connectionId;
  await connection.invoke("Numbers", options.count, options.delayMs);
  process.stdout.write(`STEP streaming ${JSON.stringify({ id, stateful })}\n`);
  // Invocations keep going while the connection is cut: the client buffers
  // them and resends what the server did not acknowledge.
  for (let i = 1; i <= options.tallies && closed === null; i++) {
    results.push(await withTimeout(connection.invoke("Tally", i), `Tally ${i}`));
    await sleep(options.tallyEveryMs);
  }
  await withTimeout(complete, `${options.count} numbers`, WAIT_MS);
  await sleep(200); // a late duplicate would arrive now
  const state = connection.state;
  stopping = true;
  await connection.stop();
  return { id, stateful, numbers, tallied, results, closed, state };
}

try {
  if (scenarioName !== "stream") {
    throw new Error(`unknown scenario ${scenarioName}`);
  }
  finish(await stream());
} catch (error) {
  finish({ fatal: String(error && error.stack ? error.stack : error) }, 1);
}
