// Live refresh without a full reload: every [data-live] block re-fetches its fragment while the
// thing it shows (an execution, an endpoint update) is still changing. Small enough not to need a
// framework; everything it loads comes from this server.
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
})();
