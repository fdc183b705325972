// The usage panel: this month's jobs and output of the key's own user, and their budget
// (GET /public/v1/usage). Apart from app.js: it reads the key field and watches the job
// list, and needs nothing else of the page.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const key = $("api-key");
  const panel = $("usage-panel");
  let timer = null;

  const megapixels = (value) =>
    `${value.toLocaleString(undefined, { maximumFractionDigits: 2 })} MP`;

  function render(body) {
    const total = body.rows[0] || { jobs: 0, succeeded: 0, failed: 0, reused: 0, output_megapixels: 0 };
    $("usage-jobs").textContent =
      `${total.jobs} (${total.succeeded} succeeded, ${total.reused} reused, ${total.failed} failed)`;
    $("usage-output").textContent = megapixels(total.output_megapixels);
    const meter = $("usage-meter");
    const budget = body.budget;
    if (budget) {
      const resets = new Date(budget.resets_at).toLocaleDateString(undefined, { timeZone: "UTC" });
      $("usage-budget").textContent =
        `${megapixels(budget.used_output_megapixels)} of ${megapixels(budget.monthly_output_megapixels)}`;
      meter.max = Math.max(budget.monthly_output_megapixels, 1e-6);
      meter.value = Math.min(budget.used_output_megapixels, meter.max);
      meter.hidden = false;
      $("usage-note").textContent =
        `The budget counts jobs still running too; it starts again on ${resets} (UTC).`;
    } else {
      $("usage-budget").textContent = "None";
      meter.hidden = true;
      $("usage-note").textContent = "";
    }
    panel.hidden = false;
  }

  async function refresh() {
    const value = key.value.trim();
    if (!value) {
      panel.hidden = true;
      return;
    }
    try {
      const response = await fetch("/public/v1/usage", {
        headers: { Authorization: `Bearer ${value}` },
        credentials: "omit",
        cache: "no-store",
      });
      if (!response.ok) {
        panel.hidden = true; // app.js explains a bad key
        return;
      }
      render(await response.json());
    } catch {
      panel.hidden = true;
    }
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  key.addEventListener("input", soon);
  // A job added or finished changes the list: the figures may have changed too.
  new MutationObserver(soon).observe($("jobs"), { childList: true, subtree: true, characterData: true });
  soon();
})();
