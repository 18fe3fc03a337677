/* A click on a th.sortable sorts its table's rows by that column: numerically by a cell's
   data-value where it has one, else by its text; rows without the cell go last. */
(function () {
  "use strict";
  document.querySelectorAll("table").forEach(function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var body = table.tBodies[0];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (!th.classList.contains("sortable")) { return; }
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("data-order") !== "asc";
        th.setAttribute("data-order", ascending ? "asc" : "desc");
        function key(row) {
          var cell = row.cells[col];
          if (!cell) { return null; }
          var value = cell.getAttribute("data-value");
          if (value === null) { return cell.textContent; }
          return value === "" ? null : parseFloat(value);
        }
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
          var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
}());
