/*
 * realtime.js: one SignalR connection per hub per page, shared by every widget.
 *
 *   const hub = realtime.hub("/hubs/orders");
 *   hub.on("OrderStatusUpdated", (id, status, message) => { ... });
 *   hub.onConnected(({ reconnected }) => hub.invoke("SubscribeToOrder", id));
 *   hub.whilePaused(() => pollMyState());   // now, then every 30 s, until live again
 *
 * Widgets register their handlers while the deferred scripts run; each hub
 * starts once the document is parsed, so no event is missed before a handler
 * exists. `onConnected` callbacks run after every (re)connection: the server
 * forgets group memberships with the old connection, so widgets re-subscribe
 * and catch up there.
 *
 * On WebSockets the connection is stateful (`withStatefulReconnect()`): a
 * dropped socket is resumed by the client itself within the server's
 * reconnect window (30 s by default), and what was sent meanwhile arrives
 * then, in order; the widgets notice nothing. A longer outage ends the
 * connection, and what follows applies.
 *
 * A hub never gives up. After a lost connection it retries at once, then
 * after 2, 5 and 10 s, then every 8 to 10 s (jittered, so that a restarted
 * server is not met by every page at the same instant). It retries at once
 * when the tab becomes visible, when the browser comes back online, and on
 * "Retry now". While the first retries fail the page says "Reconnecting…";
 * once they are used up, or when the very first start fails, the hub is
 * "paused": the page polls its state (`whilePaused`) and says so calmly.
 *
 * The page's state is shown on <body>: data-realtime-state ("connecting",
 * "connected", "reconnecting", "disconnected"), the classes
 * signalr-reconnecting / signalr-disconnected, data-polling="on" while the
 * widgets poll, a banner, and the transport each hub uses
 * (data-transport-<hub>, e.g. data-transport-orders).
 *
 * `?transports=sse,longpolling` (or data-transports on <body>) restricts the
 * transports, e.g. where a proxy breaks WebSockets, and for tests.
 */
