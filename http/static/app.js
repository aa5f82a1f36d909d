// Passcom web page: plain JS, no build step, no third-party code. Talks only to this peer.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { rumos: "#c62828", giro: "#2e7d32", boreal: "#1565c0" };
const colorOf = (airline) => COLORS[airline] || "#6d4c41";
const classOf = (airline) => "airline-" + (COLORS[airline] ? airline : "other");
const money = (cents) => "R$ " + (cents / 100).toLocaleString("pt-BR", { minimumFractionDigits: 2 });
const hhmm = (iso) => (iso || "").slice(11, 16);
const dur = (ms) => Math.floor(ms / 3600000) + "h" + String(Math.round((ms % 3600000) / 60000)).padStart(2, "0");

const state = {
  info: null,
  airports: [],
  byCode: {},
  itineraries: [],
  chosen: null,        // the selected itinerary
  seats: [],           // chosen seat label per leg (or null)
  hold: null,          // { hold_id, expires }
  purchaseKey: null,   // idempotency key of the current checkout, reused on retry
  loggedIn: false,
  adminToken: sessionStorage.getItem("passcom-admin") || "",
  events: null,        // AbortController of the live stream
};

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function say(id, text, kind) {
  const m = $(id);
  m.textContent = text;
  m.className = "msg" + (kind ? " " + kind : "");
}

// Calls the API; resolves to the JSON body, or throws an Error whose message is the
// problem's detail (what to fix) and whose `status`/`retryAfter` come from the response.
async function api(method, path, body, headers) {
  const opts = { method, headers: Object.assign({}, headers || {}), credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) {
    const err = new Error((data && data.detail) || r.statusText);
    err.status = r.status;
    err.retryAfter = r.headers.get("Retry-After");
    throw err;
  }
  return data;
}

function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------------------
// Views and session

function show(view) {
  for (const v of ["search", "tickets", "operator"]) {
    $("view-" + v).hidden = v !== view;
    $("nav-" + v).classList.toggle("active", v === view);
  }
  $("login-panel").hidden = state.loggedIn || view === "operator";
  if (view === "tickets") loadTickets();
  if (view === "operator" && state.adminToken) connectOperator();
}

function route() {
  show((location.hash || "#search").slice(1) || "search");
}

function setLoggedIn(name) {
  state.loggedIn = !!name;
  $("whoami").textContent = name ? "Signed in as " + name : "";
  $("logout-btn").hidden = !name;
  if (name) localStorage.setItem("passcom-name", name);
  else localStorage.removeItem("passcom-name");
  route();
}

async function credentials() {
  return { name: $("login-name").value.trim(), password: $("login-password").value };
}

async function login(ev) {
  ev.preventDefault();
  try {
    const s = await api("POST", "/api/sessions", await credentials());
    say("login-msg", "");
    setLoggedIn(s.name);
  } catch (e) {
    say("login-msg", e.message, "error");
  }
}

async function signup() {
  try {
    await api("POST", "/api/accounts", await credentials());
    const s = await api("POST", "/api/sessions", await credentials());
    say("login-msg", "");
    setLoggedIn(s.name);
  } catch (e) {
    say("login-msg", e.message, "error");
  }
}

async function logout() {
  try { await api("DELETE", "/api/sessions"); } catch (_) { /* already gone */ }
  setLoggedIn(null);
}

// ---------------------------------------------------------------------------------------
// Map: equirectangular projection of Brazil, scaled by cos(latitude) at its centre.

const MAP = { w: 600, h: 600, pad: 24 };
let project = null;

