// ash web: live countdowns, and the page kept current from the server's events. No markup is
// built from data here: fragments come rendered (and escaped) by the server, and a decision
// made elsewhere is shown with textContent.
"use strict";

function fmt(ms) {
  if (ms <= 0) return "expired";
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  if (m >= 60) return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  return m > 0 ? m + "m" + String(s % 60).padStart(2, "0") + "s" : s + "s";
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".countdown")) {
    const left = Number(el.dataset.expires) - now;
    el.textContent = fmt(left);
    el.classList.toggle("urgent", left < 30000);
    if (left <= 0) {
      const card = el.closest(".card");
      if (card) card.classList.add("expired");
      const req = document.getElementById("request");
      if (req && !card) showDecided("expired: no decision before the deadline");
    }
  }
}

function showDecided(words) {
  const note = document.getElementById("elsewhere");
  if (!note) return;
  note.textContent = words;
  note.hidden = false;
  for (const b of document.querySelectorAll("form.decide button")) b.disabled = true;
}

async function refreshQueue() {
  const list = document.getElementById("queue");
  if (!list) return;
  const res = await fetch("/fragment/queue", { credentials: "same-origin" });
  if (!res.ok) return;
  const holder = document.createElement("div");
  holder.innerHTML = await res.text();
  const fresh = holder.querySelector("#queue");
  const count = holder.querySelector("#count");
  if (fresh) list.replaceWith(fresh);
  if (count) document.getElementById("count").textContent = count.textContent;
  tick();
}

// A burst of events (an agent asking many times at once) is one fetch of the list, not one
// each: with 1,000 waiting, a list is some 400 KB.
let pending = null;
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    refreshQueue();
  }, 200);
}

function listen() {
  const events = new EventSource("/events");
  events.onmessage = (e) => {
    const change = JSON.parse(e.data);
    const req = document.getElementById("request");
    if (req && change.kind === "finished" && change.id === req.dataset.id) {
      showDecided("decided elsewhere: " + change.outcome);
    }
    refreshSoon();
  };
}

tick();
setInterval(tick, 1000);
listen();
