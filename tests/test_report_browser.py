"""report.html opened in a real headless Chromium, offline, at 1280 px.

A copy of the report gets a small script: at the top of <head> it records console errors,
uncaught errors and failed resource loads; after the page has loaded it opens every collapsed
table, measures, and writes its findings into the DOM, which ``chromium --dump-dom`` prints.
The network is pointed at a dead proxy, so anything remote would fail to load (and be reported).
No browser: skipped with the reason. Install one on Debian with ``apt-get install chromium``.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from report_run import make_run

from neuromer.report import make_report

CHROMIUM = next((p for p in (os.environ.get("NEUROMER_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p and os.path.isfile(p)), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (Debian: apt-get install chromium)")]
WIDTH_PX = 1280

_HEAD = """<script>
window.__nm = {errors: [], failed: []};
(function () {
  var orig = console.error;
  console.error = function () {
    window.__nm.errors.push(Array.from(arguments).join(' '));
    orig.apply(console, arguments);
  };
  window.addEventListener('error', function (e) {
    if (e.target && e.target !== window && (e.target.src || e.target.href)) {
      window.__nm.failed.push(e.target.src || e.target.href);
    } else { window.__nm.errors.push(String(e.message)); }
  }, true);
  window.addEventListener('unhandledrejection', function (e) { window.__nm.errors.push(String(e.reason)); });
})();
</script>"""

_CHECK = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
    var vw = document.documentElement.clientWidth, wide = [];
    function clipped(el) {  // inside a block that scrolls or clips horizontally
      for (var p = el.parentElement; p; p = p.parentElement) {
        var o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return p.getBoundingClientRect().right <= vw + 1;
      }
      return false;
    }
    document.querySelectorAll('body *').forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > vw + 1 && !clipped(el)) {
        wide.push(el.tagName + '.' + (el.className || '') + ' ' + Math.round(r.right) + 'px');
      }
    });
    var first = {};  // per section: how far below its header the bottom of its first figure is
    document.querySelectorAll('.accordion-item.section').forEach(function (sec) {
      var img = sec.querySelector('img');
      if (img) first[sec.id] = Math.round(img.getBoundingClientRect().bottom - sec.getBoundingClientRect().top);
    });
    var imgs = Array.from(document.images);
    var res = performance.getEntriesByType('resource').map(function (e) { return e.name; });
    var out = {viewport: vw, first_figure_px: first, viewport_height: window.innerHeight, scroll_width: document.documentElement.scrollWidth, wide: wide.slice(0, 20),
               n_wide: wide.length, n_images: imgs.length,
               broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                           .map(function (i) { return (i.src || '').slice(0, 80); }),
               remote: res.filter(function (u) { return !/^(data|file|blob|about):/.test(u); }),
               errors: window.__nm.errors, failed: window.__nm.failed};
    var pre = document.createElement('pre');
    pre.id = 'nm-check';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 500);
});
</script>"""


def _check(html: str, folder, name: str = "checked.html") -> dict:
    """Open ``html`` (written into ``folder``) in headless Chromium, offline; return the findings."""
    import html as htmllib

    head, tail = html.rsplit("</body>", 1)  # the last one: inlined libraries contain the string too
    html = (head + _CHECK + "</body>" + tail).replace("<head>", "<head>" + _HEAD, 1)
    page = folder / name
    page.write_text(html, encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={folder / ('profile-' + name)}",
           "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",  # offline: remote loads fail
           f"--window-size={WIDTH_PX},900", "--hide-scrollbars", "--virtual-time-budget=15000",
           "--dump-dom", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="nm-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"Chromium printed no check result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(htmllib.unescape(found.group(1)))


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("browser"))
    # checked next to report.html, so relative links resolve the same way
    return _check(make_report(run, figures=False).read_text(encoding="utf-8"), run)


def test_the_checks_catch_a_bad_page(tmp_path):
    bad = ("<html><head><title>bad</title></head><body><p>text</p>"
           "<table><tr>" + "<td>a_long_unbreakable_cell_value</td>" * 60 + "</tr></table>"
           "<img src='missing.png'><img src='https://example.org/x.png'>"
           "<script>console.error('boom');</script></body></html>")
    res = _check(bad, tmp_path)
    assert res["n_wide"] > 0 and res["scroll_width"] > res["viewport"]
    assert len(res["broken"]) == 2
    assert any("boom" in e for e in res["errors"])
    assert any(u.startswith("https://example.org") for u in res["failed"] + res["remote"])


def test_no_console_errors(checked):
    assert checked["errors"] == []


def test_every_image_loads(checked):
    assert checked["n_images"] >= 8
    assert checked["broken"] == []


def test_nothing_wider_than_the_viewport(checked):
    assert checked["viewport"] >= WIDTH_PX - 20
    assert checked["scroll_width"] <= checked["viewport"], checked["wide"]
    assert checked["n_wide"] == 0, checked["wide"]


def test_first_screen_of_each_section_shows_its_figure(checked):
    # the answer figure is the first item of each section: at 1280 px it ends within one screen
    assert {"Comparison", "Decoding_evaluation", "Time_courses"} <= set(checked["first_figure_px"])
    for section, px in checked["first_figure_px"].items():
        assert px <= checked["viewport_height"], (section, px)


def test_self_contained_and_offline(checked):
    assert checked["remote"] == [] and checked["failed"] == []
