// The apps page's branding form: the preview follows the form as the operator types, and an
// image file may be picked for the logo (read here into the form's data: URI field). Without
// this script the form's Preview button does the same on a click.
(function () {
  "use strict";
  var form = document.getElementById("branding");
  if (!form) {
    return;
  }
  var preview = form.querySelector("button.preview");
  var logo = form.querySelector("textarea[name=logo]");
  var fileLabel = document.getElementById("logo-file-label");
  var file = document.getElementById("logo-file");
  var timer = null;

  function refresh() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      if (form.requestSubmit) {
        form.requestSubmit(preview);
      } else {
        preview.click();
      }
    }, 300);
  }

  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  if (file && fileLabel && logo) {
    fileLabel.hidden = false;
    file.addEventListener("change", function () {
      var chosen = file.files && file.files[0];
      if (!chosen) {
        return;
      }
      var reader = new FileReader();
      reader.onload = function () {
        logo.value = String(reader.result);
        refresh();
      };
      reader.readAsDataURL(chosen);
    });
  }
})();
