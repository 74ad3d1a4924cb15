/*
 * times.js: every <time data-time="..."> on the page, formatted one way.
 *
 * The server renders a readable fallback; this script formats each time in
 * the reader's time zone, so rows added live and rows rendered after a
 * reload read the same. Kinds: "datetime" (Nov 30, 2026, 14:05), "date"
 * (Nov 30, 2026), "short" (Nov 30, 14:05) and "relative" ("2 minutes ago",
 * refreshed every 30 s; the exact time is its title).
 *
 *   times.set(element, new Date());   // a live change: set and render
 */
(function () {
  "use strict";

  const REFRESH = 30000;
  const LOCALE = document.documentElement.lang || undefined;
  const CLOCK = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const FORMATS = {
    datetime: new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric", year: "numeric", ...CLOCK }),
    date: new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric", year: "numeric" }),
    short: new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric", ...CLOCK }),
  };
  const RELATIVE = new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto" });

  /** "just now", "3 minutes ago", "2 hours ago", else the date and time. */
  function relative(date) {
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    if (seconds < 45) {
      return "just now";
    }
    if (seconds < 3600) {
      return RELATIVE.format(-Math.max(1, Math.round(seconds / 60)), "minute");
    }
    if (seconds < 86400) {
      return RELATIVE.format(-Math.round(seconds / 3600), "hour");
    }
    return FORMATS.datetime.format(date);
  }

  function format(kind, date) {
    return kind === "relative" ? relative(date) : (FORMATS[kind] || FORMATS.datetime).format(date);
  }

  function render(element) {
    const date = new Date(element.dateTime);
    if (Number.isNaN(date.getTime())) {
      return;
    }
    element.textContent = format(element.dataset.time, date);
    if (element.dataset.time === "relative") {
      element.title = FORMATS.datetime.format(date);
    }
  }

  function renderAll(root) {
    for (const element of (root || document).querySelectorAll("time[data-time]")) {
      render(element);
    }
  }

  /** Point `element` at `date` (a Date or an ISO string) and render it. */
  function set(element, date) {
    element.dateTime = new Date(date).toISOString();
    render(element);
  }

  window.times = Object.freeze({ format, render, renderAll, set });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => renderAll(), { once: true });
  } else {
    renderAll();
  }
  window.setInterval(() => {
    for (const element of document.querySelectorAll('time[data-time="relative"]')) {
      render(element);
    }
  }, REFRESH);
})();
