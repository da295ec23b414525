/*
 * Tailor tracker: what visitors do with personalized slots (impressions, clicks, hover and visible time), plus
 * scroll depth, dwell time and conversions per page, batched to Tailor's event API. No dependencies, no build step;
 * needs an ES2020 browser. Sets no cookies: the server's tailor_vid cookie (or visitorId) says who the visitor is.
 *
 * Django: {% load tracking %}{% tracking_script %} (or banner=True) at the end of <body>; it starts by itself.
 * Headless:
 *   Tailor.init({
 *     endpoint: "https://site.example/api/v1/events/",
 *     decisionsEndpoint: "https://site.example/api/v1/decisions/",
 *     consentEndpoint: "https://site.example/api/v1/consent/",
 *     visitorId: "<visitor_id from the decisions API>",  // sent as X-Tailor-Visitor
 *     consent: "implied",  // or "required": nothing is recorded before Tailor.consent({analytics: true, ...})
 *   });
 *   More options: respectDoNotTrack (true), flushInterval (5000 ms), impressionDelay (1000 ms), context (decisions).
 *
 * Tailor.track(type, props)  records an event; props.value becomes its value, props.decision_id its decision, the
 *                            rest (strings, numbers, booleans) its props. Unknown types are sent as "custom" with
 *                            props.name = type.
 * Tailor.consent({analytics, personalization})  stores the visitor's choice here (localStorage) and on the server.
 * Tailor.flush()             sends the queue now.
 * Markup: data-tailor-decision (tracked), data-tailor-goal="name" on links and forms (conversion),
 * data-tailor-slot + data-tailor-trigger="scroll:50|dwell:10|exit" (fetch a decision then, swap the element),
 * buttons data-tailor-consent="accept|reject", and a [data-tailor-banner] shown until the visitor chooses.
 */
