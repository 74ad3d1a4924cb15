// The stateful reconnect scenario, shared by Node (tests/e2e/stateful.mjs)
// and Chromium (tests/e2e/test_stateful_browser.py): no imports, the client
// library is passed in.
//
// Connect with withStatefulReconnect(), ask the server for `count` numbered
// events, invoke Tally `tallies` times meanwhile, and resolve with what
// arrived once every number did (or the connection closed). No automatic
// reconnect: if a resume fails, the connection closes and `closed` says so.
// `progress` gets {id, stateful} once the numbers flow.

function sleep(ms) {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

function bounded(promise, label, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function streamNumbers(signalR, msgpack, options, progress) {
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(options.url, { transport: signalR.HttpTransportType.WebSockets })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.Warning);
  if (options.protocol === "messagepack") {
    builder.withHubProtocol(msgpack);
  }
  const connection = builder.build();
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
  progress({ id, stateful });
  // Invocations keep going while the connection is cut: the client buffers
  // them and resends what the server did not acknowledge.
  for (let i = 1; i <= options.tallies && closed === null; i++) {
    results.push(await bounded(connection.invoke("Tally", i), `Tally ${i}`, options.waitMs));
    await sleep(options.tallyEveryMs);
  }
  let incomplete = null; // reported with what did arrive
  try {
    await bounded(complete, `${options.count} numbers`, options.waitMs);
  } catch (error) {
    incomplete = String(error);
  }
  await sleep(200); // a late duplicate would arrive now
  stopping = true;
  await connection.stop();
  return { id, stateful, numbers, tallied, results, closed, incomplete };
}
