// Client results and upload streams with the official SignalR client.
//
//   node tests/e2e/results.mjs results '{"url": ..., "transport": ..., "protocol": ...}'
//   node tests/e2e/results.mjs uploads '{"url": ..., "transport": ..., "protocol": ...}'
//   node tests/e2e/results.mjs across '{"askerUrl": ..., "answererUrl": ..., "transport": ...}'
//
// `results` answers the server's "Ask" with a value, a promise, an error, never,
// or from two handlers; then prints "STEP outside {id}" and waits for a line
// on stdin while the test asks it from outside the server. `uploads` feeds
// hub methods from `Subject`s. `across` has a hub method of one instance ask a
// client of another (scale-out), and the test ask it from outside. Every wait
// is bounded.
import * as readline from "node:readline";
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { configure, finish, options, scenarioName, sleep, withTimeout } from "../scenario_kit.mjs";

configure({ waitMs: 15000, watchdogMs: 55000 });

const stdinLines = readline.createInterface({ input: process.stdin });

function step(name, data) {
  const answered = new Promise((resolve) => {
    stdinLines.once("line", resolve);
  });
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
  return withTimeout(answered, `stdin after ${name}`, 45000);
}

function build(url = options.url) {
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(url, { transport: signalR.HttpTransportType[options.transport] })
    .configureLogging(signalR.LogLevel.Error);
  if (options.protocol === "messagepack") {
    builder.withHubProtocol(new MessagePackHubProtocol());
  }
  return builder.build();
}

async function errorOf(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: String(error && error.message ? error.message : error) };
  }
}

async function results() {
  const connection = build();
  const asked = [];
  connection.on("Ask", (question) => {
    asked.push(question);
    if (question === "throw") {
      throw new Error("no mood");
    }
    if (question === "never") {
      return new Promise(() => {});
    }
    if (question === "later") {
      return sleep(50).then(() => "later-answer");
    }
    return { answer: String(question).toUpperCase() };
  });
  connection.on("Both", () => 1);
  connection.on("Both", () => 2);
  await withTimeout(connection.start(), "start");
  const id = await withTimeout(connection.invoke("Whoami"), "whoami");
  const ask = (...args) => withTimeout(connection.invoke("AskCaller", ...args), `ask ${args}`);
  const result = {
    plain: await ask("colour?"),
    promise: await ask("later"),
    thrown: await ask("throw"),
    timeout: await ask("never", 0.5),
    noHandler: await ask("x", 5, "Missing"),
    twoHandlers: await ask("x", 5, "Both"),
    // Several questions at once: each answer reaches its own invocation.
    parallel: await withTimeout(Promise.all(["a", "b", "c"].map((q) => ask(q))), "parallel"),
  };
  await step("outside", { id });
  result.asked = asked;
  await withTimeout(connection.stop(), "stop");
  return { ...result, id };
}

async function uploads() {
  const connection = build();
  await withTimeout(connection.start(), "start");
  const result = {};

  const numbers = new signalR.Subject();
  const sum = connection.invoke("SumUpload", numbers);
  for (let n = 1; n <= 200; n += 1) {
    numbers.next(n);
  }
  numbers.complete();
  result.sum = await withTimeout(sum, "sum");

  const items = new signalR.Subject();
  const collected = connection.invoke("Collect", "label", items);
  items.next({ a: 1 });
  items.next("b");
  items.complete();
  result.collect = await withTimeout(collected, "collect");

  const words = new signalR.Subject();
  const upper = [];
  const streamed = new Promise((resolve, reject) => {
    connection.stream("Upper", words).subscribe({
      next: (item) => upper.push(item),
      complete: resolve,
      error: reject,
    });
  });
  words.next("a");
  words.next("b");
  words.complete();
  await withTimeout(streamed, "upper");
  result.upper = upper;

  const failing = new signalR.Subject();
  const failed = errorOf(connection.invoke("SumUpload", failing));
  failing.next(1);
  failing.error(new Error("camera unplugged"));
  result.clientError = await withTimeout(failed, "client error");

  const held = new signalR.Subject();
  const echoed = [];
  const subscription = connection.stream("Hold", held).subscribe({
    next: (item) => echoed.push(item),
    complete: () => {},
    error: () => {},
  });
  held.next("kept");
  for (let waited = 0; echoed.length < 1 && waited < 10000; waited += 20) {
    await sleep(20);
  }
  subscription.dispose(); // CancelInvocation
  held.next("after cancel"); // passed over by the server
  result.held = echoed;
  result.afterCancel = typeof (await withTimeout(connection.invoke("Whoami"), "whoami"));

  await withTimeout(connection.stop(), "stop");
  return result;
}

async function across() {
  const answerer = build(options.answererUrl);
  const asker = build(options.askerUrl);
  answerer.on("Ask", (question) => {
    if (question === "throw") {
      throw new Error("not here");
    }
    return { answer: question, by: "answerer" };
  });
  await withTimeout(Promise.all([answerer.start(), asker.start()]), "start");
  const id = await withTimeout(answerer.invoke("Whoami"), "whoami");
  const ask = (question) => withTimeout(asker.invoke("Ask", id, question), `ask ${question}`);
  const result = { id, value: await ask("hello"), error: await ask("throw") };
  result.many = await withTimeout(Promise.all(["1", "2", "3"].map(ask)), "many");
  await step("outside", { id });
  await withTimeout(answerer.stop(), "stop answerer");
  result.gone = await ask("still there?");
  await withTimeout(asker.stop(), "stop asker");
  return result;
}

const scenarios = { across, results, uploads };
try {
  finish(await scenarios[scenarioName]());
} catch (error) {
  finish({ fatal: String(error && error.stack ? error.stack : error) }, 1);
}