(() => {
  "use strict";
  const w = window, d = document, nav = navigator;
  if (w.Tailor) return;

  const cfg = {
    endpoint: "/api/v1/events/",
    decisionsEndpoint: "/api/v1/decisions/",
    consentEndpoint: "/api/v1/consent/",
    consent: "implied",
    respectDoNotTrack: true,
    flushInterval: 5000,
    impressionDelay: 1000,
  };
  const TYPES = ["impression", "click", "hover", "scroll", "dwell", "conversion", "custom"];
  const DECISION = "data-tailor-decision", QUEUE = "tailor_q", CONSENT = "tailor_consent";
  const MAX_QUEUE = 2000; // when the server stays away, the newest events are kept
  const els = new Map(); // tracked element -> its visible time and impression
  const triggers = new Map(); // slot element -> [kind, amount]
  let batch = 500, busy, delay = 0, retryAt = 0, retryTimer, started, hidden = false, io, ticker;
  let hovered, hoverAt, maxDepth = 0, depthSent = 0, shownAt = Date.now(), shownMs = 0, dwellSent = 0;

  // Storage may be missing or throw (private modes, blocked site data); the tracker then works from memory.
  function load(area, key) {
    try { return JSON.parse(w[area].getItem(key)); } catch { return null; }
  }
  function save(area, key, value) {
    try { w[area].setItem(key, JSON.stringify(value)); } catch { /* memory only */ }
  }
  let queue = load("sessionStorage", QUEUE);
  queue = Array.isArray(queue) ? queue : [];
  const persist = () => save("sessionStorage", QUEUE, queue);

  const blocked = () => cfg.respectDoNotTrack && (nav.doNotTrack === "1" || nav.globalPrivacyControl === true);
  function allowed(purpose) {
    const choice = load("localStorage", CONSENT);
    return !blocked() && (choice ? !!choice[purpose] : cfg.consent !== "required");
  }

  function uuid() {
    const c = w.crypto;
    if (c.randomUUID) return c.randomUUID();
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; // version 4
    b[8] = (b[8] & 63) | 128; // RFC 4122 variant
    const h = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Returns whether the event was recorded: without consent it is not, not even locally.
  function add(type, decision, value, props) {
    if (!allowed("analytics")) return false;
    const event = { id: uuid(), type, ts: Date.now() };
    if (decision) event.decision_id = decision;
    if (value != null && isFinite(value)) event.value = +value;
    if (props && Object.keys(props).length) event.props = props;
    queue.push(event);
    queue = queue.slice(-MAX_QUEUE);
    persist();
    if (queue.length >= batch) flush();
    return true;
  }

  function track(type, props) {
    const flat = {};
    let value, decision;
    for (const [key, v] of Object.entries(props || {})) {
      if (key == "value") value = v;
      else if (key == "decision_id") decision = v;
      else if (["string", "number", "boolean"].includes(typeof v)) flat[key] = v;
    }
    if (!TYPES.includes(type)) (flat.name = type), (type = "custom");
    return add(type, decision, value, flat);
  }

  function post(url, body, keepalive) {
    const headers = { "Content-Type": "application/json" };
    if (cfg.visitorId) headers["X-Tailor-Visitor"] = cfg.visitorId;
    return fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin", keepalive });
  }

  // Events leave the queue once the server has answered for them (accepted, duplicate or rejected: a rejected event
  // would be rejected again). On 429, 5xx or no answer the batch is retried later with the same ids.
  function flush(leaving) {
    if (!queue.length || !allowed("analytics")) return;
    const events = queue.slice(0, batch);
    if (leaving === true) {
      // No time for an answer: the browser sends it, the events stay queued for the next page, and the server
      // counts a resent id once. sendBeacon cannot carry the visitor header, so headless pages use keepalive.
      const body = new Blob([JSON.stringify({ events })], { type: "application/json" });
      if (cfg.visitorId || !nav.sendBeacon?.(cfg.endpoint, body)) post(cfg.endpoint, { events }, true).catch(() => {});
      return;
    }
    if (busy || Date.now() < retryAt) return;
    busy = true;
    post(cfg.endpoint, { events }).then((r) => answered(r, events), () => answered(null, events));
  }

  function answered(r, events) {
    busy = false;
    const status = r ? r.status : 0;
    if (!status || status == 429 || status >= 500) return retry(r);
    delay = 0;
    if (status == 413 && events.length > 1) batch = events.length >> 1; // too big: send halves
    else {
      const done = new Set(events.map((e) => e.id));
      queue = queue.filter((e) => !done.has(e.id));
      persist();
      if (r.ok) r.json().then((b) => b.rejected?.length && console.warn("Tailor: events rejected", b.rejected));
      else console.warn("Tailor: events dropped, HTTP", status);
    }
    if (queue.length >= batch) flush();
  }

  function retry(r) {
    const after = r?.headers.get("Retry-After");
    delay = Math.min(delay ? delay * 2 : 1000, 60000);
    const wait = Math.max(delay, after ? (isNaN(after) ? Date.parse(after) - Date.now() : after * 1000) : 0);
    retryAt = Date.now() + wait;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, wait);
  }

  // Visible means at least half of the element on screen in a visible tab; an impression needs impressionDelay of it.
  function update(s) {
    const now = Date.now();
    if (s.on) s.ms += now - s.on;
    s.on = s.in && !hidden ? now : 0;
    clearTimeout(s.timer);
    if (s.on && !s.seen) s.timer = setTimeout(() => (s.seen = add("impression", s.id)), cfg.impressionDelay);
  }

  function report(s) {
    update(s);
    if (s.seen && s.ms > s.sent) add("dwell", s.id, s.ms - s.sent), (s.sent = s.ms);
  }

  function watch(el) {
    const id = el.getAttribute(DECISION), s = els.get(el);
    if (s?.id == id) return;
    if (s) forget(el);
    if (!id) return;
    els.set(el, { id, ms: 0, sent: 0 });
    io.observe(el);
  }

  function forget(el) {
    const s = els.get(el);
    if (!s) return;
    s.in = false;
    report(s);
    els.delete(el);
    io.unobserve(el);
  }

  function each(node, fn) {
    if (node.nodeType != 1) return;
    fn(node);
    node.querySelectorAll(`[${DECISION}],[data-tailor-trigger]`).forEach(fn);
  }

  function scan(el) {
    if (el.hasAttribute(DECISION)) watch(el);
    const trigger = el.dataset.tailorTrigger;
    if (trigger && el.dataset.tailorSlot && !triggers.has(el)) {
      triggers.set(el, trigger.split(":"));
      ticker ||= setInterval(check, 1000);
      check();
    }
  }

  const visibleMs = () => shownMs + (shownAt ? Date.now() - shownAt : 0);

  function check(exit) {
    let waiting = false;
    triggers.forEach(([kind, amount], el) => {
      if (kind == "scroll" ? maxDepth >= amount : kind == "dwell" ? visibleMs() >= amount * 1000 : exit === true)
        fire(el);
      else waiting ||= kind == "dwell";
    });
    if (!waiting) ticker = clearInterval(ticker);
  }

  // A slot whose trigger fired asks for its decision now and takes the answer's HTML in place of its default content.
  function fire(el) {
    triggers.delete(el);
    if (!allowed("personalization") || !el.isConnected) return;
    post(cfg.decisionsEndpoint, { slots: [el.dataset.tailorSlot], context: cfg.context })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((r) => {
        const html = r.decisions?.[0]?.html;
        if (html && el.isConnected) el.outerHTML = html; // the MutationObserver watches what replaces it
      })
      .catch((e) => console.warn("Tailor: slot keeps its default content:", e));
  }

  function depth() {
    const h = d.documentElement.scrollHeight;
    maxDepth = Math.max(maxDepth, h ? Math.min(100, Math.round(((w.scrollY + w.innerHeight) / h) * 100)) : 100);
    check();
  }

  function hoverTo(el) {
    if (el == hovered) return;
    const ms = Date.now() - hoverAt;
    if (hovered && ms >= 100) add("hover", hovered.getAttribute(DECISION), ms);
    hovered = el;
    hoverAt = Date.now();
  }

  function hide() {
    if (hidden) return;
    hoverTo(null);
    hidden = true;
    els.forEach(report);
    shownMs = visibleMs();
    shownAt = 0;
    if (maxDepth > depthSent) add("scroll", null, (depthSent = maxDepth));
    if (shownMs > dwellSent) add("dwell", null, Math.round((shownMs - dwellSent) / 100) / 10), (dwellSent = shownMs);
    flush(true);
  }

  function show() {
    if (!hidden) return;
    hidden = false;
    shownAt = Date.now();
    els.forEach(update);
  }

  function banner() {
    const chosen = load("localStorage", CONSENT);
    d.querySelectorAll("[data-tailor-banner]").forEach((b) => (b.hidden = !!chosen || blocked()));
    // A choice the server has not acknowledged yet (offline, error) is sent again.
    if (chosen && !chosen.sent) consent(chosen).catch(() => {});
  }

  function consent(choice) {
    const c = { analytics: !!choice.analytics, personalization: !!choice.personalization };
    save("localStorage", CONSENT, c);
    if (!c.analytics) (queue = []), persist();
    if (started) els.forEach(update); // impressions not recorded before consent can be now
    d.querySelectorAll("[data-tailor-banner]").forEach((b) => (b.hidden = true));
    return post(cfg.consentEndpoint, c).then((r) => {
      if (!r.ok) throw new Error(`Tailor: consent not stored, HTTP ${r.status}`);
      save("localStorage", CONSENT, { ...c, sent: true });
    });
  }

  function start() {
    if (d.hidden) (hidden = true), (shownAt = 0); // opened in a background tab
    const on = (target, type, fn) => target.addEventListener(type, fn, { capture: true, passive: true });
    io = new IntersectionObserver(
      (entries) => entries.forEach((e) => {
        const s = els.get(e.target);
        if (s) (s.in = e.intersectionRatio >= 0.5), update(s);
      }),
      { threshold: 0.5 },
    );
    new MutationObserver((changes) => changes.forEach((m) => {
      m.removedNodes.forEach((n) => each(n, forget));
      m.addedNodes.forEach((n) => each(n, scan));
      if (m.type == "attributes") watch(m.target);
    })).observe(d.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: [DECISION] });
    each(d.documentElement, scan);

    on(w, "scroll", depth);
    on(d, "pointerover", (e) => e.pointerType == "mouse" && hoverTo(e.target.closest?.(`[${DECISION}]`)));
    on(d, "mouseout", (e) => {
      if (e.relatedTarget) return;
      hoverTo(null);
      if (e.clientY <= 0) check(true); // left through the top edge: exit intent
    });
    on(d, "click", (e) => {
      const t = e.target.closest ? e.target : e.target.parentElement;
      const el = t.closest(`[${DECISION}]`), link = t.closest("a[href]"), choice = t.closest("[data-tailor-consent]");
      if (el) add("click", el.getAttribute(DECISION), null, link ? { href: link.pathname, tag: "a" } : { tag: t.localName });
      if (link?.dataset.tailorGoal) add("conversion", null, null, { goal: link.dataset.tailorGoal });
      if (choice) {
        const yes = choice.dataset.tailorConsent == "accept";
        consent({ analytics: yes, personalization: yes }).catch((err) => console.warn(err));
      }
    });
    on(d, "submit", (e) => {
      const goal = e.target.dataset?.tailorGoal;
      if (goal) add("conversion", null, null, { goal });
    });
    on(d, "visibilitychange", () => (d.hidden ? hide() : show()));
    on(w, "pagehide", hide);
    on(w, "pageshow", (e) => e.persisted && show()); // back from the back/forward cache
    setInterval(flush, cfg.flushInterval);
    depth();
    banner();
    flush(); // what an earlier page left unsent
  }

  function init(options) {
    Object.assign(cfg, options);
    if (started) return;
    started = true;
    if (d.readyState == "loading") d.addEventListener("DOMContentLoaded", start);
    else start();
  }

  w.Tailor = { init, track, consent, flush: () => flush() };
  const config = d.currentScript?.dataset.tailorConfig;
  if (config) init(JSON.parse(config));
})();
