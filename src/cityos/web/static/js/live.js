// Live updates by Server-Sent Events (GET /web/live): each event is one entity change from the
// hub, pushed by the server as it is committed; the map moves, adds or removes the feature.
import { t } from "./i18n.js";

export function connectLive(map, statusEl) {
  let source = null;
  let tenant = "";
  const set = (key) => {
    statusEl.dataset.i18n = key;
    statusEl.textContent = t(key);
    statusEl.dataset.state = key === "dash.live.on" ? "on" : "off";
  };
  const open = () => {
    source?.close();
    const query = tenant ? `?tenant=${encodeURIComponent(tenant)}` : "";
    source = new EventSource(`/web/live${query}`);
    let dropped = false;
    source.addEventListener("open", () => {
      set("dash.live.on");
      if (dropped) map.load(); // changes made while disconnected: reload the layers once
      dropped = false;
    });
    source.addEventListener("error", () => {
      dropped = true;
      set("dash.live.off");
    });
    source.addEventListener("entity", (event) => {
      const change = JSON.parse(event.data);
      if (change.deleted) map.removeEntity(change.id);
      else map.upsertEntity(change.layer, change.feature);
      document.body.dataset.lastLive = change.id;
    });
  };
  open();
  return {
    reconnect(next) {
      tenant = next;
      open();
    },
    close: () => source?.close(),
  };
}
