// The customer's screens: place an order, my orders, and one order live with its delivery QR code.

import { api, base, newKey, request, withQuery } from "./api.js";
import { follow } from "./live.js";
import {
  $,
  FINAL,
  bindForm,
  coordinates,
  fill,
  flash,
  formatTime,
  h,
  pager,
  renderTimeline,
  showError,
  statusBadge,
} from "./ui.js";

// ------------------------------------------------------------------------------------ My orders

function orderItem(order) {
  return h(
    "li",
    { class: "list-item", dataset: { orderId: order.order_id } },
    h("a", { href: `#/orders/${order.order_id}`, class: "item-title" }, `Order #${order.order_id}`),
    " ",
    statusBadge(order.status),
    h("div", { class: "muted" }, `To ${order.recipient_name}, ${order.delivery_address}`),
    h("div", { class: "muted small" }, h("span", { class: "mono" }, order.tracking_number), " · ", formatTime(order.created_at)),
  );
}

const myOrders = pager($("#customer-orders-more"), $("#customer-orders-error"), async (cursor) => {
  const page = await api(withQuery("/customer/orders", { limit: 20, cursor }));
  const list = $("#customer-orders");
  if (!cursor) fill(list);
  list.append(...page.orders.map(orderItem));
  if (!cursor && !page.orders.length) list.append(h("li", { class: "muted" }, "No orders yet."));
  return page.next_cursor;
});

bindForm($("#place-order-form"), async (values, form) => {
  if (values.weight_kg !== undefined) values.weight_kg = Number(values.weight_kg);
  // A key per submission: a retried request (e.g. after a timeout) returns the same order, not a second one.
  const key = form.dataset.idempotencyKey || newKey();
  form.dataset.idempotencyKey = key;
  const answer = await api("/customer/place-order", { method: "POST", body: values, headers: { "Idempotency-Key": key } });
  delete form.dataset.idempotencyKey;
  form.reset();
  flash(`Order placed: tracking number ${answer.order.tracking_number}.`);
  location.hash = `#/orders/${answer.order.order_id}`;
});

export function openOrders() {
  myOrders.reload();
}

// ------------------------------------------------------------------------------------ One order, live

function positionText(position) {
  const text = coordinates(position);
  if (!text && !(position && position.location)) return "–";
  return [text, position.location, position.at && `(${formatTime(position.at)})`].filter(Boolean).join(" · ");
}

function renderOrder(state) {
  const { order, courier } = state;
  $("#order-id").textContent = `#${order.order_id}`;
  statusBadge(order.status, $("#order-status"));
  const link = $("#order-tracking");
  link.textContent = order.tracking_number;
  link.href = `${base}/t/${encodeURIComponent(order.tracking_number)}`;
  $("#order-recipient").textContent = [order.recipient_name, order.recipient_phone].filter(Boolean).join(", ");
  $("#order-delivery").textContent = order.delivery_address;
  $("#order-pickup").textContent = order.pickup_address || "–";
  $("#order-courier").textContent = courier ? courier.name || `#${courier.delivery_person_id}` : "Not assigned yet";
  $("#order-position").textContent = order.status === "Out for Delivery" ? positionText(state.position) : "–";
  renderTimeline($("#order-timeline"), state.events);
  $("#order-body").hidden = false;
}

async function loadDeliveryCode(orderId, alive, urls) {
  const box = $("#order-qr-error");
  showError(box, null);
  $("#order-qr-card").hidden = false;
  try {
    const [image, answer] = await Promise.all([
      request(`/customer/orders/${orderId}/qr`, { headers: { Accept: "image/png" } }).then((r) => r.blob()),
      api(`/customer/orders/${orderId}/delivery-code`),
    ]);
    if (!alive()) return;
    const url = URL.createObjectURL(image);
    urls.push(url);
    const img = $("#order-qr");
    img.src = url;
    img.hidden = false;
    // Grouped in fives so it can be read out; the courier may type it with or without the space.
    $("#order-code").textContent = answer.code.replace(/(.{5})(?=.)/g, "$1 ");
  } catch (err) {
    if (alive()) showError(box, err);
  }
}

function resetOrderView(orderId) {
  $("#order-id").textContent = `#${orderId}`;
  $("#order-body").hidden = true;
  $("#order-qr-card").hidden = true;
  $("#order-qr").hidden = true;
  $("#order-qr").removeAttribute("src");
  $("#order-code").textContent = "";
  $("#order-live").textContent = "";
  fill($("#order-timeline"));
  showError($("#order-error"), null);
}

/** Who carries the order now (after an assignment event). */
async function refreshCourier(orderId, state, alive) {
  try {
    const view = await api(`/customer/track-order/${orderId}`);
    if (!alive()) return;
    state.courier = view.courier;
    renderOrder(state);
  } catch {
    // The timeline already shows the assignment; the courier's name follows on the next visit.
  }
}

const LIVE_STATES = { live: "● Live", reconnecting: "Reconnecting…", ended: "", error: "" };

export function openOrder(orderId) {
  resetOrderView(orderId);
  let closed = false;
  let stop = () => {};
  const urls = [];
  const alive = () => !closed;
  (async () => {
    let view;
    try {
      view = await api(`/customer/track-order/${encodeURIComponent(orderId)}`);
    } catch (err) {
      if (alive()) showError($("#order-error"), err);
      return;
    }
    if (!alive()) return;
    const state = { order: view.order, courier: view.courier, events: view.events, position: view.last_position };
    renderOrder(state);
    if (!FINAL.includes(state.order.status)) loadDeliveryCode(view.order.order_id, alive, urls);
    const lastId = Math.max(0, ...state.events.map((e) => e.event_id || 0));
    stop = follow(`/customer/track-order/${view.order.order_id}/events`, {
      lastEventId: lastId,
      isDone: () => FINAL.includes(state.order.status),
      onState: (name, err) => {
        $("#order-live").textContent = LIVE_STATES[name] || "";
        if (name === "error") showError($("#order-error"), err);
      },
      onEvent: (type, event) => {
        if (type === "position") {
          // A courier ping: a state, not a timeline event.
          state.position = event.position;
          renderOrder(state);
          return;
        }
        state.events.push(event);
        if (event.status) state.order.status = event.status;
        if (type === "assignment") refreshCourier(view.order.order_id, state, alive);
        if (type === "location") state.position = { ...(event.position || {}), location: event.location, at: event.at };
        renderOrder(state);
        if (FINAL.includes(state.order.status)) $("#order-qr-card").hidden = true;
      },
    });
  })();
  return () => {
    closed = true;
    stop();
    urls.forEach((url) => URL.revokeObjectURL(url));
  };
}