(function () {
  "use strict";

  const RETRY_DELAYS = [0, 2000, 5000, 10000];
  const RETRY_CAP = 10000;
  const POLL_INTERVAL = 30000;
  const TRANSPORT_FLAGS = {
    websockets: "WebSockets",
    ws: "WebSockets",
    sse: "ServerSentEvents",
    serversentevents: "ServerSentEvents",
    longpolling: "LongPolling",
    lp: "LongPolling",
  };
  // Worst first: the page shows the worst state of its hubs.
  const STATE_ORDER = ["disconnected", "reconnecting", "connecting", "connected"];
  const BANNER_TEXT = {
    reconnecting: "Reconnecting…",
    disconnected: `Live updates paused; checking every ${POLL_INTERVAL / 1000} s`,
  };

  const registry = new Map();

  /** The wait before retry number `attempt` (0-based) of one outage. */
  function retryDelay(attempt) {
    if (attempt < RETRY_DELAYS.length) {
      return RETRY_DELAYS[attempt];
    }
    return Math.round(RETRY_CAP * (0.8 + 0.2 * Math.random()));
  }

  function requestedTransports() {
    const raw =
      new URLSearchParams(window.location.search).get("transports") ||
      document.body.dataset.transports ||
      "";
    let mask = 0;
    for (const name of raw.split(",")) {
      const flag = TRANSPORT_FLAGS[name.trim().toLowerCase()];
      if (flag) {
        mask |= signalR.HttpTransportType[flag];
      }
    }
    return mask || undefined; // undefined: the client's default order
  }

  /*
   * A logger that also notes which transport the client selected: the
   * client exposes no public property for it, but logs "Selecting transport
   * 'X'." for every attempt, so the last one before a successful start wins.
   */
  class TransportSpy {
    constructor(hub, level) {
      this.hub = hub;
      this.level = level;
    }

    log(level, message) {
      const match = /Selecting transport '(\w+)'/.exec(message);
      if (match) {
        this.hub.selectedTransport = match[1];
      }
      if (level < this.level) {
        return;
      }
      const text = `[realtime ${this.hub.name}] ${message}`;
      if (level >= signalR.LogLevel.Error) {
        console.error(text);
      } else if (level >= signalR.LogLevel.Warning) {
        console.warn(text);
      } else {
        console.info(text);
      }
    }
  }

  class Hub {
    constructor(url) {
      this.url = url;
      this.name = url.replace(/\/+$/, "").split("/").pop();
      this.state = "connecting";
      this.transport = null;
      this.selectedTransport = null;
      this.attempt = 0; // failed starts in the current outage
      this._connected = [];
      this._unavailable = [];
      this._disconnected = [];
      this._pollers = [];
      this._pollTimer = null;
      this._retryTimer = null;
      this._starting = false;
      this._everConnected = false;

      const options = {};
      const transport = requestedTransports();
      if (transport !== undefined) {
        options.transport = transport;
      }
      this.connection = new signalR.HubConnectionBuilder()
        .withUrl(url, options)
        // A dropped WebSocket resumes within the server's reconnect window,
        // on any instance, with nothing lost: no onclose, no catch-up.
        .withStatefulReconnect()
        .configureLogging(new TransportSpy(this, signalR.LogLevel.Warning))
        .build();

      this.connection.onclose(() => {
        // The server went away or the transport broke: retry, forever.
        this._lost();
        this.attempt = 0;
        this._setState("reconnecting");
        this._scheduleRetry();
      });
    }

    /** Register a handler for a client event (block bodies: no return value). */
    on(event, handler) {
      this.connection.on(event, handler);
      return this;
    }

    /** Run `callback({reconnected})` after every connection, and now if connected. */
    onConnected(callback) {
      this._connected.push(callback);
      if (this.state === "connected") {
        this._call(callback, { reconnected: false });
      }
      return this;
    }

    /** Run `callback()` the moment a live connection is lost (before any retry). */
    onDisconnected(callback) {
      this._disconnected.push(callback);
      return this;
    }

    /** Run `callback()` whenever the hub pauses (cannot be reached). */
    onUnavailable(callback) {
      this._unavailable.push(callback);
      return this;
    }

    /** Run `callback()` while paused: at once, every 30 s, and on "Retry now". */
    whilePaused(callback) {
      this._pollers.push(callback);
      if (this._pollTimer !== null) {
        this._call(callback);
      }
      return this;
    }

    invoke(method, ...args) {
      return this.connection.invoke(method, ...args);
    }

    get isConnected() {
      return this.connection.state === signalR.HubConnectionState.Connected;
    }

    /** Try to connect now unless connected or already trying. */
    retryNow() {
      if (this._starting || this.connection.state !== signalR.HubConnectionState.Disconnected) {
        return;
      }
      window.clearTimeout(this._retryTimer);
      this._retryTimer = null;
      if (this.state === "disconnected") {
        this._poll();
      }
      this.start();
    }

    async start() {
      this._retryTimer = null;
      this._starting = true;
      if (!this._everConnected) {
        this._setState("connecting");
      }
      try {
        await this.connection.start();
      } catch (error) {
        console.warn(`[realtime ${this.name}] could not connect: ${error}`);
        this._starting = false;
        this._failed();
        return;
      }
      this._starting = false;
      this._connectedNow();
    }

    _failed() {
      this.attempt += 1;
      if (!this._everConnected || this.attempt >= RETRY_DELAYS.length) {
        this._pause();
      }
      this._scheduleRetry();
    }

    _scheduleRetry() {
      if (this._retryTimer === null) {
        this._retryTimer = window.setTimeout(() => this.start(), retryDelay(this.attempt));
      }
    }

    _pause() {
      if (this.state === "disconnected") {
        return;
      }
      this._setState("disconnected");
      for (const callback of this._unavailable) {
        this._call(callback);
      }
      this._poll();
      this._pollTimer = window.setInterval(() => this._poll(), POLL_INTERVAL);
      renderPageState();
    }

    _poll() {
      for (const callback of this._pollers) {
        this._call(callback);
      }
    }

    _lost() {
      for (const callback of this._disconnected) {
        this._call(callback, {});
      }
    }

    _connectedNow() {
      const reconnected = this._everConnected;
      this._everConnected = true;
      this.attempt = 0;
      window.clearInterval(this._pollTimer);
      this._pollTimer = null;
      this.transport = this.selectedTransport;
      this._setState("connected");
      for (const callback of this._connected) {
        this._call(callback, { reconnected });
      }
    }

    _call(callback, argument) {
      Promise.resolve()
        .then(() => callback(argument))
        .catch((error) => {
          console.error(`[realtime ${this.name}] widget callback failed`, error);
        });
    }

    _setState(state) {
      this.state = state;
      renderPageState();
    }
  }

  function renderPageState() {
    const body = document.body;
    const hubs = [...registry.values()];
    const states = hubs.map((hub) => hub.state);
    const state = STATE_ORDER.find((s) => states.includes(s)) || "connected";
    body.dataset.realtimeState = state;
    body.classList.toggle("signalr-reconnecting", state === "reconnecting");
    body.classList.toggle("signalr-disconnected", state === "disconnected");
    if (hubs.some((hub) => hub._pollTimer !== null)) {
      body.dataset.polling = "on";
    } else {
      delete body.dataset.polling;
    }

    const transports = new Set();
    for (const hub of hubs) {
      const key = "transport" + hub.name.charAt(0).toUpperCase() + hub.name.slice(1);
      if (hub.state === "connected" && hub.transport) {
        body.dataset[key] = hub.transport;
        transports.add(hub.transport);
      } else {
        delete body.dataset[key];
      }
    }
    if (transports.size) {
      body.dataset.transport = [...transports].join(" ");
    } else {
      delete body.dataset.transport;
    }

    const banner = document.querySelector("[data-connection-banner]");
    if (banner) {
      const text = BANNER_TEXT[state];
      banner.hidden = !text;
      const label = banner.querySelector("[data-connection-banner-text]") || banner;
      if (label.textContent !== (text || "")) {
        label.textContent = text || "";
      }
    }
  }

  /** Retry every hub that is not connected, now (the banner, focus, online). */
  function retryNow() {
    for (const hub of registry.values()) {
      hub.retryNow();
    }
  }

  function whenParsed(callback) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", callback, { once: true });
    } else {
      window.setTimeout(callback, 0);
    }
  }

  /** Return the page's one Hub for `url`, creating (and scheduling its start) once. */
  function hub(url) {
    let existing = registry.get(url);
    if (!existing) {
      existing = new Hub(url);
      registry.set(url, existing);
      renderPageState();
      whenParsed(() => {
        existing.start();
      });
    }
    return existing;
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-retry-now]")) {
      retryNow();
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      retryNow();
    }
  });
  window.addEventListener("online", retryNow);

  window.realtime = Object.freeze({ hub, hubs: registry, retryNow, retryDelay });
})();
