// The run page shows a new state the moment the live stream announces it (the change carries
// the run's state); live.js then fetches the page and fills in the rest. Plain JavaScript.
(function () {
  const root = document.getElementById("run");
  if (!root) return;
  document.addEventListener("beatkeeper:changes", (ev) => {
    for (const change of ev.detail) {
      const state = document.getElementById("state");
      if (change.run !== root.dataset.run || !change.state || !state) continue;
      state.textContent = change.state;
      state.className = "state state-" + change.state;
    }
  });
})();
