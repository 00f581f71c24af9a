// The dashboard's only script: draws each chart from its JSON data block with uPlot.
// A chart is <div class="chart" data-chart="ID"> plus <script type="application/json" id="ID">
// holding {t: [epoch s], series: [{label, values}], stacked?: bool}.
"use strict";
(function () {
  var COLORS = ["#2f6fed", "#2e9e5b", "#e0a100", "#d23c3c", "#7a5af8", "#0ba5ec", "#ee46bc", "#667085"];

  // Axis labels: small dollar amounts keep their significant digits instead of rounding to 0.
  function tick(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    return a >= 1000 ? v.toLocaleString() : a >= 1 ? String(+v.toFixed(2)) : String(+v.toPrecision(2));
  }

  function draw(el) {
    var node = document.getElementById(el.getAttribute("data-chart"));
    if (!node) return;
    var spec = JSON.parse(node.textContent);
    var series = spec.series.slice();
    if (spec.stacked) series.reverse(); // the topmost band first, so the lower ones paint over it
    var data = [spec.t].concat(series.map(function (s) { return s.values; }));
    var opts = {
      width: Math.max(Math.floor(el.getBoundingClientRect().width), 320),
      height: 240,
      series: [{}].concat(series.map(function (s, i) {
        var c = COLORS[(spec.stacked ? series.length - 1 - i : i) % COLORS.length];
        return { label: s.label, stroke: c, width: 2, fill: spec.stacked ? c + "cc" : c + "22", points: { show: false } };
      })),
      scales: spec.stacked ? { y: { range: [0, 1] } } : {},
      axes: [{}, { size: 60, values: function (u, vals) { return vals.map(tick); } }],
    };
    el.textContent = "";
    new uPlot(opts, data, el);
  }

  function drawAll() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll(".chart[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", drawAll);
})();
