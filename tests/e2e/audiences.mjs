// The official SignalR client on every audience of ASP.NET Core's IHubClients.
//
//   node tests/e2e/audiences.mjs audiences '{"url": ..., "transport": ..., "protocol": ...}'
//
// Three connections A, B and C record each "Heard" event; A, B and C then
// send to others, all-except, group-except and clients. The result lists
// what each connection heard, in order. Every wait is bounded.
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";
import { configure, finish, options, sleep, withTimeout } from "../scenario_kit.mjs";

configure({ waitMs: 10000, watchdogMs: 45000 });

function build() {
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(options.url, { transport: signalR.HttpTransportType[options.transport] })
    .configureLogging(signalR.LogLevel.Warning);
  if (options.protocol === "messagepack") {
    builder.withHubProtocol(new MessagePackHubProtocol());
  }
  return builder.build();
}

const EXPECTED = 9; // events the sends below deliver in all

async function audiences() {
  const heard = { A: [], B: [], C: [] };
  const connections = {};
  let total = 0;
  for (const name of ["A", "B", "C"]) {
    const connection = build();
    connection.on("Heard", (kind, text) => {
      heard[name].push(`${kind}:${text}`);
      total += 1;
    });
    await withTimeout(connection.start(), `start ${name}`);
    connections[name] = connection;
  }
  const { A, B, C } = connections;
  const ids = {};
  for (const [name, connection] of Object.entries(connections)) {
    ids[name] = await withTimeout(connection.invoke("Whoami"), `whoami ${name}`);
  }
  await withTimeout(A.invoke("ToOthers", "1"), "others");
  await withTimeout(A.invoke("ToAllExcept", [ids.B], "2"), "all-except");
  await withTimeout(A.invoke("Join", "room"), "join A");
  await withTimeout(B.invoke("Join", "room"), "join B");
  await withTimeout(C.invoke("ToGroupExcept", "room", [ids.B], "3"), "group-except");
  await withTimeout(B.invoke("ToClients", [ids.A, ids.C], "4"), "clients");
  for (let waited = 0; total < EXPECTED && waited < 5000; waited += 50) {
    await sleep(50);
  }
  await sleep(300); // anything extra that was wrongly sent arrives too
  for (const connection of Object.values(connections)) {
    await withTimeout(connection.stop(), "stop");
  }
  return { heard };
}

finish(await audiences());
