"use strict";
// Shows why the last login failed (the server redirects back with ?error=...).
(function () {
  const error = new URLSearchParams(location.search).get("error");
  const box = document.getElementById("login-error");
  const words = {
    empty: "Enter a token.",
    rejected: "Kubernetes did not accept this token (401 Unauthorized).",
  };
  if (error && box) {
    box.textContent = words[error] || "Login failed.";
    box.hidden = false;
  }
})();
