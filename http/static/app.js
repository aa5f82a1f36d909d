// Passcom web page: plain JS, no build step, no third-party code. Talks only to this peer.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { rumos: "#c62828", giro: "#2e7d32", boreal: "#1565c0" };
const colorOf = (airline) => COLORS[airline] || "#6d4c41";
const classOf = (airline) => "airline-" + (COLORS[airline] ? airline : "other");

// ---------------------------------------------------------------------------------------
// Languages: Brazilian Portuguese and English. The first visit follows the browser's
// languages; a choice made with the selector is remembered in localStorage.

const LANGS = ["pt-BR", "en"];

const TEXT = {
  en: {
    skip: "Skip to the search", tagline: "on the Passcom network", nav: "Main",
    nav_search: "Search", nav_tickets: "My tickets", nav_operator: "Operator",
    logout: "Log out", language: "Language", hello: "Hello, {name}",
    login_title: "Sign in to buy", name: "Name", password: "Password", login: "Log in",
    signup: "Create account",
    account_rules: "The name needs 3 to 32 characters among a-z, 0-9, '.', '_' and '-'; the password 8 to 128 characters.",
    from: "From", to: "To", date: "Date (at departure)", legs: "Flights at most", sort: "Sort by",
    sort_price: "price", sort_duration: "duration", sort_legs: "fewest flights", search: "Search",
    itineraries: "Itineraries", results_hint: "Choose where and when, then search.",
    local_note: "Times are local at each airport.", map: "Map of Brazil's capitals",
    searching: "Searching…",
    found: (v) => `${v.n} ${v.n === 1 ? "itinerary" : "itineraries"} ${v.from} → ${v.to} on ${v.date}`,
    none_found: (v) => `No itinerary ${v.from} → ${v.to} on ${v.date}; try another date or more flights.`,
    n_flights: (v) => `${v.n} ${v.n === 1 ? "flight" : "flights"}`,
    seats_left: (v) => `${v.n} ${v.n === 1 ? "seat" : "seats"} left`,
    itinerary_name: (v) => `${v.from} to ${v.to}, departs ${v.dep}, arrives ${v.arr}, ${v.legs}, ${v.airlines}, ${v.price}, ${v.left}`,
    seats: "Seats",
    seats_hint: "Pick one seat per flight, or none for any seat. In a seat map, the arrow keys move between seats; Enter or Space picks one.",
    legend: "What the seat colours mean",
    st_here: "available", st_mine: "in your cart", st_sold: "taken", st_blocked: "not sellable here right now",
    window: "window", aisle: "aisle", middle: "middle",
    seatmap_name: (v) => `Seats of flight ${v.flight}, ${v.from} to ${v.to}`,
    available_n: (v) => `${v.n} available`,
    seat_unavailable: (v) => `Seat ${v.seat} is ${v.state}; pick another.`,
    cart: "Cart", seat: "seat", any_seat: "any", total: "Total {price}",
    held_for: "Seats kept for you:", hold: "Keep these seats for 5 minutes", release: "Empty cart",
    save: "Save to wishlist", passenger: "Passenger", full_name: "Full name", buy: "Buy",
    expired: "expired", hold_expired: "The 5 minutes are over; keep the seats again or buy directly.",
    login_first: "Log in first (above).", held: (v) => `Seats ${v.seats} are yours for 5 minutes.`,
    emptied: "Cart emptied.", need_passenger: "Enter the passenger's name.", buying: "Buying…",
    bought: (v) => `Bought! Ticket ${v.id}, seats ${v.seats}, ${v.price}.`,
    retry_in: (v) => ` (try again in ${v.s} s)`,
    take_nearest: (v) => `Take seat ${v.seat} instead`,
    no_tickets: "No tickets yet.", tickets_login: "Log in to see your tickets.",
    sold_by: "sold by {seller}", live: "valid", cancelled: "cancelled", cancel: "Cancel",
    cancel_ask: "Cancel ticket {id}?", cancelled_ok: "Ticket {id} cancelled.",
    wishlist: "Wishlist", wish_empty: "Nothing saved yet: choose an itinerary and press “Save to wishlist”.",
    wish_login: "Log in to see your wishlist.", saved: "Saved to your wishlist.",
    wish_open: "Choose this trip", wish_remove: "Remove", wish_gone: "no longer on sale",
    op_token: "Operator token", op_token_ph: "contents of operator.token", op_connect: "Connect",
    op_connected: "Connected.", op_peers: "Peers", op_peer_id: "Peer id", op_airline: "airline",
    op_partition_all: "Partition from all", op_heal_all: "Heal all", op_partitioned: "Partitioned from:",
    op_clock: "Vector clock", op_origin: "origin", op_events_n: "events", op_handovers: "Pending hand-overs",
    op_pools: "Escrow pools (next flights)", op_flight: "flight", op_route: "route", op_departs: "departs (UTC)",
    op_live: "Live events", op_none: "none", op_everyone: "everyone", op_partition: "Partition", op_heal: "Heal",
    unreachable_peer: "This peer does not answer: {msg}",
  },
  "pt-BR": {
    skip: "Ir para a busca", tagline: "na rede Passcom", nav: "Principal",
    nav_search: "Buscar", nav_tickets: "Minhas passagens", nav_operator: "Operador",
    logout: "Sair", language: "Idioma", hello: "Olá, {name}",
    login_title: "Entre para comprar", name: "Nome", password: "Senha", login: "Entrar",
    signup: "Criar conta",
    account_rules: "O nome precisa de 3 a 32 caracteres entre a-z, 0-9, '.', '_' e '-'; a senha, de 8 a 128 caracteres.",
    from: "De", to: "Para", date: "Data (na partida)", legs: "Voos no máximo", sort: "Ordenar por",
    sort_price: "preço", sort_duration: "duração", sort_legs: "menos voos", search: "Buscar",
    itineraries: "Itinerários", results_hint: "Escolha origem, destino e data, e busque.",
    local_note: "Horários locais de cada aeroporto.", map: "Mapa das capitais do Brasil",
    searching: "Buscando…",
    found: (v) => `${v.n} ${v.n === 1 ? "itinerário" : "itinerários"} ${v.from} → ${v.to} em ${v.date}`,
    none_found: (v) => `Nenhum itinerário ${v.from} → ${v.to} em ${v.date}; tente outra data ou mais voos.`,
    n_flights: (v) => `${v.n} ${v.n === 1 ? "voo" : "voos"}`,
    seats_left: (v) => `${v.n} ${v.n === 1 ? "assento livre" : "assentos livres"}`,
    itinerary_name: (v) => `${v.from} para ${v.to}, parte ${v.dep}, chega ${v.arr}, ${v.legs}, ${v.airlines}, ${v.price}, ${v.left}`,
    seats: "Assentos",
    seats_hint: "Escolha um assento por voo, ou nenhum para qualquer assento. No mapa de assentos, as setas mudam de assento; Enter ou Espaço escolhe.",
    legend: "O que as cores dos assentos indicam",
    st_here: "disponível", st_mine: "no seu carrinho", st_sold: "ocupado", st_blocked: "indisponível aqui agora",
    window: "janela", aisle: "corredor", middle: "meio",
    seatmap_name: (v) => `Assentos do voo ${v.flight}, ${v.from} para ${v.to}`,
    available_n: (v) => `${v.n} ${v.n === 1 ? "disponível" : "disponíveis"}`,
    seat_unavailable: (v) => `O assento ${v.seat} está ${v.state}; escolha outro.`,
    cart: "Carrinho", seat: "assento", any_seat: "qualquer", total: "Total {price}",
    held_for: "Assentos reservados para você:", hold: "Reservar estes assentos por 5 minutos", release: "Esvaziar carrinho",
    save: "Salvar na lista de desejos", passenger: "Passageiro", full_name: "Nome completo", buy: "Comprar",
    expired: "expirou", hold_expired: "Os 5 minutos acabaram; reserve de novo ou compre direto.",
    login_first: "Entre na sua conta primeiro (acima).", held: (v) => `Os assentos ${v.seats} são seus por 5 minutos.`,
    emptied: "Carrinho esvaziado.", need_passenger: "Informe o nome do passageiro.", buying: "Comprando…",
    bought: (v) => `Compra feita! Passagem ${v.id}, assentos ${v.seats}, ${v.price}.`,
    retry_in: (v) => ` (tente de novo em ${v.s} s)`,
    take_nearest: (v) => `Ficar com o assento ${v.seat}`,
    no_tickets: "Nenhuma passagem ainda.", tickets_login: "Entre para ver suas passagens.",
    sold_by: "vendida por {seller}", live: "válida", cancelled: "cancelada", cancel: "Cancelar",
    cancel_ask: "Cancelar a passagem {id}?", cancelled_ok: "Passagem {id} cancelada.",
    wishlist: "Lista de desejos", wish_empty: "Nada salvo ainda: escolha um itinerário e clique em “Salvar na lista de desejos”.",
    wish_login: "Entre para ver sua lista de desejos.", saved: "Salvo na sua lista de desejos.",
    wish_open: "Escolher esta viagem", wish_remove: "Remover", wish_gone: "não está mais à venda",
    op_token: "Token do operador", op_token_ph: "conteúdo de operator.token", op_connect: "Conectar",
    op_connected: "Conectado.", op_peers: "Pares", op_peer_id: "Id do par", op_airline: "companhia",
    op_partition_all: "Isolar de todos", op_heal_all: "Reconectar todos", op_partitioned: "Isolado de:",
    op_clock: "Relógio vetorial", op_origin: "origem", op_events_n: "eventos", op_handovers: "Transferências pendentes",
    op_pools: "Cotas de assentos (próximos voos)", op_flight: "voo", op_route: "rota", op_departs: "partida (UTC)",
    op_live: "Eventos ao vivo", op_none: "nenhum", op_everyone: "todos", op_partition: "Isolar", op_heal: "Reconectar",
    unreachable_peer: "Este par não responde: {msg}",
  },
};

