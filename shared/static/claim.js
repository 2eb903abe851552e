// The progress claim page (services/claims/templates/claim.html) works its figures out as the person types, as
// the claims service does when it saves them (services/claims/domain/money.py, rule 17): per line the total to
// date, % complete (one decimal, half up), balance to finish and retention (to the cent, half up); then the
// totals. Amounts are whole cents in BigInt, never floating point. The server stays the authority: what it saves
// replaces these figures when the page comes back. Served as a file: the pages' Content-Security-Policy allows no
// inline script. Without it, the page works out the figures when the claim is saved.
(function () {
  "use strict";
  var form = document.getElementById("claim-form");
  if (!form || typeof BigInt === "undefined") {
    return;
  }
  var TYPED = /^(\d+(\.\d*)?|\.\d+)$/;
  var LARGEST = BigInt("99999999999999"); // 999,999,999,999.99, the largest amount the server takes
  var retentionRate = rate(form.getAttribute("data-retention-percent"));
  var previouslyEarned = BigInt(form.getAttribute("data-less-previous-cents"));

  // "1,250.50", "$80", "" -> cents; null when the server would refuse it (it says why when saved).
  function cents(text) {
    var cleaned = text.trim().replace(/,/g, "").replace(/^\$/, "").trim();
    if (cleaned === "") {
      return BigInt(0);
    }
    if (!TYPED.test(cleaned)) {
      return null;
    }
    var parts = cleaned.split(".");
    var fraction = parts[1] || "";
    if (fraction.length > 2) {
      return null;
    }
    var value = BigInt(parts[0] || "0") * BigInt(100) + BigInt((fraction + "00").slice(0, 2));
    return value > LARGEST ? null : value;
  }

  // A percentage such as "5" or "7.5" as a fraction (numerator, denominator) of 100.
  function rate(text) {
    var parts = text.split(".");
    var fraction = parts[1] || "";
    return { numerator: BigInt(parts[0] + fraction), denominator: BigInt(100) * BigInt(10) ** BigInt(fraction.length) };
  }

  // numerator / denominator rounded half up, both non-negative.
  function halfUp(numerator, denominator) {
    var quotient = numerator / denominator;
    return (numerator % denominator) * BigInt(2) >= denominator ? quotient + BigInt(1) : quotient;
  }

  // As the server shows money: "-1,234.56".
  function money(value) {
    var negative = value < BigInt(0);
    var whole = (negative ? -value : value).toString().padStart(3, "0");
    var units = whole.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + units + "." + whole.slice(-2);
  }

  // Of the scheduled value, to one decimal place, half up (a line's total is never below zero).
  function percent(total, scheduled) {
    if (scheduled === BigInt(0)) {
      return "0.0%";
    }
    var tenths = halfUp(total * BigInt(1000), scheduled).toString().padStart(2, "0");
    return tenths.slice(0, -1) + "." + tenths.slice(-1) + "%";
  }

  function show(id, text) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = text;
    }
  }

  function workOut() {
    var total = BigInt(0), retention = BigInt(0), readable = true;
    var lines = form.querySelectorAll("tr[data-line]");
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i], id = line.getAttribute("data-line");
      var thisPeriod = cents(document.getElementById("this_period." + id).value);
      var stored = cents(document.getElementById("stored." + id).value);
      var cells = {
        total: line.querySelector("[data-figure=total]"),
        percent: line.querySelector("[data-figure=percent]"),
        balance: line.querySelector("[data-figure=balance]"),
        retention: line.querySelector("[data-figure=retention]")
      };
      if (thisPeriod === null || stored === null) {
        readable = false;
        cells.total.textContent = cells.percent.textContent = cells.balance.textContent = "—";
        cells.retention.textContent = "—";
        continue;
      }
      var scheduled = BigInt(line.getAttribute("data-scheduled-cents"));
      var lineTotal = BigInt(line.getAttribute("data-previous-cents")) + thisPeriod + stored;
      var lineRetention = halfUp(lineTotal * retentionRate.numerator, retentionRate.denominator);
      cells.total.textContent = money(lineTotal);
      cells.percent.textContent = percent(lineTotal, scheduled);
      cells.balance.textContent = money(scheduled - lineTotal);
      cells.retention.textContent = money(lineRetention);
      total += lineTotal;
      retention += lineRetention;
    }
    var currency = form.getAttribute("data-currency");
    if (!readable) {
      ["total-completed", "retention", "earned-less-retention", "current-payment-due"].forEach(function (id) {
        show(id, "—");
      });
      show("totals-note", "A figure above cannot be read as an amount; the totals follow once it can.");
      return;
    }
    var earned = total - retention;
    show("total-completed", money(total));
    show("retention", money(retention));
    show("earned-less-retention", money(earned));
    show("current-payment-due", currency + " " + money(earned - previouslyEarned));
    show("totals-note", "The totals follow what you type; they are saved when you press Save draft or Submit.");
  }

  form.addEventListener("input", workOut);
  workOut();
})();
