/*
 * Tailor tracker: what visitors do with personalized slots (impressions, clicks, hover and visible time), plus scroll
 * depth, dwell time and conversions per page (also the goals editors define in the admin), batched to Tailor's event
 * API. Plain ES2020, no dependencies. It sets no cookies: the server's HttpOnly tailor_vid cookie (or visitorId,
 * headless) says who the visitor is.
 *
 * This is the source. Browsers load tracker.js, minified from it to stay under 4 KB gzipped. After an edit, rebuild
 * it from the repository root (needs node and the npm registry; paste the three lines as they are):

cd tracking/static/tracking && { echo "// Tailor tracker, minified from tracker.src.js (sha256 \
$(sha256sum tracker.src.js | cut -c1-16)): edit that, then rebuild with the command at its top."; \
npx --yes terser@5.51.4 tracker.src.js --ecma 2020 -c passes=2 -m --comments false; } > tracker.js; cd -

 * tests/tracking/test_tracker_js.py fails when tracker.js is older than this file (by its hash) or too big.
 *
 * Django: {% load tracking %}{% tracking_script %} (banner=True adds the consent banner) at the end of <body>; the
 * script reads its configuration from data-tailor-config and starts by itself.
 *
 * Headless frontends load tracker.js and call:
 *   Tailor.init({
 *     endpoint: "https://site.example/api/v1/events/",
 *     decisionsEndpoint: "https://site.example/api/v1/decisions/",
 *     consentEndpoint: "https://site.example/api/v1/consent/",
 *     goalsEndpoint: "https://site.example/api/v1/goals/", // default: endpoint with events/ replaced by goals/
 *     visitorId: "<visitor_id from the decisions API>", // sent as X-Tailor-Visitor (the server must allow it in CORS)
 *     consent: "implied",     // or "required": nothing is recorded before Tailor.consent({analytics: true, ...})
 *     respectDoNotTrack: true, // false: ignore Do Not Track and Global Privacy Control
 *     flushInterval: 5000,     // ms between batches
 *     impressionDelay: 1000,   // ms at least half visible before an impression counts
 *     context: {},             // sent with decisions for data-tailor-trigger slots
 *   });
 *
 * Public API:
 *   Tailor.track(type, {value, decision_id, ...props})  records an event: value and decision_id become the event's
 *       own fields, the other strings, numbers and booleans its props. Types: impression, click, hover, scroll,
 *       dwell, conversion, custom; any other name is sent as "custom" with props.name = type.
 *       Tailor.track("conversion", {value: 49.0, plan: "pro"}).
 *   Tailor.goal(key, value)  a conversion for the event goal an editor defined with this key; value counts only
 *       when the goal takes the site's value (else the goal's own value is stored). Tailor.goal("order", 49.9).
 *   Tailor.consent({analytics, personalization})  stores the visitor's choice (localStorage "tailor_consent") and
 *       POSTs it to the server; returns the fetch promise.
 *   Tailor.flush()  sends the queue now.
 *
 * Markup it reads:
 *   data-tailor-decision="<id>"      tracked: impression, clicks, hover time, visible time
 *   data-tailor-goal="signup"        on a link (click) or form (submit): a conversion with props {goal}
 *   data-tailor-slot="key" data-tailor-trigger="scroll:50|dwell:10|exit"
 *                                    when the trigger fires, the slot's decision is fetched and replaces the element
 *   data-tailor-slot="key" data-tailor-pending
 *                                    a cache-friendly page's slot (the same HTML for everyone): all of them are asked
 *                                    for in ONE decisions request at start, and each answer's HTML (with its decision
 *                                    id) goes inside its marker, which keeps its height; then the marker is shown
 *   data-tailor-consent="accept|reject" buttons, inside [data-tailor-banner] (shown until the visitor chooses)
 *
 * Goals: once analytics is allowed, the published page and click goals are fetched from goalsEndpoint (once per page
 * view; the browser's cache and the ETag spare most of them), and kept in sessionStorage ("tailor_goals") so that the
 * next page of the tab can use them before its own copy arrives. A page goal whose path pattern (* for any
 * characters) matches this page's path sends a conversion {props: {goal}} once per page view, a click on an element
 * matching a click goal's CSS selector sends one per click (clicks before any copy arrived are checked when it does).
 * The server checks the goal and stores its value.
 */
