/* Loaded after require.js and before html-manager/embed-amd.js on pages with widgets (the order
 * is set by nb_ipywidgets_js in _config.yml). Two fixes, both checked by tests/test_browser.py:
 *
 * 1. Fonts. embed-amd.js defines its modules by name, so require.js gives them URLs relative to
 *    the page ("book/@jupyter-widgets/controls.js", ".../html-manager/dist/...") and the widget CSS
 *    looks for its Font Awesome files there (404). Point those module paths at _static/html-manager,
 *    where they are.
 *
 * 2. MathJax. ipywidgets' controls typeset every widget label with the MathJax 2 API,
 *    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]). The book loads MathJax 3, which has no
 *    MathJax.Hub, so each label threw "Cannot read properties of undefined (reading 'Queue')" and
 *    math in labels stayed raw. Give whatever object window.MathJax is (the configuration object
 *    now, MathJax 3 itself once it has loaded and replaced it) that one MathJax 2 entry point.
 */
(function () {
  "use strict";
  var here = document.currentScript.src.replace(/[^/]*$/, ""); // .../_static/
  // Each module of embed-amd.js takes webpack's public path (where its CSS finds the fonts) from
  // the folder of its require.js URL. Without a path, "@jupyter-widgets/controls" is
  // "book/@jupyter-widgets/controls.js", so whichever module injected the Font Awesome CSS first
  // decided whether the fonts loaded (a race: some page loads 404'd). Map every one of them
  // into _static/html-manager/, where the fonts are.
  var paths = { "@jupyter-widgets/html-manager/dist": here + "html-manager" };
  ["base", "base7", "controls", "controls7", "html-manager"].forEach(function (name) {
    paths["@jupyter-widgets/" + name] = here + "html-manager/" + name;
  });
  window.require.config({ paths: paths });

  function typeset(element) {
    var mathjax = window.MathJax;
    if (mathjax && mathjax.startup && mathjax.startup.promise) { // MathJax 3 has loaded
      mathjax.startup.promise = mathjax.startup.promise.then(function () {
        return mathjax.typesetPromise(element ? [element] : undefined);
      });
    } // else no MathJax on this page: nothing to typeset, as with MathJax 2 absent
  }
  var hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (Array.isArray(job) && job[0] === "Typeset") {
          typeset(job[2]);
        }
      });
    },
  };
  var current = window.MathJax || {};
  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      value.Hub = hub;
    }
    return value;
  }
  current = withHub(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () {
      return current;
    },
    set: function (value) {
      current = withHub(value);
    },
  });
})();
