// Starts ReDoc on /openapi.json (kept out of the page so the CSP needs no inline script).
window.addEventListener("load", function () {
  Redoc.init(document.body.dataset.openapi, {}, document.getElementById("redoc"));
});
