// Scale-out scenarios for the official SignalR client (tests/scaleout).
//
//   node tests/scaleout/scenarios.mjs <scenario> '<options as JSON>'
//
// "STEP <name> <json>" lines tell the test where the client stands; the
// interactive `watch` scenario then reads one JSON command per stdin line.
// The last stdout line is the JSON result. Every wait is bounded and a
// watchdog ends the process regardless. Client logs go to stderr.
//
// Handlers use block bodies: a handler that returns a value makes the client
// answer the server with a result it did not ask for.
import * as readline from "node:readline";
import * as signalR from "@microsoft/signalr";
import {
  configure, finish, options, scenarioName, sleep, step, until, withTimeout,
} from "../scenario_kit.mjs";

const WAIT_MS = configure({ waitMs: 15000, watchdogMs: 120000 });

function nextEvent(connection, target, matches = () => true) {
  return new Promise((resolve) => {
    const handler = (...args) => {
      if (matches(...args)) {
        connection.off(target, handler);
        resolve(args);
      }
    };
    connection.on(target, handler);
  });
}

function build(spec, { reconnect } = {}) {
  const httpOptions = {};
  if (spec.transport) {
    httpOptions.transport = signalR.HttpTransportType[spec.transport];
  }
  if (spec.accessToken) {
    httpOptions.accessTokenFactory = () => spec.accessToken;
  }
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(spec.url, httpOptions)
    .configureLogging(signalR.LogLevel.Warning);
  if (reconnect) {
    builder.withAutomaticReconnect(reconnect);
  }
  return builder.build();
}

// A client on one instance hears a Shout sent through another instance.
async function shout() {
  const listener = build({ url: options.listenUrl });
  const shouter = build({ url: options.shoutUrl });
  await withTimeout(listener.start(), "start listener");
  await withTimeout(shouter.start(), "start shouter");
  await withTimeout(listener.invoke("Join", options.group), "Join");
  const heard = nextEvent(listener, "Shouted", (group) => { return group === options.group; });
  await withTimeout(shouter.invoke("Shout", options.group, options.text), "Shout");
  const args = await withTimeout(heard, "Shouted on the listener");
  const result = { heard: args, listener: listener.connectionId, shouter: shouter.connectionId };
  await listener.stop();
  await shouter.stop();
  return result;
}

// Watch an order; the test changes it behind the hub's back.
async function order() {
  const connection = build(options);
  const updates = [];
  connection.on("OrderStatusUpdated", (...args) => { updates.push(args); });
  await withTimeout(connection.start(), "start");
  await withTimeout(connection.invoke("SubscribeToOrder", options.orderId), "SubscribeToOrder");
  await until(() => updates.length > 0, "initial OrderStatusUpdated");
  step("subscribed", { connectionId: connection.connectionId, initial: updates[0] });
  await until(
    () => updates.some(([, status]) => status === options.expectStatus),
    `OrderStatusUpdated ${options.expectStatus}`,
  );
  await connection.stop();
  return { updates };
}