// Refusals in travelers' words, by the API's stable `reason` code (pt-BR only: the API's
// own English details already say what to do).
const REASONS_PT = {
  sold_out: "Esse voo está lotado; escolha outro itinerário.",
  seat_taken: "Esse assento acabou de ser vendido ou está no carrinho de outra pessoa; escolha outro.",
  holder_unreachable: "A companhia que tem esse assento não responde agora; tente de novo em instantes.",
  timeout: "A companhia não respondeu a tempo; tente de novo (você não será cobrado duas vezes).",
  departed: "Esse voo já partiu.",
  flight_cancelled: "Esse voo foi cancelado.",
  unknown_flight: "Esse voo não existe mais; busque de novo.",
  unknown_hold: "A reserva de 5 minutos acabou; reserve de novo ou compre direto.",
  already_cancelled: "Essa passagem já estava cancelada.",
  not_seller: "Só a companhia que vendeu esta passagem pode cancelá-la.",
  recovering: "A companhia está se recuperando de uma falha; tente de novo em instantes.",
  halted: "As vendas estão suspensas nesta companhia; tente mais tarde.",
};
const STATUS_PT = {
  401: "Nome ou senha incorretos, ou a sessão expirou; entre de novo.",
  409: "Esse nome já está em uso; escolha outro.",
  429: "Muitas tentativas; aguarde um pouco.",
};

