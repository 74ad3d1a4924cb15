/*
 * notifications.js: the bell in the header, and live read state on the page.
 *
 * The server delivers at least once, so notifications are kept by id and a
 * repeat is ignored. After every reconnection the bell asks the hub for what
 * it missed (GetNotifications after the newest id it has seen); the hub sends
 * the current unread count to every new connection, so the badge is always
 * the server's number, never a local guess.
 */
(function () {
  "use strict";

  const SHOWN = 8; // items in the dropdown
  const CATCH_UP_PAGE = 50; // the hub's largest page
  const CATCH_UP_PAGES = 10; // beyond 500 missed, the list page has the rest

  const hubUrl = document.body.dataset.notificationsHub;
  const bell = document.querySelector("[data-bell]");
  if (!hubUrl || !window.realtime) {
    return;
  }

  const hub = window.realtime.hub(hubUrl);
  const seen = new Map(); // id (number) -> notification payload
  let newestId = null;

  // Rendering -------------------------------------------------------------

  function setUnreadCount(count) {
    if (!bell) {
      return;
    }
    const badge = bell.querySelector("[data-unread-count]");
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count <= 0;
    bell.dataset.unread = String(count);
  }

  function relativeTime(iso) {
    const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) {
      return "just now";
    }
    const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    if (seconds < 3600) {
      return format.format(-Math.floor(seconds / 60), "minute");
    }
    if (seconds < 86400) {
      return format.format(-Math.floor(seconds / 3600), "hour");
    }
    return new Date(iso).toLocaleDateString();
  }

  function orderLink(notification) {
    const orderId = notification.data && notification.data.orderId;
    return orderId ? `/orders/${encodeURIComponent(orderId)}/` : null;
  }

  function renderItem(notification) {
    const item = document.createElement("li");
    item.className = "bell__item" + (notification.isRead ? " is-read" : "");
    item.dataset.notificationId = notification.id;

    const body = document.createElement("div");
    body.className = "bell__item-body";
    const title = document.createElement("p");
    title.className = "bell__item-title";
    const href = orderLink(notification);
    if (href) {
      const link = document.createElement("a");
      link.href = href;
      link.textContent = notification.title;
      title.append(link);
    } else {
      title.textContent = notification.title;
    }
    body.append(title);
    if (notification.message) {
      const message = document.createElement("p");
      message.className = "bell__item-message";
      message.textContent = notification.message;
      body.append(message);
    }
    const time = document.createElement("time");
    time.className = "bell__item-time";
    time.dateTime = notification.createdAt;
    time.textContent = relativeTime(notification.createdAt);
    body.append(time);

    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button";
    button.dataset.markRead = notification.id;
    button.textContent = "Mark read";

    item.append(body, button);
    return item;
  }

  function renderList() {
    if (!bell) {
      return;
    }
    const list = bell.querySelector("[data-bell-list]");
    const newest = [...seen.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, SHOWN);
    const empty = list.querySelector("[data-bell-empty]");
    list.replaceChildren(...newest.map(renderItem));
    if (!newest.length && empty) {
      list.append(empty);
    }
  }

  function showRead(id) {
    const notification = seen.get(Number(id));
    if (notification) {
      notification.isRead = true;
    }
    // The bell's item and any server-rendered row (the notifications page).
    for (const element of document.querySelectorAll(`[data-notification-id="${CSS.escape(String(id))}"]`)) {
      element.classList.add("is-read");
    }
  }

  // Keeping state ---------------------------------------------------------

  /** Add notifications not seen before; return how many were new. */
  function remember(notifications) {
    let added = 0;
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
      added += 1;
    }
    return added;
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
    if (!reconnected || from === null) {
      // First connection (or nothing seen yet): the newest few, newest first.
      remember(await hub.invoke("GetNotifications", null, SHOWN));
      return;
    }
    // Everything after the newest id seen, oldest first, page by page.
    let cursor = from;
    for (let page = 0; page < CATCH_UP_PAGES; page += 1) {
      const batch = await hub.invoke("GetNotifications", cursor, CATCH_UP_PAGE);
      remember(batch);
      if (batch.length < CATCH_UP_PAGE) {
        return;
      }
      cursor = Number(batch[batch.length - 1].id);
    }
  }

  // Hub events --------------------------------------------------------------

  hub.on("ReceiveNotification", (notification) => {
    if (remember([notification])) {
      renderList();
      if (bell) {
        bell.classList.remove("has-news");
        void bell.offsetWidth; // restart the animation
        bell.classList.add("has-news");
      }
    }
  });

  hub.on("NotificationRead", (id) => {
    showRead(id);
  });

  hub.on("UnreadCountUpdated", (count) => {
    setUnreadCount(count);
  });

  hub.onConnected(async ({ reconnected }) => {
    try {
      await catchUp(reconnected);
    } catch (error) {
      console.warn("[notifications] catch-up failed", error);
    }
    renderList();
    refreshOnlineCount();
  });

  // Staff only: how many users are online right now, on every server.
  const onlineNow = document.querySelector("[data-online-now]");
  let onlineTimer = null;

  async function refreshOnlineCount() {
    if (!onlineNow) {
      return;
    }
    try {
      const count = await hub.invoke("GetOnlineCount");
      onlineNow.textContent = `${count} online now`;
      onlineNow.hidden = false;
    } catch (error) {
      console.warn("[notifications] online count failed", error);
    }
    if (onlineTimer === null) {
      onlineTimer = window.setInterval(refreshOnlineCount, 10000);
    }
  }

  // Actions -------------------------------------------------------------------

  async function markRead(id) {
    try {
      await hub.invoke("MarkAsRead", Number(id));
    } catch (error) {
      console.warn("[notifications] mark as read failed", error);
      return false;
    }
    // Every tab of the user hears NotificationRead; this one need not wait.
    showRead(id);
    return true;
  }

  async function markAllRead() {
    try {
      await hub.invoke("MarkAllAsRead");
    } catch (error) {
      console.warn("[notifications] mark all as read failed", error);
      return false;
    }
    for (const id of seen.keys()) {
      showRead(id);
    }
    for (const element of document.querySelectorAll("[data-notification-id]")) {
      element.classList.add("is-read");
    }
    return true;
  }

  // The page's forms post without JavaScript (or while the hub is down);
  // with a live connection they go through the hub and the page stays put.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!hub.isConnected) {
      return;
    }
    if (form.matches("[data-mark-read-form]")) {
      event.preventDefault();
      markRead(form.querySelector("[data-mark-read]").dataset.markRead).then((ok) => {
        if (!ok) {
          form.submit();
        }
      });
    } else if (form.matches("[data-mark-all-read-form]")) {
      event.preventDefault();
      markAllRead().then((ok) => {
        if (!ok) {
          form.submit();
        }
      });
    }
  });

  if (!bell) {
    return;
  }

  const toggle = bell.querySelector("[data-bell-toggle]");
  const panel = bell.querySelector("[data-bell-panel]");

  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      // Refresh "5 minutes ago" labels.
      renderList();
    }
  }

  toggle.addEventListener("click", () => {
    setOpen(panel.hidden);
  });

  document.addEventListener("click", (event) => {
    if (!panel.hidden && !bell.contains(event.target)) {
      setOpen(false);
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      setOpen(false);
      toggle.focus();
    }
  });

  panel.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) {
      return;
    }
    if (button.dataset.markRead) {
      markRead(button.dataset.markRead);
    } else if (button.hasAttribute("data-mark-all-read")) {
      markAllRead();
    }
  });
})();
