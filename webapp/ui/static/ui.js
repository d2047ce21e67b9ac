// Every page: marks the page as scripted (CSS hides the no-script fallbacks), opens and
// closes the navigation on narrow screens, and asks before a form with data-confirm is sent.
// A static file, not inline handlers, so a Content-Security-Policy without 'unsafe-inline'
// allows it.
(function () {
  document.documentElement.classList.add("js");
  document.addEventListener("submit", (ev) => {
    const question = ev.target.dataset && ev.target.dataset.confirm;
    if (question && !window.confirm(question)) ev.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", () => {
    const toggle = document.querySelector(".nav-toggle");
    if (!toggle) return;
    const nav = toggle.closest("nav");
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
    });
  });
})();