function pickLanguage() {
  const saved = localStorage.getItem("passcom-lang");
  if (LANGS.includes(saved)) return saved;
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  for (const l of wanted) {
    const low = String(l).toLowerCase();
    if (low.startsWith("pt")) return "pt-BR";
    if (low.startsWith("en")) return "en";
  }
  return "en";
}

let lang = pickLanguage();

function t(key, vars) {
  const v = TEXT[lang][key] !== undefined ? TEXT[lang][key] : TEXT.en[key];
  if (typeof v === "function") return v(vars || {});
  if (v === undefined) return key;
  return v.replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] !== undefined ? vars[k] : ""));
}

// What a refusal means to a traveler, in the page's language.
function problemText(e) {
  if (lang === "pt-BR") {
    if (e.reason && REASONS_PT[e.reason]) return REASONS_PT[e.reason];
    if (STATUS_PT[e.status]) return STATUS_PT[e.status];
  }
  return e.message;
}

// Prices are in reais; the format follows the page's language (R$ 1.234,56 or R$1,234.56).
const money = (cents) => new Intl.NumberFormat(lang, { style: "currency", currency: "BRL" }).format(cents / 100);

// A local time from the API, "2026-12-01T07:00-04:00": the wall clock at the airport and
// its UTC offset. Formatting goes through a UTC Date of that wall clock, so the page shows
// what the peer computed (with its own tz database) whatever the browser's zone.
function local(iso) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(Z|[+-]\d\d:\d\d)?/.exec(iso || "");
  if (!m) return null;
  const wall = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]));
  return { wall, day: iso.slice(0, 10), offset: m[6] === "Z" || !m[6] ? "+00:00" : m[6] };
}
const timeOf = (iso) => {
  const l = local(iso);
  return l ? new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", timeZone: "UTC" }).format(l.wall) : "";
};
const dateOf = (iso) => {
  const l = local(iso);
  return l ? new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" }).format(l.wall) : "";
};
// "UTC−4" for "-04:00"; "UTC" for "+00:00".
const offsetOf = (iso) => {
  const l = local(iso);
  if (!l || l.offset === "+00:00") return "UTC";
  const [h, mm] = l.offset.slice(1).split(":");
  return "UTC" + (l.offset[0] === "-" ? "−" : "+") + String(+h) + (mm !== "00" ? ":" + mm : "");
};
// Days between two local dates ("+1" on an arrival the next day).
const dayShift = (fromIso, toIso) => Math.round((Date.parse(toIso.slice(0, 10)) - Date.parse(fromIso.slice(0, 10))) / 86400000);
const dateLong = (ymd) => new Intl.DateTimeFormat(lang, { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" })
  .format(new Date(ymd + "T00:00:00Z"));
const dur = (ms) => Math.floor(ms / 3600000) + "h" + String(Math.round((ms % 3600000) / 60000)).padStart(2, "0");

const state = {
  info: null,
  airports: [],
  byCode: {},
  lastSearch: null,    // the last /api/routes answer
  itineraries: [],
  chosen: null,        // the selected itinerary
  seatMaps: [],        // the seat maps of the chosen itinerary's legs
  seats: [],           // chosen seat label per leg (or null)
  hold: null,          // { hold_id, expires }
  purchaseKey: null,   // idempotency key of the current checkout, reused on retry
  me: null,            // the logged-in traveler, from /api/me
  adminToken: sessionStorage.getItem("passcom-admin") || "",
  events: null,        // AbortController of the live stream
  status: null,        // the last /admin/status
  tickets: null,
  wishes: null,
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
// problem's detail (what to fix) and whose `status`/`reason`/`retryAfter` come from it.
async function api(method, path, body, headers) {
  const opts = { method, headers: Object.assign({}, headers || {}), credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.detail) || r.statusText);
    err.status = r.status;
    err.reason = data && data.reason;
    err.retryAfter = r.headers.get("Retry-After");
    err.nearest = (data && data.nearest) || [];
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
// Language switch

function applyLanguage() {
  document.documentElement.lang = lang;
  $("lang").value = lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of document.querySelectorAll("[data-i18n-aria-label]")) e.setAttribute("aria-label", t(e.dataset.i18nAriaLabel));
  showWho();
  renderResults();
  renderSeatMaps();
  renderCart();
  renderTickets();
  renderWishes();
  if (state.status) renderStatus(state.status);
}

function setLanguage(l) {
  lang = LANGS.includes(l) ? l : "en";
  localStorage.setItem("passcom-lang", lang);
  applyLanguage();
}

// ---------------------------------------------------------------------------------------
// Views and session

function show(view) {
  for (const v of ["search", "tickets", "operator"]) {
    $("view-" + v).hidden = v !== view;
    const a = $("nav-" + v);
    a.classList.toggle("active", v === view);
    if (v === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  $("login-panel").hidden = !!state.me || view === "operator";
  if (view === "tickets") { loadTickets(); loadWishes(); }
  if (view === "operator" && state.adminToken) connectOperator();
}

function route() {
  const v = (location.hash || "#search").slice(1);
  show(["search", "tickets", "operator"].includes(v) ? v : "search");
}

function showWho() {
  $("whoami").textContent = state.me ? t("hello", { name: state.me.name }) : "";
  $("logout-btn").hidden = !state.me;
}

function setMe(me) {
  state.me = me;
  showWho();
  route();
}

function credentials() {
  return { name: $("login-name").value.trim(), password: $("login-password").value };
}

async function login(ev) {
  ev.preventDefault();
  try {
    await api("POST", "/api/sessions", credentials());
    say("login-msg", "");
    setMe(await api("GET", "/api/me"));
  } catch (e) {
    say("login-msg", problemText(e), "error");
  }
}

async function signup() {
  try {
    await api("POST", "/api/accounts", credentials());
    await api("POST", "/api/sessions", credentials());
    say("login-msg", "");
    setMe(await api("GET", "/api/me"));
  } catch (e) {
    say("login-msg", e.status === 422 ? t("account_rules") : problemText(e), "error");
  }
}

async function logout() {
  try { await api("DELETE", "/api/sessions"); } catch (_) { /* already gone */ }
  state.tickets = null;
  state.wishes = null;
  setMe(null);
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
  drawItinerary(state.chosen);
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
// Search and itineraries

const cityOf = (code) => (state.byCode[code] ? state.byCode[code].city : code);

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({
    from: $("from").value, to: $("to").value, date: $("date").value,
    max_legs: $("max-legs").value, sort: $("sort").value, limit: "30",
  });
  say("results-msg", t("searching"));
  $("itineraries").replaceChildren();
  try {
    state.lastSearch = await api("GET", "/api/routes?" + q);
    state.itineraries = state.lastSearch.itineraries;
    renderResults();
  } catch (e) {
    state.lastSearch = null;
    say("results-msg", problemText(e), "error");
  }
}

function renderResults() {
  const r = state.lastSearch;
  if (!r) return;
  const v = { n: r.itineraries.length, from: cityOf(r.from), to: cityOf(r.to), date: dateLong(r.date) };
  say("results-msg", r.itineraries.length ? t("found", v) : t("none_found", v));
  $("itineraries").replaceChildren(...r.itineraries.map((it, i) => itineraryItem(it, i)));
}

// "07:00" then, for an arrival on a later local day, "+1".
function arrivalText(depIso, arrIso) {
  const shift = dayShift(depIso, arrIso);
  return timeOf(arrIso) + (shift > 0 ? ` +${shift}` : "");
}

function itineraryItem(it, i) {
  const first = it.legs[0], last = it.legs[it.legs.length - 1];
  const legs = el("span", { class: "legs" }, ...it.legs.map((l) =>
    el("span", { class: "leg " + classOf(l.airline) },
      `${l.flight.split("-")[0]} ${l.origin} ${timeOf(l.departure_local)} → ${l.destination} ${arrivalText(l.departure_local, l.arrival_local)}`)));
  const left = t("seats_left", { n: it.seats_available });
  const name = t("itinerary_name", {
    from: cityOf(first.origin), to: cityOf(last.destination),
    dep: `${dateOf(it.departure_local)} ${timeOf(it.departure_local)}`,
    arr: `${dateOf(it.arrival_local)} ${timeOf(it.arrival_local)}`,
    legs: t("n_flights", { n: it.legs.length }), airlines: it.airlines.join(" + "),
    price: money(it.price_cents), left,
  });
  const chosen = state.chosen && sameTrip(state.chosen, it);
  const b = el("button", {
    type: "button", class: "itinerary", id: "itinerary-" + i, "data-airlines": it.airlines.join(","),
    "aria-pressed": chosen ? "true" : "false", "aria-label": name, onclick: () => choose(i),
  },
  el("span", { class: "head" },
    el("span", {}, `${timeOf(it.departure_local)} ${first.origin} → ${arrivalText(it.departure_local, it.arrival_local)} ${last.destination} · ${t("n_flights", { n: it.legs.length })} · ${dur(it.duration_ms)}`),
    el("span", { class: "price" }, money(it.price_cents))),
  legs,
  el("span", { class: "seats-left" }, `${it.airlines.join(" + ")} · ${left}`));
  return el("li", {}, b);
}

const sameTrip = (a, b) => a.legs.map((l) => l.flight).join() === b.legs.map((l) => l.flight).join();

async function choose(i) {
  await chooseItinerary(state.itineraries[i]);
}

async function chooseItinerary(it) {
  document.querySelectorAll(".itinerary").forEach((e) =>
    e.setAttribute("aria-pressed", state.itineraries[+e.id.split("-")[1]] === it ? "true" : "false"));
  if (state.hold) await releaseHold(true);
  state.chosen = it;
  state.seats = it.legs.map(() => null);
  state.purchaseKey = null;
  say("cart-msg", "");
  drawItinerary(it);
  await loadSeatMaps();
  renderCart();
  // Keyboard and screen-reader users land on the seats, the next step.
  $("seat-title").focus();
}

// ---------------------------------------------------------------------------------------
// Seat maps: one grid of real buttons per flight. One seat of each map is in the tab order
// (roving tabindex); the arrow keys, Home and End move within the map.

async function loadSeatMaps() {
  const it = state.chosen;
  state.seatMaps = [];
  $("seat-section").hidden = !it;
  if (!it) { renderSeatMaps(); return; }
  const maps = await Promise.all(it.legs.map((leg) =>
    api("GET", `/api/flights/${encodeURIComponent(leg.flight)}/seats`).catch((e) => ({ error: problemText(e) }))));
  if (state.chosen !== it) return;
  state.seatMaps = maps;
  renderSeatMaps();
}

function renderSeatMaps() {
  const box = $("seatmaps");
  const focused = document.activeElement && document.activeElement.classList.contains("seat") ? document.activeElement.id : null;
  box.replaceChildren(...state.seatMaps.map((m, i) => (m.error ? el("p", { class: "msg error" }, m.error) : seatMap(m, i))));
  if (focused && $(focused)) $(focused).focus();
}

// Window, middle or aisle, for a single-aisle cabin whose aisle splits the letters in two.
function position(letters, letter) {
  const n = letters.length, i = letters.indexOf(letter), half = Math.floor(n / 2);
  if (i === 0 || i === n - 1) return "window";
  if (i === half - 1 || i === half) return "aisle";
  return "middle";
}

// What a traveler can do with a seat: take it, it is theirs, it is gone, or it cannot be
// sold from here at the moment (moving between airlines, or in someone else's cart).
function seatState(s, legIndex) {
  if (state.seats[legIndex] === s.seat) return "mine";
  if (s.status === "here" || s.status === "partner") return "here";
  if (s.status === "sold") return "sold";
  return "blocked";
}

function seatMap(m, legIndex) {
  const letters = m.letters;
  const half = Math.floor(letters.length / 2);
  const f = m.flight;
  const cabin = el("div", {
    class: "cabin", id: "seatmap-" + legIndex, role: "group",
    "aria-label": t("seatmap_name", { flight: f.flight, from: cityOf(f.origin), to: cityOf(f.destination) }),
  });
  // Row numbers, seats, and a gap for the aisle.
  const cols = ["24px"];
  for (let c = 0; c < letters.length; c++) { if (c === half && letters.length > 2) cols.push("10px"); cols.push("34px"); }
  cabin.style.gridTemplateColumns = cols.join(" ");
  const header = [el("span", { "aria-hidden": "true" })];
  for (let c = 0; c < letters.length; c++) {
    if (c === half && letters.length > 2) header.push(el("span", { "aria-hidden": "true" }));
    header.push(el("span", { class: "col-letter", "aria-hidden": "true" }, letters[c]));
  }
  cabin.append(...header);
  let focusable = null;
  for (const s of m.seats) {
    const letter = s.seat.slice(-1), row = s.seat.slice(0, -1);
    const col = letters.indexOf(letter);
    if (col === 0) cabin.append(el("span", { class: "row-no", "aria-hidden": "true" }, row));
    if (col === half && letters.length > 2) cabin.append(el("span", { "aria-hidden": "true" }));
    const st = seatState(s, legIndex);
    const pickable = st === "here" || st === "mine";
    const stText = t("st_" + st);
    const b = el("button", {
      type: "button", class: "seat " + st, id: `seat-${legIndex}-${s.seat}`, "data-seat": s.seat, "data-status": s.status,
      "aria-label": `${s.seat}, ${t(position(letters, letter))}, ${stText}`, title: `${s.seat}: ${stText}`,
      tabindex: "-1",
    }, st === "sold" ? "✕" : st === "mine" ? "✓" + s.seat : s.seat);
    if (st === "mine") b.setAttribute("aria-pressed", "true");
    else if (pickable) b.setAttribute("aria-pressed", "false");
    else b.setAttribute("aria-disabled", "true");
    b.addEventListener("click", () => (pickable
      ? pickSeat(legIndex, s.seat)
      : say("cart-msg", t("seat_unavailable", { seat: s.seat, state: stText }), "error")));
    if (st === "mine" || (!focusable && st === "here")) focusable = focusable && focusable.classList.contains("mine") ? focusable : b;
    cabin.append(b);
  }
  (focusable || cabin.querySelector(".seat")).setAttribute("tabindex", "0");
  cabin.addEventListener("keydown", (ev) => seatKeys(ev, cabin, letters.length));
  const dep = f.departure_local, arr = f.arrival_local;
  return el("div", { class: "seatmap" },
    el("h3", {}, el("span", { class: "leg " + classOf(f.airline) }, f.flight), ` ${cityOf(f.origin)} → ${cityOf(f.destination)} `,
      el("span", { class: "when" },
        `${dateOf(dep)} ${timeOf(dep)} (${offsetOf(dep)}) → ${arrivalText(dep, arr)} (${offsetOf(arr)}) · ${t("available_n", { n: f.seats.here + f.seats.partners })}`)),
    cabin);
}

function seatKeys(ev, cabin, perRow) {
  const seats = [...cabin.querySelectorAll(".seat")];
  const i = seats.indexOf(document.activeElement);
  if (i < 0) return;
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow, Home: -(i % perRow), End: perRow - 1 - (i % perRow) };
  if (!(ev.key in moves)) return;
  ev.preventDefault();
  const j = Math.max(0, Math.min(seats.length - 1, i + moves[ev.key]));
  seats[i].setAttribute("tabindex", "-1");
  seats[j].setAttribute("tabindex", "0");
  seats[j].focus();
}

async function pickSeat(legIndex, label) {
  if (state.hold) await releaseHold(true);
  state.seats[legIndex] = state.seats[legIndex] === label ? null : label;
  state.purchaseKey = null;
  renderSeatMaps();
  const b = $(`seat-${legIndex}-${label}`);
  if (b) b.focus();
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
      ` ${l.origin} ${dateOf(l.departure_local)} ${timeOf(l.departure_local)} → ${l.destination} ${arrivalText(l.departure_local, l.arrival_local)} · ${t("seat")} ${state.seats[i] || t("any_seat")} · ${money(l.fare_cents)}`)));
  $("cart-total").textContent = t("total", { price: money(it.price_cents) });
  $("release-btn").disabled = !state.hold;
  tickCountdown();
}

