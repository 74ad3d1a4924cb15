// Scenario runner for the e2e tests: the official SignalR client, used as an app would.
//
//   node tests/e2e/client.mjs <scenario> '<options as JSON>'
//
// Prints "STEP <name> <json>" lines where the test must act (then waits for a
// line on stdin), and one JSON result as its last stdout line. Client logs go
// to stderr. Every wait is bounded; a watchdog ends the process regardless.
//
// Handlers use block bodies: a handler that returns a value makes the client
// answer the server with a result it did not ask for.
import * as readline from "node:readline";
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { configure, finish, options, scenarioName, sleep, withTimeout } from "../scenario_kit.mjs";

const WAIT_MS = configure({ waitMs: 10000, watchdogMs: 55000 });

const stdinLines = readline.createInterface({ input: process.stdin });
const pendingLines = [];
const lineWaiters = [];
stdinLines.on("line", (line) => {
  const waiter = lineWaiters.shift();
  if (waiter) {
    waiter(line);
  } else {
    pendingLines.push(line);
  }
});

// Tell the test to act, then wait for its answer on stdin.
function step(name, data = {}) {
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
  if (pendingLines.length) {
    return Promise.resolve(pendingLines.shift());
  }
  return withTimeout(new Promise((resolve) => { lineWaiters.push(resolve); }), `stdin after ${name}`, 45000);
}

// Resolve with the arguments of the next matching client event.
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

async function errorOf(promise) {
  try {
    const value = await promise;
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error: String(error && error.message ? error.message : error) };
  }
}

function build(spec, { reconnect } = {}) {
  const httpOptions = {};
  if (spec.transport) {
    // "ServerSentEvents|LongPolling" allows either, as the flags enum does.
    httpOptions.transport = spec.transport
      .split("|")
      .reduce((flags, name) => flags | signalR.HttpTransportType[name], 0);
  }
  if (spec.skipNegotiation) {
    httpOptions.skipNegotiation = true;
  }
  if (spec.accessToken) {
    httpOptions.accessTokenFactory = () => spec.accessToken;
  }
  if (spec.headers) {
    httpOptions.headers = spec.headers;
  }
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(spec.url, httpOptions)
    .configureLogging(signalR.LogLevel.Warning);
  if (spec.protocol === "messagepack") {
    builder.withHubProtocol(new MessagePackHubProtocol());
  }
  if (reconnect) {
    builder.withAutomaticReconnect(reconnect);
  }
  return builder.build();
}

function collectStream(connection, name, ...args) {
  const items = [];
  const done = new Promise((resolve, reject) => {
    connection.stream(name, ...args).subscribe({
      next: (item) => { items.push(item); },
      complete: () => { resolve(items); },
      error: (error) => { reject(error); },
    });
  });
  return withTimeout(done, `stream ${name}`);
}

// Cancel a long stream after `after` items; report what arrived.
async function cancelStream(connection, after) {
  const items = [];
  let subscription;
  let ended = "";
  const enough = new Promise((resolve) => {
    subscription = connection.stream("Counter", 1000, 20).subscribe({
      next: (item) => {
        items.push(item);
        if (items.length === after) {
          resolve();
        }
      },
      complete: () => { ended = "complete"; },
      error: (error) => { ended = `error: ${error}`; },
    });
  });
  await withTimeout(enough, "stream items before cancel");
  subscription.dispose();
  const atDispose = items.length;
  await new Promise((resolve) => { setTimeout(resolve, 300); });
  return { atDispose, afterWait: items.length, items: items.slice(0, after), ended };
}

// Every hub feature, on one connection.
async function suite() {
  const connection = build(options);
  const result = {};
  await withTimeout(connection.start(), "start");
  result.connectionId = connection.connectionId;
  result.add = await withTimeout(connection.invoke("Add", 2, 3), "Add");
  result.echo = await withTimeout(connection.invoke("Echo", options.payload), "Echo");
  result.refuse = await errorOf(withTimeout(connection.invoke("Refuse", options.reason), "Refuse"));
  result.crash = await errorOf(withTimeout(connection.invoke("Crash"), "Crash"));

  const notified = nextEvent(connection, "Notified");
  result.sendReturned = await errorOf(withTimeout(connection.send("NotifyMe", options.note), "send"));
  result.notified = await withTimeout(notified, "Notified event");

  const ownRoom = `${options.room}-own`;
  await withTimeout(connection.invoke("Join", ownRoom), "Join own room");
  const shoutedOwn = nextEvent(connection, "Shouted", (group) => group === ownRoom);
  await withTimeout(connection.invoke("Shout", ownRoom, "from-hub"), "Shout");
  result.shoutedOwn = await withTimeout(shoutedOwn, "Shouted by the hub");

  result.stream = await errorOf(collectStream(connection, "Counter", 5));
  result.cancel = await cancelStream(connection, 3);
  await step("cancelled");
  result.afterCancel = await withTimeout(connection.invoke("Add", 20, 22), "Add after cancel");

  result.unknown = await errorOf(withTimeout(connection.invoke("NoSuchMethod", 1), "unknown"));
  result.wrongType = await errorOf(withTimeout(connection.invoke("Add", "x", 1), "wrong type"));
  result.afterWrongType = await withTimeout(connection.invoke("Add", 1, 1), "Add after wrong type");

  await withTimeout(connection.invoke("Join", options.room), "Join");
  const shouted = nextEvent(connection, "Shouted", (group) => group === options.room);
  await step("joined", { room: options.room });
  result.shouted = await errorOf(withTimeout(shouted, "Shouted from sync code"));

  result.finalState = connection.state;
  await withTimeout(connection.stop(), "stop");
  return result;
}

