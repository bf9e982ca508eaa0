// The courier's screen: assigned orders with one-tap status buttons, a failed attempt with its reason,
// confirming delivery with the customer's code (typed or scanned), and sharing the browser's location.

import { api, withQuery } from "./api.js";
import { proofForm, trackingNumberIn } from "./proof.js";
import { canScan, scanInto } from "./scan.js";
import { $, FINAL, REASONS, fill, flash, formatTime, h, showError, statusBadge } from "./ui.js";

// The statuses the courier may set next come with each order (allowed_next). Delivered goes through the
// code form and Failed Attempt through the reason picker, so they are not plain buttons.
const FORMS = ["Delivered", "Failed Attempt"];

function buttons(order) {
  return (order.allowed_next || []).filter((status) => !FORMS.includes(status));
}

const list = $("#courier-orders");

async function act(card, order, action, success) {
  const box = $(".error", card);
  showError(box, null);
  for (const button of card.querySelectorAll("button")) button.disabled = true;
  try {
    const answer = await action();
    flash(success);
    replaceCard(card, answer.order);
  } catch (err) {
    showError(box, err);
  } finally {
    for (const button of card.querySelectorAll("button")) button.disabled = false;
  }
}

function setStatus(card, order, status, extra = {}) {
  const body = { order_id: order.order_id, status, ...extra };
  const success = `Order #${order.order_id} is now ${status}.`;
  return act(card, order, () => api("/delivery/update-status", { method: "PATCH", body }), success);
}

function failedAttempt(card, order) {
  const reasons = h("select", { name: "reason", "aria-label": "Reason" }, Object.entries(REASONS).map(([value, text]) => h("option", { value }, text)));
  return h(
    "div",
    { class: "row failed-attempt" },
    reasons,
    h("button", { type: "button", class: "warning", onclick: () => setStatus(card, order, "Failed Attempt", { reason: reasons.value }) }, "Failed Attempt"),
  );
}

