// SPDX-License-Identifier: MPL-2.0
// app.js: the live web view of tcpwin-subscriber serve.
// Polls /api/report and /api/history every POLL_MS (why polling and not
// Server-Sent Events: see subscriber/serve.h) and redraws the tables and
// one uPlot chart per producer. Everything a producer sent is put in the
// page as text (textContent), never as markup. A producer's figures are
// hostile input too: each producer is drawn in its own try/catch, so one
// that cannot be drawn (a capture time beyond what Date holds) leaves the
// others on the page, and a producer gone from the API loses its chart.
"use strict";

const POLL_MS = 2000;
const MAX_HOST_ROWS = 500; // the table shows the hosts that stalled most
const charts = new Map(); // producer id -> {chart: uPlot, div}
const MAX_DATE_MS = 8.64e15; // the largest time a Date holds

function num(v) { return v === undefined || v === null ? 0 : Number(v); }
function seconds(us) {
  const s = num(us) / 1e6;
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function captureTime(us) {
  const ms = num(us) / 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return String(us) + " µs (no date)";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// The results of fn(p) for each producer, leaving out (and naming in
// failed) those for which it throws.
function perProducer(producers, fn, failed) {
  const out = [];
  for (const p of producers) {
    try {
      out.push(fn(p));
    } catch (e) {
      failed.add(producerId(p) + " (" + e.message + ")");
    }
  }
  return out;
}
function producerId(p) {
  try { return String(p.producerId ?? p.report.header.producerId); } catch (e) { return "?"; }
}
function endpoint(ip, port) { return ip.includes(":") ? "[" + ip + "]:" + port : ip + ":" + port; }

function fill(tbody, rows, columns, emptyText) {
  const body = document.createElement("tbody");
  if (rows.length === 0) {
    const tr = body.insertRow();
    const td = tr.insertCell();
    td.colSpan = columns;
    td.className = "empty";
    td.textContent = emptyText;
  }
  for (const cells of rows) {
    const tr = body.insertRow();
    for (const text of cells) tr.insertCell().textContent = text;
  }
  tbody.replaceWith(body);
}

function stalledRows(producers, failed) {
  return perProducer(producers, (p) => {
    const rows = [];
    const r = p.report;
    for (const s of r.stalled) {
      // stalledUs is the producer's figure; before it filled it in, the
      // time since the run of undershoots began is what we know.
      const forUs = num(s.stalledUs) > 0 ? num(s.stalledUs) : num(r.timeUs) - num(s.sinceUs);
      rows.push([r.header.producerId, s.srcIp + " (port " + s.srcPort + ")",
                 endpoint(s.dstIp, s.dstPort), seconds(forUs), num(s.probes),
                 num(s.zeroWindowAdverts), num(s.tcpPackets), num(s.undershootPackets)]);
    }
    return rows;
  }, failed).flat();
}

function hostRows(producers, failed) {
  let omitted = 0; // rows the server left out (?rows=)
  const all = perProducer(producers, (p) => {
    omitted += num(p.hostsOmitted);
    return p.report.hosts.map((h) => [p.report.header.producerId, h]);
  }, failed).flat();
  all.sort((a, b) => num(b[1].stallUs) - num(a[1].stallUs) ||
                     num(b[1].winRelThCnt) - num(a[1].winRelThCnt));
  return {
    total: all.length + omitted,
    rows: perProducer(all.slice(0, MAX_HOST_ROWS), ([id, h]) => [
      id, h.ip, h.pktTcpCnt, num(h.winRelThCnt).toFixed(6), num(h.flowsCounted),
      num(h.tcpPackets), num(h.undershootPackets), endpoint(h.worstPeerIp, h.worstPeerPort),
      num(h.zeroWindowAdverts), num(h.flowsStalled), seconds(h.stallUs), num(h.probesReceived)],
      failed),
  };
}

function producerRows(producers, failed) {
  return perProducer(producers, (p) => {
    const r = p.report;
    return [r.header.producerId, r.header.runId, p.reportAgeSeconds.toFixed(1) + " s ago" +
            (r.final ? " (final)" : ""), captureTime(r.timeUs), p.reportsReceived, p.sequenceGaps,
            p.reportsMissed, p.restarts];
  }, failed);
}

function counterRows(producers, failed) {
  return perProducer(producers, (p) => {
    const c = p.report.counters;
    return [p.report.header.producerId, c.packets, c.tcpPackets, c.malformedPackets,
            c.truncatedPackets, c.captureDrops, c.messagesDropped, c.flowsActive, c.flowsEnded,
            c.flowsEvicted, c.hostsEvicted, c.zeroWindowAdverts, seconds(c.stallUs), c.stalls,
            c.probes];
  }, failed);
}

function chartFor(id) {
  const known = charts.get(id);
  if (known) return known.chart;
  const div = document.createElement("div");
  div.className = "chart";
  document.getElementById("charts").appendChild(div);
  const chart = new uPlot({
    title: id, width: 640, height: 220,
    scales: { x: { time: true } },
    series: [{}, { label: "stalled flows", stroke: "#ff6b6b", width: 2 },
             { label: "zero-window adverts", stroke: "#7fb7ff", width: 1, scale: "zwa" }],
    axes: [{ stroke: "#9aa4ae" }, { stroke: "#ff6b6b" },
           { side: 1, scale: "zwa", stroke: "#7fb7ff", grid: { show: false } }],
  }, [[], [], []], div);
  charts.set(id, { chart, div });
  return chart;
}

// Drops the charts of producers no longer served (evicted, or gone with a
// restart of serve): the page must not grow for ever on a NOC screen.
function dropCharts(present) {
  for (const [id, { chart, div }] of charts) {
    if (present.has(id)) continue;
    chart.destroy();
    div.remove();
    charts.delete(id);
  }
}

function drawHistory(history, failed) {
  const present = new Set();
  perProducer(history.producers, (p) => {
    present.add(p.producerId);
    const x = [], stalled = [], zwa = [];
    for (const [t, s, z] of p.points) { x.push(t); stalled.push(s); zwa.push(z); }
    chartFor(p.producerId).setData([x, stalled, zwa]);
  }, { add: (what) => failed.add("chart of " + what) });
  dropCharts(present);
}

function draw(report, failed) {
  const producers = report.producers;
  const stalled = stalledRows(producers, failed);
  document.getElementById("stalled-count").textContent = "(" + stalled.length + ")";
  fill(document.querySelector("#stalled tbody"), stalled, 8, "none");
  const hosts = hostRows(producers, failed);
  document.getElementById("hosts-count").textContent = hosts.total > hosts.rows.length
      ? "(" + hosts.rows.length + " of " + hosts.total + ", most stalled first)"
      : "(" + hosts.total + ")";
  fill(document.querySelector("#hosts tbody"), hosts.rows, 12, "none yet");
  fill(document.querySelector("#producers tbody"), producerRows(producers, failed), 8,
       "no producer yet");
  fill(document.querySelector("#counters tbody"), counterRows(producers, failed), 15,
       "no producer yet");
}

function showStatus(producers, failed) {
  const status = document.getElementById("status");
  status.textContent = producers.length + " producer(s), updated " + new Date().toLocaleTimeString() +
      (failed.size ? "; cannot draw: " + [...failed].join(", ") : "");
  status.className = failed.size ? "status stale" : "status";
}

async function poll() {
  try {
    const [report, history] = await Promise.all(
        ["/api/report?rows=" + MAX_HOST_ROWS, "/api/history"].map((u) => fetch(u).then((r) => {
          if (!r.ok) throw new Error(u + ": HTTP " + r.status);
          return r.json();
        })));
    const failed = new Set();
    draw(report, failed);
    drawHistory(history, failed);
    showStatus(report.producers, failed);
  } catch (e) {
    const status = document.getElementById("status");
    status.textContent = "cannot update: " + e.message;
    status.className = "status stale";
  }
  setTimeout(poll, POLL_MS);
}

poll();