// Start one connection per spec; report what happened to each.
async function connect() {
  const results = [];
  for (const spec of options.connections) {
    const connection = build(spec);
    const outcome = { label: spec.label ?? "" };
    const started = await errorOf(withTimeout(connection.start(), `start ${outcome.label}`));
    outcome.started = started.ok;
    if (!started.ok) {
      outcome.error = started.error;
      results.push(outcome);
      continue;
    }
    outcome.connectionId = connection.connectionId;
    // Internal, but the only way to see which transport the client picked.
    outcome.transport = connection.connection?.transport?.constructor?.name ?? "";
    for (const [name, ...args] of spec.invoke ?? []) {
      const call = await errorOf(withTimeout(connection.invoke(name, ...args), name));
      outcome[name] = call.ok ? call.value : { error: call.error };
    }
    await withTimeout(connection.stop(), `stop ${outcome.label}`);
    results.push(outcome);
  }
  return { results };
}

// Survive a server restart with automatic reconnect.
async function reconnect() {
  const connection = build(options, { reconnect: options.delays });
  const events = [];
  let reconnectedId = null;
  const reconnected = new Promise((resolve) => {
    connection.onreconnected((connectionId) => {
      events.push("reconnected");
      reconnectedId = connectionId;
      resolve();
    });
  });
  connection.onreconnecting((error) => { events.push(`reconnecting: ${error}`); });
  connection.onclose((error) => { events.push(`closed: ${error}`); });
  await withTimeout(connection.start(), "start");
  const before = connection.connectionId;
  const sumBefore = await withTimeout(connection.invoke("Add", 1, 2), "Add before");
  await step("connected", { connectionId: before });
  const outcome = await errorOf(withTimeout(reconnected, "onreconnected", 25000));
  const result = { before, sumBefore, events, reconnectedId, reconnected: outcome, state: connection.state };
  if (outcome.ok) {
    result.after = connection.connectionId;
    result.sumAfter = await withTimeout(connection.invoke("Add", 4, 5), "Add after");
    result.whoami = await withTimeout(connection.invoke("Whoami"), "Whoami after");
  }
  await withTimeout(connection.stop(), "stop");
  return result;
}

// Stay connected (with automatic reconnect) until the server ends the
// connection; report how it ended and whether the client tried to come back.
async function untilClosed() {
  const connection = build(options, { reconnect: options.delays });
  const events = [];
  const closed = new Promise((resolve) => {
    connection.onclose((error) => {
      events.push(`closed: ${error}`);
      resolve();
    });
  });
  connection.onreconnecting((error) => { events.push(`reconnecting: ${error}`); });
  connection.onreconnected(() => { events.push("reconnected"); });
  await withTimeout(connection.start(), "start");
  const whoami = await withTimeout(connection.invoke("Whoami"), "Whoami");
  await step("connected", { connectionId: connection.connectionId });
  const outcome = await errorOf(withTimeout(closed, "onclose", 20000));
  return { whoami, events, closed: outcome, state: connection.state };
}

// Stay idle for options.holdMs, then receive an event sent from another process.
async function idle() {
  const connection = build(options);
  const events = [];
  connection.onclose((error) => { events.push(`closed: ${error}`); });
  await withTimeout(connection.start(), "start");
  await withTimeout(connection.invoke("Join", options.room), "Join");
  const shouted = nextEvent(connection, "Shouted", (group) => group === options.room);
  await sleep(options.holdMs);
  const stateAfterHold = connection.state;
  await step("held", { state: stateAfterHold });
  const received = await errorOf(withTimeout(shouted, "Shouted after the hold"));
  const result = { stateAfterHold, received, events: [...events], state: connection.state };
  await withTimeout(connection.stop(), "stop");
  return result;
}

const scenarios = { suite, connect, reconnect, untilClosed, idle };

try {
  if (!(scenarioName in scenarios)) {
    throw new Error(`unknown scenario ${scenarioName}`);
  }
  finish(await scenarios[scenarioName]());
} catch (error) {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  finish({ fatal: String(error && error.message ? error.message : error) }, 1);
}
