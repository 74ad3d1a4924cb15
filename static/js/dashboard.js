/*
 * dashboard.js: the admin's Realtime page, live through its own hub.
 *
 * Calls Snapshot(query) on /hubs/dashboard every two seconds with the
 * official SignalR client and redraws the tables; the sparklines are inline
 * SVG. Every value is written with textContent (usernames and reasons are
 * never parsed as HTML).
 */
(function () {
  "use strict";

  const REFRESH_MS = 2000;
  const SPARK = { width: 160, height: 28, seconds: 600 };
  const root = document.getElementById("realtime-dashboard");
  const search = document.getElementById("rt-user-search");

  function cell(row, value, numeric) {
    const td = row.insertCell();
    td.textContent = value === null || value === undefined ? "–" : String(value);
    if (numeric) {
      td.className = "num";
    }
    return td;
  }

  function fill(tableId, rows, build) {
    const body = document.querySelector(`#${tableId} tbody`);
    body.replaceChildren();
    for (const item of rows) {
      build(body.insertRow(), item);
    }
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
  }

  function clock(epoch) {
    return new Date(epoch * 1000).toLocaleTimeString();
  }

  function sparkline(history, now) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", SPARK.width);
    svg.setAttribute("height", SPARK.height);
    svg.setAttribute("viewBox", `0 0 ${SPARK.width} ${SPARK.height}`);
    const points = history.filter(([t]) => t >= now - SPARK.seconds);
    const top = Math.max(1, ...points.map(([, rate]) => rate));
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute(
      "points",
      points
        .map(([t, rate]) => {
          const x = ((t - (now - SPARK.seconds)) / SPARK.seconds) * SPARK.width;
          const y = SPARK.height - 1 - (rate / top) * (SPARK.height - 2);
          return `${x.toFixed(1)},${y.toFixed(1)}`;
        })
        .join(" "),
    );
    svg.appendChild(line);
    const title = document.createElementNS(ns, "title");
    title.textContent = `peak ${top.toFixed(1)} messages/s`;
    svg.appendChild(title);
    return svg;
  }

  function flag(td, bad) {
    if (bad) {
      td.classList.add("bad");
    }
  }

  function render(s) {
    document.getElementById("rt-updated").textContent = clock(s.time);
    const redis = document.getElementById("rt-redis");
    redis.textContent = s.redis.ok ? `ok, ${s.redis.ms} ms` : "unreachable";
    redis.className = s.redis.ok ? "" : "bad";
    if (!s.redis.ok) {
      return;
    }
    fill("rt-instances", s.instances, (row, i) => {
      row.dataset.instance = i.instance;
      cell(row, i.instance);
      cell(row, i.connections, true).dataset.field = "connections";
      cell(row, duration(s.time - i.started), true);
      cell(row, i.messagesPerSecond, true).dataset.field = "rate";
      flag(cell(row, i.drops, true), i.drops > 0);
      flag(cell(row, i.slowConsumers, true), i.slowConsumers > 0);
      flag(cell(row, i.redisErrors, true), i.redisErrors > 0);
      cell(row, i.redisMs, true);
      row.insertCell().appendChild(sparkline(i.history, s.time));
    });
    fill("rt-channels", Object.entries(s.byHubTransport), (row, [key, count]) => {
      const [hub, transport] = key.split("/");
      row.dataset.channel = key;
      cell(row, hub);
      cell(row, transport);
      cell(row, count, true);
    });
    const w = s.worker;
    const worker = w
      ? [
          ["Pending order changes", w.pending.orders],
          ["Pending notifications", w.pending.notifications],
          ["Last batch", `${clock(w.time)} on ${w.instance}`],
          ["Batch took", `${w.seconds} s`],
          ["Published", `${w.published.orders} order changes, ${w.published.notifications} notifications`],
          ["Error", w.error || "none"],
        ]
      : [["Last batch", "none recorded yet"]];
    fill("rt-worker", worker, (row, [label, value]) => {
      row.insertCell().textContent = label;
      flag(cell(row, value, true), label === "Error" && w && w.error);
    });
    document.getElementById("rt-users-count").textContent = s.users.count;
    fill("rt-users", s.users.list, (row, u) => {
      cell(row, u.username);
      cell(row, u.connections, true);
      cell(row, Object.entries(u.byHub).map(([hub, n]) => `${hub} ${n}`).join(", "));
    });
    fill("rt-refusals", s.refusals, (row, r) => {
      cell(row, clock(r.time));
      cell(row, r.reason);
      cell(row, r.status, true);
      cell(row, r.user || "anonymous");
      cell(row, r.instance);
    });
  }

  const connection = new signalR.HubConnectionBuilder()
    .withUrl(root.dataset.hub)
    .withAutomaticReconnect()
    .build();

  function setState(state) {
    root.dataset.state = state;
    document.getElementById("rt-state").textContent = state;
  }

  async function refresh() {
    if (connection.state !== signalR.HubConnectionState.Connected) {
      return;
    }
    try {
      render(await connection.invoke("Snapshot", search.value.trim()));
      root.dataset.refreshed = String(Number(root.dataset.refreshed || 0) + 1);
    } catch (error) {
      console.warn("dashboard refresh failed", error);
    }
  }

  connection.onreconnecting(() => setState("reconnecting"));
  connection.onreconnected(() => {
    setState("connected");
    refresh();
  });
  connection.onclose(() => setState("disconnected"));
  search.addEventListener("input", refresh);

  async function start() {
    try {
      await connection.start();
      setState("connected");
      refresh();
    } catch (error) {
      setState("disconnected");
      setTimeout(start, 5000);
    }
  }
  start();
  setInterval(refresh, REFRESH_MS);
})();
