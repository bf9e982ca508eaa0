// The public tracking page /t/<tracking number>: GET /track/<number>, then its public event stream
// (EventSource: no login, no header needed). While Out for Delivery the courier's rounded position is shown
// as coordinates text and, when the tiles of MAP_TILE_URL load, on a Leaflet map; a tile error hides the map.

import { api, base } from "./api.js";
import { $, FINAL, coordinates, etaText, formatTime, renderTimeline, showError, statusBadge } from "./ui.js";

const number = document.body.dataset.trackingNumber;
const tileUrl = document.body.dataset.tileUrl || "";
const path = `/track/${encodeURIComponent(number)}`;
const EVENT_TYPES = ["created", "status", "assignment", "location", "locked", "unlocked", "arriving_soon", "arrived", "eta"];
const OUT = "Out for Delivery";

const state = { status: null, events: [], position: null, lastLocation: null, eta: null };
let map = null;
let marker = null;
let mapFailed = false;

function attribution() {
  return /openstreetmap\.org/.test(tileUrl) ? '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors' : "";
}

function mapUnavailable() {
  if (mapFailed) return;
  mapFailed = true;
  $("#map").hidden = true;
  const note = $("#map-note");
  note.textContent = "The map could not be loaded, so the courier's position is shown as coordinates only.";
  note.hidden = false;
  if (map) map.remove();
  map = marker = null;
}

function showMap(position) {
  if (!tileUrl || !window.L || mapFailed) return;
  const point = [Number(position.latitude), Number(position.longitude)];
  if (map) {
    marker.setLatLng(point);
    map.panTo(point);
    return;
  }
  $("#map").hidden = false;
  map = window.L.map("map", { scrollWheelZoom: false }).setView(point, 15);
  const tiles = window.L.tileLayer(tileUrl, { maxZoom: 19, attribution: attribution() });
  tiles.on("tileerror", mapUnavailable);
  tiles.addTo(map);
  marker = window.L.circleMarker(point, { radius: 9, className: "courier-marker" }).addTo(map);
}

function hideMap() {
  if (map) map.remove();
  map = marker = null;
  $("#map").hidden = true;
}

/** "Arriving between 14:10 and 14:35" and "2 stops before yours" (the ETA window, in the browser's time). */
function renderEta() {
  $("#track-eta").hidden = !state.eta;
  const [window, stops] = etaText(state.eta);
  $("#track-eta-window").textContent = window;
  $("#track-eta-stops").textContent = stops ? `· ${stops}` : "";
}

/** The ETA moves with the courier: refetch it after a timeline event (an `eta` event says it moved). */
async function refreshEta() {
  try {
    state.eta = (await api(path, { auth: false })).eta;
  } catch {
    return;
  }
  renderEta();
}

function render() {
  renderEta();
  statusBadge(state.status, $("#track-status"));
  $("#track-location").hidden = !state.lastLocation;
  $("#track-location-text").textContent = state.lastLocation || "";
  const out = state.status === OUT;
  $("#track-position").hidden = !out;
  const text = out && coordinates(state.position);
  if (text) {
    $("#track-coordinates").textContent = `Courier near ${text} (about 100 m)${state.position.at ? `, updated ${formatTime(state.position.at)}` : ""}`;
    showMap(state.position);
  } else {
    $("#track-coordinates").textContent = "Waiting for the courier's position…";
    hideMap();
  }
  renderTimeline($("#track-timeline"), state.events);
}

/** Follow the public stream. It replays the whole timeline first; the page switches to it once it has caught
 * up with the events already shown, so nothing is drawn twice. */
function follow(shown) {
  const source = new EventSource(`${base}${path}/events`);
  const streamed = [];
  const live = $("#track-live");
  source.addEventListener("open", () => {
    live.textContent = "● Live";
  });
  source.addEventListener("error", () => {
    if (FINAL.includes(state.status)) {
      source.close();
      live.textContent = "";
    } else {
      live.textContent = source.readyState === EventSource.CLOSED ? "Live updates stopped: reload the page." : "Reconnecting…";
    }
  });
  // Courier pings come as "position" messages: a state, not part of the timeline.
  source.addEventListener("position", (message) => {
    state.position = JSON.parse(message.data).position;
    if (streamed.length >= shown) render();
  });
  const onEvent = (message) => {
    const event = JSON.parse(message.data);
    streamed.push(event);
    if (event.type === "location" && event.position) state.position = { ...event.position, at: event.at };
    if (event.location) state.lastLocation = event.location;
    if (streamed.length < shown) return;
    state.events = streamed.slice();
    state.status = event.status || state.status;
    render();
    refreshEta();
    if (FINAL.includes(state.status)) {
      source.close();
      live.textContent = "";
    }
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
}

async function start() {
  let view;
  try {
    view = await api(path, { auth: false });
  } catch (err) {
    showError($("#track-error"), err);
    return;
  }
  Object.assign(state, { status: view.status, events: view.events, position: view.position, lastLocation: view.last_location, eta: view.eta });
  $("#track-body").hidden = false;
  render();
  if (!FINAL.includes(state.status)) follow(view.events.length);
}

start();
