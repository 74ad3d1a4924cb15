/*
 * bell.js: the bell's panel in the header (a non-modal dialog).
 *
 * Opening it moves focus into the panel; Escape or a click outside closes
 * it and Escape returns focus to the bell. After "Mark read" focus moves to
 * the next item. Each "Mark read" button names its notification.
 */
(function () {
  "use strict";

  const SHOWN = 8;
  const bell = document.querySelector("[data-bell]");
  const store = window.notifications;
  if (!bell || !store) {
    return;
  }

  const toggle = bell.querySelector("[data-bell-toggle]");
  const panel = bell.querySelector("[data-bell-panel]");
  const list = bell.querySelector("[data-bell-list]");
  const empty = list.querySelector("[data-bell-empty]");

  function openUrl(notification) {
    const orderId = notification.data && notification.data.orderId;
    // Opening marks it read (in every tab), then goes to the order.
    return orderId ? `/notifications/${encodeURIComponent(notification.id)}/open` : null;
  }

  function renderItem(notification) {
    const item = document.createElement("li");
    item.className = "bell__item" + (notification.isRead ? " is-read" : "");
    item.dataset.notificationId = notification.id;

    const body = document.createElement("div");
    body.className = "bell__item-body";
    const title = document.createElement("p");
    title.className = "bell__item-title";
    const href = openUrl(notification);
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
    time.dataset.time = "relative";
    body.append(time);
    window.times.set(time, notification.createdAt);

    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-button bell__mark-read";
    button.dataset.markRead = notification.id;
    button.textContent = "Mark read";
    button.setAttribute("aria-label", `Mark read: ${notification.title}`);

    item.append(body, button);
    return item;
  }

  function render() {
    const items = store.newest(SHOWN).map(renderItem);
    list.replaceChildren(...items);
    if (!items.length) {
      list.append(empty);
    }
  }

  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      render(); // refreshes "5 minutes ago"
      const first = panel.querySelector(".bell__item:not(.is-read) [data-mark-read], a, button:not([hidden])");
      (first || panel).focus();
    }
  }

  /** After marking `item` read, focus what comes next in the panel. */
  function focusAfter(id) {
    const items = [...list.querySelectorAll(".bell__item")];
    const index = items.findIndex((item) => item.dataset.notificationId === String(id));
    const next = items.slice(index + 1).concat(items.slice(0, Math.max(index, 0)))
      .find((item) => !item.classList.contains("is-read"));
    const target = next
      ? next.querySelector("[data-mark-read]")
      : panel.querySelector(".bell__footer");
    target.focus();
  }

  store.on("added", (added, { live }) => {
    render();
    if (live && added.some((n) => !n.isRead)) {
      bell.classList.remove("has-news");
      void bell.offsetWidth; // restart the animation
      bell.classList.add("has-news");
    }
  });

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

  panel.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) {
      return;
    }
    if (button.dataset.markRead) {
      const id = button.dataset.markRead;
      // Focus moves before the item turns read (its button is hidden then);
      // it comes back if the item stays unread.
      focusAfter(id);
      if (!(await store.markRead(id)) && button.isConnected) {
        button.focus();
      }
    } else if (button.hasAttribute("data-mark-all-read")) {
      const count = await store.markAllRead();
      if (count !== null) {
        window.announce(count === 1 ? "Marked 1 notification read" : `Marked ${count} notifications read`);
        panel.querySelector(".bell__footer").focus();
      }
    }
  });

  render();
})();