let countdownTimer = null;
function tickCountdown() {
  if (!state.hold) { if ($("hold-countdown").textContent !== t("expired")) $("hold-countdown").textContent = "—"; return; }
  const left = state.hold.expires - Date.now();
  if (left <= 0) {
    state.hold = null;
    $("hold-countdown").textContent = t("expired");
    say("cart-msg", t("hold_expired"), "error");
    renderCart();
    return;
  }
  const s = Math.ceil(left / 1000);
  $("hold-countdown").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function holdSeats() {
  if (!state.chosen) return;
  if (!state.me) { say("cart-msg", t("login_first"), "error"); return; }
  try {
    const h = await api("POST", "/api/holds", { legs: legsBody() });
    // The countdown runs on this browser's clock: the server tells how long is left.
    state.hold = { hold_id: h.hold_id, expires: Date.now() + h.expires_in_ms };
    h.seats.forEach((s, i) => { if (i < state.seats.length) state.seats[i] = s.seat; });
    say("cart-msg", t("held", { seats: h.seats.map((s) => s.seat).join(", ") }), "ok");
    clearInterval(countdownTimer);
    countdownTimer = setInterval(tickCountdown, 500);
    renderCart();
    await loadSeatMaps();
  } catch (e) {
    say("cart-msg", problemText(e), "error");
  }
}

async function releaseHold(quiet) {
  if (!state.hold) return;
  try { await api("DELETE", "/api/holds/" + encodeURIComponent(state.hold.hold_id)); } catch (_) { /* lapsed */ }
  state.hold = null;
  clearInterval(countdownTimer);
  if (!quiet) { say("cart-msg", t("emptied")); await loadSeatMaps(); }
  renderCart();
}

// `fallback`: the traveler accepted the nearest seat this peer sells instead of a chosen seat
// whose airline does not answer (the same purchase key: the refusal was not kept).
async function checkout(fallback) {
  if (!state.chosen) return;
  if (!state.me) { say("cart-msg", t("login_first"), "error"); return; }
  const passenger = $("passenger").value.trim();
  if (!passenger) { say("cart-msg", t("need_passenger"), "error"); $("passenger").focus(); return; }
  // One key per checkout: pressing Buy again after an error or a timeout cannot buy twice.
  state.purchaseKey = state.purchaseKey || randomKey();
  const body = { passenger, legs: legsBody() };
  if (state.hold) body.hold_id = state.hold.hold_id;
  if (fallback === true) body.seat_fallback = "nearest";
  $("checkout-btn").disabled = true;
  say("cart-msg", t("buying"));
  try {
    const tk = await api("POST", "/api/purchases", body, { "Idempotency-Key": state.purchaseKey });
    state.hold = null;
    state.purchaseKey = null;
    clearInterval(countdownTimer);
    state.seats = tk.legs.map(() => null);
    say("cart-msg", t("bought", { id: tk.id, seats: tk.legs.map((l) => l.seat).join(", "), price: money(tk.price_cents) }), "ok");
    $("cart-msg").dataset.ticket = tk.id;
    renderCart();
    await loadSeatMaps();
  } catch (e) {
    const retry = e.retryAfter ? t("retry_in", { s: e.retryAfter }) : "";
    say("cart-msg", problemText(e) + retry, "error");
    if (e.reason === "holder_unreachable" && e.nearest.length && !state.hold) {
      // Not a dead end: one click buys the nearest seat this peer can sell now.
      $("cart-msg").append(" ", el("button", {
        type: "button", id: "take-nearest", class: "secondary",
        onclick: () => checkout(true),
      }, t("take_nearest", { seat: e.nearest[0] })));
    }
  } finally {
    $("checkout-btn").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// My tickets

async function loadTickets() {
  if (!state.me) { state.tickets = null; renderTickets(); return; }
  try {
    state.tickets = await api("GET", "/api/tickets");
    renderTickets();
  } catch (e) {
    if (e.status === 401) setMe(null);
    say("tickets-msg", problemText(e), "error");
  }
}

function renderTickets() {
  if (!state.me) { say("tickets-msg", t("tickets_login"), "error"); $("ticket-list").replaceChildren(); return; }
  if (!state.tickets) return;
  say("tickets-msg", state.tickets.length ? "" : t("no_tickets"));
  $("ticket-list").replaceChildren(...state.tickets.map(ticketItem));
}

function ticketItem(tk) {
  const legs = el("div", { class: "legs" }, ...tk.legs.map((l) =>
    el("span", { class: "leg " + classOf(l.airline) },
      `${l.flight} ${l.origin || ""} ${dateOf(l.departure_local)} ${timeOf(l.departure_local)} → ${l.destination || ""} ${l.arrival_local ? arrivalText(l.departure_local, l.arrival_local) : ""} · ${t("seat")} ${l.seat}`)));
  const li = el("li", { class: "ticket " + tk.status, id: "ticket-" + tk.id },
    el("strong", {}, `${tk.id} · ${tk.passenger} · ${money(tk.price_cents)} · ${t(tk.status)}`),
    el("span", { class: "hint" }, " " + t("sold_by", { seller: tk.seller })), legs);
  if (tk.status === "live") {
    li.append(el("button", {
      type: "button", class: "secondary", id: "cancel-" + tk.id, "aria-label": `${t("cancel")} ${tk.id}`,
      onclick: () => cancelTicket(tk.id),
    }, t("cancel")));
  }
  return li;
}

async function cancelTicket(id) {
  if (!confirm(t("cancel_ask", { id }))) return;
  try {
    await api("DELETE", "/api/tickets/" + encodeURIComponent(id));
    say("tickets-msg", t("cancelled_ok", { id }), "ok");
  } catch (e) {
    say("tickets-msg", problemText(e), "error");
  }
  await loadTickets();
}

// ---------------------------------------------------------------------------------------
// Wishlist (saved itineraries, kept with the account at this peer)

async function loadWishes() {
  if (!state.me) { state.wishes = null; renderWishes(); return; }
  try {
    state.wishes = await api("GET", "/api/wishlist");
    renderWishes();
  } catch (e) {
    say("wishlist-msg", problemText(e), "error");
  }
}

function renderWishes() {
  if (!state.me) { say("wishlist-msg", t("wish_login"), "error"); $("wish-list").replaceChildren(); return; }
  if (!state.wishes) return;
  say("wishlist-msg", state.wishes.length ? "" : t("wish_empty"));
  $("wish-list").replaceChildren(...state.wishes.map((w) => {
    const it = w.itinerary;
    const li = el("li", { class: "wish", id: "wish-" + w.id });
    if (!it) {
      li.append(`${w.flights.join(" + ")} · ${t("wish_gone")} `);
    } else {
      const first = it.legs[0], last = it.legs[it.legs.length - 1];
      li.append(el("strong", {}, `${cityOf(first.origin)} → ${cityOf(last.destination)} · ${dateOf(it.departure_local)} ${timeOf(it.departure_local)} · ${money(it.price_cents)}`),
        el("span", { class: "hint" }, ` ${it.airlines.join(" + ")} · ${t("seats_left", { n: it.seats_available })} `),
        el("button", { type: "button", id: "wish-open-" + w.id, onclick: () => openWish(it) }, t("wish_open")), " ");
    }
    li.append(el("button", {
      type: "button", class: "secondary", id: "wish-remove-" + w.id, onclick: () => removeWish(w.id),
    }, t("wish_remove")));
    return li;
  }));
}

async function saveWish() {
  if (!state.chosen) return;
  if (!state.me) { say("cart-msg", t("login_first"), "error"); return; }
  try {
    await api("POST", "/api/wishlist", { flights: state.chosen.legs.map((l) => l.flight) });
    say("cart-msg", t("saved"), "ok");
  } catch (e) {
    say("cart-msg", problemText(e), "error");
  }
}

async function removeWish(id) {
  try { await api("DELETE", "/api/wishlist/" + encodeURIComponent(id)); } catch (e) { say("wishlist-msg", problemText(e), "error"); }
  await loadWishes();
}

async function openWish(it) {
  location.hash = "#search";
  state.itineraries = [it];
  state.lastSearch = { from: it.legs[0].origin, to: it.legs[it.legs.length - 1].destination, date: it.departure_local.slice(0, 10), itineraries: [it] };
  renderResults();
  await chooseItinerary(it);
}

// ---------------------------------------------------------------------------------------
// Operator

function adminHeaders() { return { Authorization: "Bearer " + state.adminToken }; }

async function connectOperator(ev) {
  if (ev) { ev.preventDefault(); state.adminToken = $("admin-token").value.trim(); }
  try {
    await refreshStatus();
    sessionStorage.setItem("passcom-admin", state.adminToken);
    say("admin-msg", t("op_connected"), "ok");
    $("op-panels").hidden = false;
    streamEvents();
  } catch (e) {
    say("admin-msg", e.message, "error");
    $("op-panels").hidden = true;
  }
}

async function refreshStatus() {
  state.status = await api("GET", "/admin/status?flights=25", undefined, adminHeaders());
  renderStatus(state.status);
}

function renderStatus(s) {
  $("op-peer-id").textContent = s.peer_id;
  $("op-partitioned").textContent = s.cut_off_from_all ? t("op_everyone") : (s.partitioned.join(", ") || t("op_none"));
  $("op-peers").tBodies[0].replaceChildren(...s.connected.map((p) => el("tr", {},
    el("td", {}, p.airline || "(subscriber)"), el("td", {}, el("code", {}, p.peer_id)),
    el("td", {}, p.airline ? el("button", { type: "button", class: "secondary", onclick: () => cut("partition", [p.airline]) }, t("op_partition")) : ""))));
  for (const a of s.partitioned) {
    $("op-peers").tBodies[0].append(el("tr", {}, el("td", {}, a), el("td", {}, "partitioned"),
      el("td", {}, el("button", { type: "button", class: "secondary", onclick: () => cut("heal", [a]) }, t("op_heal")))));
  }
  $("op-clock").tBodies[0].replaceChildren(...Object.entries(s.clock).map(([o, n]) => el("tr", {}, el("td", {}, o), el("td", {}, String(n)))));
  $("op-pools").tBodies[0].replaceChildren(...s.pools.map((p) => el("tr", {},
    el("td", {}, el("span", { class: "leg " + classOf(p.airline) }, p.flight)), el("td", {}, `${p.origin}→${p.destination}`),
    el("td", {}, p.departure_utc.replace("T", " ")),
    ...["here", "partners", "moving", "held", "sold"].map((k) => el("td", {}, String(p.seats[k]))))));
  $("op-handovers").textContent = s.handovers.length
    ? s.handovers.map((h) => `${h.flight}/${h.seat} → ${h.to}`).join(", ") : t("op_none");
}

async function cut(action, peers) {
  if (!peers.length) return;
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
          add(`${new Date().toLocaleTimeString(lang)} ${kind} ${line.slice(5).trim()}`);
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
  $("save-btn").addEventListener("click", saveWish);
  $("checkout-btn").addEventListener("click", checkout);
  $("admin-form").addEventListener("submit", connectOperator);
  $("op-partition-all").addEventListener("click", () =>
    cut("partition", (state.status ? state.status.connected : []).map((p) => p.airline).filter(Boolean)));
  $("op-heal-all").addEventListener("click", () => cut("heal", state.status ? state.status.partitioned : []));
  $("lang").addEventListener("change", (ev) => setLanguage(ev.target.value));
  $("admin-token").value = state.adminToken;
  window.addEventListener("hashchange", route);
  applyLanguage();

  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  $("date").value = tomorrow;
  try {
    state.info = await api("GET", "/api/info");
    document.documentElement.style.setProperty("--brand", state.info.color);
    $("airline-name").textContent = state.info.airline;
    document.title = state.info.airline + " · Passcom";
    document.body.dataset.airline = state.info.airline;
  } catch (e) { say("results-msg", t("unreachable_peer", { msg: e.message }), "error"); }

  state.airports = await api("GET", "/api/airports");
  for (const a of state.airports) state.byCode[a.iata] = a;
  const byCity = [...state.airports].sort((a, b) => a.city.localeCompare(b.city, "pt-BR"));
  for (const id of ["from", "to"]) {
    $(id).replaceChildren(...byCity.map((a) => el("option", { value: a.iata }, `${a.city} (${a.iata})`)));
  }
  $("from").value = "POA";
  $("to").value = "MAO";

  // The session cookie is HttpOnly: ask the API who it belongs to, if anyone.
  try { setMe(await api("GET", "/api/me")); } catch (_) { setMe(null); }
  await drawMap();
  document.body.dataset.ready = "yes";
}

document.addEventListener("DOMContentLoaded", start);
