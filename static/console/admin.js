// The admin's screens: a dashboard of GET /admin/analytics, orders with filters and (re)assignment,
// users and registering couriers and admins, and answering issues.

import { api, request, withQuery } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import {
  $,
  STATUSES,
  bindForm,
  fill,
  flash,
  formValues,
  formatDuration,
  formatTime,
  h,
  pager,
  percent,
  showError,
  slug,
  statusBadge,
} from "./ui.js";

const ISSUE_STATUSES = ["Open", "In Progress", "Resolved", "Closed"];
const ASSIGNABLE = ["Pending", "Assigned"];

// ------------------------------------------------------------------------------------ Couriers (cached)

let couriers = null;

async function loadCouriers() {
  if (couriers) return couriers;
  const found = [];
  let cursor = null;
  do {
    const page = await api(withQuery("/admin/users", { type: "delivery_person", limit: 100, cursor }));
    found.push(...page.users);
    cursor = page.next_cursor;
  } while (cursor && found.length < 1000);
  couriers = found;
  const filter = $("#order-filters").elements.assigned_to;
  fill(filter, h("option", { value: "" }, "Any"), found.map((c) => h("option", { value: c.id }, `${c.name} (#${c.id})`)));
  return couriers;
}

function courierName(id) {
  const found = (couriers || []).find((c) => c.id === id);
  return found ? found.name : id ? `#${id}` : "–";
}

// ------------------------------------------------------------------------------------ Dashboard

function isoDate(date) {
  return date.toISOString().slice(0, 10);
}

function kpi(label, value) {
  return h("div", { class: "kpi card" }, h("div", { class: "kpi-value" }, value ?? "–"), h("div", { class: "kpi-label" }, label));
}

function renderAnalytics(a) {
  const orders = a.orders || {};
  const time = a.delivery_time || {};
  const feedback = a.feedback || {};
  const rating = typeof feedback.average_rating === "number" ? `${feedback.average_rating.toFixed(2)} / 5` : "–";
  fill(
    $("#kpis"),
    kpi("Orders", orders.total),
    kpi("Delivery rate", percent(a.delivery_rate)),
    kpi("First-attempt success", percent(a.first_attempt_success_rate)),
    kpi("Average delivery time", formatDuration(time.average_seconds)),
    kpi("90th percentile delivery time", formatDuration(time.p90_seconds)),
    kpi("Open issues", a.issues ? a.issues.open : null),
    kpi(`Average rating${feedback.ratings ? ` (${feedback.ratings})` : ""}`, rating),
  );
  $("#analytics").hidden = false; // visible first, so the charts can take their containers' width
  const width = (node) => Math.max(260, Math.floor(node.clientWidth));
  const perDay = Array.isArray(a.orders_per_day) ? a.orders_per_day : [];
  const series = [
    { key: "orders", label: "Placed", className: "series-orders" },
    { key: "delivered", label: "Delivered", className: "series-delivered" },
  ];
  fill($("#chart-per-day"), lineChart(perDay, series, "Orders placed and delivered per day", width($("#chart-per-day"))));
  const byStatus = orders.by_status || {};
  const bars = STATUSES.filter((s) => byStatus[s]).map((s) => ({ label: s, value: byStatus[s], className: `status-${slug(s)}` }));
  fill($("#chart-by-status"), barChart(bars, "Orders by status", width($("#chart-by-status"))));
  const rows = (Array.isArray(a.couriers) ? a.couriers : []).map((c) =>
    h(
      "tr",
      {},
      h("td", {}, c.name || `#${c.delivery_person_id}`),
      h("td", { class: "num" }, c.delivered ?? 0),
      h("td", { class: "num" }, c.failed_attempts ?? 0),
      h("td", { class: "num" }, formatDuration(c.average_delivery_seconds)),
      h("td", { class: "num" }, typeof c.rating === "number" ? `${c.rating.toFixed(2)} (${c.ratings ?? 0})` : "–"),
    ),
  );
  fill($("#analytics-couriers tbody"), rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No courier activity in this range.")));
}

async function loadAnalytics() {
  const values = formValues($("#analytics-form"));
  showError($("#analytics-error"), null);
  try {
    renderAnalytics(await api(withQuery("/admin/analytics", values)));
  } catch (err) {
    showError($("#analytics-error"), err);
  }
}

$("#analytics-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadAnalytics();
});