(() => {
  "use strict";
  const w = window, d = document, nav = navigator;
  if (w.Tailor) return; // included twice

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
  const DECISION = "data-tailor-decision", QUEUE = "tailor_q", CONSENT = "tailor_consent", GOALS = "tailor_goals";
  const MAX_QUEUE = 2000; // a visitor whose events cannot be sent for long keeps the newest
  const els = new Map(); // tracked element -> {id, in, on, ms, sent, seen, timer}
  const triggers = new Map(); // slot element -> [kind, amount]
  const fired = new Set(); // slot keys asked for once on this page, whatever comes back
  const PENDING = "data-tailor-pending", UTM = ["source", "medium", "campaign", "term", "content"];
  let batch = 500; // the server's limit; halved after a 413 (the batch was over 256 KB)
  let busy, consenting = 0, delay = 0, retryAt = 0, retryTimer, started, hidden = false, io, ticker;
  let hovered, hoverAt, maxDepth = 0, depthSent = 0, shownAt = Date.now(), shownMs = 0, dwellSent = 0;
  // The page and click goals: fetched once per page view; until they arrive, the last page's copy (this tab's) serves.
  let goals = load("sessionStorage", GOALS), goalsAsked, early = []; // early: clicked before any copy was here
  const reached = new Set(); // page goals sent on this page view

  // Storage can be missing or throw (private modes, blocked site data); the tracker then works from memory.
  function load(area, key) {
    try {
      return JSON.parse(w[area].getItem(key));
    } catch {
      return null;
    }
  }
  function save(area, key, value) {
    try {
      w[area].setItem(key, JSON.stringify(value));
    } catch {
      // memory only
    }
  }

  // Unsent events survive page loads in this tab until the server has answered for them.
  let queue = [].concat(load("sessionStorage", QUEUE) || []);
  const persist = () => save("sessionStorage", QUEUE, (queue = queue.slice(-MAX_QUEUE)));

  const blocked = () => cfg.respectDoNotTrack && (nav.doNotTrack == "1" || nav.globalPrivacyControl === true);
  function allowed(purpose) {
    const choice = load("localStorage", CONSENT);
    return !blocked() && (choice ? !!choice[purpose] : cfg.consent != "required");
  }

  // UUID v4. crypto.randomUUID exists only in secure contexts (https, localhost); the fallback works everywhere.
  const uuid = () =>
    w.crypto.randomUUID?.() ||
    "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16),
    );

  // Without consent an event is not recorded at all, not even in the queue. Returns whether it was.
  function add(type, decision, value, props) {
    if (!allowed("analytics")) return false;
    const event = { id: uuid(), type, ts: Date.now() };
    if (decision) event.decision_id = decision;
    if (value != null && isFinite(value)) event.value = +value;
    if (props && Object.keys(props).length) event.props = props;
    queue.push(event);
    persist();
    if (queue.length >= batch) flush();
    return true;
  }

  function track(type, options) {
    const { value, decision_id, ...props } = options || {};
    for (const key in props) if (!["string", "number", "boolean"].includes(typeof props[key])) delete props[key];
    if (!TYPES.includes(type)) (props.name = type), (type = "custom");
    return add(type, decision_id, value, props);
  }

  // The wildcard match of tracking/goal_rules.py's path_matches, step for step: * is any characters, and a mismatch
  // backtracks to the last * only, so an editor's pattern is never compiled into a regular expression.
  function glob(pattern, path) {
    let p = 0, s = 0, star = -1, mark = 0;
    while (s < path.length) {
      if (pattern[p] != "*" && p < pattern.length && pattern[p] == path[s]) p++, s++;
      else if (pattern[p] == "*") (star = p++), (mark = s);
      else if (star >= 0) (p = star + 1), (s = ++mark);
      else return false;
    }
    while (pattern[p] == "*") p++;
    return p == pattern.length;
  }

  const goal = (key, value) => add("conversion", null, value, { goal: String(key) });

  function clickGoals(el) {
    if (!goals) return early.length < 20 && early.push(el);
    [].concat(goals).forEach((g) => {
      try {
        if (g.kind == "click" && el.closest(g.match)) goal(g.key);
      } catch {
        // a selector this browser does not know: that goal never matches here
      }
    });
  }

  // Page goals match the path as sent (/caf%C3%A9/) or as it reads (/café/); never the query string or fragment.
  function pageGoals() {
    const raw = location.pathname;
    let path = raw;
    try {
      path = decodeURI(raw);
    } catch {
      // a malformed escape: the raw path only
    }
    [].concat(goals || []).forEach((g) => {
      if (g.kind == "page" && !reached.has(g.key) && (glob(g.match, raw) || glob(g.match, path)) && goal(g.key)) {
        reached.add(g.key);
      }
    });
  }

  function goalsLoad() {
    if (goalsAsked || !allowed("analytics")) return;
    goalsAsked = true;
    pageGoals();
    // No cookies: the list is the same for everyone, and shared caches may keep it.
    fetch(cfg.goalsEndpoint || cfg.endpoint.replace(/events\/?$/, "goals/"), { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((b) => {
        save("sessionStorage", GOALS, (goals = [].concat(b.goals || [])));
        pageGoals();
        early.forEach(clickGoals);
        early = [];
      })
      .catch((e) => console.warn("Tailor: goals not loaded", e));
  }

  function post(url, body, keepalive) {
    const headers = { "Content-Type": "application/json" };
    if (cfg.visitorId) headers["X-Tailor-Visitor"] = cfg.visitorId;
    return fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin", keepalive });
  }

  function flush(leaving) {
    if (!queue.length || !allowed("analytics")) return;
    // Beacons and keepalive requests may carry 64 KB at most: about 100 events; the rest waits for the next page.
    const events = queue.slice(0, leaving === true ? 100 : batch);
    if (leaving === true) {
      // No time for an answer: the events stay queued for the next page, and the server counts a resent id once.
      // sendBeacon cannot carry the visitor header, so headless pages use a keepalive fetch instead.
      const blob = new Blob([JSON.stringify({ events })], { type: "application/json" });
      let queued = false;
      try {
        queued = !cfg.visitorId && nav.sendBeacon(cfg.endpoint, blob);
      } catch {
        // no sendBeacon, or it refuses a JSON body to another origin: keepalive fetch below
      }
      if (!queued) post(cfg.endpoint, { events }, true).catch(() => {});
    } else if (!busy && !consenting && Date.now() >= retryAt) {
      busy = true;
      post(cfg.endpoint, { events }).then(
        (r) => answered(r, events),
        () => answered(null, events),
      );
    }
  }

  // Answered events leave the queue, rejected ones too (they would be rejected again). On 429, 5xx or no answer
  // the same events, with the same ids, are retried after 1, 2, 4 ... 60 s, or later if the server says so.
  function answered(r, events) {
    busy = false;
    const status = r ? r.status : 0;
    if (!status || status == 429 || status > 499) {
      const after = r?.headers.get("Retry-After"); // seconds or an HTTP date
      delay = Math.min(delay * 2 || 1000, 60000);
      const wait = Math.max(delay, after ? (isNaN(after) ? Date.parse(after) - Date.now() : after * 1000) : 0);
      retryAt = Date.now() + wait;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(flush, wait);
      return;
    }
    delay = 0;
    if (status == 413 && events.length > 1) batch = events.length >> 1;
    else {
      const done = new Set(events.map((e) => e.id));
      queue = queue.filter((e) => !done.has(e.id));
      persist();
      if (!r.ok) console.warn("Tailor: events dropped, HTTP", status);
      else r.json().then((b) => b.rejected?.length && console.warn("Tailor: events rejected", b.rejected));
    }
    if (queue.length >= batch) flush();
  }

  // An element counts as visible while at least half of it is on screen in a visible tab; after impressionDelay of
  // that it has made its impression (once per element and decision). Visible time is reported as a dwell event.
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
    forget(el); // a new decision on the same element starts afresh
    if (id) els.set(el, { id, ms: 0, sent: 0 }), io.observe(el);
  }

  function forget(el) {
    const s = els.get(el);
    if (s) (s.in = false), report(s), els.delete(el), io.unobserve(el);
  }

  function each(node, fn) {
    if (node.nodeType == 1) fn(node), node.querySelectorAll(`[${DECISION}],[data-tailor-trigger]`).forEach(fn);
  }

  function scan(el) {
    if (el.hasAttribute(DECISION)) watch(el);
    const trigger = el.dataset?.tailorTrigger;
    if (trigger && !triggers.has(el)) {
      triggers.set(el, trigger.split(":"));
      ticker ||= setInterval(check, 1000);
      check();
    }
  }

  const visibleMs = () => shownMs + (shownAt && Date.now() - shownAt);

  function check(exit) {
    let waiting = false;
    triggers.forEach(([kind, amount], el) => {
      if (kind == "scroll" ? maxDepth >= amount : kind == "dwell" ? visibleMs() >= amount * 1000 : exit === true) {
        fire(el);
      } else waiting ||= kind == "dwell";
    });
    if (!waiting) ticker = clearInterval(ticker); // the ticker only serves dwell triggers
  }

  // The slot asks for its decision now and takes the answer's HTML in place of its default content.
  function fire(el) {
    const slot = el.dataset.tailorSlot;
    triggers.delete(el);
    if (fired.has(slot) || !allowed("personalization")) return;
    fired.add(slot);
    post(cfg.decisionsEndpoint, { slots: [slot], context: cfg.context })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((r) => {
        const html = r.decisions?.[0]?.html;
        if (html && el.isConnected) el.outerHTML = html; // the MutationObserver watches the new element
      })
      .catch((e) => console.warn("Tailor: slot keeps its default content", e));
  }

  // Cache-friendly pages: the page's context (its query string and referrer, which this request does not carry) and
  // every pending slot in one request; on a 400 (a slot unpublished since the page was cached, a context refused)
  // once more with the slots the server knows and no context. A marker keeps its height, so nothing below it moves;
  // whatever the answer, the markers are shown at the end (the default stays where no variant came).
  function resolve(marks, again) {
    const slot = (m) => m.dataset.tailorSlot, keys = [...new Set(marks.map(slot))], query = {};
    const context = { ...cfg.context, query, referrer: d.referrer.slice(0, 500) };
    [...new URLSearchParams(location.search)].slice(0, 20).forEach(([k, v]) => {
      query[k.slice(0, 100)] = v = v.slice(0, 200);
      if (!k.indexOf("utm_") && UTM.includes(k.slice(4))) context[k] = v;
    });
    const show = (only) => marks.forEach((m) => (!only || only.includes(slot(m))) && m.removeAttribute(PENDING));
    if (!keys.length || !allowed("personalization")) return show();
    post(cfg.decisionsEndpoint, again ? { slots: keys } : { slots: keys, context })
      .then(async (r) => {
        const b = await r.json();
        if (r.status == 400 && !again) {
          const bad = Object.keys(b.slots || {}).map((i) => keys[i]);
          return show(bad), resolve(marks.filter((m) => !bad.includes(slot(m))), 1);
        }
        if (!r.ok) throw r.status;
        b.decisions.forEach((x) =>
          marks.forEach((m) => {
            if (slot(m) == x.slot) (m.style.minHeight = m.offsetHeight + "px"), (m.innerHTML = x.html);
          }),
        );
        show();
      })
      .catch((e) => (console.warn("Tailor: slots keep their default content", e), show()));
  }

  function depth() {
    const h = d.documentElement.scrollHeight;
    maxDepth = Math.max(maxDepth, Math.min(100, Math.round(((w.scrollY + w.innerHeight) / h) * 100) || 100));
    check();
  }

  function hoverTo(el) {
    if (el == hovered) return;
    const ms = Date.now() - hoverAt;
    if (hovered && ms >= 100) add("hover", hovered.getAttribute(DECISION), ms);
    hovered = el;
    hoverAt = Date.now();
  }

  // The page may never come back (closed, navigated, discarded): report what is pending and send it.
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
    if (hidden) (hidden = false), (shownAt = Date.now()), els.forEach(update);
  }

  function consent(choice) {
    const c = { analytics: !!choice.analytics, personalization: !!choice.personalization };
    save("localStorage", CONSENT, c);
    if (!c.analytics) (queue = []), persist();
    if (started) els.forEach(update), goalsLoad(), pageGoals(); // what was not recorded before consent can be now
    d.querySelectorAll("[data-tailor-banner]").forEach((b) => (b.hidden = true));
    // Events wait for the answer: in "required" mode the server drops what arrives before it knows the choice.
    consenting++;
    return post(cfg.consentEndpoint, c)
      .then((r) => {
        if (!r.ok) throw Error(`Tailor: consent not stored, HTTP ${r.status}`);
        save("localStorage", CONSENT, { ...c, sent: 1 });
      })
      .finally(() => (consenting--, flush()));
  }

  function start() {
    const on = (target, type, fn) => target.addEventListener(type, fn, { capture: true, passive: true });
    if (d.hidden) (hidden = true), (shownAt = 0); // opened in a background tab
    io = new IntersectionObserver(
      (entries) =>
        entries.forEach((e) => {
          const s = els.get(e.target);
          if (s) (s.in = e.intersectionRatio >= 0.5), update(s);
        }),
      { threshold: 0.5 },
    );
    // Elements added later (client-side rendering, swapped slots) are tracked like the ones in the page.
    new MutationObserver((changes) =>
      changes.forEach((m) => {
        m.removedNodes.forEach((n) => each(n, forget));
        m.addedNodes.forEach((n) => each(n, scan));
        if (m.type == "attributes") watch(m.target);
      }),
    ).observe(d.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: [DECISION] });
    each(d.documentElement, scan);
    resolve([...d.querySelectorAll(`[${PENDING}]`)]);

    on(w, "scroll", depth);
    on(d, "pointerover", (e) => e.pointerType == "mouse" && hoverTo(e.target.closest?.(`[${DECISION}]`)));
    on(d, "mouseout", (e) => {
      if (e.relatedTarget) return; // still inside the page
      hoverTo(null);
      if (e.clientY <= 0) check(true); // left through the top edge: exit intent
    });
    on(d, "click", (e) => {
      const t = e.target.closest ? e.target : e.target.parentElement;
      const el = t.closest(`[${DECISION}]`), link = t.closest("a[href]"), button = t.closest("[data-tailor-consent]");
      // Only the link's path: its query string and fragment may carry personal data.
      const props = link ? { href: link.pathname, tag: "a" } : { tag: t.localName };
      if (el) add("click", el.getAttribute(DECISION), null, props);
      if (link?.dataset.tailorGoal) add("conversion", null, null, { goal: link.dataset.tailorGoal });
      clickGoals(t);
      if (button) {
        const yes = button.dataset.tailorConsent == "accept";
        consent({ analytics: yes, personalization: yes }).catch(console.warn);
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
    const chosen = load("localStorage", CONSENT);
    d.querySelectorAll("[data-tailor-banner]").forEach((b) => (b.hidden = !!chosen || blocked()));
    if (chosen && !chosen.sent) consent(chosen).catch(console.warn); // the server missed it last time
    flush(); // what an earlier page left unsent
    goalsLoad();
  }

  function init(options) {
    Object.assign(cfg, options);
    if (started) return;
    started = true;
    if (d.readyState == "loading") d.addEventListener("DOMContentLoaded", start);
    else start();
  }

  w.Tailor = { init, track, goal, consent, flush: () => flush() };
  const config = d.currentScript?.dataset.tailorConfig;
  if (config) init(JSON.parse(config));
})();
