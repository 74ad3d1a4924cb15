// Many official SignalR clients on one URL (tests/scaleout/test_workers.py).
//
//   node tests/scaleout/crowd.mjs crowd '{"url": ..., "accessToken": ..., "count": 1000,
//                                         "orderId": 1, "delays": [0, 500, ...]}'
//
// Every client connects to the orders hub, subscribes to one order, and
// counts what arrives: OrderStatusUpdated by status (a group broadcast) and
// UserCheck by tag (a send to the user). After a reconnect it subscribes
// again. "STEP <name> <json>" lines report a summary; commands arrive as
// JSON lines on stdin: "state", "await" (every client has `status` or `tag`
// once), "awaitReconnected" (`count` clients reconnected), "stop". Every
// wait is bounded and a watchdog ends the process regardless.
import * as readline from "node:readline";
import * as signalR from "@microsoft/signalr";
import { configure, finish, options, scenarioName, step, until, withTimeout } from "../scenario_kit.mjs";

const WAIT_MS = configure({ waitMs: 60000, watchdogMs: 600000 });
const OPENING = 50;

async function open() {
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(options.url, {
      accessTokenFactory: () => options.accessToken,
      transport: signalR.HttpTransportType.WebSockets,
    })
    .withAutomaticReconnect(options.delays ?? [0, 500, 1000, 2000, 2000, 5000, 5000])
    .configureLogging(signalR.LogLevel.None)
    .build();
  const c = { connection, ids: [], seen: {}, reconnects: 0, reconnecting: 0, closed: 0, errors: [] };
  const count = (key) => { c.seen[key] = (c.seen[key] ?? 0) + 1; };
  connection.on("OrderStatusUpdated", (id, status) => { count(`status:${status}`); });
  connection.on("OrderProgressUpdated", () => {});
  connection.on("UserCheck", (tag) => { count(`tag:${tag}`); });
  connection.onreconnecting(() => { c.reconnecting += 1; });
  connection.onreconnected(async (id) => {
    c.ids.push(id);
    try {
      await connection.invoke("SubscribeToOrder", options.orderId);
    } catch (error) {
      c.errors.push(String(error));
    }
    c.reconnects += 1;
  });
  connection.onclose(() => { c.closed += 1; });
  await withTimeout(connection.start(), "start");
  c.ids.push(connection.connectionId);
  await withTimeout(connection.invoke("SubscribeToOrder", options.orderId), "SubscribeToOrder");
  return c;
}

async function crowd() {
  const clients = [];
  let next = 0;
  async function opener() {
    while (next < options.count) {
      next += 1;
      clients.push(await open());
    }
  }
  await Promise.all(Array.from({ length: OPENING }, opener));

  function summary(key) {
    const times = clients.map((c) => c.seen[key] ?? 0);
    return {
      clients: clients.length,
      connected: clients.filter((c) => c.connection.state === signalR.HubConnectionState.Connected).length,
      reconnected: clients.filter((c) => c.reconnects > 0).length,
      reconnecting: clients.reduce((n, c) => n + c.reconnecting, 0),
      closed: clients.reduce((n, c) => n + c.closed, 0),
      errors: clients.flatMap((c) => c.errors).slice(0, 5),
      key: key ?? null,
      once: times.filter((n) => n === 1).length,
      twice: times.filter((n) => n > 1).length,
    };
  }

  step("ready", summary());
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    const ms = command.timeoutMs ?? WAIT_MS;
    try {
      if (command.cmd === "state") {
        step("state", summary(command.key));
      } else if (command.cmd === "await") {
        await until(() => clients.every((c) => c.seen[command.key]), command.key, ms);
        step("state", summary(command.key));
      } else if (command.cmd === "awaitReconnected") {
        await until(
          () => summary().reconnected >= command.count && summary().connected === clients.length,
          "reconnected", ms,
        );
        step("state", summary());
      } else if (command.cmd === "awaitReconnecting") {
        await until(() => summary().reconnecting >= command.count, "reconnecting", ms);
        step("state", summary());
      } else if (command.cmd === "stop") {
        break;
      }
    } catch (error) {
      step("failed", { error: String(error), ...summary(command.key) });
    }
  }
  lines.close();
  const final = summary();
  await Promise.all(clients.map((c) => withTimeout(c.connection.stop(), "stop")));
  return final;
}

const scenarios = { crowd };

try {
  finish(await scenarios[scenarioName]());
} catch (error) {
  finish({ fatal: String(error?.stack ?? error) }, 1);
}