export function openDashboard() {
  const form = $("#analytics-form");
  if (!form.elements.to.value) {
    const now = new Date();
    form.elements.to.value = isoDate(now);
    form.elements.from.value = isoDate(new Date(now.getTime() - 29 * 86400000));
  }
  loadAnalytics();
}

// ------------------------------------------------------------------------------------ Orders

fill($("#order-filters").elements.status, h("option", { value: "" }, "Any"), STATUSES.map((s) => h("option", { value: s }, s)));

function assignCell(order) {
  const cell = h("td", { class: "assign" });
  if (!ASSIGNABLE.includes(order.status)) {
    cell.append(courierName(order.assigned_to));
    return cell;
  }
  const select = h(
    "select",
    { "aria-label": `Courier for order #${order.order_id}` },
    h("option", { value: "" }, "Choose a courier"),
    (couriers || []).map((c) => h("option", { value: c.id, selected: c.id === order.assigned_to }, c.name)),
  );
  const reassign = order.status === "Assigned";
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const button = h("button", { type: "button" }, reassign ? "Reassign" : "Assign");
  button.addEventListener("click", async () => {
    showError(error, null);
    if (!select.value) return showError(error, new Error("Choose a courier first."));
    button.disabled = true;
    try {
      const body = { order_id: order.order_id, delivery_person_id: Number(select.value), reassign };
      const answer = await api("/admin/assign-delivery", { method: "POST", body });
      flash(`Order #${order.order_id} assigned to ${courierName(answer.order.assigned_to)}.`);
      cell.closest("tr").replaceWith(orderRow(answer.order));
    } catch (err) {
      showError(error, err);
      button.disabled = false;
    }
  });
  cell.append(h("div", { class: "row" }, select, button), error);
  return cell;
}

function orderRow(order) {
  return h(
    "tr",
    { dataset: { orderId: order.order_id } },
    h("td", {}, h("strong", {}, `#${order.order_id}`), h("div", { class: "mono small" }, order.tracking_number)),
    h(
      "td",
      {},
      statusBadge(order.status),
      order.late_risk ? h("span", { class: "badge late-risk", title: "The latest ETA is after the delivery window" }, "Late risk") : false,
    ),
    h("td", {}, `#${order.customer_id}`),
    h("td", {}, order.recipient_name, h("div", { class: "muted small" }, order.delivery_address)),
    h("td", { class: "small" }, formatTime(order.created_at)),
    assignCell(order),
  );
}

const orderList = pager($("#admin-orders-more"), $("#order-filters .error"), async (cursor) => {
  await loadCouriers();
  const page = await api(withQuery("/admin/orders", { ...formValues($("#order-filters")), limit: 25, cursor }));
  const body = $("#admin-orders tbody");
  if (!cursor) fill(body);
  body.append(...page.orders.map(orderRow));
  $("#admin-orders-empty").hidden = body.children.length > 0;
  return page.next_cursor;
});

$("#order-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  orderList.reload();
});

