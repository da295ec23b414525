/* The slot editor, enhanced (content.forms.SlotForm loads this; without it every field shows and works).
 *
 * 1. Panels carrying data-tailor-show-when='{"strategy":["model"],"exploration":["softmax"]}' show only
 *    while every named field of the form has one of the listed values, so the editor sees the settings of
 *    the chosen strategy alone, switching live. Hidden fields keep their values and are still posted.
 * 2. Typed variant keys (the default variant, each rule's variant) become choosers listing the variants
 *    in the form as it is now: added, renamed or deleted variants update every chooser at once, and a
 *    chooser that pointed at a renamed variant follows it. The text input stays the submitted value.
 * 3. The key's help text shows the template tag with the key being typed.
 */
(function () {
  "use strict";

  var VARIANT_KEY = /^variants-\d+-key$/;
  var RULE_VARIANT = /^rules-\d+-value-variant$/;

  function formOf() {
    var strategy = document.querySelector('select[name="strategy"]');
    return strategy ? strategy.form : null;
  }

  function fieldValue(form, name) {
    var field = form.elements[name];
    if (!field) return null;
    if (field.type === "checkbox") return field.checked ? "true" : "false";
    return field.value;
  }

  // 1. Show only what the chosen strategy uses.
  function conditionsApply(form) {
    form.querySelectorAll("[data-tailor-show-when]").forEach(function (panel) {
      var conditions;
      try {
        conditions = JSON.parse(panel.getAttribute("data-tailor-show-when"));
      } catch (error) {
        return; // a malformed condition shows the panel rather than hide a setting for good
      }
      var shown = Object.keys(conditions).every(function (name) {
        var value = fieldValue(form, name);
        return value === null || conditions[name].indexOf(value) !== -1;
      });
      panel.style.display = shown ? "" : "none";
      panel.toggleAttribute("data-tailor-hidden", !shown);
    });
    // A row of fields all hidden would leave its empty margins behind: hide the row too.
    form.querySelectorAll(".w-field-row").forEach(function (row) {
      var fields = row.querySelectorAll(":scope > .w-panel__wrapper");
      var holder = row.closest(".w-panel__wrapper:not(.w-field-row > .w-panel__wrapper)") || row;
      var empty = fields.length > 0 && Array.prototype.every.call(fields, function (f) {
        return f.hasAttribute("data-tailor-hidden");
      });
      if (holder.hasAttribute("data-tailor-show-when")) return; // its own condition rules it
      holder.style.display = empty ? "none" : "";
    });
  }

  // 2. Variant key choosers.
  function isDeleted(form, keyInput) {
    var deleted = form.elements[keyInput.name.replace(/-key$/, "-DELETE")];
    return deleted && (deleted.value === "1" || deleted.checked === true);
  }

  function variantsInForm(form) {
    var variants = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!VARIANT_KEY.test(el.name || "") || isDeleted(form, el)) return;
      var key = el.value.trim();
      if (!key || variants.some(function (v) { return v.key === key; })) return;
      var name = form.elements[el.name.replace(/-key$/, "-name")];
      variants.push({ key: key, name: name && name.value.trim() ? name.value.trim() : key });
    });
    return variants;
  }

  function isVariantKeyInput(el) {
    return el.tagName === "INPUT" && (el.hasAttribute("data-tailor-variant-key") || RULE_VARIANT.test(el.name || ""));
  }

  function chooserFor(input) {
    var next = input.nextElementSibling;
    if (next && next.hasAttribute("data-tailor-variant-chooser")) return next;
    var select = document.createElement("select");
    select.setAttribute("data-tailor-variant-chooser", input.name);
    select.setAttribute("aria-label", input.id ? (document.querySelector('label[for="' + input.id + '"]') || {}).textContent || "Variant" : "Variant");
    if (input.id) select.id = input.id + "-chooser";
    select.addEventListener("change", function () {
      input.value = select.value;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    input.insertAdjacentElement("afterend", select);
    input.type = "hidden"; // still posted; the chooser is what the editor sees
    // Point the field's label at the chooser.
    if (input.id) {
      var label = document.querySelector('label[for="' + input.id + '"]');
      if (label) label.setAttribute("for", select.id);
    }
    return select;
  }

  function choosersRefresh(form) {
    var variants = variantsInForm(form);
    Array.prototype.forEach.call(form.querySelectorAll("input"), function (input) {
      if (!isVariantKeyInput(input)) return;
      var select = chooserFor(input);
      var current = input.value;
      var blank = input.getAttribute("data-tailor-variant-key") || "Choose a variant";
      var options = [{ key: "", label: blank }].concat(
        variants.map(function (v) { return { key: v.key, label: v.name + " (" + v.key + ")" }; })
      );
      if (current && !variants.some(function (v) { return v.key === current; })) {
        options.push({ key: current, label: current + " (no variant has this key)" });
      }
      var same = select.options.length === options.length && options.every(function (o, i) {
        return select.options[i].value === o.key && select.options[i].textContent === o.label;
      });
      if (!same) {
        select.textContent = "";
        options.forEach(function (o) {
          var option = document.createElement("option");
          option.value = o.key;
          option.textContent = o.label; // text, never HTML: names are editor input
          select.appendChild(option);
        });
      }
      select.value = current;
    });
  }

  function keyRenamed(form, keyInput) {
    var previous = keyInput.getAttribute("data-tailor-previous-key");
    var now = keyInput.value.trim();
    keyInput.setAttribute("data-tailor-previous-key", now);
    if (!previous || previous === now) return;
    Array.prototype.forEach.call(form.querySelectorAll("input"), function (input) {
      if (isVariantKeyInput(input) && input.value === previous) input.value = now;
    });
  }

  function keysRemember(form) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (VARIANT_KEY.test(el.name || "") && !el.hasAttribute("data-tailor-previous-key")) {
        el.setAttribute("data-tailor-previous-key", el.value.trim());
      }
    });
  }

  // 3. The key's help text follows the key.
  function keyHelpUpdate(form) {
    var key = form.elements.key;
    if (!key || !key.hasAttribute("data-tailor-key-example")) return;
    var help = document.getElementById(key.id + "-helptext");
    if (!help) return;
    var shown = key.value.trim() || key.getAttribute("data-tailor-key-example");
    help.textContent = help.textContent.replace(/personalize "[^"]*"/, 'personalize "' + shown + '"');
  }

  function init() {
    var form = formOf();
    if (!form) return;
    var scheduled = false;
    function refresh() {
      if (scheduled) return;
      scheduled = true;
      window.requestAnimationFrame(function () {
        scheduled = false;
        keysRemember(form);
        conditionsApply(form);
        choosersRefresh(form);
      });
    }
    form.addEventListener("change", refresh);
    form.addEventListener("click", refresh); // a variant's delete button marks it deleted without a change event
    form.addEventListener("input", function (event) {
      var el = event.target;
      if (VARIANT_KEY.test(el.name || "")) keyRenamed(form, el);
      if (el.name === "key") keyHelpUpdate(form);
      if (VARIANT_KEY.test(el.name || "") || /^variants-\d+-name$/.test(el.name || "")) refresh();
    });
    // Variants and rules added or deleted (Wagtail's inline panel and StreamField change the DOM).
    new MutationObserver(function (mutations) {
      var relevant = mutations.some(function (m) {
        return !(m.target.hasAttribute && m.target.hasAttribute("data-tailor-variant-chooser"));
      });
      if (relevant) refresh();
    }).observe(form, { childList: true, subtree: true, attributes: true, attributeFilter: ["class", "hidden"] });
    keysRemember(form);
    conditionsApply(form);
    choosersRefresh(form);
    keyHelpUpdate(form);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
