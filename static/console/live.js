// Server-Sent Events over fetch(): EventSource cannot send the Authorization header that the customer's
// stream needs, so this reads text/event-stream from a ReadableStream. Like EventSource it resumes after the
// last event id (Last-Event-ID header) when the stream ends, and honours the server's retry: delay.
// See courier/live.py for the format: "id: <event_id>\nevent: <type>\ndata: <JSON>\n\n", comments ": ...".

import { request } from "./api.js";

/** Parse one block of an event stream into {id, event, data, retry} (data null for comment-only blocks). */
export function parseBlock(block) {
  const message = { id: null, event: "message", data: null, retry: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") message.event = value;
    else if (field === "id") message.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
  }
  if (data.length) message.data = data.join("\n");
  return message;
}

/** Read a response body to its end, calling `dispatch(message)` for each block. */
export async function readStream(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n/g, "\n");
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      dispatch(parseBlock(buffer.slice(0, end)));
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
    }
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Follow an authenticated event stream until stop() is called, isDone() says the order is final, or the
 * server answers 204 (nothing more will come). Reconnects after network errors, 429, 503 and the stream's
 * end; an access token that expired on the way is refreshed by request().
 *
 * onEvent(type, data, id) gets each event; onState(state, error) gets "live", "reconnecting", "ended", "error".
 * Returns stop().
 */
export function follow(path, { lastEventId = 0, onEvent, onState = () => {}, isDone = () => false }) {
  const controller = new AbortController();
  let last = lastEventId;
  let retry = 3000;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const headers = last ? { "Last-Event-ID": String(last) } : {};
        const response = await request(path, { headers, signal: controller.signal });
        if (response.status === 204) return onState("ended");
        onState("live");
        await readStream(response.body, (message) => {
          if (message.retry !== null) retry = message.retry;
          if (message.id !== null) last = message.id;
          if (message.data !== null) onEvent(message.event, JSON.parse(message.data), message.id);
        });
        if (isDone()) return onState("ended");
      } catch (err) {
        if (controller.signal.aborted || err.name === "AbortError") return;
        const retriable = !err.status || err.status === 429 || err.status >= 500;
        if (!retriable) return onState("error", err);
        onState("reconnecting", err);
      }
      await sleep(retry, controller.signal);
    }
  };
  run();
  return () => controller.abort();
}
