// Scanning the customer's QR code with the phone's camera: frames from getUserMedia are decoded with the
// vendored jsQR (loaded on first use). Typing the code works everywhere; this is the shortcut.

import { base } from "./api.js";
import { h, showError } from "./ui.js";

const JSQR = `${base}/static/vendor/jsqr-1.4.0/jsQR.js`;
let loading = null;

export function canScan() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

function loadJsQR() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  loading ??= new Promise((resolve, reject) => {
    const script = h("script", { src: JSQR });
    script.addEventListener("load", () => resolve(window.jsQR));
    script.addEventListener("error", () => reject(new Error("The QR code reader could not be loaded.")));
    document.head.append(script);
  });
  return loading;
}

/** Open the camera inside `card`; when a QR code is read, put its text in `input` and call done(). */
export async function scanInto(card, input, done) {
  const box = card.querySelector(".error");
  showError(box, null);
  let stream;
  try {
    const jsQR = await loadJsQR();
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    const video = h("video", { playsinline: true, muted: true, class: "scanner-video" });
    const stop = h("button", { type: "button", class: "secondary" }, "Stop scanning");
    const panel = h("div", { class: "scanner" }, video, stop);
    card.append(panel);
    video.srcObject = stream;
    await video.play();
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    let running = true;
    const close = () => {
      running = false;
      stream.getTracks().forEach((track) => track.stop());
      panel.remove();
    };
    stop.addEventListener("click", close);
    const tick = () => {
      if (!running) return;
      if (video.videoWidth) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        context.drawImage(video, 0, 0);
        const found = jsQR(context.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
        if (found && found.data) {
          input.value = found.data.trim();
          close();
          done();
          return;
        }
      }
      setTimeout(tick, 200);
    };
    tick();
  } catch (err) {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    const denied = err && err.name === "NotAllowedError";
    showError(box, new Error(denied ? "Camera permission was denied: type the code instead." : `The camera cannot be used: ${err.message}. Type the code instead.`));
  }
}