// Long-lived connections that count what they receive, reconnect, re-subscribe
// and catch up; driven by JSON commands on stdin.
async function watch() {
  const clients = [];
  for (const spec of options.connections) {
    const connection = build(spec, { reconnect: options.delays ?? [0, 1000, 2000, 2000, 5000] });
    const c = {
      spec, connection, label: spec.label, live: {}, caughtUp: {}, maxSeen: 0,
      dropSeen: 0, reconnects: 0, connectionIds: [], orderEvents: [], errors: [],
    };
    connection.on("ReceiveNotification", (n) => {
      c.live[n.id] = (c.live[n.id] ?? 0) + 1;
      c.maxSeen = Math.max(c.maxSeen, Number(n.id));
    });
    connection.on("UnreadCountUpdated", () => {});
    // Events may have been lost while the connection stayed open (Redis
    // restarted empty): catch up as after a reconnect.
    connection.on("Resync", () => {
      catchUp(c, c.maxSeen).catch((error) => { c.errors.push(`resync: ${error}`); });
    });
    connection.on("OrderStatusUpdated", (...args) => { c.orderEvents.push(args); });
    connection.on("OrderProgressUpdated", () => {});
    connection.onreconnecting(() => {
      c.dropSeen = c.maxSeen;
      step("reconnecting", { label: c.label });
    });
    connection.onreconnected(async (connectionId) => {
      c.connectionIds.push(connectionId);
      try {
        await resubscribe(c);
        if (c.spec.hub === "notifications") {
          await catchUp(c, c.dropSeen);
        }
      } catch (error) {
        c.errors.push(String(error));
      }
      c.reconnects += 1;
      step("reconnected", { label: c.label, connectionId });
    });
    connection.onclose((error) => {
      if (error) {
        c.errors.push(`closed: ${error}`);
      }
    });
    await withTimeout(connection.start(), `start ${c.label}`);
    c.connectionIds.push(connection.connectionId);
    if (spec.hub === "notifications") {
      const newest = await withTimeout(connection.invoke("GetNotifications", null, 1), "newest");
      c.maxSeen = newest.length ? Number(newest[0].id) : 0;
    }
    await resubscribe(c);
    clients.push(c);
  }

  async function resubscribe(c) {
    for (const orderId of c.spec.orders ?? []) {
      await withTimeout(c.connection.invoke("SubscribeToOrder", orderId), "SubscribeToOrder");
    }
  }

  // GetNotifications(afterId, limit) until a short page: what a client missed.
  async function catchUp(c, afterId) {
    let after = afterId;
    for (let page = 0; page < 100; page += 1) {
      const rows = await withTimeout(c.connection.invoke("GetNotifications", after, 50), "catch up");
      for (const n of rows) {
        c.caughtUp[n.id] = true;
        after = Math.max(after, Number(n.id));
      }
      c.maxSeen = Math.max(c.maxSeen, after);
      if (rows.length < 50) {
        return;
      }
    }
  }

  function has(c, id) {
    return Boolean(c.live[id]) || Boolean(c.caughtUp[id]);
  }

  function state() {
    return clients.map((c) => ({
      label: c.label, state: c.connection.state, connectionIds: c.connectionIds,
      reconnects: c.reconnects, live: c.live, caughtUp: Object.keys(c.caughtUp),
      orderEvents: c.orderEvents, errors: c.errors,
    }));
  }

  function chosen(labels, hub) {
    if (labels) {
      return clients.filter((c) => labels.includes(c.label));
    }
    return hub ? clients.filter((c) => c.spec.hub === hub) : clients;
  }

  step("ready", { clients: state() });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    const ms = command.timeoutMs ?? WAIT_MS;
    try {
      if (command.cmd === "state") {
        step("state", { clients: state() });
      } else if (command.cmd === "await") {
        const ids = command.ids.map(String);
        await until(
          () => chosen(command.labels, "notifications").every((c) => ids.every((id) => has(c, id))),
          "ids", ms,
        );
        step("state", { clients: state() });
      } else if (command.cmd === "awaitReconnected") {
        await until(
          () => chosen(command.labels).every((c) => c.reconnects >= (command.count ?? 1)),
          "reconnected", ms,
        );
        step("state", { clients: state() });
      } else if (command.cmd === "awaitOrder") {
        await until(
          () => chosen(command.labels).every(
            (c) => c.orderEvents.some(([id, status]) => id === String(command.orderId) && status === command.status),
          ),
          `order ${command.status}`, ms,
        );
        step("state", { clients: state() });
      } else if (command.cmd === "stop") {
        break;
      }
    } catch (error) {
      step("failed", { error: String(error), clients: state() });
    }
  }
  lines.close();
  const final = JSON.parse(JSON.stringify(state()));
  for (const c of clients) {
    await withTimeout(c.connection.stop(), `stop ${c.label}`);
  }
  return { clients: final };
}