function setupProjection(ring) {
  let [x0, x1, y0, y1] = [180, -180, 90, -90];
  for (const [lon, lat] of ring) {
    x0 = Math.min(x0, lon); x1 = Math.max(x1, lon); y0 = Math.min(y0, lat); y1 = Math.max(y1, lat);
  }
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const scale = Math.min((MAP.w - 2 * MAP.pad) / ((x1 - x0) * k), (MAP.h - 2 * MAP.pad) / (y1 - y0));
  project = (lon, lat) => [MAP.pad + (lon - x0) * k * scale, MAP.pad + (y1 - lat) * scale];
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

async function drawMap() {
  const map = $("map");
  const outline = await api("GET", "/assets/brazil.geojson");
  const geom = outline.geometry;
  const rings = geom.type === "Polygon" ? [geom.coordinates[0]] : geom.coordinates.map((p) => p[0]);
  setupProjection(rings.flat());
  for (const ring of rings) {
    const d = ring.map(([lon, lat], i) => (i ? "L" : "M") + project(lon, lat).map((v) => v.toFixed(1)).join(",")).join("") + "Z";
    map.append(svg("path", { d, class: "land" }));
  }
  map.append(svg("g", { id: "map-routes" }));
  const dots = svg("g", { id: "map-airports" });
  for (const a of state.airports) {
    const [x, y] = project(a.longitude, a.latitude);
    const g = svg("g", { id: "map-" + a.iata });
    g.append(svg("circle", { cx: x, cy: y, r: 4.5, class: "airport" }));
    g.append(svg("text", { x: x + 6, y: y + 4, class: "label" }, a.iata));
    g.append(svg("title", {}, a.city + " — " + a.name));
    dots.append(g);
  }
  map.append(dots);
  $("legend").replaceChildren(
    ...Object.entries(COLORS).map(([name, c]) => { const s = el("span", {}, name); s.style.setProperty("--c", c); return s; }));
}

function drawItinerary(it) {
  const layer = $("map-routes");
  if (!layer) return;
  layer.replaceChildren();
  document.querySelectorAll("#map .airport").forEach((c) => c.classList.remove("on-route"));
  if (!it) return;
  for (const leg of it.legs) {
    const a = state.byCode[leg.origin], b = state.byCode[leg.destination];
    if (!a || !b) continue;
    const [x1, y1] = project(a.longitude, a.latitude), [x2, y2] = project(b.longitude, b.latitude);
    // A gentle arc, so that legs back and forth along one line stay apart.
    const mx = (x1 + x2) / 2 - (y2 - y1) * 0.15, my = (y1 + y2) / 2 + (x2 - x1) * 0.15;
    layer.append(svg("path", {
      d: `M${x1},${y1} Q${mx},${my} ${x2},${y2}`, class: "route", stroke: colorOf(leg.airline),
      "data-flight": leg.flight,
    }));
    for (const code of [leg.origin, leg.destination]) {
      const c = document.querySelector(`#map-${code} circle`);
      if (c) c.classList.add("on-route");
    }
  }
}

// ---------------------------------------------------------------------------------------
// Search, itineraries and seat maps

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({
    from: $("from").value, to: $("to").value, date: $("date").value,
    max_legs: $("max-legs").value, sort: $("sort").value, limit: "30",
  });
  say("results-msg", "Searching…");
  $("itineraries").replaceChildren();
  try {
    const r = await api("GET", "/api/routes?" + q);
    state.itineraries = r.itineraries;
    say("results-msg", r.itineraries.length
      ? `${r.itineraries.length} itineraries ${r.from} → ${r.to} on ${r.date}, by ${r.sort}`
      : `No itinerary ${r.from} → ${r.to} on ${r.date}; try another date or more legs.`);
    r.itineraries.forEach((it, i) => $("itineraries").append(itineraryItem(it, i)));
  } catch (e) {
    say("results-msg", e.message, "error");
  }
}

function itineraryItem(it, i) {
  const legs = el("div", { class: "legs" }, ...it.legs.map((l) =>
    el("span", { class: "leg " + classOf(l.airline), title: l.airline },
      `${l.flight.split("-")[0]} ${l.origin} ${hhmm(l.departure_utc)} → ${l.destination} ${hhmm(l.arrival_utc)}`)));
  return el("li", { class: "itinerary", id: "itinerary-" + i, "data-airlines": it.airlines.join(","), onclick: () => choose(i) },
    el("div", { class: "head" },
      el("span", {}, `${it.legs[0].origin} → ${it.legs[it.legs.length - 1].destination} · ${it.legs.length} leg${it.legs.length > 1 ? "s" : ""} · ${dur(it.duration_ms)}`),
      el("span", { class: "price" }, money(it.price_cents))),
    legs,
    el("div", { class: "seats-left" }, `${it.airlines.join(" + ")} · ${it.seats_available} seats left`));
}

async function choose(i) {
  const it = state.itineraries[i];
  document.querySelectorAll(".itinerary").forEach((e) => e.classList.toggle("selected", e.id === "itinerary-" + i));
  if (state.hold) await releaseHold(true);
  state.chosen = it;
  state.seats = it.legs.map(() => null);
  state.purchaseKey = null;
  drawItinerary(it);
  await loadSeatMaps();
  renderCart();
}

