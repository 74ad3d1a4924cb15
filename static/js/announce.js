/*
 * announce.js: say what changed to screen-reader users, politely.
 *
 *   announce("Order A-1002 is now Shipped, 40 %");
 *
 * Messages arriving together are read as one, in order; the same message
 * twice in a row is read twice (the region is emptied first).
 */
(function () {
  "use strict";

  const GATHER = 250; // ms: an order's status and progress arrive together
  let pending = [];
  let timer = null;

  function flush() {
    timer = null;
    const region = document.querySelector("[data-announcer]");
    if (!region || !pending.length) {
      pending = [];
      return;
    }
    const text = pending.join(". ");
    pending = [];
    region.textContent = "";
    window.setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  window.announce = function announce(text) {
    if (!text || pending.includes(text)) {
      return;
    }
    pending.push(text);
    if (timer === null) {
      timer = window.setTimeout(flush, GATHER);
    }
  };
})();
