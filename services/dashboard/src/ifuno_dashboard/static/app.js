// The staff page: signs in with a token sent in a request body (the server answers with
// an HttpOnly session cookie), then a live summary over SSE. No token in any address.
"use strict";
const STEPS = [
  ["received", "Reçus"], ["complete", "Complets"], ["shortlisted", "Présélectionnés"],
  ["interviewed", "Entretiens"], ["admitted", "Admis"], ["accepted", "Acceptés"],
  ["declined", "Déclinés"], ["expired", "Expirés"], ["waitlisted", "Liste compl."],
  ["withdrawn", "Retirés"], ["refused", "Refusés"],
];
const PHASES = {
  main_submissions_open: "dépôt des dossiers ouvert", main_submissions_closed: "dépôt clos",
  main_interviews: "entretiens", main_committee: "commission de sélection",
  complementary_submissions_open: "sélection complémentaire : dépôt ouvert",
  complementary_submissions_closed: "sélection complémentaire : dépôt clos",
  complementary_interviews: "sélection complémentaire : entretiens",
  complementary_committee: "sélection complémentaire : commission",
  academic_year_start: "rentrée universitaire", offer_deadline: "fin d'une proposition d'admission",
};
let LABELS = {};
const say = (kind, code) => (LABELS[kind] && LABELS[kind][code]) || code;
const MONTHS = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];
const $ = (id) => document.getElementById(id);
const text = (value) => document.createTextNode(String(value));

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(typeof child === "string" ? text(child) : child);
  return node;
}

function levelCard(name, level) {
  const card = element("div", { class: "card", "data-level": name });
  card.append(element("h2", {}, `${name} · ${level.capacity} places`));
  card.append(element("p", { class: "places" },
    element("span", { "data-counter": "places_left" }, String(level.places_left)),
    element("small", {}, ` places libres (${level.held} occupées)`)));
  const largest = Math.max(1, ...Object.values(level.funnel));
  for (const [key, label] of STEPS) {
    const value = level.funnel[key] || 0;
    const fill = element("span", { class: "fill", style: `width:${(100 * value) / largest}%` });
    card.append(element("div", { class: "bar" }, element("span", {}, label),
      element("span", { class: "track" }, fill),
      element("b", { "data-counter": key }, String(value))));
  }
  const reasons = Object.entries(level.refusals).map(([r, n]) => `${say("refusal", r)} : ${n}`).join(" ; ");
  if (reasons) card.append(element("p", {}, `Refus : ${reasons}`));
  const list = element("ol", { class: "waitlist" });
  for (const entry of level.waitlist) list.append(element("li", { value: entry.rank }, entry.application_id));
  card.append(element("h2", {}, "Liste complémentaire"), level.waitlist.length ? list : element("p", {}, "vide"));
  return card;
}

function placesChart(points, levels, campaign, now) {
  // The whole season on one axis (1 April to 30 September, Paris), month by month; each
  // level's places held as a step line carried on to the platform's "now", against its
  // capacity (dashed).
  const svg = $("places-chart");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const make = (tag, attributes, content) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (content !== undefined) node.textContent = content;
    svg.append(node);
    return node;
  };
  const colours = { M1: "#6b2a6b", M2: "#1f5f5f" };
  const capacity = Math.max(1, ...Object.values(levels).map((l) => l.capacity));
  const first = Date.parse(`${campaign}-04-01T00:00:00+02:00`);
  const last = Date.parse(`${campaign}-09-30T23:59:00+02:00`);
  const x = (t) => 40 + (540 * (Math.min(Math.max(t, first), last) - first)) / (last - first);
  const y = (v) => 200 - (180 * v) / capacity;
  make("path", { d: "M40 20 V200 H580", stroke: "#555", fill: "none" });
  for (let month = 3; month <= 8; month += 1) {
    const at = Date.parse(`${campaign}-${String(month + 1).padStart(2, "0")}-01T00:00:00+02:00`);
    make("line", { x1: x(at), x2: x(at), y1: 20, y2: 200, stroke: "#ddd" });
    make("text", { x: x(at) + 2, y: 214, "font-size": 11, fill: "#333" }, MONTHS[month]);
  }
  make("text", { x: 0, y: 24, "font-size": 11, fill: "#333" }, String(capacity));
  make("text", { x: 0, y: 204, "font-size": 11, fill: "#333" }, "0");
  const end = now ? Date.parse(now) : Math.max(first, ...points.map((p) => Date.parse(p.at)));
  for (const level of Object.keys(levels)) {
    const colour = colours[level] || "#333";
    make("line", {
      x1: 40, x2: 580, y1: y(levels[level].capacity), y2: y(levels[level].capacity),
      stroke: colour, "stroke-dasharray": "4 4", "stroke-width": 1,
    });
    const series = points.filter((p) => p.level === level);
    const steps = [[first, 0]];
    for (const p of series) {
      const t = Date.parse(p.at);
      steps.push([t, steps[steps.length - 1][1]], [t, p.held]);
    }
    const held = steps[steps.length - 1][1];
    steps.push([Math.max(end, steps[steps.length - 1][0]), held]);
    make("polyline", {
      points: steps.map(([t, v]) => `${x(t)},${y(v)}`).join(" "),
      fill: "none", stroke: colour, "stroke-width": 2.5,
    });
    make("text", { x: Math.min(x(end) + 4, 540), y: y(held) - 4, fill: colour, "font-size": 12 },
      `${level} ${held}/${levels[level].capacity}`);
  }
}

