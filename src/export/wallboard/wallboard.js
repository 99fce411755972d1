// ccpulse wallboard: renders the merged snapshot sent by /api/v1/stream
// (Server-Sent Events) without reloading. Every number carries a stable
// data-kpi attribute ("<kpi>:<queue>:<channel>", "<kpi>:<agent>") so tests
// and scrapers can read it.
//
// Provisional figures (snapshot.provisional, present while events wait
// for the watermark) are what the queue tiles show; a figure that differs
// from the ordered one is marked (class "provisional", data-provisional,
// a tilde and a hover title).
//
// Stale figures (snapshot.freshness.stale: a revoked partition's last
// figures are shown, or nothing live contributes) or a stream down for
// more than STREAM_DOWN_MS raise a red banner: "Figures as of HH:MM:SS,
// N s old — not updating", the time in the browser's zone, the age counted
// on locally while the stream is down; body[data-stale] says "true"
// meanwhile.
//
// Refused (401: http.api_token is set and the page was opened without the
// right ?access_token=), the page says "unauthorised" and stops; other
// failures are retried with a growing pause (EventSource gives up by itself
// on any non-200 answer).
//
// The page runs under a strict Content-Security-Policy (no inline script or
// style): bar widths are set through the DOM, never as style attributes.
"use strict";
(function () {
  var SL_WINDOW = "5m", HIST_WINDOW = "1h", AGENT_WINDOW = "1h";
  var STREAM_DOWN_MS = 3000;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function isNum(x) { return typeof x === "number" && isFinite(x); }
  function pct(x) { return isNum(x) ? (x * 100).toFixed(1) : "—"; }
  function int(x) { return isNum(x) ? String(Math.round(x)) : "—"; }
  function secs(x) { return isNum(x) ? String(Math.round(x)) : "—"; }
  // prov: the figure shown is provisional and differs from the ordered
  // one (marked, with the reason on hover).
  function num(kpi, text, unit, cls, prov) {
    return '<span class="val ' + (cls || "") + (prov ? " provisional" : "") + '"><span data-kpi="' +
      esc(kpi) + '"' + (prov ? ' data-provisional="true" title="' + PROV_TITLE + '"' : "") + ">" +
      esc(text) + "</span>" + (unit && text !== "—" ? '<span class="unit">' + esc(unit) + "</span>" : "") +
      "</span>";
  }
  var PROV_TITLE = "provisional: includes events still waiting for the watermark (allowed lateness)";
  function kpi(label, inner) {
    return '<div class="kpi"><div class="label">' + esc(label) + "</div>" + inner + "</div>";
  }
  // Service level: red below the queue's target, amber within 5 pp above it.
  function slLevel(sl, target) {
    if (!isNum(sl) || !isNum(target)) return "";
    if (sl < target) return "red";
    if (sl < target + 0.05) return "amber";
    return "green";
  }
  // Abandon rate: red above 10 %, amber above 5 %.
  function abLevel(r) {
    if (!isNum(r)) return "";
    if (r > 0.10) return "red";
    if (r > 0.05) return "amber";
    return "green";
  }
  function worst(a, b) {
    var rank = { "": 0, green: 1, amber: 2, red: 3 };
    return rank[a] >= rank[b] ? a : b;
  }

  // The tiles show the provisional figures (snapshot.provisional: every
  // event received applied) when there are any, else the ordered ones; a
  // figure is marked provisional only where it differs from the ordered
  // one (as displayed).
  // With several tenants, a queue (or operator) is named tenant/name:
  // two tenants may use the same names.
  function named(snap, row, name) {
    return (snap.tenants || []).length > 1 ? row.tenant + "/" + name : name;
  }

  function renderQueues(snap) {
    var html = "";
    var ordered = {};
    (snap.queues || []).forEach(function (q) { ordered[named(snap, q, q.queue) + ":" + q.channel] = q; });
    var shown = snap.provisional || snap;
    function figures(q) {
      var w = (q.windows || {})[SL_WINDOW] || {};
      var now = q.now || {}, ag = now.agents || {};
      return {
        waiting: int(now.waiting), oldest: secs(now.oldest_waiting_age_seconds),
        sl: pct((w.service_level || {}).answered), slRaw: (w.service_level || {}).answered,
        abandon: pct(w.abandon_rate), abRaw: w.abandon_rate,
        available: int(ag.available), busy: int(ag.busy), wrap_up: int(ag.wrap_up)
      };
    }
    (shown.queues || []).forEach(function (q) {
      var id = named(snap, q, q.queue) + ":" + q.channel;
      var f = figures(q);
      var o = snap.provisional ? figures(ordered[id] || {}) : f;
      function prov(k) { return f[k] !== o[k]; }
      function agent(k) {
        return '<b data-kpi="' + k + ":" + esc(id) + '"' +
          (prov(k) ? ' class="provisional" data-provisional="true" title="' + PROV_TITLE + '"' : "") +
          ">" + f[k];
      }
      var target = (q.settings || {}).service_level_target;
      var sll = slLevel(f.slRaw, target), abl = abLevel(f.abRaw);
      html += '<article class="tile ' + worst(sll, abl) + '" data-queue="' + esc(id) + '">' +
        '<h3>' + esc(named(snap, q, q.queue)) + '<span class="ch">' + esc(q.channel) + "</span></h3>" +
        '<div class="kpis">' +
        kpi("waiting", num("waiting:" + id, f.waiting, "", "", prov("waiting"))) +
        kpi("oldest wait", num("oldest:" + id, f.oldest, "s", "", prov("oldest"))) +
        kpi("SL " + SL_WINDOW + (isNum(target) ? " (≥" + Math.round(target * 100) + "%)" : ""),
            num("sl:" + id, f.sl, "%", sll ? sll + "-t" : "", prov("sl"))) +
        kpi("abandon " + SL_WINDOW, num("abandon:" + id, f.abandon, "%", abl ? abl + "-t" : "", prov("abandon"))) +
        "</div>" +
        '<div class="agents-row">available' + agent("available") +
        "</b>busy" + agent("busy") +
        "</b>wrap-up" + agent("wrap_up") + "</b></div>" +
        "</article>";
    });
    document.getElementById("queues").innerHTML =
      html || '<div class="empty">no queues yet</div>';
  }

  function renderHist(snap) {
    var rows = [], max = 0;
    (snap.queues || []).forEach(function (q) {
      var d = ((q.windows || {})[HIST_WINDOW] || {}).queue_wait || {};
      var r = { id: named(snap, q, q.queue) + ":" + q.channel, n: d.count, p50: d.p50_seconds, p90: d.p90_seconds, p99: d.p99_seconds };
      [r.p50, r.p90, r.p99].forEach(function (x) { if (isNum(x) && x > max) max = x; });
      rows.push(r);
    });
    var html = "";
    rows.forEach(function (r) {
      function bar(cls, x) {
        if (!isNum(x)) return "";
        var w = max > 0 ? Math.max(1, (x / max) * 100) : 0;
        return '<div class="' + cls + '" data-width="' + w.toFixed(1) + '">' + cls + " " +
          '<span data-kpi="wait_' + cls + ":" + esc(r.id) + '">' + secs(x) + "</span>s</div>";
      }
      html += '<div class="row"><div class="name">' + esc(r.id.replace(":", " ")) +
        '<br><small>n=<span data-kpi="wait_count:' + esc(r.id) + '">' + int(r.n) + "</span></small></div>" +
        '<div class="bars">' + (isNum(r.p50) ? bar("p50", r.p50) + bar("p90", r.p90) + bar("p99", r.p99)
          : '<span class="empty">no waits</span>') + "</div></div>";
    });
    var hist = document.getElementById("wait-hist");
    hist.innerHTML = html || '<div class="empty">no waits yet</div>';
    // Widths through the CSSOM: the CSP forbids inline style attributes.
    Array.prototype.forEach.call(hist.querySelectorAll("[data-width]"), function (el) {
      el.style.width = el.getAttribute("data-width") + "%";
    });
  }

  function renderAgents(snap) {
    var html = "";
    (snap.agents || []).forEach(function (a) {
      var f = (a.windows || {})[AGENT_WINDOW];
      if (!f) return;
      var id = named(snap, a, a.agent);
      html += "<tr><td>" + esc(id) + "</td><td>" + esc(a.state || "—") + "</td>" +
        '<td class="n" data-kpi="closures:' + esc(id) + '">' + int((f.counts || {}).closures) + "</td>" +
        '<td class="n"><span data-kpi="csat:' + esc(id) + '">' + pct(f.csat) + "</span>" + (isNum(f.csat) ? "%" : "") + "</td>" +
        '<td class="n"><span data-kpi="aht:' + esc(id) + '">' + secs(f.aht_seconds) + "</span>" + (isNum(f.aht_seconds) ? "s" : "") + "</td></tr>";
    });
    // export.agent_metrics = aggregate or off: no operator is listed.
    var hidden = snap.agent_privacy === "aggregate" || snap.agent_privacy === "off";
    var none = hidden ? "operators not shown (export.agent_metrics = " + esc(snap.agent_privacy) + ")" : "no operators";
    document.querySelector("#agents tbody").innerHTML =
      html || '<tr><td colspan="5" class="empty">' + none + "</td></tr>";
  }

  function renderSla(snap) {
    var breaches = 0, reassigned = 0;
    (snap.queues || []).forEach(function (q) {
      var c = (q.total || {}).counts || {};
      breaches += c.sla_breaches || 0;
      reassigned += c.sla_reassigned || 0;
    });
    var b = document.querySelector('[data-kpi="sla_breaches_total"]');
    b.textContent = String(breaches);
    b.className = breaches > 0 ? "big bad" : "big";
    var r = document.querySelector('[data-kpi="sla_reassigned_total"]');
    r.textContent = String(reassigned);
    r.className = reassigned > 0 ? "big warn" : "big";
    var rows = (snap.sla || []).filter(function (r) { return r.breached > 0 || r.reassigned > 0; });
    rows.sort(function (a, b) { return (b.breached + b.reassigned) - (a.breached + a.reassigned); });
    var html = "";
    rows.slice(0, 12).forEach(function (r) {
      var id = named(snap, r, r.queue) + ":" + r.policy + ":" + r.target;
      html += "<tr><td>" + esc(named(snap, r, r.queue)) + "</td><td>" + esc(r.policy) + "</td><td>" + esc(r.target) + "</td>" +
        '<td class="n">' + int(r.met) + "</td>" +
        '<td class="n bad" data-kpi="sla_breached:' + esc(id) + '">' + int(r.breached) + "</td>" +
        '<td class="n warn" data-kpi="sla_reassigned:' + esc(id) + '">' + int(r.reassigned) + "</td></tr>";
    });
    document.querySelector("#sla tbody").innerHTML =
      html || '<tr><td colspan="6" class="empty">no breaches</td></tr>';
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function clock(ms) {
    var d = new Date(ms);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }
  function ageText(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  // The banner from the last snapshot, its ages counted on by the time
  // since it arrived.
  function renderFreshness() {
    var f = (lastSnap && lastSnap.freshness) || {};
    var elapsed = lastAt ? Date.now() - lastAt : 0;
    var down = !streamOpen && (lastAt ? elapsed > STREAM_DOWN_MS : Date.now() - loadedAt > STREAM_DOWN_MS);
    var stale = f.stale === true || down;
    // While the stream is up the server's ages are current (one snapshot a
    // second); when it is down, count on from the last one.
    var extra = down ? elapsed / 1000 : 0;
    var banner = document.getElementById("stale-banner");
    document.body.setAttribute("data-stale", stale ? "true" : "false");
    if (!stale) {
      banner.hidden = true;
      return;
    }
    var parts = f.partitions || [];
    var staleParts = parts.filter(function (p) { return p.stale; });
    var partial = !down && staleParts.length > 0 && staleParts.length < parts.length;
    var shown = partial ? staleParts : parts;
    // The oldest figure on show decides the age.
    var at = null, age = null;
    shown.forEach(function (p) {
      if (at === null || p.published_at_ms < at) { at = p.published_at_ms; age = p.age_seconds; }
    });
    var head;
    if (at === null && isNum(f.published_at_ms)) {
      head = "No figures — last published " + clock(f.published_at_ms) + ", " +
        ageText((f.age_seconds || 0) + extra) + " ago — not updating";
    } else if (at === null) {
      head = "No figures — not updating";
    } else {
      var whose = partial
        ? "Figures of " + staleParts.slice(0, 3).map(function (p) { return p.topic + "/" + p.partition; }).join(", ") +
          (staleParts.length > 3 ? " and " + (staleParts.length - 3) + " more" : "") + " as of "
        : "Figures as of ";
      head = whose + clock(at) + ", " + ageText((age || 0) + extra) + " old — not updating";
    }
    var reasons = [];
    if (down) reasons.push("connection to ccpulse lost, reconnecting");
    if (f.stale && f.reason) reasons.push(f.reason);
    banner.querySelector('[data-kpi="stale"]').textContent = head;
    banner.querySelector('[data-kpi="stale_reason"]').textContent = reasons.join("; ");
    banner.hidden = false;
  }

  function render(snap) {
    var asOf = snap.as_of ? snap.as_of.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—";
    document.getElementById("as-of").textContent = asOf;
    renderQueues(snap);
    renderHist(snap);
    renderAgents(snap);
    renderSla(snap);
    lastSnap = snap;
    lastAt = Date.now();
    renderFreshness();
    document.body.setAttribute("data-updates", String(++updates));
  }

  var updates = 0, lastSnap = null, lastAt = 0, streamOpen = false, loadedAt = Date.now();
  var refused = false;
  function setConn(state) {
    var el = document.getElementById("conn");
    el.className = "conn " + state;
    el.textContent = state;
    streamOpen = state === "live";
  }
  // The age keeps counting, and a lost stream shows, between snapshots.
  setInterval(function () { if (!refused) renderFreshness(); }, 1000);

  // The page arrives with the current snapshot embedded: draw it at once.
  var initial = document.getElementById("initial-snapshot");
  if (initial) {
    try { render(JSON.parse(initial.textContent)); } catch (err) { /* the stream will draw */ }
  }

  // The token refused: say so and how to open the page; stop trying.
  function unauthorised() {
    refused = true;
    setConn("unauthorised");
    document.body.setAttribute("data-stale", "true");
    var banner = document.getElementById("stale-banner");
    banner.querySelector('[data-kpi="stale"]').textContent = "Unauthorised — no figures";
    banner.querySelector('[data-kpi="stale_reason"]').textContent =
      "this ccpulse needs its API token: open the wallboard as /?access_token=<token> " +
      "(http.api_token); the token in this address was missing or wrong";
    banner.hidden = false;
  }

  // With http.api_token set, open the page as /?access_token=<token>: an
  // EventSource cannot send an Authorization header, so the token rides
  // along as the query parameter the API also accepts.
  var token = new URLSearchParams(window.location.search).get("access_token");
  var query = token ? "?access_token=" + encodeURIComponent(token) : "";
  var retryMs = 1000, es = null;
  function connect() {
    es = new EventSource("/api/v1/stream" + query);
    es.addEventListener("open", function () { setConn("live"); retryMs = 1000; });
    es.addEventListener("snapshot", function (e) {
      var snap;
      try { snap = JSON.parse(e.data); } catch (err) { return; }
      setConn("live");
      render(snap);
    });
    es.addEventListener("error", function () {
      // Connection lost: EventSource reconnects by itself (CONNECTING).
      if (es.readyState !== EventSource.CLOSED) { setConn("reconnecting"); return; }
      // It gave up: the server answered something other than a stream.
      // Ask the API why: 401 means the token, anything else is retried.
      es.close();
      fetch("/api/v1/snapshot" + query, { cache: "no-store" }).then(function (r) {
        return r.status;
      }, function () { return 0; }).then(function (status) {
        if (status === 401) { unauthorised(); return; }
        setConn("reconnecting");
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      });
    });
  }
  connect();
})();
