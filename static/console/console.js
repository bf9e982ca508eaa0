// The console's entry point: logging in and out, the navigation of each role, and a small hash router.

import * as admin from "./admin.js";
import { api, onSessionEnded, session } from "./api.js";
import * as courier from "./courier.js";
import * as customer from "./customer.js";
import * as imports from "./imports.js";
import * as dispatch from "./dispatch.js";
import { $, bindForm, fill, flash, h, showError } from "./ui.js";

// Each role's screens: the hash route, its nav label, and the function that opens it (given the route's
// argument, e.g. an order id). open() may return a function that closes the screen (stops live streams).
const ROUTES = {
  customer: [
    { path: "orders", label: "My orders", view: "customer-orders", open: customer.openOrders },
    { path: "orders/:id", view: "customer-order", open: customer.openOrder },
  ],
  delivery_person: [{ path: "assigned", label: "Assigned orders", view: "courier", open: courier.openAssigned }],
  admin: [
    { path: "dashboard", label: "Dashboard", view: "dashboard", open: admin.openDashboard },
    { path: "orders", label: "Orders", view: "admin-orders", open: admin.openOrders },
    { path: "import", label: "Import", view: "admin-import", open: imports.openImport },
    { path: "users", label: "Users", view: "users", open: admin.openUsers },
    { path: "issues", label: "Issues", view: "issues", open: admin.openIssues },
    { path: "dispatch", label: "Dispatch", view: "dispatch", open: dispatch.openDispatch },
  ],
};
const ROLE_NAMES = { customer: "Customer", delivery_person: "Courier", admin: "Admin" };

let closeCurrent = null;

function showView(name) {
  for (const view of document.querySelectorAll("[data-view]")) view.hidden = view.id !== `view-${name}`;
}

function match(routes, hash) {
  const parts = hash.replace(/^#\/?/, "").split("/");
  for (const route of routes) {
    const pattern = route.path.split("/");
    if (pattern.length !== parts.length) continue;
    const ok = pattern.every((piece, i) => piece.startsWith(":") || piece === parts[i]);
    if (ok) return { route, arg: pattern.findIndex((p) => p.startsWith(":")) >= 0 ? parts.at(-1) : null };
  }
  return null;
}

function route() {
  if (closeCurrent) closeCurrent();
  closeCurrent = null;
  const current = session.get();
  if (!current) return showLogin();
  const routes = ROUTES[current.role] || [];
  const found = match(routes, location.hash);
  if (!found) {
    location.replace(`#/${routes[0].path}`);
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.getAttribute("href") === `#/${found.route.path}`);
    if (link.classList.contains("active")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showView(found.route.view);
  closeCurrent = found.route.open(found.arg) || null;
}

function showHeader(current) {
  const nav = $("#nav");
  const links = current ? ROUTES[current.role].filter((r) => r.label) : [];
  fill(nav, links.map((r) => h("a", { href: `#/${r.path}` }, r.label)));
  nav.hidden = !current;
  $("#who").hidden = !current;
  if (current) $("#who-name").textContent = `${current.login} · ${ROLE_NAMES[current.role] || current.role}`;
}

function showLogin(message) {
  showHeader(null);
  showView("login");
  const form = $("#login-form");
  showError($(".error", form), message ? new Error(message) : null);
  form.elements.login.focus();
}

function endSession(message) {
  if (closeCurrent) closeCurrent();
  closeCurrent = null;
  session.clear();
  showLogin(message);
}

bindForm($("#login-form"), async (values, form) => {
  const login = values.login || "";
  const body = { password: form.elements.password.value };
  body[login.includes("@") ? "email" : "username"] = login;
  const answer = await api("/login", { method: "POST", body, auth: false });
  session.set({
    token: answer.token,
    refresh_token: answer.refresh_token,
    role: answer.role,
    id: answer.id,
    login,
  });
  form.reset();
  showHeader(session.get());
  route();
});

$("#logout").addEventListener("click", async () => {
  const current = session.get();
  try {
    await api("/logout", { method: "POST", body: { refresh_token: current && current.refresh_token } });
  } catch {
    // The session is gone from this browser either way; an error here means it had already ended.
  }
  endSession();
  flash("You are logged out.");
});

onSessionEnded(endSession);
window.addEventListener("hashchange", route);
showHeader(session.get());
route();
