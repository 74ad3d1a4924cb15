/*
 * orders.js: live status badges on the order list, and the live order page.
 *
 * Every element with data-order-id and data-state-url is watched. After each
 * (re)connection the page subscribes to those orders again, and the hub
 * answers with their current state, so whatever changed while the page was
 * offline shows up. While the hub is paused the page polls each order's
 * JSON state (realtime.js's whilePaused: every 30 s and on "Retry now").
 * Each change is announced politely ("Order A-1002 is now Shipped, 40 %").
 */
(function () {
  "use strict";

  const DELIVERED = "delivered";
  const ANNOUNCE_AFTER = 200; // ms: status and progress arrive as a pair

  const hubUrl = document.body.dataset.ordersHub;
  const watched = [...document.querySelectorAll("[data-order-id][data-state-url]")];
  if (!hubUrl || !window.realtime || !watched.length) {
    return;
  }

  const labelsScript = document.getElementById("order-status-labels");
  const labels = labelsScript ? JSON.parse(labelsScript.textContent) : {};
  const stateUrls = new Map(watched.map((el) => [el.dataset.orderId, el.dataset.stateUrl]));
  const numbers = new Map(watched.map((el) => [el.dataset.orderId, el.dataset.orderNumber]));
  const known = new Map(); // order id -> { status, message, progress }
  const announceTimers = new Map();
  const dialog = document.querySelector("[data-completion-dialog]");
  let completionShown = false;

  function containers(id) {
    return document.querySelectorAll(`[data-order-id="${CSS.escape(id)}"]`);
  }

  // Reading the server-rendered state, so repeats of it change nothing.
  for (const element of watched) {
    const badge = element.querySelector("[data-order-status]");
    const message = element.querySelector("[data-order-message]");
    const progress = element.querySelector("[data-order-progress]");
    known.set(element.dataset.orderId, {
      status: badge ? badge.dataset.orderStatus : null,
      message: message ? message.textContent.trim() : null,
      progress: progress ? Number(progress.value) : null,
    });
  }

  // Rendering -------------------------------------------------------------

  function flash(element) {
    element.classList.remove("is-updated");
    void element.offsetWidth; // restart the animation
    element.classList.add("is-updated");
  }

  function announceLater(id) {
    window.clearTimeout(announceTimers.get(id));
    announceTimers.set(
      id,
      window.setTimeout(() => {
        announceTimers.delete(id);
        const state = known.get(id);
        const label = labels[state.status] || state.status;
        window.announce(`Order ${numbers.get(id) || id} is now ${label}, ${state.progress} %`);
      }, ANNOUNCE_AFTER)
    );
  }

  function addHistory(container, status, message) {
    const history = container.querySelector("[data-order-history]");
    if (!history) {
      return;
    }
    const empty = history.querySelector("[data-order-history-empty]");
    if (empty) {
      empty.remove();
    }
    const item = document.createElement("li");
    item.className = "timeline__item";
    const badge = document.createElement("span");
    badge.className = `badge badge--${status}`;
    badge.textContent = labels[status] || status;
    const text = document.createElement("span");
    text.className = "timeline__message";
    text.textContent = message;
    const time = document.createElement("time");
    time.className = "timeline__time";
    time.dataset.time = "short";
    item.append(badge, text, time);
    window.times.set(time, new Date());
    history.prepend(item);
  }

  function showCompletion(id) {
    if (!dialog || completionShown || !document.querySelector(`[data-order-page][data-order-id="${CSS.escape(id)}"]`)) {
      return;
    }
    completionShown = true;
    if (!dialog.open) {
      dialog.showModal();
    }
  }

  function applyStatus(id, status, message) {
    const before = known.get(id) || {};
    // A list row shows no message: there only the status counts.
    const messageShown = before.message !== null && before.message !== undefined;
    if (before.status === status && (!messageShown || before.message === message)) {
      return;
    }
    known.set(id, { ...before, status, message: messageShown ? message : null });
    for (const container of containers(id)) {
      container.dataset.status = status;
      const badge = container.querySelector("[data-order-status]");
      if (badge) {
        badge.className = `badge badge--${status}`;
        badge.dataset.orderStatus = status;
        badge.textContent = labels[status] || status;
        flash(badge);
      }
      const messageElement = container.querySelector("[data-order-message]");
      if (messageElement) {
        messageElement.textContent = message;
      }
      const updated = container.querySelector("[data-order-updated]");
      if (updated) {
        window.times.set(updated, new Date());
      }
      addHistory(container, status, message);
    }
    announceLater(id);
    if (status === DELIVERED && before.status !== DELIVERED) {
      showCompletion(id);
    }
  }

  function applyProgress(id, progress) {
    const before = known.get(id) || {};
    if (before.progress === progress) {
      return;
    }
    known.set(id, { ...before, progress });
    for (const container of containers(id)) {
      const bar = container.querySelector("[data-order-progress]");
      if (bar) {
        bar.value = progress;
        bar.textContent = `${progress}%`;
      }
      const label = container.querySelector("[data-order-progress-label]");
      if (label) {
        label.textContent = `${progress}%`;
      }
    }
    announceLater(id);
  }

  // The completion dialog: focus stays inside while open, then returns to
  // the order's heading.
  if (dialog) {
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") {
        return;
      }
      const focusable = [...dialog.querySelectorAll("a[href], button:not([disabled])")];
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
    dialog.addEventListener("close", () => {
      const heading = document.querySelector("[data-order-heading]");
      if (heading) {
        heading.focus();
      }
    });
  }

  // Live updates ------------------------------------------------------------

  const hub = window.realtime.hub(hubUrl);

  hub.on("OrderStatusUpdated", (orderId, status, message) => {
    applyStatus(String(orderId), status, message || "");
  });

  hub.on("OrderProgressUpdated", (orderId, progress) => {
    applyProgress(String(orderId), progress);
  });

  hub.on("OrderCompleted", (orderId) => {
    showCompletion(String(orderId));
  });

  hub.onConnected(async () => {
    const results = await Promise.allSettled(
      [...stateUrls.keys()].map((id) => hub.invoke("SubscribeToOrder", Number(id)))
    );
    for (const result of results) {
      if (result.status === "rejected") {
        console.warn("[orders] subscribe failed", result.reason);
      }
    }
  });

  // While the hub is paused: poll the JSON state -----------------------------

  async function poll(id, url) {
    let response;
    try {
      response = await fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      console.warn("[orders] polling failed", error);
      return;
    }
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || response.redirected || !type.startsWith("application/json")) {
      return;
    }
    const state = await response.json();
    applyStatus(id, state.status, state.message || "");
    applyProgress(id, state.progress);
  }

  hub.whilePaused(() => {
    for (const [id, url] of stateUrls) {
      poll(id, url);
    }
  });
})();
