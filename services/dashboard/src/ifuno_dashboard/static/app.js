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
  const reasons = Object.entries(level.refusals).map(([r, n]) => `${r} ${n}`).join(", ");
  if (reasons) card.append(element("p", {}, `Refus : ${reasons}`));
  const list = element("ol", { class: "waitlist" });
  for (const entry of level.waitlist) list.append(element("li", { value: entry.rank }, entry.application_id));
  card.append(element("h2", {}, "Liste complémentaire"), level.waitlist.length ? list : element("p", {}, "vide"));
  return card;
}

function placesChart(points, levels) {
  const svg = $("places-chart");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const colours = { M1: "#6b2a6b", M2: "#2a6b6b" };
  const capacity = Math.max(1, ...Object.values(levels).map((l) => l.capacity));
  const times = points.map((p) => Date.parse(p.at));
  const first = Math.min(...times), last = Math.max(...times, first + 1);
  const x = (t) => 40 + (540 * (t - first)) / (last - first);
  const y = (v) => 200 - (180 * v) / capacity;
  const axis = document.createElementNS(ns, "path");
  axis.setAttribute("d", "M40 20 V200 H580");
  axis.setAttribute("stroke", "#999");
  axis.setAttribute("fill", "none");
  svg.append(axis);
  for (const level of Object.keys(levels)) {
    const series = points.filter((p) => p.level === level);
    if (!series.length) continue;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", series.map((p) => `${x(Date.parse(p.at))},${y(p.held)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", colours[level] || "#333");
    line.setAttribute("stroke-width", "2.5");
    svg.append(line);
    const label = document.createElementNS(ns, "text");
    const end = series[series.length - 1];
    label.setAttribute("x", Math.min(x(Date.parse(end.at)) + 4, 560));
    label.setAttribute("y", y(end.held) - 4);
    label.setAttribute("fill", colours[level] || "#333");
    label.textContent = `${level} ${end.held}/${levels[level].capacity}`;
    svg.append(label);
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
  $("now").textContent = summary.now ? new Date(summary.now).toLocaleString("fr-FR", { timeZone: "Europe/Paris" }) : "";
  $("deadline").textContent = summary.next_deadline
    ? `Prochaine échéance : ${PHASES[summary.next_deadline.what] || summary.next_deadline.what}, le ${new Date(summary.next_deadline.at).toLocaleString("fr-FR", { timeZone: "Europe/Paris" })}` : "";
  $("levels").replaceChildren(...Object.entries(summary.levels).map(([n, l]) => levelCard(n, l)));
  placesChart(summary.places_over_time, summary.levels);
  rows($("messages"), summary.messages.map((m) => [m.template, m.channel, m.outcome, m.count]));
  rows($("dead"), summary.dead_letters.map((d) => [d.consumer, d.error, d.count]));
  rows($("lag"), Object.entries(summary.consumer_lag).map(([g, n]) => [g, n]));
  $("status").textContent = `Mis à jour ${new Date().toLocaleTimeString("fr-FR")}`;
}

let source = null;

function showLogin(message) {
  if (source) source.close();
  source = null;
  $("board").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

function connect(staff) {
  // Without ?campaign= in the page's address, the service's default campaign.
  const query = new URLSearchParams();
  const campaign = new URLSearchParams(location.search).get("campaign");
  if (campaign) query.set("campaign", campaign);
  $("login").hidden = true;
  $("who-name").textContent = staff.name;
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