async function loadSeatMaps() {
  const it = state.chosen;
  const box = $("seatmaps");
  box.replaceChildren();
  $("seat-section").hidden = !it;
  if (!it) return;
  for (const [i, leg] of it.legs.entries()) {
    try {
      const m = await api("GET", `/api/flights/${encodeURIComponent(leg.flight)}/seats`);
      box.append(seatMap(m, i));
    } catch (e) {
      box.append(el("p", { class: "msg error" }, e.message));
    }
  }
}

function seatMap(m, legIndex) {
  const cabin = el("div", { class: "cabin", id: "seatmap-" + legIndex });
  cabin.style.gridTemplateColumns = `repeat(${m.letters.length}, 30px)`;
  for (const s of m.seats) {
    const pickable = s.status === "here" || s.status === "partner";
    const b = el("button", {
      type: "button", class: "seat " + s.status, id: `seat-${legIndex}-${s.seat}`,
      title: `${s.seat}: ${s.status}${s.holder ? " (" + s.holder + ")" : ""}`,
    }, s.seat);
    if (pickable) b.addEventListener("click", () => pickSeat(legIndex, s.seat));
    else b.disabled = true;
    if (state.seats[legIndex] === s.seat) b.classList.add("chosen");
    cabin.append(b);
  }
  const f = m.flight;
  return el("div", { class: "seatmap" },
    el("h3", {}, el("span", { class: "leg " + classOf(f.airline) }, f.flight),
      ` ${f.origin} → ${f.destination}, ${f.departure_utc.replace("T", " ")} · ${f.seats.here} here, ${f.seats.partners} at partners`),
    cabin);
}

async function pickSeat(legIndex, label) {
  if (state.hold) await releaseHold(true);
  state.seats[legIndex] = state.seats[legIndex] === label ? null : label;
  state.purchaseKey = null;
  document.querySelectorAll(`#seatmap-${legIndex} .seat`).forEach((b) =>
    b.classList.toggle("chosen", b.id === `seat-${legIndex}-${state.seats[legIndex]}`));
  renderCart();
}

// ---------------------------------------------------------------------------------------
// Cart, hold and checkout

function legsBody() {
  return state.chosen.legs.map((l, i) => (state.seats[i] ? { flight: l.flight, seat: state.seats[i] } : { flight: l.flight }));
}

function renderCart() {
  const it = state.chosen;
  $("cart").hidden = !it;
  if (!it) return;
  $("cart-items").replaceChildren(...it.legs.map((l, i) =>
    el("li", { id: "cart-leg-" + i },
      el("span", { class: "leg " + classOf(l.airline) }, l.flight),
      ` ${l.origin} → ${l.destination} · seat ${state.seats[i] || "any"} · ${money(l.fare_cents)}`)));
  $("cart-total").textContent = "Total " + money(it.price_cents);
  $("release-btn").disabled = !state.hold;
}

