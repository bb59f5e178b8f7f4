// Live regions: an element with data-live="URL" gets its content from URL every data-every seconds
// (default 5), without reloading the page. Paused while the tab is hidden.
(function () {
  function refresh(el) {
    if (document.hidden) return;
    fetch(el.dataset.live, { headers: { "X-Live": "1" }, credentials: "same-origin" })
      .then(function (r) { if (r.redirected) { location.reload(); return null; } return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { el.innerHTML = html; showLocalTimes(el); el.dataset.updated = Date.now(); } })
      .catch(function () {});
  }
  document.querySelectorAll("[data-live]").forEach(function (el) {
    var every = parseFloat(el.dataset.every || "5") * 1000;
    setInterval(function () { refresh(el); }, every);
  });
})();

// Live previews: a form with data-preview="URL" posts itself there (CSRF token included) a moment after each
// change, and shows the answer in the element data-preview-target names.
(function () {
  document.querySelectorAll("form[data-preview]").forEach(function (form) {
    var target = document.querySelector(form.dataset.previewTarget);
    var timer = null;
    function update() {
      fetch(form.dataset.preview, { method: "POST", body: new FormData(form), credentials: "same-origin",
                                    headers: { "X-Live": "1" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && target) { target.innerHTML = html; } })
        .catch(function () {});
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 300); });
    update();
  });
})();

// Local times: <time data-local datetime="...Z"> is written in UTC on the server (and says so); the browser
// shows it in its own time zone, the UTC time kept as the title.
function showLocalTimes(root) {
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime())) return;
    if (!el.title) el.title = el.textContent;
    el.textContent = when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) + " " +
      pad(when.getHours()) + ":" + pad(when.getMinutes());
  });
}
showLocalTimes();