function rows(table, entries) {
  table.replaceChildren(...entries.map((cells) =>
    element("tr", {}, ...cells.map((c, i) => element("td", i === cells.length - 1 ? { class: "n" } : {}, String(c))))));
  if (!entries.length) table.replaceChildren(element("tr", {}, element("td", {}, "aucun")));
}

function render(summary) {
  $("campaign").textContent = summary.campaign;
  $("phase").textContent = PHASES[summary.phase] || "avant la campagne";
  document.querySelectorAll("[data-workspace]").forEach((link) => { link.hidden = !STAFF_ROLES.has(role); });
  $("now").textContent = summary.now ? new Date(summary.now).toLocaleString("fr-FR", { timeZone: "Europe/Paris" }) : "";
  $("deadline").textContent = summary.next_deadline
    ? `Prochaine échéance : ${PHASES[summary.next_deadline.what] || summary.next_deadline.what}, le ${new Date(summary.next_deadline.at).toLocaleString("fr-FR", { timeZone: "Europe/Paris" })}` : "";
  $("levels").replaceChildren(...Object.entries(summary.levels).map(([n, l]) => levelCard(n, l)));
  placesChart(summary.places_over_time, summary.levels, summary.campaign, summary.now);
  rows($("messages"), summary.messages.map((m) =>
    [say("template", m.template), say("channel", m.channel), say("outcome", m.outcome), m.count]));
  rows($("dead"), summary.dead_letters.map((d) => [d.consumer, d.error, d.count]));
  rows($("lag"), Object.entries(summary.consumer_lag).map(([g, n]) => [g, n]));
  $("status").textContent = `Mis à jour ${new Date().toLocaleTimeString("fr-FR")}`;
}

let source = null;
let role = null;
const STAFF_ROLES = new Set(["reviewer", "committee", "admin"]);

function showLogin(message) {
  if (source) source.close();
  source = null;
  $("board").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function connect(staff) {
  if (!Object.keys(LABELS).length) {
    const answer = await fetch("/v1/labels", { credentials: "same-origin" });
    if (answer.ok) LABELS = await answer.json();
  }
  // Without ?campaign= in the page's address, the service's default campaign.
  const query = new URLSearchParams();
  const campaign = new URLSearchParams(location.search).get("campaign");
  if (campaign) query.set("campaign", campaign);
  $("login").hidden = true;
  $("who-name").textContent = staff.name;
  role = staff.role;
  $("who").hidden = false;
  source = new EventSource(`/v1/stream?${query}`);
  source.addEventListener("summary", (event) => {
    $("board").hidden = false;
    render(JSON.parse(event.data));
  });
  source.onerror = () => {
    // Closed for good (the session expired, the service restarted): ask who we are.
    if (source.readyState === EventSource.CLOSED) resume("Session expirée : reconnectez-vous.");
    else $("status").textContent = "Connexion interrompue, nouvelle tentative…";
  };
}

async function resume(message) {
  const response = await fetch("/v1/session", { credentials: "same-origin" });
  if (response.ok) connect(await response.json());
  else showLogin(message);
}

async function signIn(token) {
  const response = await fetch("/v1/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token }),
  });
  if (response.ok) resume();
  else showLogin(response.status === 401 ? "Jeton refusé." : "Connexion impossible, réessayez.");
}

// An old bookmark's ?token= leaves the address bar at once; it signs in from a body.
const address = new URLSearchParams(location.search);
const legacyToken = address.get("token");
sessionStorage.removeItem("ifuno-token");
if (legacyToken !== null) {
  address.delete("token");
  const rest = address.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  signIn(legacyToken);
} else {
  resume();
}
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value;
  $("token").value = "";
  signIn(token);
});
$("logout").addEventListener("click", async () => {
  await fetch("/v1/session", { method: "DELETE", credentials: "same-origin" });
  showLogin("Déconnecté.");
});
