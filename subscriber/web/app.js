// SPDX-License-Identifier: MPL-2.0
// app.js: the live web view of tcpwin-subscriber serve.
// Polls /api/report and /api/history every POLL_MS (why polling and not
// Server-Sent Events: see subscriber/serve.h) and redraws the tables and
// one uPlot chart per producer. Everything a producer sent is put in the
// page as text (textContent), never as markup.
"use strict";

const POLL_MS = 2000;
const MAX_HOST_ROWS = 500; // the table shows the hosts that stalled most
const charts = new Map(); // producer id -> uPlot

function num(v) { return v === undefined || v === null ? 0 : Number(v); }
function seconds(us) {
  const s = num(us) / 1e6;
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function captureTime(us) {
  return new Date(num(us) / 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
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

function stalledRows(producers) {
  const rows = [];
  for (const p of producers) {
    const r = p.report;
    for (const s of r.stalled) {
      // stalledUs is the producer's figure; before it filled it in, the
      // time since the run of undershoots began is what we know.
      const forUs = num(s.stalledUs) > 0 ? num(s.stalledUs) : num(r.timeUs) - num(s.sinceUs);
      rows.push([r.header.producerId, s.srcIp + " (port " + s.srcPort + ")",
                 endpoint(s.dstIp, s.dstPort), seconds(forUs), num(s.probes),
                 num(s.zeroWindowAdverts), num(s.tcpPackets), num(s.undershootPackets)]);
    }
  }
  return rows;
}

function hostRows(producers) {
  const all = [];
  let omitted = 0; // rows the server left out (?rows=)
  for (const p of producers) {
    omitted += num(p.hostsOmitted);
    for (const h of p.report.hosts) all.push([p.report.header.producerId, h]);
  }
  all.sort((a, b) => num(b[1].stallUs) - num(a[1].stallUs) ||
                     num(b[1].winRelThCnt) - num(a[1].winRelThCnt));
  return {
    total: all.length + omitted,
    rows: all.slice(0, MAX_HOST_ROWS).map(([id, h]) => [
      id, h.ip, h.pktTcpCnt, num(h.winRelThCnt).toFixed(6), num(h.flowsCounted),
      num(h.tcpPackets), num(h.undershootPackets), endpoint(h.worstPeerIp, h.worstPeerPort),
      num(h.zeroWindowAdverts), num(h.flowsStalled), seconds(h.stallUs), num(h.probesReceived)]),
  };
}

function producerRows(producers) {
  return producers.map((p) => {
    const r = p.report;
    return [r.header.producerId, r.header.runId, p.reportAgeSeconds.toFixed(1) + " s ago" +
            (r.final ? " (final)" : ""), captureTime(r.timeUs), p.reportsReceived, p.sequenceGaps,
            p.reportsMissed, p.restarts];
  });
}

function counterRows(producers) {
  return producers.map((p) => {
    const c = p.report.counters;
    return [p.report.header.producerId, c.packets, c.tcpPackets, c.malformedPackets,
            c.truncatedPackets, c.captureDrops, c.messagesDropped, c.flowsActive, c.flowsEnded,
            c.flowsEvicted, c.hostsEvicted, c.zeroWindowAdverts, seconds(c.stallUs), c.stalls,
            c.probes];
  });
}

function chartFor(id) {
  let chart = charts.get(id);
  if (chart) return chart;
  const div = document.createElement("div");
  div.className = "chart";
  document.getElementById("charts").appendChild(div);
  chart = new uPlot({
    title: id, width: 640, height: 220,
    scales: { x: { time: true } },
    series: [{}, { label: "stalled flows", stroke: "#ff6b6b", width: 2 },
             { label: "zero-window adverts", stroke: "#7fb7ff", width: 1, scale: "zwa" }],
    axes: [{ stroke: "#9aa4ae" }, { stroke: "#ff6b6b" },
           { side: 1, scale: "zwa", stroke: "#7fb7ff", grid: { show: false } }],
  }, [[], [], []], div);
  charts.set(id, chart);
  return chart;
}

function drawHistory(history) {
  for (const p of history.producers) {
    const x = [], stalled = [], zwa = [];
    for (const [t, s, z] of p.points) { x.push(t); stalled.push(s); zwa.push(z); }
    chartFor(p.producerId).setData([x, stalled, zwa]);
  }
}

function draw(report) {
  const producers = report.producers;
  const stalled = stalledRows(producers);
  document.getElementById("stalled-count").textContent = "(" + stalled.length + ")";
  fill(document.querySelector("#stalled tbody"), stalled, 8, "none");
  const hosts = hostRows(producers);
  document.getElementById("hosts-count").textContent = hosts.total > hosts.rows.length
      ? "(" + hosts.rows.length + " of " + hosts.total + ", most stalled first)"
      : "(" + hosts.total + ")";
  fill(document.querySelector("#hosts tbody"), hosts.rows, 12, "none yet");
  fill(document.querySelector("#producers tbody"), producerRows(producers), 8, "no producer yet");
  fill(document.querySelector("#counters tbody"), counterRows(producers), 15, "no producer yet");
  const status = document.getElementById("status");
  status.textContent = producers.length + " producer(s), updated " + new Date().toLocaleTimeString();
  status.className = "status";
}

async function poll() {
  try {
    const [report, history] = await Promise.all(
        ["/api/report?rows=" + MAX_HOST_ROWS, "/api/history"].map((u) => fetch(u).then((r) => {
          if (!r.ok) throw new Error(u + ": HTTP " + r.status);
          return r.json();
        })));
    draw(report);
    drawHistory(history);
  } catch (e) {
    const status = document.getElementById("status");
    status.textContent = "cannot update: " + e.message;
    status.className = "status stale";
  }
  setTimeout(poll, POLL_MS);
}

poll();
