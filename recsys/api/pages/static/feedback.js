// The user page's feedback buttons: post one event to the JSON API (POST /events) with the
// write token the person entered (kept in this tab's sessionStorage only), then re-read the
// page and swap in its fresh history and columns, so the feedback is seen landing.
// Plain JavaScript, no build step, nothing from elsewhere.
"use strict";

(function () {
  var TOKEN_KEY = "recsys.writeToken";
  var root = document.getElementById("user");
  if (!root) {
    return;
  }
  var userId = Number(root.dataset.userId);
  var writesOn = root.dataset.writes === "on";
  var eventsUrl = root.dataset.eventsUrl; // POST /events, behind any proxy prefix
  var statusLine = document.getElementById("feedback-status");
  var form = document.getElementById("token-form");
  var input = document.getElementById("write-token");

  function say(message, isError) {
    statusLine.textContent = message;
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function token() {
    try {
      return window.sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (e) {
      return ""; // storage disabled: ask every time
    }
  }

  function keepToken(value) {
    try {
      if (value) {
        window.sessionStorage.setItem(TOKEN_KEY, value);
      } else {
        window.sessionStorage.removeItem(TOKEN_KEY);
      }
    } catch (e) {
      say("This browser keeps no session storage: the token is used for this page only.");
    }
  }

  function idempotencyKey(movieId, type) {
    // A retry of the same click is stored once (randomUUID needs a secure context).
    var random = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
      : Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
    return "page-" + userId + "-" + movieId + "-" + type + "-" + random;
  }

  function detailOf(body) {
    if (!body || body.detail === undefined) {
      return "";
    }
    if (typeof body.detail === "string") {
      return body.detail;
    }
    if (Array.isArray(body.detail)) {
      return body.detail.map(function (d) { return d.msg || JSON.stringify(d); }).join("; ");
    }
    return JSON.stringify(body.detail);
  }

  function refresh() {
    // The same page, rendered by the server again: its [data-refresh] sections replace ours.
    return fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the page answered " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh]").forEach(function (old) {
          var replacement = fresh.getElementById(old.id);
          if (replacement) {
            old.replaceWith(document.importNode(replacement, true));
          }
        });
        root.dataset.refreshed = String(Number(root.dataset.refreshed || "0") + 1);
      });
  }

  function post(button) {
    var movieId = Number(button.dataset.movieId);
    var type = button.dataset.event;
    var title = button.dataset.title;
    var secret = token();
    if (!secret) {
      say("Enter the write token first, then click " + type + " again.", true);
      input.focus();
      return;
    }
    var buttons = document.querySelectorAll("button[data-event]");
    buttons.forEach(function (b) { b.disabled = true; });
    say("Sending " + type + " for " + title + " ...");
    fetch(eventsUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + secret },
      body: JSON.stringify({
        events: [{ user_id: userId, movie_id: movieId, type: type,
          idempotency_key: idempotencyKey(movieId, type) }],
      }),
    })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (!response.ok) {
            var why = detailOf(body) || response.statusText;
            throw new Error("not recorded (" + response.status + "): " + why);
          }
          var recorded = "Recorded " + type + " for " + title;
          return refresh().then(
            function () { say(recorded + "; the columns are refreshed."); },
            function (error) {
              // Stored all the same: only the re-read failed, and a reload will show it.
              say(recorded + ", but the page could not be refreshed (" + error.message
                + "): reload it.", true);
              buttons.forEach(function (b) { b.disabled = false; });
            }
          );
        });
      })
      .catch(function (error) {
        say(String(error.message || error), true);
        buttons.forEach(function (b) { b.disabled = false; });
      });
  }

  if (writesOn && form) {
    form.hidden = false;
    input.value = token();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      keepToken(input.value.trim());
      say(input.value.trim() ? "Token kept for this tab." : "Token forgotten.");
    });
    document.getElementById("token-forget").addEventListener("click", function () {
      input.value = "";
      keepToken("");
      say("Token forgotten.");
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-event]");
    if (button && !button.disabled && writesOn) {
      post(button);
    }
  });
})();
