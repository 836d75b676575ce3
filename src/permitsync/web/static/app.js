// The dashboard's only script: live fragments over Server-Sent Events, and zone choices
// saved as soon as they change. Every page works without it (forms post and reload).
"use strict";

function startLive() {
  const url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  source.addEventListener("fragments", (event) => {
    const parts = JSON.parse(event.data);
    for (const [id, html] of Object.entries(parts)) {
      const element = document.getElementById(id);
      if (element) element.innerHTML = html; // rendered and escaped by the server
    }
  });
}

function autosave(form) {
  const select = form.querySelector("select");
  const output = form.querySelector("output");
  const button = form.querySelector("button.save");
  if (button) button.hidden = true;
  select.addEventListener("change", async () => {
    output.className = "saved";
    output.textContent = "Saving…";
    try {
      const answer = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await answer.json();
      output.className = body.ok ? "saved done" : "saved error";
      output.textContent = body.ok ? "Saved" : body.message;
      if (body.ok) {
        const row = form.closest("tr");
        if (row && select.value) row.classList.remove("unenforced", "stale");
      }
    } catch (error) {
      output.className = "saved error";
      output.textContent = "Not saved: the server did not answer. Try again.";
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startLive();
  document.querySelectorAll("form[data-autosave]").forEach(autosave);
});
