// The code step's resend wait, counted down where JavaScript runs (progressive enhancement:
// without it the page states the wait in words and the server answers an early tap with a
// notice). A static file, as the Content Security Policy allows no inline script.
(function () {
  "use strict";
  var wait = document.querySelector("[data-resend-in]");
  var button = document.querySelector("[data-resend-button]");
  if (!wait || !button) {
    return;
  }
  var left = parseInt(wait.getAttribute("data-resend-in"), 10) || 0;
  var end = Date.now() + left * 1000;

  function show() {
    left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    if (left > 0) {
      wait.textContent = wait.getAttribute("data-counting").replace("%s", String(left));
      button.disabled = true;
      window.setTimeout(show, 250);
    } else {
      wait.textContent = wait.getAttribute("data-ready");
      button.disabled = false;
    }
  }

  if (left > 0) {
    show();
  }
})();
