/*
 * notifications.js: the user's notifications and unread count, kept right
 * in every mode, for the bell (bell.js) and the notifications page
 * (notification_page.js).
 *
 * The count starts as the server rendered it (bell, title). While the hub is
 * live it is the hub's number (UnreadCountUpdated); while the hub is paused
 * it comes from polling GET /notifications/feed, which also brings the
 * newest notifications. Notifications are kept by id and a repeat is
 * ignored (delivery is at least once). After every reconnection the store
 * asks the hub for what it missed (GetNotifications after the newest id it
 * has seen), and does the same when the server says "Resync" (events to an
 * open connection may have been lost in a Redis restart; the hub sends the
 * unread count with it).
 *
 *   notifications.on("added", (items, { live }) => ...);   // newest first
 *   notifications.on("read", (id) => ...);
 *   notifications.on("count", (count) => ...);
 *   notifications.markRead(id); notifications.markAllRead();
 */
(function () {
  "use strict";

  const SHOWN = 8; // the newest few, for the bell
  const CATCH_UP_PAGE = 50; // the hub's largest page
  const CATCH_UP_PAGES = 10; // beyond 500 missed, the list page has the rest
  const TITLE_COUNT = /^\(\d+\+?\) /;

  const body = document.body;
  const hubUrl = body.dataset.notificationsHub;
  const feedUrl = body.dataset.notificationsFeed;
  if (!hubUrl || !window.realtime) {
    return;
  }

  const hub = window.realtime.hub(hubUrl);
  const seen = new Map(); // id (number) -> notification payload
  const listeners = { added: [], read: [], count: [] };
  const bell = document.querySelector("[data-bell]");
  let newestId = null;
  let unread = bell ? Number(bell.dataset.unread || 0) : 0;

  function emit(event, ...args) {
    for (const listener of listeners[event]) {
      try {
        listener(...args);
      } catch (error) {
        console.error(`[notifications] ${event} listener failed`, error);
      }
    }
  }

  // The count, everywhere it shows ------------------------------------------

  function renderCount() {
    const title = document.title.replace(TITLE_COUNT, "");
    document.title = unread > 0 ? `(${unread > 99 ? "99+" : unread}) ${title}` : title;
    if (bell) {
      const badge = bell.querySelector("[data-unread-count]");
      badge.textContent = unread > 99 ? "99+" : String(unread);
      badge.hidden = unread <= 0;
      bell.dataset.unread = String(unread);
      bell.querySelector("[data-unread-label]").textContent =
        unread > 0 ? `Notifications, ${unread} unread` : "Notifications";
    }
    for (const element of document.querySelectorAll("[data-mark-all-read], [data-mark-all-read-form]")) {
      element.hidden = unread <= 0;
    }
  }

  function setUnreadCount(count) {
    unread = Math.max(0, Number(count) || 0);
    renderCount();
    emit("count", unread);
  }

  // Keeping state ---------------------------------------------------------

  /** Keep notifications not seen before; return them, newest first. */
  function remember(notifications) {
    const added = [];
    for (const notification of notifications) {
      const id = Number(notification.id);
      const known = seen.get(id);
      if (known) {
        // A repeat (at-least-once delivery, or catch-up overlap): keep the
        // read state, which only ever goes from unread to read.
        known.isRead = known.isRead || notification.isRead;
        continue;
      }
      seen.set(id, notification);
      newestId = newestId === null ? id : Math.max(newestId, id);
      added.push(notification);
    }
    return added.sort((a, b) => Number(b.id) - Number(a.id));
  }

  function add(notifications, live) {
    const added = remember(notifications);
    if (!added.length) {
      return;
    }
    emit("added", added, { live });
    if (live) {
      const count = added.filter((n) => !n.isRead).length;
      if (count) {
        window.announce(count === 1 ? "1 new notification" : `${count} new notifications`);
      }
    }
  }

  function showRead(id) {
    const notification = seen.get(Number(id));
    if (notification) {
      notification.isRead = true;
    }
    for (const element of document.querySelectorAll(`[data-notification-id="${CSS.escape(String(id))}"]`)) {
      element.classList.add("is-read");
    }
    emit("read", String(id));
  }

  /** The newest notifications seen, newest first. */
  function newest(count) {
    return [...seen.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, count);
  }

  // The newest id seen while still connected: live events that arrive after
  // a reconnect must not move the catch-up start past what was missed.
  let resumeFrom = null;
  hub.onDisconnected(() => {
    if (resumeFrom === null) {
      resumeFrom = newestId;
    }
  });

  async function catchUp(reconnected) {
    const from = resumeFrom === null ? newestId : resumeFrom;
    resumeFrom = null;
    if (from === null) {
      // Nothing seen yet: the newest few, newest first.
      add(await hub.invoke("GetNotifications", null, SHOWN), reconnected);
      return;
    }
    // Everything after the newest id seen, oldest first, page by page.
    let cursor = from;
    for (let page = 0; page < CATCH_UP_PAGES; page += 1) {
      const batch = await hub.invoke("GetNotifications", cursor, CATCH_UP_PAGE);
      add(batch, true);
      if (batch.length < CATCH_UP_PAGE) {
        return;
      }
      cursor = Number(batch[batch.length - 1].id);
    }
  }

  // Polling while the hub is paused ---------------------------------------------

  async function fetchFeed(query) {
    const response = await fetch(`${feedUrl}?${new URLSearchParams(query)}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || response.redirected || !type.startsWith("application/json")) {
      throw new Error(`feed answered ${response.status}`);
    }
    return response.json();
  }

  hub.whilePaused(async () => {
    try {
      const feed = await fetchFeed({ limit: SHOWN });
      add(feed.notifications, newestId !== null);
      setUnreadCount(feed.unreadCount);
    } catch (error) {
      console.warn("[notifications] polling the feed failed", error);
    }
  });

  // Hub events --------------------------------------------------------------

  hub.on("ReceiveNotification", (notification) => {
    add([notification], true);
  });

  hub.on("NotificationRead", (id) => {
    showRead(id);
  });

  hub.on("UnreadCountUpdated", (count) => {
    setUnreadCount(count);
  });

  // The connection stayed open but events may have been lost (Redis
  // restarted empty): catch up from the newest id seen, as after a
  // reconnect, then refresh the read state of the newest few.
  async function resync() {
    try {
      await catchUp(true);
      for (const notification of await hub.invoke("GetNotifications", null, SHOWN)) {
        if (notification.isRead) {
          showRead(notification.id);
        }
      }
    } catch (error) {
      console.warn("[notifications] resync failed", error);
    }
  }

  hub.on("Resync", () => {
    resync();
  });

  hub.onConnected(async ({ reconnected }) => {
    try {
      await catchUp(reconnected);
    } catch (error) {
      console.warn("[notifications] catch-up failed", error);
    }
  });

  // Actions: through the hub when live, else the page's own forms ---------------

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function post(url) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
      redirect: "manual",
    });
    // The form views answer with a redirect back; anything else is a failure.
    if (response.type !== "opaqueredirect" && !response.ok) {
      throw new Error(`${url} answered ${response.status}`);
    }
  }

  /** Mark one notification read; resolve true when done. */
  async function markRead(id) {
    try {
      if (hub.isConnected) {
        await hub.invoke("MarkAsRead", Number(id));
      } else {
        await post(`/notifications/${encodeURIComponent(id)}/read`);
        setUnreadCount(Math.max(0, unread - (seen.get(Number(id))?.isRead ? 0 : 1)));
      }
    } catch (error) {
      console.warn("[notifications] mark as read failed", error);
      return false;
    }
    // Every tab of the user hears NotificationRead; this one need not wait.
    showRead(id);
    return true;
  }

  /** Mark every notification read; resolve to how many changed, or null. */
  async function markAllRead() {
    let count = unread;
    try {
      if (hub.isConnected) {
        count = await hub.invoke("MarkAllAsRead");
      } else {
        await post("/notifications/read-all");
        setUnreadCount(0);
      }
    } catch (error) {
      console.warn("[notifications] mark all as read failed", error);
      return null;
    }
    for (const id of seen.keys()) {
      showRead(id);
    }
    for (const element of document.querySelectorAll("[data-notification-id]")) {
      element.classList.add("is-read");
    }
    return count;
  }

  // Staff only: how many users are online right now, on every server.
  const onlineNow = document.querySelector("[data-online-now]");
  let onlineTimer = null;

  async function refreshOnlineCount() {
    if (!hub.isConnected) {
      return;
    }
    try {
      const count = await hub.invoke("GetOnlineCount");
      onlineNow.textContent = `${count} online now`;
      onlineNow.hidden = false;
    } catch (error) {
      console.warn("[notifications] online count failed", error);
    }
  }

  if (onlineNow) {
    hub.onConnected(() => {
      refreshOnlineCount();
      if (onlineTimer === null) {
        onlineTimer = window.setInterval(refreshOnlineCount, 10000);
      }
    });
  }

  renderCount();

  window.notifications = Object.freeze({
    hub,
    on(event, listener) {
      listeners[event].push(listener);
    },
    newest,
    get unreadCount() {
      return unread;
    },
    fetchFeed,
    markRead,
    markAllRead,
  });
})();
