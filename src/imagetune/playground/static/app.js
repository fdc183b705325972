// The imagetune playground: the public API (/public/v1), driven from a browser tab.
// Plain JavaScript, no build step. The API key stays in this tab's sessionStorage.
"use strict";

(() => {
  const KEY_STORAGE = "imagetune.apiKey";
  const POLL_MS = 1000;
  const EXTENSIONS = { png: "png", jpeg: "jpg", webp: "webp", avif: "avif", gif: "gif" };
  const FORMAT_NAMES = { png: "PNG", jpeg: "JPEG", webp: "WebP", avif: "AVIF", gif: "GIF" };

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("upscale-form"),
    key: $("api-key"),
    image: $("image"),
    dropZone: $("drop-zone"),
    imageInfo: $("image-info"),
    scale: $("scale"),
    model: $("model"),
    modelDescription: $("model-description"),
    format: $("output-format"),
    button: $("upscale"),
    status: $("status"),
    error: $("error"),
    progressRow: $("progress-row"),
    progress: $("progress"),
    elapsed: $("elapsed"),
    result: $("result"),
    summary: $("result-summary"),
    zoom: $("zoom"),
    download: $("download"),
    viewer: $("viewer"),
    compare: $("compare"),
    before: $("before"),
    after: $("after"),
    jobs: $("jobs"),
    jobsEmpty: $("jobs-empty"),
  };

  const state = {
    file: null, // { file, name, size, width, height, url }
    models: [],
    jobs: [], // newest last
    shown: null, // the job in the result view
    followed: null, // the job whose progress the status area shows
    retryUntil: 0,
    retryTimer: 0,
    clockTimer: 0,
  };

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  // ---- words -------------------------------------------------------------------------

  function formatBytes(bytes) {
    if (bytes < 1024) return `${bytes} bytes`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  }

  function formatSeconds(seconds) {
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  }

  const dims = (width, height) => `${width}×${height}`;

  // The server's own words: a string, or FastAPI's list of validation errors.
  function describeDetail(detail, status) {
    if (typeof detail === "string" && detail) return detail;
    if (Array.isArray(detail) && detail.length) {
      return detail
        .map((item) => {
          const where = (item.loc || []).filter((part) => part !== "body").join(".");
          return where ? `${where}: ${item.msg}` : item.msg;
        })
        .join("; ");
    }
    return `The server answered ${status}`;
  }

  function explain(error) {
    if (!(error instanceof ApiError)) return `Could not reach the server (${error.message}).`;
    const detail = error.message;
    switch (error.status) {
      case 401:
        return `${detail}. Check the key; a new one comes from imagetune keys create NAME.`;
      case 404:
        return detail === "Not Found User"
          ? `${detail}: this key's user was deleted. Create a user and a key again.`
          : `${detail}.`;
      case 413:
        return `${detail}. Choose a smaller file.`;
      case 422:
        return `The server refused the request: ${detail}.`;
      default:
        return /[.!?]$/.test(detail) ? detail : `${detail}.`;
    }
  }

  // ---- the API -----------------------------------------------------------------------

  async function api(path, options = {}) {
    const response = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${ui.key.value.trim()}`, ...(options.headers || {}) },
      cache: "no-store",
      credentials: "omit",
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
      throw new ApiError(
        response.status,
        describeDetail(body && body.detail, response.status),
        Number.isFinite(retryAfter) ? retryAfter : 0,
      );
    }
    return body;
  }

  // ---- status and errors (announced through the aria-live regions) -------------------

  function say(text) {
    ui.status.textContent = text;
  }

  function showError(text) {
    const appeared = Boolean(text) && ui.error.hidden;
    ui.error.textContent = text;
    ui.error.hidden = !text;
    if (appeared) ui.error.scrollIntoView({ block: "nearest" });
  }

  function startRetryCountdown(message, seconds) {
    clearInterval(state.retryTimer);
    state.retryUntil = Date.now() + seconds * 1000;
    ui.button.disabled = true;
    const tick = () => {
      const left = Math.ceil((state.retryUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(state.retryTimer);
        ui.button.disabled = false;
        showError(`${message} You can try again now.`);
        return;
      }
      showError(`${message} Try again in ${left} s.`);
    };
    tick();
    state.retryTimer = setInterval(tick, 1000);
  }

  // ---- the key -----------------------------------------------------------------------

  let modelsTimer = 0;
  function keyChanged() {
    const key = ui.key.value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    clearTimeout(modelsTimer);
    if (key) modelsTimer = setTimeout(loadModels, 400);
  }

  async function loadModels() {
    if (!ui.key.value.trim()) return;
    try {
      const models = await api("/public/v1/models");
      state.models = models;
      const previous = ui.model.value;
      ui.model.replaceChildren(
        ...models.map((model) => {
          const option = document.createElement("option");
          option.value = model.name;
          option.textContent = `${model.name}${model.default ? " (default)" : ""} · ${model.kind}`;
          option.selected = previous ? model.name === previous : model.default;
          return option;
        }),
      );
      ui.model.disabled = false;
      describeModel();
      // A key that works now: the complaints about the previous one are void.
      if (/^(Could not load the models|Invalid API key|Not Found User)/.test(ui.error.textContent)) {
        showError("");
      }
    } catch (error) {
      ui.model.disabled = true;
      ui.modelDescription.textContent = "";
      showError(`Could not load the models: ${explain(error)}`);
    }
  }

  function describeModel() {
    const model = state.models.find((m) => m.name === ui.model.value);
    ui.modelDescription.textContent = model ? model.description : "";
  }

  // ---- the image ---------------------------------------------------------------------

  async function useFile(file) {
    if (!file) return;
    if (state.file && !state.jobs.some((job) => job.original === state.file)) {
      URL.revokeObjectURL(state.file.url);
    }
    const chosen = { file, name: file.name || "pasted image", size: file.size, url: "" };
    state.file = chosen;
    ui.imageInfo.textContent = `${chosen.name}: ${formatBytes(chosen.size)}, reading…`;
    try {
      const bitmap = await createImageBitmap(file);
      chosen.width = bitmap.width;
      chosen.height = bitmap.height;
      bitmap.close();
      chosen.url = URL.createObjectURL(file);
      if (state.file === chosen) {
        ui.imageInfo.textContent =
          `${chosen.name}: ${formatBytes(chosen.size)}, ${dims(chosen.width, chosen.height)} px`;
      }
    } catch {
      chosen.needsPreview = true;
      if (state.file === chosen) {
        ui.imageInfo.textContent =
          `${chosen.name}: ${formatBytes(chosen.size)}; this browser cannot show it ` +
          "(the server will say whether it can read it)";
      }
      await previewOf(chosen);
    }
  }

  // A format the browser cannot decode (HEIC): the server draws a preview of it, in the
  // same isolated decoder an upload goes through. Needs the key; tried again when a
  // result is shown.
  async function previewOf(chosen) {
    if (!chosen.needsPreview || chosen.url || !ui.key.value.trim()) return;
    const body = new FormData();
    body.append("image", chosen.file, chosen.name);
    let response;
    try {
      response = await fetch("/public/v1/preview", {
        method: "POST",
        body,
        headers: { Authorization: `Bearer ${ui.key.value.trim()}` },
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      return;
    }
    if (!response.ok) return; // the upload itself will say why
    const size = (response.headers.get("X-Image-Size") || "").split("x").map(Number);
    chosen.url = URL.createObjectURL(await response.blob());
    chosen.needsPreview = false;
    if (size.length === 2 && size.every(Number.isFinite)) [chosen.width, chosen.height] = size;
    if (state.file === chosen) {
      const shape = chosen.width ? `, ${dims(chosen.width, chosen.height)} px` : "";
      ui.imageInfo.textContent =
        `${chosen.name}: ${formatBytes(chosen.size)}${shape} (shown from a server preview)`;
    }
  }

  function setInputFile(file) {
    // Keep the file input showing what was dropped or pasted.
    const transfer = new DataTransfer();
    transfer.items.add(file);
    ui.image.files = transfer.files;
    useFile(file);
  }

  // ---- jobs --------------------------------------------------------------------------

  function stem(name) {
    const base = name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]+/g, "-");
    return base.replace(/^[-.]+|-+$/g, "") || "image";
  }

  function seconds(from, to) {
    if (!from || !to) return null;
    return (Date.parse(to) - Date.parse(from)) / 1000;
  }

  async function submit(event) {
    event.preventDefault();
    if (!ui.key.value.trim()) {
      showError("Enter your API key first.");
      ui.key.focus();
      return;
    }
    if (!state.file) {
      showError("Choose an image first.");
      ui.image.focus();
      return;
    }
    showError("");
    const original = state.file;
    const body = new FormData();
    body.append("image", original.file, original.name);
    body.append("scale", ui.scale.value);
    if (ui.model.value) body.append("model", ui.model.value);
    body.append("output_format", ui.format.value);
    ui.button.disabled = true;
    say(`Uploading ${original.name}…`);
    try {
      const answer = await api("/public/v1/image-tune/upscale", { method: "POST", body });
      const job = {
        id: answer.job_id,
        number: state.jobs.length + 1,
        original,
        scale: ui.scale.value,
        model: ui.model.value || "default",
        format: ui.format.value,
        status: "Pending",
        progress: 0,
        submitted: Date.now(),
        body: null,
      };
      state.jobs.push(job);
      state.followed = job;
      renderJobs();
      ui.progress.value = 0;
      ui.progressRow.hidden = false;
      ui.progressRow.scrollIntoView({ block: "nearest" });
      say(`Job ${job.number} queued.`);
      startClock();
      poll(job);
    } catch (error) {
      say("");
      if (error instanceof ApiError && error.status === 429) {
        startRetryCountdown(explain(error), Math.max(1, error.retryAfter || 1));
        return;
      }
      showError(explain(error));
    } finally {
      if (!state.retryUntil || Date.now() >= state.retryUntil) ui.button.disabled = false;
    }
  }

  async function poll(job) {
    let failures = 0;
    while (job.status === "Pending") {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      try {
        const body = await api(`/public/v1/job/${job.id}`);
        failures = 0;
        job.body = body;
        job.status = body.status;
        job.progress = body.progress;
        job.model = body.model;
      } catch (error) {
        failures += 1;
        if (failures >= 5 || (error instanceof ApiError && error.status < 500)) {
          job.status = "Lost";
          if (state.followed === job) showError(`Job ${job.number}: ${explain(error)}`);
          break;
        }
        continue;
      }
      if (state.followed === job) followProgress(job);
      renderJobs();
    }
    if (state.followed === job) finishFollowing(job);
    renderJobs();
  }

  function followProgress(job) {
    ui.progress.value = job.progress;
    const running = job.body && job.body.started_at;
    say(
      running
        ? `Job ${job.number}: upscaling, ${job.progress}% done.`
        : `Job ${job.number}: queued, waiting for a worker.`,
    );
  }

  function finishFollowing(job) {
    stopClock();
    if (job.status === "Succeed") {
      ui.progress.value = 100;
      showJob(job, true);
    } else if (job.status === "Failed") {
      say(`Job ${job.number} failed.`);
      showError(`The job failed: ${job.body.error || "no reason given"}.`);
    }
  }

  function startClock() {
    stopClock();
    const tick = () => {
      const job = state.followed;
      if (job) ui.elapsed.textContent = `${Math.floor((Date.now() - job.submitted) / 1000)} s elapsed`;
    };
    tick();
    state.clockTimer = setInterval(tick, 1000);
  }

  function stopClock() {
    clearInterval(state.clockTimer);
  }

  async function refresh(job) {
    // Result URLs expire; every poll issues a fresh one.
    const body = await api(`/public/v1/job/${job.id}`);
    job.body = body;
    return body;
  }

  function loadImage(img, src) {
    return new Promise((resolve, reject) => {
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the result image did not load"));
      img.src = src;
    });
  }

  async function showJob(job, fresh) {
    try {
      const body = fresh ? job.body : await refresh(job);
      const url = body.image_urls[0];
      if (!url) {
        showError(`Job ${job.number}'s result has expired.`);
        return;
      }
      state.shown = job;
      await loadImage(ui.after, url);
      const width = ui.after.naturalWidth;
      const height = ui.after.naturalHeight;
      job.width = width;
      job.height = height;
      ui.after.width = width;
      ui.after.height = height;
      ui.before.width = width;
      ui.before.height = height;
      // The original, stretched to exactly the result's shape (its own may round apart).
      ui.before.style.aspectRatio = `${width} / ${height}`;
      await previewOf(job.original);
      if (job.original.url) ui.before.src = job.original.url;
      else ui.before.removeAttribute("src"); // a format this browser cannot show
      const took = seconds(body.created_at, body.finished_at);
      const processing = seconds(body.started_at, body.finished_at);
      job.took = took;
      const from = job.original.width ? dims(job.original.width, job.original.height) : "?";
      ui.summary.textContent =
        `${job.original.name}: ${from} → ${dims(width, height)} · ${body.model} · ` +
        `${body.scale} · ${FORMAT_NAMES[body.output_format] || body.output_format}` +
        (took === null ? "" : ` · took ${formatSeconds(took)}`) +
        (processing === null ? "" : ` (${formatSeconds(processing)} upscaling)`);
      ui.download.href = url;
      ui.download.download =
        `${stem(job.original.name)}-${body.scale}-${body.model}.` +
        `${EXTENSIONS[body.output_format] || body.output_format}`;
      ui.result.hidden = false;
      applyZoom();
      renderJobs();
      if (fresh) {
        // On a small screen the result lands below the form: bring it into view.
        if (ui.result.getBoundingClientRect().top > window.innerHeight) {
          ui.result.scrollIntoView({ block: "start" });
        }
        say(
          `Job ${job.number} done: ${from} → ${dims(width, height)}` +
            (took === null ? "." : ` in ${formatSeconds(took)}.`),
        );
      }
    } catch (error) {
      showError(`Could not show job ${job.number}: ${explain(error)}`);
    }
  }

  function applyZoom() {
    const zoom = ui.zoom.value;
    const fit = zoom === "fit";
    ui.viewer.classList.toggle("zoomed", !fit);
    ui.viewer.classList.toggle("pixelated", zoom === "2");
    if (fit) {
      ui.compare.style.removeProperty("width");
    } else {
      // One image pixel per screen pixel (or two), whatever the display's pixel ratio.
      const width = (ui.after.naturalWidth * Number(zoom)) / (window.devicePixelRatio || 1);
      ui.compare.style.width = `${width}px`;
      // Start with the divider in the middle of the view.
      const divider = (width * Number(ui.compare.value || 50)) / 100;
      ui.viewer.scrollLeft = divider - ui.viewer.clientWidth / 2;
      ui.viewer.scrollTop = (ui.viewer.scrollHeight - ui.viewer.clientHeight) / 2;
    }
  }

  function renderJobs() {
    ui.jobsEmpty.hidden = state.jobs.length > 0;
    ui.jobs.replaceChildren(
      ...state.jobs
        .slice()
        .reverse()
        .map((job) => {
          const item = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.className = "job";
          if (state.shown === job) button.setAttribute("aria-current", "true");
          const thumb = document.createElement("img");
          thumb.className = "thumb";
          thumb.alt = "";
          const url = job.body && job.body.image_urls[0];
          if (url) thumb.src = url;
          else if (job.original.url) thumb.src = job.original.url;
          const text = document.createElement("span");
          text.className = "job-text";
          const title = document.createElement("strong");
          title.textContent = `Job ${job.number}: ${job.model}, ${job.scale}, ${
            FORMAT_NAMES[job.format] || job.format
          }`;
          const detail = document.createElement("span");
          detail.textContent = jobLine(job);
          text.append(title, detail);
          button.append(thumb, text);
          button.disabled = job.status !== "Succeed";
          button.addEventListener("click", () => showJob(job, false));
          item.append(button);
          return item;
        }),
    );
  }

  function jobLine(job) {
    const name = job.original.name;
    switch (job.status) {
      case "Succeed": {
        const size = job.width ? ` → ${dims(job.width, job.height)}` : "";
        const took = job.took ? `, ${formatSeconds(job.took)}` : "";
        return `${name}${size}${took}`;
      }
      case "Failed":
        return `${name}: failed`;
      case "Lost":
        return `${name}: status unknown`;
      default:
        return `${name}: ${job.progress}%`;
    }
  }

  // ---- wiring ------------------------------------------------------------------------

  ui.key.value = sessionStorage.getItem(KEY_STORAGE) || "";
  ui.key.addEventListener("input", keyChanged);
  ui.model.addEventListener("change", describeModel);
  ui.image.addEventListener("change", () => useFile(ui.image.files[0]));
  ui.form.addEventListener("submit", submit);
  ui.zoom.addEventListener("change", applyZoom);
  ui.compare.addEventListener("slide", () => {
    ui.compare.setAttribute("aria-valuenow", String(Math.round(ui.compare.value)));
  });

  for (const name of ["dragenter", "dragover"]) {
    ui.dropZone.addEventListener(name, (event) => {
      event.preventDefault();
      ui.dropZone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    ui.dropZone.addEventListener(name, () => ui.dropZone.classList.remove("dragging"));
  }
  ui.dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) setInputFile(file);
  });
  // A file dropped beside the zone must not navigate away from the page.
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => event.preventDefault());
  document.addEventListener("paste", (event) => {
    const file = event.clipboardData && event.clipboardData.files[0];
    if (file) {
      event.preventDefault();
      setInputFile(file);
    }
  });

  if (ui.key.value) loadModels();
})();
