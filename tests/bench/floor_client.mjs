// The official SignalR client against bench/'s SignalR floor peer.
//
//   node tests/bench/floor_client.mjs echo '{"url": "http://127.0.0.1:PORT/hub"}'
//
// Connects over WebSockets (negotiate first, as by default), invokes Echo,
// prints "STEP connected", waits for a line on stdin (the test publishes a
// broadcast), waits for the BenchEvent and prints one JSON result line.
import * as readline from "node:readline";
import * as signalR from "@microsoft/signalr";
import { configure, finish, options, step, withTimeout } from "../scenario_kit.mjs";

configure({ waitMs: 10000, watchdogMs: 40000 });

const lines = readline.createInterface({ input: process.stdin });
const nextLine = new Promise((resolve) => {
  lines.once("line", resolve);
});

const connection = new signalR.HubConnectionBuilder()
  .withUrl(options.url, { transport: signalR.HttpTransportType.WebSockets })
  .configureLogging(signalR.LogLevel.Warning)
  .build();
let resolveEvent;
const event = new Promise((resolve) => {
  resolveEvent = resolve;
});
connection.on("BenchEvent", (body) => {  // bench.payloads.EVENT
  resolveEvent(body);
});

try {
  await withTimeout(connection.start(), "start");
  const echoed = await withTimeout(connection.invoke("Echo", { seq: -1, pad: "é" }), "Echo");
  step("connected", { connectionId: connection.connectionId });
  await withTimeout(nextLine, "the test's line");
  const received = await withTimeout(event, "BenchEvent");
  await connection.stop();
  lines.close();
  finish({ echoed, received, state: connection.state });
} catch (error) {
  finish({ error: String(error) }, 1);
}
