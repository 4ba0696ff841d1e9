/* Loaded after require.js and before html-manager/embed-amd.js on pages with widgets (the order
 * is set by nb_ipywidgets_js in _config.yml). Two fixes, both checked by tests/test_browser.py:
 *
 * 1. Fonts. embed-amd.js defines its modules by name, so require.js gives them URLs relative to
 *    the page ("book/@jupyter-widgets/html-manager/dist/...") and the widget CSS looks for its
 *    Font Awesome files there (404). Point that module path at _static/html-manager, where they are.
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
  window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": here + "html-manager" } });

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
