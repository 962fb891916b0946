// Live refresh without a full reload: every [data-live] block re-fetches its fragment while the
// thing it shows (an execution, an endpoint update) is still changing. Small enough not to need a
// framework; everything it loads comes from this server. The pages have no inline script (the
// Content-Security-Policy allows this file only): behaviour is attached here, by data attribute.
(function () {
  "use strict";
  const PERIOD_MS = 1000;
  function terminal(block) {
    const live = block.querySelector("#live");
    return !live || live.dataset.terminal === "true";
  }
  function watch(block) {
    const url = block.dataset.live;
    const wasTerminal = terminal(block);
    async function tick() {
      try {
        const reply = await fetch(url, { headers: { "Accept": "text/html" }, cache: "no-store" });
        if (reply.ok) {
          block.innerHTML = await reply.text();
        }
      } catch (err) { /* the studio restarting: try again next tick */ }
      const done = terminal(block);
      if (done && block.dataset.reloadWhenDone) {
        window.location.replace(window.location.pathname);   // actions (retry/stop) change too
        return;
      }
      // Nothing changes once it has ended (a retry from this page reloads it).
      if (!done) setTimeout(tick, PERIOD_MS);
    }
    if (!wasTerminal) setTimeout(tick, PERIOD_MS);
  }
  document.querySelectorAll("[data-live]").forEach(watch);
  // <select data-submit-on-change>: choosing an option submits its form (the monitoring page's endpoint).
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // <a data-back>: back to the previous page when there is one, else the link's own href.
  document.querySelectorAll("a[data-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length > 1) {
        event.preventDefault();
        window.history.back();
      }
    });
  });
})();