let countdownTimer = null;
function tickCountdown() {
  if (!state.hold) { $("hold-countdown").textContent = "—"; return; }
  const left = state.hold.expires - Date.now();
  if (left <= 0) {
    state.hold = null;
    $("hold-countdown").textContent = "expired";
    say("cart-msg", "The hold expired; hold the seats again or buy directly.", "error");
    renderCart();
    return;
  }
  const s = Math.ceil(left / 1000);
  $("hold-countdown").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function holdSeats() {
  if (!state.chosen) return;
  if (!state.loggedIn) { say("cart-msg", "Log in first.", "error"); return; }
  try {
    const h = await api("POST", "/api/holds", { legs: legsBody() });
    // The countdown runs on this browser's clock: the server tells how long is left.
    state.hold = { hold_id: h.hold_id, expires: Date.now() + h.expires_in_ms };
    h.seats.forEach((s, i) => { if (i < state.seats.length) state.seats[i] = s.seat; });
    say("cart-msg", `Seats ${h.seats.map((s) => s.seat).join(", ")} are yours for a few minutes.`, "ok");
    clearInterval(countdownTimer);
    countdownTimer = setInterval(tickCountdown, 500);
    tickCountdown();
    renderCart();
    await loadSeatMaps();
  } catch (e) {
    say("cart-msg", e.message, "error");
  }
}

async function releaseHold(quiet) {
  if (!state.hold) return;
  try { await api("DELETE", "/api/holds/" + encodeURIComponent(state.hold.hold_id)); } catch (_) { /* lapsed */ }
  state.hold = null;
  clearInterval(countdownTimer);
  tickCountdown();
  if (!quiet) { say("cart-msg", "Cart emptied."); await loadSeatMaps(); }
  renderCart();
}

async function checkout() {
  if (!state.chosen) return;
  if (!state.loggedIn) { say("cart-msg", "Log in first.", "error"); return; }
  const passenger = $("passenger").value.trim();
  if (!passenger) { say("cart-msg", "Enter the passenger's name.", "error"); return; }
  // One key per checkout: pressing Buy again after an error or a timeout cannot buy twice.
  state.purchaseKey = state.purchaseKey || randomKey();
  const body = { passenger, legs: legsBody() };
  if (state.hold) body.hold_id = state.hold.hold_id;
  $("checkout-btn").disabled = true;
  say("cart-msg", "Buying…");
  try {
    const t = await api("POST", "/api/purchases", body, { "Idempotency-Key": state.purchaseKey });
    state.hold = null;
    state.purchaseKey = null;
    clearInterval(countdownTimer);
    tickCountdown();
    say("cart-msg", `Bought! Ticket ${t.id}, seats ${t.legs.map((l) => l.seat).join(", ")}, ${money(t.price_cents)}.`, "ok");
    $("cart-msg").dataset.ticket = t.id;
    await loadSeatMaps();
  } catch (e) {
    const retry = e.retryAfter ? ` (retry in ${e.retryAfter} s)` : "";
    say("cart-msg", e.message + retry, "error");
  } finally {
    $("checkout-btn").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// My tickets

async function loadTickets() {
  if (!state.loggedIn) { say("tickets-msg", "Log in to see your tickets.", "error"); $("ticket-list").replaceChildren(); return; }
  try {
    const list = await api("GET", "/api/tickets");
    say("tickets-msg", list.length ? "" : "No tickets yet.");
    $("ticket-list").replaceChildren(...list.map(ticketItem));
  } catch (e) {
    if (e.status === 401) setLoggedIn(null);
    say("tickets-msg", e.message, "error");
  }
}

function ticketItem(t) {
  const legs = el("div", { class: "legs" }, ...t.legs.map((l) =>
    el("span", { class: "leg " + classOf(l.airline) },
      `${l.flight} ${l.origin || ""}→${l.destination || ""} ${(l.departure_utc || "").replace("T", " ")} seat ${l.seat}`)));
  const li = el("li", { class: "ticket " + t.status, id: "ticket-" + t.id },
    el("strong", {}, `${t.id} · ${t.passenger} · ${money(t.price_cents)} · ${t.status}`),
    el("span", { class: "hint" }, ` sold by ${t.seller}`), legs);
  if (t.status === "live") {
    li.append(el("button", { type: "button", class: "secondary", id: "cancel-" + t.id, onclick: () => cancelTicket(t.id) }, "Cancel"));
  }
  return li;
}

async function cancelTicket(id) {
  if (!confirm(`Cancel ticket ${id}?`)) return;
  try {
    await api("DELETE", "/api/tickets/" + encodeURIComponent(id));
    say("tickets-msg", `Ticket ${id} cancelled.`, "ok");
  } catch (e) {
    say("tickets-msg", e.message, "error");
  }
  await loadTickets();
}

// ---------------------------------------------------------------------------------------
// Operator

function adminHeaders() { return { Authorization: "Bearer " + state.adminToken }; }

async function connectOperator(ev) {
  if (ev) { ev.preventDefault(); state.adminToken = $("admin-token").value.trim(); }
  try {
    await refreshStatus();
    sessionStorage.setItem("passcom-admin", state.adminToken);
    say("admin-msg", "Connected.", "ok");
    $("op-panels").hidden = false;
    streamEvents();
  } catch (e) {
    say("admin-msg", e.message, "error");
    $("op-panels").hidden = true;
  }
}

async function refreshStatus() {
  const s = await api("GET", "/admin/status?flights=25", undefined, adminHeaders());
  $("op-peer-id").textContent = s.peer_id;
  $("op-partitioned").textContent = s.cut_off_from_all ? "everyone" : (s.partitioned.join(", ") || "none");
  $("op-peers").tBodies[0].replaceChildren(...s.connected.map((p) => el("tr", {},
    el("td", {}, p.airline || "(subscriber)"), el("td", {}, el("code", {}, p.peer_id)),
    el("td", {}, p.airline ? el("button", { type: "button", class: "secondary", onclick: () => cut("partition", [p.airline]) }, "Partition") : ""))));
  for (const a of s.partitioned) {
    $("op-peers").tBodies[0].append(el("tr", {}, el("td", {}, a), el("td", {}, "partitioned"),
      el("td", {}, el("button", { type: "button", class: "secondary", onclick: () => cut("heal", [a]) }, "Heal"))));
  }
  $("op-clock").tBodies[0].replaceChildren(...Object.entries(s.clock).map(([o, n]) => el("tr", {}, el("td", {}, o), el("td", {}, String(n)))));
  $("op-pools").tBodies[0].replaceChildren(...s.pools.map((p) => el("tr", {},
    el("td", {}, el("span", { class: "leg " + classOf(p.airline) }, p.flight)), el("td", {}, `${p.origin}→${p.destination}`),
    el("td", {}, p.departure_utc.replace("T", " ")),
    ...["here", "partners", "moving", "held", "sold"].map((k) => el("td", {}, String(p.seats[k]))))));
  $("op-handovers").textContent = s.handovers.length
    ? s.handovers.map((h) => `${h.flight}/${h.seat} → ${h.to}`).join(", ") : "none";
}

async function cut(action, peers) {
  try {
    await api("POST", "/admin/" + action, { peers }, adminHeaders());
    await refreshStatus();
  } catch (e) {
    say("admin-msg", e.message, "error");
  }
}

// Server-Sent Events read with fetch, because EventSource cannot send the bearer token.
async function streamEvents() {
  if (state.events) state.events.abort();
  const ctl = new AbortController();
  state.events = ctl;
  const out = $("op-events");
  const add = (line) => {
    out.textContent = line + "\n" + out.textContent.split("\n").slice(0, 200).join("\n");
  };
  try {
    const r = await fetch("/admin/events", { headers: adminHeaders(), signal: ctl.signal });
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "", kind = "message";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) {
          add(`${new Date().toLocaleTimeString()} ${kind} ${line.slice(5).trim()}`);
          if (kind !== "hello") refreshStatus().catch(() => {});
        } else if (line === "") kind = "message";
      }
    }
  } catch (_) { /* aborted or dropped: the operator reconnects */ }
}

