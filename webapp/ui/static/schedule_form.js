// The schedule form: shows only the chosen trigger's boxes, and previews the trigger as the
// person types (a sentence and the next fires from /api/triggers/preview, asked at most
// once per pause in typing). Without JavaScript the form's Preview button does the same
// after a submit, and every box stays visible.
(function () {
  const form = document.querySelector("form.schedule");
  const box = document.getElementById("preview");
  if (!form || !box) return;
  const body = box.querySelector(".preview-body");
  const trigger = form.elements.trigger;
  const INPUTS = ["trigger", "cron", "interval_seconds", "anchor", "run_at", "timezone"];
  const BOX_OF = { cron: "cron", interval: "interval_seconds", once: "run_at" };
  const WAIT_MS = 300;
  let timer = null, asked = 0;

  function showTrigger() {
    form.querySelectorAll("[data-trigger]").forEach((el) => {
      el.hidden = el.dataset.trigger !== trigger.value;
    });
  }
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function wall(iso) { return iso.slice(0, 19).replace("T", " "); }
  function render(answer, ok) {
    const parts = [];
    if (!ok) {
      const p = el("p", null, "field-error");
      (answer.errors || [{ field: "trigger", message: answer.detail || "cannot be previewed" }])
        .forEach((e, i) => {
          if (i) p.append("; ");
          p.append(el("code", e.field), ": " + e.message);
        });
      parts.push(p);
    } else {
      parts.push(el("p", "Runs " + answer.description + ".", "description"));
      answer.notes.forEach((n) => parts.push(el("p", "Note: " + n, "muted note")));
      const list = el("ol", null, "fires");
      answer.fires.forEach((f) => {
        const li = el("li");
        const time = el("time", wall(f.local));
        time.dateTime = f.utc;
        li.append(time, " ", el("span", wall(f.utc).slice(11) + " UTC", "muted"));
        list.append(li);
      });
      if (!answer.fires.length) list.append(el("li", "No more fires.", "muted"));
      parts.push(list);
    }
    body.replaceChildren(...parts);
  }
  async function ask() {
    const own = form.elements[BOX_OF[trigger.value] || "cron"];
    if (!own || !own.value.trim()) {
      body.replaceChildren(el("p", "Fill in the trigger to see when it fires.", "muted"));
      return;
    }
    const query = new URLSearchParams();
    INPUTS.forEach((name) => { const f = form.elements[name]; if (f && f.value.trim()) query.set(name, f.value.trim()); });
    if (box.dataset.schedule) query.set("schedule", box.dataset.schedule);  // keeps its grid
    const mine = ++asked;
    try {
      const response = await fetch(box.dataset.url + "?" + query, { headers: { Accept: "application/json" } });
      const answer = await response.json();
      if (mine === asked) render(answer, response.ok);  // an older answer arriving late is dropped
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