$("#orders-csv").addEventListener("click", async () => {
  const box = $("#order-filters .error");
  showError(box, null);
  try {
    const response = await request(withQuery("/admin/orders/export.csv", formValues($("#order-filters"))), { headers: { Accept: "text/csv" } });
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: `orders-${isoDate(new Date())}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showError(box, err);
  }
});

export function openOrders() {
  orderList.reload();
}

// ------------------------------------------------------------------------------------ Users

const TYPE_NAMES = { customer: "Customer", delivery_person: "Courier", admin: "Admin" };

function userRow(user) {
  return h(
    "tr",
    {},
    h("td", {}, TYPE_NAMES[user.user_type] || user.user_type),
    h("td", { class: "num" }, user.id),
    h("td", {}, user.name || user.username || ""),
    h("td", {}, user.email || user.username || ""),
    h("td", {}, user.phone || ""),
    h("td", { class: "small" }, formatTime(user.created_at)),
  );
}

const userList = pager($("#users-more"), $("#users-error"), async (cursor) => {
  const page = await api(withQuery("/admin/users", { ...formValues($("#user-filters")), limit: 25, cursor }));
  const body = $("#users tbody");
  if (!cursor) fill(body);
  body.append(...page.users.map(userRow));
  return page.next_cursor;
});

$("#user-filters").addEventListener("change", () => userList.reload());

function showRegisterFields() {
  const form = $("#register-form");
  const type = form.elements.user_type.value;
  for (const label of form.querySelectorAll("[data-for]")) label.hidden = label.dataset.for !== type;
}

$("#register-form").elements.user_type.addEventListener("change", showRegisterFields);

bindForm($("#register-form"), async (values, form) => {
  values.password = form.elements.password.value; // passwords are sent as typed, spaces included
  const answer = await api("/register", { method: "POST", body: values });
  const user = answer.user;
  flash(`${answer.message}: ${user.name || user.username} (id ${user.id}).`);
  form.reset();
  showRegisterFields();
  couriers = null;
  userList.reload();
});

export function openUsers() {
  showRegisterFields();
  userList.reload();
}

// ------------------------------------------------------------------------------------ Issues

fill($("#issue-filters").elements.status, h("option", { value: "" }, "Any"), ISSUE_STATUSES.map((s) => h("option", { value: s }, s)));

function issueCard(issue) {
  const card = h("li", { class: "card issue", dataset: { issueId: issue.issue_id } });
  const response = h("textarea", { name: "response", rows: 2, "aria-label": `Response to issue #${issue.issue_id}` });
  response.value = issue.response || "";
  const status = h("select", { name: "status", "aria-label": `Status of issue #${issue.issue_id}` }, ISSUE_STATUSES.map((s) => h("option", { value: s, selected: s === issue.status }, s)));
  const form = h(
    "form",
    { class: "answer", novalidate: true },
    h("label", {}, "Response", response),
    h("div", { class: "row" }, status, h("button", { type: "submit" }, "Save")),
    h("p", { class: "error", role: "alert", hidden: true }),
  );
  bindForm(form, async () => {
    const body = { issue_id: issue.issue_id, response: response.value.trim() || null, status: status.value };
    const answer = await api("/admin/issues", { method: "PATCH", body });
    flash(`Issue #${issue.issue_id} saved.`);
    card.replaceWith(issueCard(answer.issue));
  });
  const who = `${TYPE_NAMES[issue.user_type] || issue.user_type} #${issue.user_id}`;
  fill(
    card,
    h("div", { class: "row spread" }, h("strong", {}, `Issue #${issue.issue_id}`), h("span", { class: `badge issue-${slug(issue.status)}` }, issue.status)),
    h("div", { class: "muted small" }, `${who}${issue.order_id ? ` · order #${issue.order_id}` : ""} · ${formatTime(issue.created_at)}`),
    h("p", { class: "issue-message" }, issue.message),
    form,
  );
  return card;
}

const issueList = pager($("#issues-more"), $("#issues-error"), async (cursor) => {
  const page = await api(withQuery("/admin/issues", { ...formValues($("#issue-filters")), limit: 20, cursor }));
  const list = $("#issues");
  if (!cursor) fill(list);
  list.append(...page.issues.map(issueCard));
  $("#issues-empty").hidden = list.children.length > 0;
  return page.next_cursor;
});

$("#issue-filters").addEventListener("change", () => issueList.reload());

export function openIssues() {
  issueList.reload();
}