function confirmForm(card, order) {
  const code = h("input", { name: "code", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", placeholder: "e.g. 7K3QX 9M2PA", "aria-label": "Delivery code" });
  const form = h(
    "form",
    { class: "row confirm-delivery", novalidate: true },
    h("label", {}, "Delivery code ", code),
    h("button", { type: "submit" }, "Confirm delivery"),
    canScan() ? h("button", { type: "button", class: "secondary", onclick: () => scanInto(card, code, () => form.requestSubmit()) }, "Scan QR code") : null,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { order_id: order.order_id, code: code.value.trim() };
    act(card, order, () => api("/delivery/confirm-delivery", { method: "POST", body }), `Order #${order.order_id} is delivered.`);
  });
  return form;
}

function withProof(card, order) {
  const code = $("input[name=code]", card);
  const run = (action) => act(card, order, action, `Order #${order.order_id} is delivered with proof.`);
  return proofForm(order, code, run);
}

function orderCard(order) {
  const card = h("li", { class: "card order-card", dataset: { orderId: order.order_id, tracking: order.tracking_number } });
  const phone = order.recipient_phone ? h("a", { href: `tel:${order.recipient_phone}` }, order.recipient_phone) : null;
  fill(
    card,
    h("div", { class: "row spread" }, h("strong", { class: "item-title" }, `Order #${order.order_id}`), statusBadge(order.status)),
    h("div", {}, order.recipient_name, phone ? ", " : "", phone),
    h("div", {}, h("span", { class: "muted" }, "Deliver to: "), order.delivery_address),
    h("div", {}, h("span", { class: "muted" }, "Pick up at: "), order.pickup_address),
    order.description ? h("div", { class: "muted" }, order.description, order.weight_kg ? ` · ${order.weight_kg} kg` : "") : null,
    h("div", { class: "muted small" }, h("span", { class: "mono" }, order.tracking_number), " · ", formatTime(order.created_at)),
    h("div", { class: "row actions" }, buttons(order).map((status) => h("button", { type: "button", onclick: () => setStatus(card, order, status) }, status))),
    order.status === "Out for Delivery" ? [failedAttempt(card, order), confirmForm(card, order)] : null,
    h("p", { class: "error", role: "alert", hidden: true }),
  );
  if (order.status === "Out for Delivery") card.insertBefore(withProof(card, order), $(".error", card));
  return card;
}

function replaceCard(card, order) {
  if (!order || FINAL.includes(order.status)) {
    card.remove();
    $("#courier-empty").hidden = list.children.length > 0;
    return;
  }
  card.replaceWith(orderCard(order));
}

async function loadAssigned() {
  showError($("#courier-error"), null);
  try {
    const orders = [];
    let cursor = null;
    do {
      const page = await api(withQuery("/delivery/assigned-orders", { limit: 100, cursor }));
      orders.push(...page.orders);
      cursor = page.next_cursor;
    } while (cursor && orders.length < 500);
    fill(list, orders.map(orderCard));
    $("#courier-empty").hidden = orders.length > 0;
  } catch (err) {
    showError($("#courier-error"), err);
  }
}

$("#courier-refresh").addEventListener("click", loadAssigned);

// ------------------------------------------------------------------------------------ Opening an order by its label

function openParcel(text) {
  const form = $("#find-parcel");
  showError($(".error", form), null);
  const number = trackingNumberIn(text);
  const card = [...list.children].find((item) => item.dataset.tracking === number);
  if (!card) {
    showError($(".error", form), new Error(`Parcel ${number} is not among your assigned orders.`));
    return;
  }
  for (const other of list.querySelectorAll(".order-card.found")) other.classList.remove("found");
  card.classList.add("found");
  card.scrollIntoView({ behavior: "smooth", block: "center" });
  flash(`Order #${card.dataset.orderId} opened.`);
}

$("#find-parcel").addEventListener("submit", (event) => {
  event.preventDefault();
  openParcel($("#find-parcel input[name=tracking]").value);
});
if (canScan()) {
  const scan = $("#scan-label");
  scan.hidden = false;
  scan.addEventListener("click", () => {
    const input = $("#find-parcel input[name=tracking]");
    scanInto($("#find-parcel"), input, () => openParcel(input.value));
  });
}

// ------------------------------------------------------------------------------------ Location sharing

const SEND_EVERY_MS = 15000;
const GEO_ERRORS = {
  1: "Location permission was denied: allow this site to use your location to share it.",
  2: "Your position is not available right now (no GPS or network fix).",
  3: "Finding your position took too long; still trying.",
};
let watchId = null;
let lastSent = 0;

async function sendPosition(position) {
  const now = Date.now();
  if (now - lastSent < SEND_EVERY_MS) return;
  lastSent = now;
  const { latitude, longitude } = position.coords;
  try {
    const answer = await api("/delivery/update-location", { method: "PATCH", body: { latitude, longitude } });
    showError($("#location-error"), null);
    const n = answer.order_ids.length;
    $("#location-status").textContent = `Location shared at ${new Date().toLocaleTimeString()}: ${latitude.toFixed(5)}, ${longitude.toFixed(5)} (${n} active ${n === 1 ? "order" : "orders"}).`;
  } catch (err) {
    lastSent = 0;
    showError($("#location-error"), err);
  }
}

function stopSharing() {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  watchId = null;
  const button = $("#share-location");
  button.textContent = "Share my location";
  button.setAttribute("aria-pressed", "false");
}

$("#share-location").addEventListener("click", () => {
  const button = $("#share-location");
  if (watchId !== null) {
    stopSharing();
    $("#location-status").textContent = "Location sharing stopped.";
    return;
  }
  if (!navigator.geolocation) {
    showError($("#location-error"), new Error("This browser cannot share its location."));
    return;
  }
  showError($("#location-error"), null);
  $("#location-status").textContent = "Finding your position…";
  lastSent = 0;
  button.textContent = "Stop sharing";
  button.setAttribute("aria-pressed", "true");
  watchId = navigator.geolocation.watchPosition(sendPosition, (err) => {
    showError($("#location-error"), new Error(GEO_ERRORS[err.code] || err.message));
    if (err.code === 1) stopSharing();
  }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
});

// ------------------------------------------------------------------------------------ Route (stops in order)

function renderRoute(route) {
  const stops = route.stops.map((s) =>
    h("li", { class: "route-stop" }, `${s.type === "pickup" ? "Pick up" : "Deliver"} #${s.order_id} · ETA ${s.eta ? formatTime(s.eta) : "–"}`,
      s.window_end ? ` (by ${formatTime(s.window_end)})` : ""),
  );
  fill($("#route-stops"), stops);
  const unroutable = route.unroutable.length ? ` · ${route.unroutable.length} without coordinates` : "";
  $("#route-summary").textContent = route.stops.length
    ? `${route.stops.length} stops, ${(route.distance_m / 1000).toFixed(1)} km${unroutable}`
    : `No stops${unroutable}.`;
}

async function loadRoute() {
  showError($("#route-error"), null);
  try {
    renderRoute((await api("/delivery/route")).route);
  } catch (err) {
    showError($("#route-error"), err);
  }
}

$("#route-replan").addEventListener("click", async () => {
  showError($("#route-error"), null);
  $("#route-replan").disabled = true;
  try {
    renderRoute((await api("/delivery/route/optimize", { method: "POST" })).route);
    flash("Route re-planned.");
  } catch (err) {
    showError($("#route-error"), err);
  } finally {
    $("#route-replan").disabled = false;
  }
});

export function openAssigned() {
  loadAssigned();
  loadRoute();
}
