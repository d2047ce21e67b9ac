// Live pages: server-sent events from /api/events refresh the parts of a page marked
// data-live-region (by fetching the page again and swapping those elements by id), and
// announce each batch as a "beatkeeper:changes" DOM event for page scripts (run.js).
// Closed while the tab is hidden; after repeated stream errors it polls every 5 s and
// tries the stream again later. Plain JavaScript, nothing from other sites.
(function () {
  const badge = document.getElementById("live");
  if (!badge) return;
  const filter = badge.dataset.filter || "";
  const POLL_MS = 5000, RETRY_STREAM_MS = 30000;
  // At most one page fetch in flight, and none closer than this to the previous one, so a
  // burst of changes costs the server a few renders, not one per change.
  const MIN_GAP_MS = parseInt(badge.dataset.minGapMs || "250", 10);
  let source = null, failures = 0, pollTimer = null, retryTimer = null;
  let refreshing = false, again = false, last = 0, later = null;

  function mode(m) {
    badge.dataset.mode = m;
    badge.textContent = { live: "live", polling: "polling every 5 s", paused: "paused", off: "connecting" }[m];
  }
  function announce(batch) {
    document.dispatchEvent(new CustomEvent("beatkeeper:changes", { detail: batch }));
  }
  function busy(el) {
    const active = document.activeElement;
    return active && el.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }
  async function refresh() {
    const regions = document.querySelectorAll("[data-live-region][id]");
    if (!regions.length) return;
    if (refreshing) { again = true; return; }
    const wait = last + MIN_GAP_MS - Date.now();
    if (wait > 0) { if (!later) later = setTimeout(() => { later = null; refresh(); }, wait); return; }
    refreshing = true;
    last = Date.now();
    try {
      const response = await fetch(location.href, { headers: { "X-Live": "1" }, cache: "no-store" });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const el of regions) {
          const next = fresh.getElementById(el.id);
          if (next && !busy(el) && next.innerHTML !== el.innerHTML) el.innerHTML = next.innerHTML;
        }
      }
    } catch (err) { /* the next change or poll tries again */ }
    refreshing = false;
    if (again) { again = false; refresh(); }
  }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }
  function startPolling() {
    stopPolling();
    mode("polling");
    pollTimer = setInterval(() => { announce([]); refresh(); }, POLL_MS);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { failures = 0; connect(); }, RETRY_STREAM_MS);
  }
  function disconnect() {
    if (source) source.close();
    source = null;
    stopPolling();
    clearTimeout(retryTimer);
  }
  function connect() {
    if (source || document.hidden) return;
    if (!window.EventSource) { startPolling(); return; }
    source = new EventSource("/api/events" + (filter ? "?" + filter : ""));
    // Whatever changed between rendering the page (or losing the stream) and this
    // subscription was never sent to it: fetch the page once now (a run that finished in
    // those few milliseconds otherwise stays PENDING on screen).
    source.addEventListener("hello", () => {
      failures = 0; stopPolling(); mode("live"); announce([]); refresh();
    });
    source.addEventListener("changes", (ev) => { announce(JSON.parse(ev.data)); refresh(); });
    source.addEventListener("resync", () => { announce([]); refresh(); });
    source.onerror = () => {
      failures += 1;
      if (failures >= 3) { source.close(); source = null; startPolling(); }
    };
  }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { disconnect(); mode("paused"); }
    else { connect(); announce([]); refresh(); }
  });
  mode("off");
  connect();
})();
