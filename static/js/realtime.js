/*
 * realtime.js: one SignalR connection per hub per page, shared by every widget.
 *
 *   const hub = realtime.hub("/hubs/orders");
 *   hub.on("OrderStatusUpdated", (id, status, message) => { ... });
 *   hub.onConnected(({ reconnected }) => hub.invoke("SubscribeToOrder", id));
 *   hub.onUnavailable(() => startPolling());
 *
 * Widgets register their handlers while the deferred scripts run; each hub
 * starts once the document is parsed, so no event is missed before a handler
 * exists. `onConnected` callbacks run after every (re)connection: the server
 * forgets group memberships with the old connection, so widgets re-subscribe
 * and catch up there.
 *
 * The page's state is shown on <body>: data-realtime-state ("connecting",
 * "connected", "reconnecting", "disconnected"), the classes
 * signalr-reconnecting / signalr-disconnected, a banner, and the transport
 * each hub uses (data-transport-<hub>, e.g. data-transport-orders).
 *
 * `?transports=sse,longpolling` (or data-transports on <body>) restricts the
 * transports, e.g. where a proxy breaks WebSockets, and for tests.
 */
(function () {
  "use strict";

  const RECONNECT_DELAYS = [0, 2000, 5000, 10000, 30000];
  // After a failed start, or once automatic reconnection gives up.
  const RESTART_DELAY = 30000;
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
  const BANNER_TEXT = { reconnecting: "Reconnecting…", disconnected: "Disconnected" };

  const registry = new Map();

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
      this._connected = [];
      this._unavailable = [];
      this._disconnected = [];
      this._restartTimer = null;
      this._everConnected = false;

      const options = {};
      const transport = requestedTransports();
      if (transport !== undefined) {
        options.transport = transport;
      }
      this.connection = new signalR.HubConnectionBuilder()
        .withUrl(url, options)
        .withAutomaticReconnect(RECONNECT_DELAYS)
        .configureLogging(new TransportSpy(this, signalR.LogLevel.Warning))
        .build();

      this.connection.onreconnecting(() => {
        this._lost();
        this._setState("reconnecting");
      });
      this.connection.onreconnected(() => {
        this._connectedNow();
      });
      this.connection.onclose(() => {
        // Automatic reconnection gave up (or the server refused us).
        this._lost();
        this._giveUp();
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

    _lost() {
      for (const callback of this._disconnected) {
        this._call(callback, {});
      }
    }

    /** Run `callback()` whenever the hub cannot be reached at all. */
    onUnavailable(callback) {
      this._unavailable.push(callback);
      return this;
    }

    invoke(method, ...args) {
      return this.connection.invoke(method, ...args);
    }

    get isConnected() {
      return this.connection.state === signalR.HubConnectionState.Connected;
    }

    async start() {
      this._restartTimer = null;
      this._setState(this._everConnected ? "reconnecting" : "connecting");
      try {
        await this.connection.start();
      } catch (error) {
        console.warn(`[realtime ${this.name}] could not connect: ${error}`);
        this._giveUp();
        return;
      }
      this._connectedNow();
    }

    _connectedNow() {
      const reconnected = this._everConnected;
      this._everConnected = true;
      this.transport = this.selectedTransport;
      this._setState("connected");
      for (const callback of this._connected) {
        this._call(callback, { reconnected });
      }
    }

    _giveUp() {
      this._setState("disconnected");
      for (const callback of this._unavailable) {
        this._call(callback);
      }
      if (this._restartTimer === null) {
        this._restartTimer = window.setTimeout(() => {
          this.start();
        }, RESTART_DELAY);
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
      label.textContent = text || "";
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

  window.realtime = Object.freeze({ hub, hubs: registry });
})();
