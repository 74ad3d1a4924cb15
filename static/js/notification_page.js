/*
 * notification_page.js: /notifications/ stays live and is read by doing.
 *
 * New notifications appear at the top of the first page as they arrive;
 * read state follows every tab; "Mark read" moves focus to the next item;
 * "Mark all read" says what it did (and hides once nothing is unread, see
 * notifications.js); "Load older notifications" appends the next page from
 * the JSON feed in place of the pagination links.
 */
(function () {
  "use strict";

  const PAGE = 20;
  const store = window.notifications;
  const list = document.querySelector("[data-notification-list]");
  const template = document.getElementById("notification-row");
  if (!store || !list || !template) {
    return;
  }

  const labels = JSON.parse(document.getElementById("notification-type-labels").textContent);
  const empty = document.querySelector("[data-notification-empty]");
  const heading = document.getElementById("notifications-heading");
  const loadMore = document.querySelector("[data-load-more]");
  const pagination = document.querySelector("[data-pagination]");

  function rows() {
    return [...list.querySelectorAll("[data-notification-id]")];
  }

  function hasRow(id) {
    return list.querySelector(`[data-notification-id="${CSS.escape(String(id))}"]`) !== null;
  }

  /** A row like the server renders, from the template the server rendered. */
  function renderRow(notification) {
    const row = template.content.firstElementChild.cloneNode(true);
    const id = String(notification.id);
    row.dataset.notificationId = id;
    row.classList.toggle("is-read", Boolean(notification.isRead));
    row.classList.replace("notification--info", `notification--${notification.type}`);
    const link = row.querySelector("[data-notification-link]");
    if (notification.data && notification.data.orderId) {
      link.href = link.getAttribute("href").replace("/0/", `/${encodeURIComponent(id)}/`);
      link.textContent = notification.title;
    } else {
      link.replaceWith(notification.title);
    }
    const message = row.querySelector("[data-notification-message]");
    message.textContent = notification.message || "";
    message.hidden = !notification.message;
    row.querySelector("[data-notification-type]").textContent = labels[notification.type] || notification.type;
    window.times.set(row.querySelector("time"), notification.createdAt);
    const form = row.querySelector("[data-mark-read-form]");
    form.action = form.getAttribute("action").replace("/0/", `/${encodeURIComponent(id)}/`);
    const button = form.querySelector("[data-mark-read]");
    button.dataset.markRead = id;
    button.setAttribute("aria-label", `Mark read: ${notification.title}`);
    return row;
  }

  function showList() {
    list.hidden = false;
    if (empty) {
      empty.hidden = true;
    }
  }

  // Live: new notifications at the top of the first page.
  if (list.hasAttribute("data-live-list")) {
    store.on("added", (added, { live }) => {
      if (!live) {
        return;
      }
      const fresh = added.filter((n) => !hasRow(n.id));
      if (!fresh.length) {
        return;
      }
      list.prepend(...fresh.map(renderRow));
      showList();
    });
  }

  /** After `row` was marked read, focus the next unread item (or the next item). */
  function focusAfter(row) {
    const all = rows();
    const after = all.slice(all.indexOf(row) + 1);
    const next = after.find((r) => !r.classList.contains("is-read"));
    if (next) {
      next.querySelector("[data-mark-read]").focus();
    } else if (after.length) {
      after[0].focus();
    } else {
      heading.focus();
    }
  }

  function say(text) {
    let status = document.querySelector("[data-page-status]");
    if (!status) {
      status = document.createElement("p");
      status.className = "message message--success";
      status.dataset.pageStatus = "";
      status.setAttribute("role", "status");
      heading.parentElement.after(status);
    }
    status.textContent = text;
  }

  // The page's forms post without JavaScript; with it, they act in place.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (form.matches("[data-mark-read-form]")) {
      event.preventDefault();
      const row = form.closest("[data-notification-id]");
      // Focus moves before the row turns read: its button is hidden then,
      // and a hidden focused button would drop focus to <body>.
      focusAfter(row);
      if (!(await store.markRead(row.dataset.notificationId))) {
        form.submit();
      }
    } else if (form.matches("[data-mark-all-read-form]")) {
      event.preventDefault();
      const count = await store.markAllRead();
      if (count === null) {
        form.submit();
        return;
      }
      say(count === 1 ? "Marked 1 notification read." : `Marked ${count} notifications read.`);
      heading.focus();
    }
  });

  // Load older notifications in place.
  if (loadMore) {
    const button = loadMore.querySelector("button");
    loadMore.hidden = false;
    if (pagination) {
      pagination.hidden = true;
    }
    button.addEventListener("click", async () => {
      const last = rows().pop();
      button.disabled = true;
      try {
        const feed = await store.fetchFeed({ before: last.dataset.notificationId, limit: PAGE });
        const older = feed.notifications.filter((n) => !hasRow(n.id)).map(renderRow);
        list.append(...older);
        if (older.length) {
          older[0].focus();
        }
        loadMore.hidden = !feed.hasMore;
      } catch (error) {
        console.warn("[notifications] loading older notifications failed", error);
      } finally {
        button.disabled = false;
      }
    });
  }
})();
