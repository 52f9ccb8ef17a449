/* A backtest's page: poll its progress while it runs (reload when it ends), then draw the equity curve.
 * Values arrive as exact decimal strings; Number() is for drawing only. */
(function () {
  "use strict";
  var box = document.getElementById("backtest-status");
  var status = box.dataset.status;
  if (status === "queued" || status === "running") {
    var timer = setInterval(function () {
      fetch(box.dataset.statusUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (s) {
        document.getElementById("status-text").textContent = s.status;
        document.getElementById("progress").value = s.progress;
        document.getElementById("progress-text").textContent = Math.round(s.progress * 100) + "%";
        if (s.status === "succeeded" || s.status === "failed") { clearInterval(timer); location.reload(); }
      }).catch(function () { /* keep polling: the server may be restarting */ });
    }, 1000);
  }
  var el = document.getElementById("equity-chart");
  var points = JSON.parse(document.getElementById("equity-data").textContent);
  if (!el || !points.length) return;
  var LC = window.LightweightCharts;
  if (!LC) { el.innerHTML = '<p class="muted">Charts need the lightweight-charts package: run <code>npm ci</code>.</p>'; return; }
  var chart = LC.createChart(el, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: "#8b98a5", attributionLogo: false },
    grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
    timeScale: { timeVisible: true, borderColor: "#2a343e" }, rightPriceScale: { borderColor: "#2a343e" },
  });
  var line = chart.addSeries(LC.LineSeries, { color: "#58a6ff", lineWidth: 2 });
  line.setData(points.map(function (p) { return { time: p.time, value: Number(p.value) }; }));
  chart.timeScale().fitContent();
})();
