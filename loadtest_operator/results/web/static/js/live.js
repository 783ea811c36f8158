// The live stream of a running LoadTest (server-sent events from the results service), read with fetch
// rather than EventSource: EventSource cannot send the Authorization header, and a token in the URL
// would reach logs. Calls onEvent(name, data) for each event until the stream ends.
import { ApiError, apiUrl, authHeaders, detail } from "./common.js";

export async function follow(namespace, name, onEvent, signal) {
  const url = apiUrl(`namespaces/${encodeURIComponent(namespace)}/loadtests/${encodeURIComponent(name)}/live`);
  const answer = await fetch(url, { headers: { ...authHeaders(), Accept: "text/event-stream" }, signal, cache: "no-store" });
  if (!answer.ok) throw new ApiError(answer.status, await detail(answer));
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}
