// Keeps the run page current until the run is done: at once when live.js announces a change
// of this run, and by polling the JSON API as a fallback.
(function () {
  const root = document.getElementById("run");
  if (!root || root.dataset.done === "true") return;
  const every = parseInt(root.dataset.pollMs || "1000", 10);
  const text = (id, value) => { document.getElementById(id).textContent = value; };
  const cell = (value) => { const td = document.createElement("td"); td.textContent = value ?? ""; return td; };
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    let run;
    try {
      const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(response.status);
      run = await response.json();
    } catch (err) {
      timer = setTimeout(refresh, every * 2);
      return;
    }
    const state = document.getElementById("state");
    state.textContent = run.state;
    state.className = "state state-" + run.state;
    document.getElementById("dead").hidden = !run.dead_lettered;
    text("attempts", run.attempts);
    text("started", run.started_at || "—");
    text("finished", run.finished_at || "—");
    text("next-retry", run.next_retry_at || "—");
    text("runtime", run.runtime_ms == null ? "—" : run.runtime_ms.toFixed(1) + " ms");
    text("result", run.result == null ? "—" : JSON.stringify(run.result, null, 2));
    text("error", run.error || "—");
    const body = document.getElementById("history");
    body.replaceChildren(...run.history.map((a) => {
      const tr = document.createElement("tr");
      tr.append(cell(a.number), cell(a.started_at), cell(a.finished_at), cell(a.outcome || "running"), cell(a.retry_in), cell(a.error));
      return tr;
    }));
    root.dataset.done = String(run.done);
    if (!run.done) timer = setTimeout(refresh, every);
  }
  document.addEventListener("beatkeeper:changes", (ev) => {
    if (root.dataset.done !== "true" && (!ev.detail.length || ev.detail.some((c) => c.run === root.dataset.run))) refresh();
  });
  timer = setTimeout(refresh, every);
})();