// ---------------------------------------------------------------------------------------
// Start

async function start() {
  $("search-form").addEventListener("submit", search);
  $("login-form").addEventListener("submit", login);
  $("signup-btn").addEventListener("click", signup);
  $("logout-btn").addEventListener("click", logout);
  $("hold-btn").addEventListener("click", holdSeats);
  $("release-btn").addEventListener("click", () => releaseHold(false));
  $("checkout-btn").addEventListener("click", checkout);
  $("admin-form").addEventListener("submit", connectOperator);
  $("admin-token").value = state.adminToken;
  window.addEventListener("hashchange", route);

  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  $("date").value = tomorrow;
  try {
    state.info = await api("GET", "/api/info");
    document.documentElement.style.setProperty("--brand", state.info.color);
    $("airline-name").textContent = state.info.airline;
    document.title = state.info.airline + " · Passcom";
    document.body.dataset.airline = state.info.airline;
  } catch (e) { say("results-msg", "This peer does not answer: " + e.message, "error"); }

  state.airports = await api("GET", "/api/airports");
  for (const a of state.airports) state.byCode[a.iata] = a;
  for (const id of ["from", "to"]) {
    $(id).replaceChildren(...state.airports.map((a) => el("option", { value: a.iata }, `${a.iata} · ${a.city}`)));
  }
  $("from").value = "POA";
  $("to").value = "MAO";

  // The session cookie is HttpOnly: ask the API whether it is still valid.
  const name = localStorage.getItem("passcom-name");
  try { await api("GET", "/api/tickets"); setLoggedIn(name || "you"); } catch (_) { setLoggedIn(null); }
  await drawMap();
  document.body.dataset.ready = "yes";
}

document.addEventListener("DOMContentLoaded", start);