// Long-polling clients that keep invoking SubscribeToOrder while the test
// kills an instance; every invocation must settle (resolve, or reject when
// its connection closes), none may hang. Commands on stdin: "back" (wait
// until the labelled clients reconnected and re-subscribed), "order" (wait
// for a status on every client), "stop".
async function polls() {
  const clients = [];
  let invoking = true;
  const calls = { ok: 0, rejected: 0, hung: 0, errors: {}, hungCalls: [] };
  const pending = new Set();
  for (const spec of options.connections) {
    const connection = build({ ...spec, transport: "LongPolling" }, { reconnect: options.delays });
    const c = {
      spec, connection, label: spec.label, connectionIds: [], back: 0, statuses: [], timeline: [],
    };
    connection.on("OrderStatusUpdated", (_id, status) => { c.statuses.push(status); });
    connection.onreconnecting((error) => { c.timeline.push([Date.now(), `reconnecting: ${error}`]); });
    connection.on("OrderProgressUpdated", () => {});
    connection.onreconnected(async (connectionId) => {
      c.connectionIds.push(connectionId);
      try {
        c.timeline.push([Date.now(), "reconnected"]);
        await withTimeout(connection.invoke("SubscribeToOrder", spec.orderId), "resubscribe");
        c.timeline.push([Date.now(), "resubscribed"]);
        c.back += 1;
      } catch (error) {
        calls.errors[`resubscribe: ${error}`] = (calls.errors[`resubscribe: ${error}`] ?? 0) + 1;
      }
    });
    await withTimeout(connection.start(), `start ${c.label}`);
    c.connectionIds.push(connection.connectionId);
    await withTimeout(connection.invoke("SubscribeToOrder", spec.orderId), "SubscribeToOrder");
    clients.push(c);
  }

  async function invokeLoop(c) {
    while (invoking) {
      if (c.connection.state === signalR.HubConnectionState.Connected) {
        const sent = { label: c.label, connectionId: c.connection.connectionId, at: Date.now() };
        const call = withTimeout(c.connection.invoke("SubscribeToOrder", c.spec.orderId), "call", options.hungMs)
          .then(() => { calls.ok += 1; })
          .catch((error) => {
            const text = String(error);
            if (text.includes("timeout after")) {
              calls.hung += 1;
              calls.hungCalls.push(sent);
            } else {
              calls.rejected += 1;
            }
            calls.errors[text] = (calls.errors[text] ?? 0) + 1;
          });
        pending.add(call);
        call.finally(() => { pending.delete(call); });
      }
      await sleep(options.everyMs);
    }
  }

  const state = () => clients.map((c) => ({
    label: c.label, state: c.connection.state, connectionIds: c.connectionIds, back: c.back,
    statuses: c.statuses, timeline: c.timeline,
  }));
  step("ready", { clients: state(), now: Date.now() });
  const loops = clients.map(invokeLoop);
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    const chosen = clients.filter((c) => !command.labels || command.labels.includes(c.label));
    try {
      if (command.cmd === "back") {
        await until(() => chosen.every((c) => c.back >= 1), "back", command.timeoutMs);
      } else if (command.cmd === "order") {
        await until(() => chosen.every((c) => c.statuses.includes(command.status)), "order", command.timeoutMs);
      } else if (command.cmd === "stop") {
        break;
      }
      step("state", { clients: state(), now: Date.now() });
    } catch (error) {
      step("failed", { error: String(error), clients: state(), calls });
    }
  }
  lines.close();
  invoking = false;
  await Promise.all(loops);
  await Promise.allSettled([...pending]);
  const final = state();
  for (const c of clients) {
    await withTimeout(c.connection.stop(), `stop ${c.label}`);
  }
  return { clients: final, calls };
}

const scenarios = { shout, order, watch, polls };

try {
  if (!(scenarioName in scenarios)) {
    throw new Error(`unknown scenario ${scenarioName}`);
  }
  finish(await scenarios[scenarioName]());
} catch (error) {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  finish({ fatal: String(error && error.message ? error.message : error) }, 1);
}
