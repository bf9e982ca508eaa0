// The admin's Dispatch screen: pending orders and on-shift couriers, "Plan" (POST /admin/dispatch/plans) shows
// each route as a coloured line on the map and as an ordered list with ETAs, the unassigned orders with their
// reasons, and "Apply" assigns them (POST /admin/dispatch/plans/<id>/apply). Without map tiles (none configured,
// or they fail to load) the stops are listed with their coordinates only, as on the tracking page.

import { api, withQuery } from "./api.js";
import { $, fill, flash, formatTime, h, showError } from "./ui.js";

const COLOURS = ["#d7263d", "#1b998b", "#2e86ab", "#f46036", "#5b5f97", "#c5d86d", "#8f2d56", "#3d348b"];
const tileUrl = document.body.dataset.tileUrl || "";
let plan = null;
let map = null;
let mapFailed = false;

function coords(lat, lng) {
  return `${Number(lat).toFixed(5)}, ${Number(lng).toFixed(5)}`;
}

async function loadLists() {
  const box = $("#dispatch-error");
  try {
    const [pending, couriers] = await Promise.all([
      api(withQuery("/admin/orders", { status: "Pending", limit: 100, sort: "created_at" })),
      api(withQuery("/admin/couriers", { on_shift: "true" })),
    ]);
    fill(
      $("#dispatch-pending"),
      pending.orders.map((o) =>
        h("li", { class: "dispatch-order" }, `#${o.order_id} ${o.delivery_address}`, o.weight_kg ? ` · ${o.weight_kg} kg` : "",
          o.window_end ? ` · by ${formatTime(o.window_end)}` : "", o.delivery_latitude == null ? h("span", { class: "muted" }, " · no coordinates") : ""),
      ),
    );
    $("#dispatch-pending-empty").hidden = pending.orders.length > 0;
    fill(
      $("#dispatch-couriers"),
      couriers.couriers.map((c) =>
        h("li", { class: "dispatch-courier" }, `${c.name} (#${c.delivery_person_id}) · ${c.capacity_kg} kg, ${c.capacity_parcels} parcels · ${c.shift_start}–${c.shift_end} UTC`),
      ),
    );
    $("#dispatch-couriers-empty").hidden = couriers.couriers.length > 0;
  } catch (err) {
    showError(box, err);
  }
}

function mapUnavailable() {
  if (mapFailed) return;
  mapFailed = true;
  $("#dispatch-map").hidden = true;
  const note = $("#dispatch-map-note");
  note.textContent = "The map could not be loaded, so the stops are shown with their coordinates only.";
  note.hidden = false;
  if (map) map.remove();
  map = null;
}

function drawMap(routes) {
  if (map) map.remove();
  map = null;
  if (!tileUrl || !window.L || mapFailed || routes.length === 0) return;
  $("#dispatch-map").hidden = false;
  map = window.L.map("dispatch-map", { scrollWheelZoom: false });
  const tiles = window.L.tileLayer(tileUrl, { maxZoom: 19 });
  tiles.on("tileerror", mapUnavailable);
  tiles.addTo(map);
  const bounds = [];
  routes.forEach((route, i) => {
    const points = [[route.start.latitude, route.start.longitude], ...route.stops.map((s) => [s.latitude, s.longitude])];
    if (route.end) points.push([route.end.latitude, route.end.longitude]);
    window.L.polyline(points, { color: COLOURS[i % COLOURS.length], weight: 4, className: "route-line" }).addTo(map);
    route.stops.forEach((s) => window.L.circleMarker([s.latitude, s.longitude], { radius: 5, color: COLOURS[i % COLOURS.length] }).addTo(map));
    bounds.push(...points);
  });
  map.fitBounds(bounds, { padding: [20, 20] });
}

function routeCard(route, i) {
  const swatch = h("span", { class: `swatch swatch-${i % COLOURS.length}`, "aria-hidden": "true" });
  return h(
    "div",
    { class: "dispatch-route" },
    h("h3", {}, swatch, ` ${route.name || `Courier #${route.courier_id}`} · ${(route.distance_m / 1000).toFixed(1)} km · ${Math.round(route.duration_s / 60)} min driving`),
    h(
      "ol",
      { class: "route-stops" },
      route.stops.map((s) =>
        h("li", { class: "route-stop" }, `${s.type === "pickup" ? "Pick up" : "Deliver"} #${s.order_id} · ETA ${formatTime(s.eta)}`,
          s.window_end ? ` (window ${formatTime(s.window_start)}–${formatTime(s.window_end)})` : "",
          h("span", { class: "muted coordinates" }, ` · ${coords(s.latitude, s.longitude)}`)),
      ),
    ),
  );
}

function render() {
  $("#dispatch-result").hidden = false;
  $("#dispatch-summary").textContent = `Plan #${plan.plan_id}: ${plan.routes.length} routes, ${plan.unassigned.length} unassigned, solved in ${plan.solver_ms} ms${plan.applied_at ? " · applied" : ""}.`;
  fill($("#dispatch-routes"), plan.routes.map(routeCard));
  fill($("#dispatch-unassigned"), plan.unassigned.map((u) => h("li", { class: "unassigned" }, `#${u.order_id}: `, h("code", {}, u.reason), ` — ${u.message || ""}`)));
  $("#dispatch-unassigned-empty").hidden = plan.unassigned.length > 0;
  $("#dispatch-apply").disabled = Boolean(plan.applied_at) || !plan.routes.some((r) => r.stops.some((s) => s.new));
  drawMap(plan.routes);
}

$("#dispatch-plan").addEventListener("click", async () => {
  const box = $("#dispatch-error");
  showError(box, null);
  $("#dispatch-plan").disabled = true;
  try {
    plan = await api("/admin/dispatch/plans", { method: "POST", body: {} });
    render();
  } catch (err) {
    showError(box, err);
  } finally {
    $("#dispatch-plan").disabled = false;
  }
});

$("#dispatch-apply").addEventListener("click", async () => {
  const box = $("#dispatch-error");
  showError(box, null);
  $("#dispatch-apply").disabled = true;
  try {
    const answer = await api(`/admin/dispatch/plans/${plan.plan_id}/apply`, { method: "POST" });
    plan = answer.plan;
    render();
    flash(`Plan applied: ${answer.assigned.length} orders assigned.`);
    loadLists();
  } catch (err) {
    showError(box, err);
    $("#dispatch-apply").disabled = false;
  }
});

export function openDispatch() {
  loadLists();
}
