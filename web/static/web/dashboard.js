/* Account dashboard: charts (lightweight-charts from npm) and live updates over the account websocket.
 *
 * The server is the one source of truth: every event, and every reconnect, triggers a refetch of the
 * live panel (HTML) and the chart data (JSON), debounced. A missed event therefore costs nothing; the
 * event list is only a log of what arrived.
 */
(function () {
  "use strict";
  var page = document.getElementById("account-page");
  if (!page) return;
  var LC = window.LightweightCharts;
  var state = { events: 0, refreshes: 0, connected: false, everConnected: false };
  window.accountDashboard = state; // read by the browser tests

  var statusEl = document.getElementById("live-status");
  var eventsEl = document.getElementById("events");
  var select = document.getElementById("instrument-select");

  function chartOptions(el) {
    return {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#8b98a5", attributionLogo: false },
      grid: { vertLines: { color: "#222c36" }, horzLines: { color: "#222c36" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a343e" },
      rightPriceScale: { borderColor: "#2a343e" },
      crosshair: { mode: 0 },
    };
  }

  var pnlChart = null, pnlSeries = null, priceSeries = null, markersApi = null, priceChart = null;
  var rangeLines = [], priceFramed = false;
  if (LC) {
    pnlChart = LC.createChart(document.getElementById("pnl-chart"), chartOptions());
    pnlSeries = pnlChart.addSeries(LC.BaselineSeries, {
      baseValue: { type: "price", price: 0 },
      topLineColor: "#2ea043", topFillColor1: "rgba(46,160,67,.35)", topFillColor2: "rgba(46,160,67,.05)",
      bottomLineColor: "#f85149", bottomFillColor1: "rgba(248,81,73,.05)", bottomFillColor2: "rgba(248,81,73,.35)",
      priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    priceChart = LC.createChart(document.getElementById("price-chart"), chartOptions());
    priceSeries = priceChart.addSeries(LC.CandlestickSeries, {
      upColor: "#2ea043", downColor: "#f85149", borderVisible: false,
      wickUpColor: "#2ea043", wickDownColor: "#f85149",
    });
    markersApi = LC.createSeriesMarkers(priceSeries, []);
  } else {
    ["pnl-chart", "price-chart"].forEach(function (id) {
      document.getElementById(id).innerHTML =
        '<p class="muted">Charts need the lightweight-charts package: run <code>npm ci</code>.</p>';
      document.getElementById(id).style.height = "auto";
    });
  }

  function num(text) { return Number(text); } // display only: the server keeps the exact values

  function drawChart(data) {
    if (!LC) return;
    pnlSeries.setData(data.pnl.map(function (p) { return { time: p.time, value: num(p.value) }; }));
    pnlChart.timeScale().fitContent();
    var price = data.price;
    var title = document.getElementById("price-title");
    rangeLines.forEach(function (line) { priceSeries.removePriceLine(line); });
    rangeLines = [];
    if (!price) {
      priceSeries.setData([]);
      markersApi.setMarkers([]);
      title.textContent = "(no contract to chart yet)";
      return;
    }
    title.textContent = price.instrument.symbol + " " + price.instrument.name +
      (price.bars.length ? "" : " · no bars cached yet");
    priceSeries.setData(price.bars.map(function (b) {
      return { time: b.time, open: num(b.open), high: num(b.high), low: num(b.low), close: num(b.close) };
    }));
    if (!priceFramed && price.bars.length) { // frame once: later refreshes keep the user's zoom
      var from = price.bars.length - 240;
      if (price.markers.length) {
        var first = price.markers[0].time;
        var index = price.bars.findIndex(function (b) { return b.time >= first; });
        if (index >= 0) from = Math.min(from, index - 30);
      }
      priceChart.timeScale().setVisibleLogicalRange({ from: Math.max(0, from), to: price.bars.length + 2 });
      priceFramed = true;
    }
    var range = price.overnight_range;
    if (range) {
      [["high", "ON high"], ["low", "ON low"]].forEach(function (pair) {
        rangeLines.push(priceSeries.createPriceLine({
          price: num(range[pair[0]]), color: "#d29922", lineWidth: 1, lineStyle: 2,
          axisLabelVisible: true, title: pair[1] + (range.is_complete ? "" : " (forming)"),
        }));
      });
    }
    markersApi.setMarkers(price.markers.map(function (m) {
      var buy = m.side === "buy";
      return {
        time: m.time, position: buy ? "belowBar" : "aboveBar", shape: buy ? "arrowUp" : "arrowDown",
        color: m.kind === "exit" ? "#58a6ff" : (buy ? "#2ea043" : "#f85149"), text: m.text,
      };
    }));
  }

  function refresh() {
    state.refreshes += 1;
    var chartUrl = page.dataset.chartUrl + (select ? "?instrument=" + encodeURIComponent(select.value) : "");
    var opts = { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } };
    var panel = fetch(page.dataset.panelUrl, opts).then(function (r) {
      if (!r.ok) throw new Error("panel " + r.status);
      return r.text();
    }).then(function (html) { document.getElementById("live-panel").innerHTML = html; });
    var chart = fetch(chartUrl, opts).then(function (r) {
      if (!r.ok) throw new Error("chart " + r.status);
      return r.json();
    }).then(drawChart);
    return Promise.all([panel, chart]).catch(function (err) { setStatus("Refresh failed: " + err.message, false); });
  }

  var pending = null;
  function scheduleRefresh() { // many events in a burst cost one refetch
    if (pending) return;
    pending = setTimeout(function () { pending = null; refresh(); }, 250);
  }

  function setStatus(text, ok) {
    statusEl.textContent = text;
    statusEl.classList.toggle("ok", ok);
    statusEl.classList.toggle("down", !ok);
  }

  function logEvent(msg) {
    state.events += 1;
    if (state.events === 1) eventsEl.innerHTML = "";
    var li = document.createElement("li");
    var when = new Date().toLocaleTimeString();
    var data = msg.data || {};
    var detail = Object.keys(data).slice(0, 6).map(function (k) { return k + "=" + data[k]; }).join(" ");
    li.textContent = when + " " + msg.kind + (detail ? " · " + detail : "");
    li.className = "event event-" + msg.kind;
    eventsEl.prepend(li);
    while (eventsEl.children.length > 50) eventsEl.removeChild(eventsEl.lastChild);
  }

  function connect(delay) {
    var scheme = location.protocol === "https:" ? "wss" : "ws";
    var ws = new WebSocket(scheme + "://" + location.host + "/ws/accounts/" + page.dataset.accountId + "/");
    ws.onopen = function () {
      setStatus("Live updates: connected", true);
      state.connected = true;
      if (state.everConnected) refresh(); // resync whatever happened while we were away
      state.everConnected = true;
      delay = 1000;
    };
    ws.onmessage = function (m) {
      var msg = JSON.parse(m.data);
      if (msg.type === "hello") return;
      logEvent(msg);
      scheduleRefresh();
    };
    ws.onclose = function (ev) {
      state.connected = false;
      if (ev.code === 4403) { setStatus("Live updates: not allowed for this account", false); return; }
      setStatus("Live updates: reconnecting…", false);
      setTimeout(function () { connect(Math.min(delay * 2, 30000)); }, delay + Math.random() * 500);
    };
  }

  // While the socket is down the page still converges: a slow poll until it reconnects.
  setInterval(function () { if (!state.connected && !document.hidden) refresh(); }, 15000);
  if (select) select.addEventListener("change", function () { priceFramed = false; refresh(); });
  refresh();
  if ("WebSocket" in window) connect(1000);
  else setStatus("Live updates need a browser with websockets; the page refreshes on reload.", false);
})();
