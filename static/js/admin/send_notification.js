/*
 * The admin's "Send notification" form: only the fields of the chosen
 * audience, a preview of the notification as recipients will see it, and
 * how many people will receive it. Without this script every field shows
 * and the server still checks the audience's field.
 */
(function () {
  "use strict";

  const form = document.getElementById("send-notification-form");
  if (!form) {
    return;
  }
  const facts = JSON.parse(document.getElementById("send-notification-facts").textContent);
  const preview = document.querySelector("[data-send-preview]");
  const rows = {
    users: form.querySelector(".field-users"),
    topic: form.querySelector(".field-topic"),
  };

  function audience() {
    const checked = form.querySelector("input[name=audience]:checked");
    return checked ? checked.value : "users";
  }

  function chosenUsers() {
    // SelectFilter2 moves chosen users into #id_users_to; without it, #id_users.
    const chosen = document.getElementById("id_users_to");
    if (chosen) {
      return chosen.options.length;
    }
    return [...document.getElementById("id_users").selectedOptions].length;
  }

  function recipients() {
    const kind = audience();
    if (kind === "users") {
      return chosenUsers();
    }
    if (kind === "topic") {
      const topic = form.querySelector("#id_topic").value;
      return topic ? facts.topicSubscribers[topic] || 0 : 0;
    }
    return facts.staff;
  }

  function render() {
    const kind = audience();
    for (const [name, row] of Object.entries(rows)) {
      if (row) {
        row.hidden = name !== kind;
      }
    }
    const title = form.querySelector("#id_title").value.trim();
    const message = form.querySelector("#id_message").value.trim();
    const type = form.querySelector("#id_type");
    preview.querySelector("[data-preview-title]").textContent = title || "(no title yet)";
    preview.querySelector("[data-preview-message]").textContent = message;
    preview.querySelector("[data-preview-type]").textContent = type.options[type.selectedIndex].text;
    const count = recipients();
    preview.querySelector("[data-preview-count]").textContent =
      count === 1 ? "1 recipient" : `${count} recipients`;
  }

  preview.hidden = false;
  form.addEventListener("input", render);
  form.addEventListener("change", render);
  // The picker moves options with clicks and buttons, not change events.
  form.addEventListener("click", () => window.setTimeout(render, 0));
  form.addEventListener("dblclick", () => window.setTimeout(render, 0));
  window.addEventListener("load", render);
  render();
})();
