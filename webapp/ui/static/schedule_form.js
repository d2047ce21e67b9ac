// The schedule form: shows only the chosen trigger's boxes, and previews the trigger as the
// person types (a sentence and the next fires, rendered by /schedules/new/preview, asked at
// most once per pause in typing). Without JavaScript the form's Preview button does the same
// after a submit, and every box stays visible.
(function () {
  const form = document.querySelector("form.schedule");
  const box = document.getElementById("preview");
  if (!form || !box) return;
  const body = box.querySelector(".preview-body");
  const trigger = form.elements.trigger;
  const INPUTS = ["trigger", "cron", "interval_seconds", "anchor", "run_at", "timezone"];
  const WAIT_MS = 300;
  let timer = null, asked = 0;

  function showTrigger() {
    form.querySelectorAll("[data-trigger]").forEach((el) => {
      el.hidden = el.dataset.trigger !== trigger.value;
    });
  }
  async function ask() {
    const query = new URLSearchParams();
    INPUTS.forEach((name) => { const f = form.elements[name]; if (f && f.value.trim()) query.set(name, f.value.trim()); });
    if (box.dataset.schedule) query.set("schedule", box.dataset.schedule);  // keeps its grid
    const mine = ++asked;
    try {
      // The server renders the preview as the form does (its zone, UTC, every error).
      const response = await fetch(box.dataset.url + "?" + query, { cache: "no-store" });
      const html = await response.text();
      if (mine === asked && response.ok) body.innerHTML = html;  // a late older answer is dropped
    } catch (err) { /* offline: the Preview button still works */ }
  }
  function later() { clearTimeout(timer); timer = setTimeout(ask, WAIT_MS); }
  INPUTS.forEach((name) => {
    const f = form.elements[name];
    if (f) { f.addEventListener("input", later); f.addEventListener("change", later); }
  });
  trigger.addEventListener("change", showTrigger);
  showTrigger();
})();
