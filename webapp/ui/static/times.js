// Every <time data-local> shows UTC as the server rendered it; this adds the viewer's own
// zone in front when it is not UTC ("2026-12-02 16:04:05 CET · 15:04:05 UTC"), also in
// parts of the page that live updates replace. Plain JavaScript, nothing from other sites.
(function () {
  const pad = (n) => String(n).padStart(2, "0");
  const zone = (d) => {
    const part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(d).find((p) => p.type === "timeZoneName");
    return part ? part.value : "";
  };
  function localize(root) {
    for (const el of root.querySelectorAll("time[data-local]:not([data-done])")) {
      const d = new Date(el.getAttribute("datetime"));
      el.dataset.done = "1";
      if (isNaN(d) || d.getTimezoneOffset() === 0) continue;  // the viewer's zone is UTC then
      const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone(d)}`;
      const utc = el.textContent.trim();
      // Two unbreakable halves, so a narrow column wraps between them, not inside a time.
      const part = (text) => { const s = document.createElement("span"); s.className = "t"; s.textContent = text; return s; };
      el.replaceChildren(part(local), " ", part(`· ${utc.slice(11)}`));
      el.title = utc;
    }
  }
  localize(document);
  new MutationObserver(() => localize(document)).observe(document.body, { childList: true, subtree: true });
})();
