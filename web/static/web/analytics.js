/* Analytics charts: the desk's cumulative P&L with daily bars, and the strategies compared.
 * Values arrive as exact decimal strings; Number() is for drawing only. */
(function () {
  "use strict";
  var LC = window.LightweightCharts;

  function note(el, html) { el.innerHTML = '<p class="muted">' + html + "</p>"; el.style.height = "auto"; }

  function chartOn(el) {
    return LC.createChart(el, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#8b98a5", attributionLogo: false },
      grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
      rightPriceScale: { borderColor: "#2a343e" }, timeScale: { borderColor: "#2a343e" },
    });
  }

  function desk(el, points) {
    if (!points.length) return note(el, "No sessions in this period.");
    var chart = chartOn(el);
    var curve = chart.addSeries(LC.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: "#2ea043", topFillColor1: "rgba(46,160,67,.35)", topFillColor2: "rgba(46,160,67,.05)",
      bottomLineColor: "#f85149", bottomFillColor1: "rgba(248,81,73,.05)", bottomFillColor2: "rgba(248,81,73,.35)",
    });
    curve.setData(points.map(function (p) { return { time: p.time, value: Number(p.value) }; }));
    var bars = chart.addSeries(LC.HistogramSeries, { priceScaleId: "daily", priceFormat: { type: "price", precision: 2 } });
    chart.priceScale("daily").applyOptions({ scaleMargins: { top: 0.75, bottom: 0 } });
    bars.setData(points.map(function (p) {
      var v = Number(p.day);
      return { time: p.time, value: v, color: v >= 0 ? "rgba(46,160,67,.7)" : "rgba(248,81,73,.7)" };
    }));
    chart.timeScale().fitContent();
  }

  function comparison(el, series) {
    if (!series.length) return note(el, "No closed trades in this period.");
    var colours = ["#58a6ff", "#d29922", "#a371f7", "#2ea043", "#f85149", "#39c5cf", "#db61a2", "#8b98a5"];
    var chart = chartOn(el);
    series.forEach(function (s, i) {
      var line = chart.addSeries(LC.LineSeries, { color: colours[i % colours.length], lineWidth: 2, title: s.name });
      line.setData(s.points.map(function (p) { return { time: p.time, value: Number(p.value) }; }));
    });
    chart.timeScale().fitContent();
  }

  var deskEl = document.getElementById("equity-chart");
  var compareEl = document.getElementById("comparison-chart");
  if (!deskEl || !compareEl) return;
  if (!LC) {
    [deskEl, compareEl].forEach(function (el) { note(el, "Charts need the lightweight-charts package: run <code>npm ci</code>."); });
    return;
  }
  desk(deskEl, JSON.parse(document.getElementById("equity-data").textContent));
  comparison(compareEl, JSON.parse(document.getElementById("comparison-data").textContent));
})();
