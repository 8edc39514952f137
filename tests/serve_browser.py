#!/usr/bin/env python3
"""The page of `recur serve` in a real browser: headless Chromium loads it
from the running server (loopback), types a name one key at a time (the
page's ?type=), and the rendered DOM must show predict's labels in order,
the gate heat map of every character and, for a generation model, ten
drawn names; any console message (an error, a failed load) fails the test.
Screenshots go to OUT. Usage: serve_browser.py RECUR_BIN WORK OUT CHROMIUM."""
import html
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_test as st  # noqa: E402  (its helpers: data, training, the server)

BIN, WORK, OUT, CHROME = (os.path.abspath(a) if i < 3 else a for i, a in enumerate(sys.argv[1:5]))
st.BIN, st.WORK = BIN, WORK


def browse(url, shot=None):
    """The DOM after the page's scripts ran, and its console lines."""
    args = [CHROME, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--virtual-time-budget=8000", "--enable-logging=stderr", "--v=0", "--window-size=1000,760",
            "--user-data-dir=" + os.path.join(WORK, "chromium-profile")]
    args += ["--screenshot=" + shot] if shot else ["--dump-dom"]
    r = subprocess.run(args + [url], capture_output=True, text=True, timeout=90)
    console = [l for l in r.stderr.splitlines() if ":CONSOLE" in l]
    return r.stdout, console


def texts_of(dom, pattern):
    return [html.unescape(re.sub("<[^>]+>", "", m)) for m in re.findall(pattern, dom, re.S)]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.makedirs(OUT, exist_ok=True)
    st.make_data(os.path.join(WORK, "data"))
    common = ["--hidden", "16", "--embed", "8", "--threads", "1", "--lr", "0.01"]
    st.recur("train", "data", "-o", "names.safetensors", "--epochs", "12", "--seed", "1", *common)
    st.recur("train", "data", "--generate", "-o", "gen.safetensors", "--epochs", "2", *common)
    want = st.predict("names.safetensors", ["Kalimos"])["Kalimos"]
    srv = st.Server("names.safetensors", "gen.safetensors", "--quiet")
    try:
        base = "http://127.0.0.1:%d/" % srv.port
        dom, console = browse(base + "?type=Kalimos")
        st.check(not console, "no console messages: %r" % console[:3])
        st.check('data-shown="Kalimos"' in dom, "the page rendered the typed name")
        labels = texts_of(dom, r'<span class="label">(.*?)</span>')
        st.check(labels == [p["label"] for p in want], "top labels %r, predict says %r" % (labels, want))
        heads = texts_of(dom, r"<th>(.*?)</th>")
        st.check(heads == list("Kalimos"), "one heat-map column per character: %r" % heads)
        rows = texts_of(dom, r'<td class="name">(.*?)</td>')
        st.check(rows[1:] == ["input", "forget", "output", "cell", "hidden", "p(%s)" % want[0]["label"]],
                 "heat-map rows: %r" % rows)
        st.check(len(re.findall(r'<td title="forget: ', dom)) == 7, "a forget-gate cell per character")
        dom, console = browse(base + "?model=gen&sample=1")
        st.check(not console, "generator page: no console messages: %r" % console[:3])
        names = texts_of(dom, r'<ol id="names">(.*?)</ol>')
        st.check(names and len(re.findall("<li>", dom.split('<ol id="names">')[1].split("</ol>")[0])) == 10,
                 "ten names drawn: %r" % names)
        for name, url in (("page-classify.png", base + "?type=Kalimos"), ("page-generate.png", base + "?model=gen&sample=1")):
            path = os.path.join(OUT, name)
            if os.path.exists(path):
                os.remove(path)
            _, console = browse(url, path)
            st.check(os.path.exists(path) and os.path.getsize(path) > 5000, "screenshot %s" % path)
            st.check(not console, "screenshot run: no console messages: %r" % console[:3])
        print("serve_browser: screenshots in %s" % OUT)
    finally:
        code = srv.stop()
    st.check(code == 0, "server exit %s" % code)
    print("serve_browser: %d failures" % len(st.FAILS))
    return 1 if st.FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
