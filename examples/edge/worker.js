/*
 * Tailor at the edge: a Cloudflare Worker that personalizes cache-friendly pages (TAILOR["CACHE_FRIENDLY"] = True)
 * before they leave the CDN, so the visitor gets their variants in the first HTML, with no swap in the browser.
 *
 * For a GET of an HTML page it:
 *  1. fetches the page from Cloudflare's cache (or the origin), without the visitor's cookies: the page is the same
 *     for everyone, and Tailor marks it Cache-Control public with an s-maxage;
 *  2. finds the page's pending slots (<div data-tailor-slot="key" data-tailor-pending>) and asks the origin's
 *     decisions API for all of them in ONE request, as the visitor (their cookies, user agent, address, country,
 *     the page's query string and referrer), within TIMEOUT_MS;
 *  3. streams the cached page through HTMLRewriter, putting each answer's HTML (with its data-tailor-decision id,
 *     which tracker.js attributes the impressions and clicks to) inside its marker and dropping data-tailor-pending;
 *  4. passes on the API's Set-Cookie (a new visitor's tailor_vid) and marks the answer private: it is this visitor's.
 * If the API fails or is slow, the cached page goes out untouched and tracker.js resolves the slots in the browser.
 * Everything else (the API, static files, POSTs) passes straight through.
 */

const TIMEOUT_MS = 300; // a slow origin must not slow the cached page down: the browser resolves the slots then
const MARKER = /<div data-tailor-slot="([a-z0-9_-]+)" data-tailor-pending>/gi;
const UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const accepts = request.headers.get("Accept") || "";
    if (request.method !== "GET" || url.pathname.startsWith("/api/") || !accepts.includes("text/html")) {
      return fetch(request);
    }
    // The shared copy: no cookies, so the origin (and the cache key) never sees who asked.
    const shared = new Headers(request.headers);
    shared.delete("Cookie");
    const page = await fetch(new Request(request, { headers: shared }), { cf: { cacheEverything: true } });
    if (!page.ok || !(page.headers.get("Content-Type") || "").includes("text/html")) return page;

    const html = await page.clone().text();
    const slots = [...new Set([...html.matchAll(MARKER)].map((m) => m[1]))];
    if (!slots.length) return page;
    const answer = await decisions(request, url, slots, env).catch((error) => {
      console.warn("Tailor: the page goes out with its defaults", String(error));
      return null;
    });
    if (!answer) return page;

    const bySlot = new Map(answer.body.decisions.map((d) => [d.slot, d.html]));
    const rewritten = new HTMLRewriter()
      .on("[data-tailor-slot][data-tailor-pending]", {
        element(el) {
          const variant = bySlot.get(el.getAttribute("data-tailor-slot"));
          if (variant === undefined) return; // left pending: tracker.js asks for it
          el.setInnerContent(variant, { html: true }); // Tailor's own rendering: escaped by the origin
          el.removeAttribute("data-tailor-pending");
        },
      })
      .transform(page);
    const response = new Response(rewritten.body, rewritten);
    response.headers.set("Cache-Control", "private, no-store"); // this visitor's page: no shared cache keeps it
    response.headers.delete("Age");
    for (const cookie of answer.cookies) response.headers.append("Set-Cookie", cookie); // a new visitor's tailor_vid
    return response;
  },
};

// POST /api/v1/decisions/ as the visitor would through tracker.js: {slots, context} in, {visitor_id, decisions} out.
async function decisions(request, url, slots, env) {
  const query = {};
  const context = { query, referrer: (request.headers.get("Referer") || "").slice(0, 500) };
  [...url.searchParams].slice(0, 20).forEach(([name, value]) => {
    query[name.slice(0, 100)] = value.slice(0, 200);
    if (UTM.includes(name)) context[name] = value.slice(0, 200);
  });
  const country = request.cf && request.cf.country;
  if (/^[A-Za-z]{2}$/.test(country || "")) context.country = country; // not "T1" (Tor) or "XX"
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json",
    "User-Agent": request.headers.get("User-Agent") || "",
    // The visitor's address, for the API's per-address throttle: set TAILOR_NUM_PROXIES on the origin to match.
    "X-Forwarded-For": request.headers.get("CF-Connecting-IP") || "",
  };
  const cookie = request.headers.get("Cookie");
  if (cookie) headers.Cookie = cookie; // tailor_vid says who the visitor is; the session, whether they are logged in
  const origin = env.TAILOR_ORIGIN || url.origin; // e.g. "https://origin.example.com" when the API has its own host
  const response = await fetch(`${origin}/api/v1/decisions/`, {
    method: "POST",
    headers,
    body: JSON.stringify({ slots, context }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`decisions API answered ${response.status}`);
  const cookies = response.headers.getSetCookie ? response.headers.getSetCookie() : [];
  return { body: await response.json(), cookies };
}
