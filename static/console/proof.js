// Proof of delivery in the courier's screen: a photo from the phone's camera (a file input with
// capture="environment") and a signature drawn on a canvas, sent with Delivered as multipart form data.
// Also: opening an order by its label (typing the tracking number, or scanning the label's QR code).

import { api } from "./api.js";
import { h } from "./ui.js";

/** A signature pad: pointer strokes on a canvas; isEmpty() until something is drawn. */
export function signaturePad(width = 320, height = 140) {
  const canvas = h("canvas", { width, height, class: "signature-pad", "aria-label": "Signature pad: sign with your finger" });
  const context = canvas.getContext("2d");
  let drawn = false;
  let last = null;
  const reset = () => {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, width, height);
    context.strokeStyle = "#111";
    context.lineWidth = 2.5;
    context.lineCap = "round";
    context.lineJoin = "round";
    drawn = false;
  };
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * width) / box.width, y: ((event.clientY - box.top) * height) / box.height };
  };
  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    context.beginPath();
    context.arc(last.x, last.y, 1, 0, 2 * Math.PI);
    context.fillStyle = "#111";
    context.fill();
    drawn = true;
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(next.x, next.y);
    context.stroke();
    last = next;
  });
  const end = () => {
    last = null;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  reset();
  return {
    canvas,
    clear: reset,
    isEmpty: () => !drawn,
    toBlob: () => new Promise((resolve) => canvas.toBlob(resolve, "image/png")),
  };
}

/** The proof form of an Out for Delivery order; `act` runs the request like the card's other buttons. */
export function proofForm(order, codeInput, act) {
  const photo = h("input", { type: "file", name: "photo", accept: "image/jpeg,image/png", capture: "environment", "aria-label": "Photo of the delivery" });
  const pad = signaturePad();
  const form = h(
    "form",
    { class: "proof-form", novalidate: true },
    h("h3", {}, "Deliver with photo and signature"),
    h("label", {}, "Photo ", photo),
    h("div", { class: "signature" }, h("span", { class: "muted" }, "Signature"), pad.canvas, h("button", { type: "button", class: "secondary", onclick: pad.clear }, "Clear signature")),
    h("button", { type: "submit" }, "Deliver with proof"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const body = new FormData();
      body.append("status", "Delivered");
      if (codeInput.value.trim()) body.append("code", codeInput.value.trim());
      if (photo.files.length) body.append("photo", photo.files[0]);
      if (!pad.isEmpty()) body.append("signature", await pad.toBlob(), "signature.png");
      return api(`/delivery/orders/${order.order_id}/proof`, { method: "POST", body });
    });
  });
  return form;
}

/** The tracking number in what was typed or scanned: a bare number, or the label's QR code URL (.../t/<n>). */
export function trackingNumberIn(text) {
  const value = (text || "").trim();
  const match = value.match(/\/t\/([A-Za-z0-9]+)\/?$/);
  return (match ? match[1] : value).toUpperCase();
}
