// The admin's import screen: upload a CSV of orders (optionally a dry run, or all-or-nothing), see the per-row
// report, download the template and the rows with errors. One Idempotency-Key per chosen file, so pressing
// Import again after a lost answer never creates the orders twice.

import { api, newKey, request } from "./api.js";
import { $, fill, flash, h, showError } from "./ui.js";

const form = $("#import-form");
const input = $("input[name=file]", form);
let key = newKey();
let lastReport = null;

input.addEventListener("change", () => {
  key = newKey();
});

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function problems(entry) {
  return Object.entries(entry.errors || {}).map(([column, problem]) => `${column}: ${problem}`).join("; ");
}

function render(report) {
  lastReport = report;
  const verb = report.dry_run ? "checked" : "imported";
  $("#import-summary").textContent =
    `${report.rows} rows ${verb}: ${report.valid} valid, ${report.invalid} with errors, ${report.created} orders created.` +
    (report.message ? ` ${report.message}` : "");
  fill(
    $("#import-rows tbody"),
    report.results.map((entry) => {
      const result = entry.order_id ? "Created" : entry.errors ? "Error" : "Valid";
      return h(
        "tr",
        { dataset: { row: entry.row } },
        h("td", { class: "num" }, entry.row),
        h("td", {}, result),
        h("td", {}, entry.order_id ? `#${entry.order_id} ${entry.tracking_number}` : ""),
        h("td", { class: entry.errors ? "error-cell" : "" }, problems(entry)),
      );
    }),
  );
  $("#import-report").hidden = false;
  $("#import-errors").hidden = !report.invalid;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $(".error", form);
  showError(box, null);
  if (!input.files.length) {
    showError(box, new Error("Choose a CSV file first."));
    return;
  }
  const query = new URLSearchParams();
  if ($("input[name=dry_run]", form).checked) query.set("dry_run", "true");
  if ($("input[name=atomic]", form).checked) query.set("atomic", "true");
  const body = new FormData();
  body.append("file", input.files[0]);
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    const dryRun = query.get("dry_run") === "true";
    const headers = dryRun ? {} : { "Idempotency-Key": key };
    const report = await api(`/admin/orders/import?${query}`, { method: "POST", body, headers });
    render(report);
    flash(report.dry_run ? "File checked." : `${report.created} orders created.`);
  } catch (err) {
    if (err.body && Array.isArray(err.body.results)) render(err.body);
    showError(box, err);
  } finally {
    button.disabled = false;
  }
});

$("#import-errors").addEventListener("click", () => {
  if (!lastReport) return;
  const bad = lastReport.results.filter((entry) => entry.errors);
  const columns = [...new Set(bad.flatMap((entry) => Object.keys(entry.values || {})))];
  const quote = (value) => {
    let text = String(value ?? "");
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`; // never a formula in a spreadsheet
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [["row", "errors", ...columns].join(",")];
  for (const entry of bad) lines.push([entry.row, problems(entry), ...columns.map((c) => (entry.values || {})[c])].map(quote).join(","));
  download(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }), "import-errors.csv");
});

$("#import-template").addEventListener("click", async () => {
  const box = $(".error", form);
  showError(box, null);
  try {
    const response = await request("/admin/orders/import/template.csv", { headers: { Accept: "text/csv" } });
    download(await response.blob(), "orders-import-template.csv");
  } catch (err) {
    showError(box, err);
  }
});

export function openImport() {
  showError($(".error", form), null);
}
