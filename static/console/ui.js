// Small DOM helpers shared by the console's screens and the public tracking page.

import { describe } from "./api.js";

export const $ = (selector, root = document) => root.querySelector(selector);

/** Create an element: h("a", {href: "#", class: "x", onclick: fn}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
  return node;
}

/** Show an error (an ApiError or any Error) in plain words in `box`; a falsy err hides the box. */
export function showError(box, err) {
  if (!box) return;
  box.textContent = err ? describe(err) : "";
  box.hidden = !err;
}

let flashTimer = null;

/** A short confirmation at the top of the page. */
export function flash(message) {
  const box = $("#flash");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

const CLOCK = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

/** An ETA as [window, stops]: ["Arriving between 14:10 and 14:35", "2 stops before yours"] (browser time). */
export function etaText(eta) {
  if (!eta) return ["", ""];
  const [from, to] = [CLOCK.format(new Date(eta.earliest)), CLOCK.format(new Date(eta.latest))];
  if (from === to) return [`Arrived at ${from}`, ""];
  const n = eta.stops_before;
  return [`Arriving between ${from} and ${to}`, n === 0 ? "you are the next stop" : `${n} ${n === 1 ? "stop" : "stops"} before yours`];
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "–";
  const s = Math.round(Number(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

export function percent(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  return `${(Number(value) * 100).toFixed(1)} %`;
}

export function slug(text) {
  return String(text || "").toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

export function statusBadge(status, node = null) {
  const badge = node || h("span");
  badge.className = `badge status-${slug(status)}`;
  badge.textContent = status || "";
  return badge;
}

export const REASONS = {
  recipient_unavailable: "Recipient unavailable",
  address_not_found: "Address not found",
  refused: "Refused",
  damaged: "Damaged",
  other: "Other",
};

export const STATUSES = [
  "Pending",
  "Assigned",
  "Picked Up",
  "In Transit",
  "Out for Delivery",
  "Delivered",
  "Failed Attempt",
  "Returned",
  "Cancelled",
];
export const FINAL = ["Delivered", "Returned", "Cancelled"];

export function coordinates(position) {
  if (!position || position.latitude === null || position.latitude === undefined) return null;
  return `${Number(position.latitude).toFixed(5).replace(/0+$/, "").replace(/\.$/, "")}, ${Number(position.longitude)
    .toFixed(5)
    .replace(/0+$/, "")
    .replace(/\.$/, "")}`;
}

const EVENT_TITLES = { assignment: "Assigned", locked: "Delivery locked", unlocked: "Delivery unlocked" };

/** One timeline entry: status (or what happened), time, who, note, reason, location. */
export function timelineItem(event) {
  const title = event.type === "status" || event.type === "created" ? event.status : EVENT_TITLES[event.type] || event.status;
  const who = event.actor ? [event.actor.name, event.actor.role && `(${event.actor.role.replace("_", " ")})`] : [];
  return h(
    "li",
    { class: `event event-${slug(event.type)}`, dataset: { status: event.status || "", type: event.type || "" } },
    h("span", { class: "event-title" }, title),
    " ",
    h("time", { datetime: event.at }, formatTime(event.at)),
    h("span", { class: "event-who muted" }, " ", who.filter(Boolean).join(" ")),
    event.reason ? h("div", { class: "event-reason" }, `Reason: ${REASONS[event.reason] || event.reason}`) : null,
    event.note ? h("div", { class: "event-note" }, event.note) : null,
    event.location ? h("div", { class: "event-location muted" }, event.location) : null,
  );
}

/** Draw a timeline (location updates are shown as the position, not as timeline entries). */
export function renderTimeline(list, events) {
  fill(list, events.filter((e) => e.type !== "location").map(timelineItem));
}

/**
 * Bind a form: on submit, collect its non-empty values, call `action(values, form)`, and show any error in
 * the form's .error box. The submit button is disabled while the call runs.
 */
export function bindForm(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $(".error", form);
    const button = $("button[type=submit]", form);
    showError(box, null);
    if (button) button.disabled = true;
    try {
      await action(formValues(form), form);
    } catch (err) {
      showError(box, err);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

/** A form's filled-in fields (trimmed), without the hidden ones. */
export function formValues(form) {
  const values = {};
  for (const field of form.elements) {
    if (!field.name || field.closest("[hidden]")) continue;
    const value = field.value.trim();
    if (value !== "") values[field.name] = value;
  }
  return values;
}

/**
 * A list with a "Load more" button: `load(cursor)` draws one page (replacing the list when cursor is null,
 * appending otherwise) and returns the next_cursor. Errors show in `errorBox`.
 */
export function pager(button, errorBox, load) {
  let cursor = null;
  const run = async (reset) => {
    if (reset) cursor = null;
    showError(errorBox, null);
    button.disabled = true;
    try {
      cursor = (await load(cursor)) || null;
    } catch (err) {
      showError(errorBox, err);
    } finally {
      button.disabled = false;
      button.hidden = !cursor;
    }
  };
  button.addEventListener("click", () => run(false));
  return { reload: () => run(true) };
}
