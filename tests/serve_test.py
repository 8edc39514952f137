#!/usr/bin/env python3
"""`recur serve` over real HTTP (loopback, a free port): every endpoint, every
error case, batching under concurrent load, SIGHUP reload under load (and a
broken file refused), SIGTERM under load, the limits. Run by tests/test_serve.c
(make test) as: serve_test.py RECUR_BIN WORKDIR. Bounded: about 10 s.

Models are trained here in a second on made-up data (three "languages" with
their own letters), so the test needs neither the names data nor torch."""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

BIN, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
FAILS = []
# No proxy, whatever the environment says: the server is on loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def make_data(d):
    rnd = random.Random(1)
    alphabets = {"Alpha": "aeiklmnost", "Beta": "bdgruvwxyz", "Gamma": "cfhjpqae"}
    os.makedirs(d, exist_ok=True)
    for lab, chars in alphabets.items():
        with open(os.path.join(d, lab + ".txt"), "w") as f:
            for _ in range(60):
                n = rnd.randint(3, 8)
                f.write("".join(rnd.choice(chars) for _ in range(n)).capitalize() + "\n")


def recur(*args):
    r = subprocess.run([BIN] + list(args), cwd=WORK, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("recur %s failed: %s" % (" ".join(args), r.stderr))
    return r.stdout


class Server:
    def __init__(self, *args):
        self.p = subprocess.Popen([BIN, "serve", "--port", "0"] + list(args), cwd=WORK,
                                  stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        deadline = time.time() + 10
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if "listening on http://" in line:
                self.port = int(line.split("listening on http://")[1].split("/")[0].rsplit(":", 1)[1])
                self.head = line
                break
        if self.port is None:
            raise SystemExit("the server did not start: " + "".join(self.lines))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.append(line)

    def wait_log(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in l for l in self.lines):
                return True
            time.sleep(0.01)
        return False

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return -999


def call(srv, path, body=None, method=None, headers=None):
    """(status, parsed JSON or raw bytes, headers)."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(srv.url(path), data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=10) as r:
            status, raw, hdr = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdr = e.code, e.read(), e.headers
    if hdr.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(raw), hdr
    return status, raw, hdr


def texts(data, shape=None):
    return {"inputs": [{"name": "text", "shape": shape or [len(data)], "datatype": "BYTES", "data": data}]}


def err_case(srv, path, body, want_status, want_text, method=None):
    st, js, _ = call(srv, path, body, method)
    ok = st == want_status and isinstance(js, dict) and list(js) == ["error"] and want_text in js["error"] \
        and "\n" not in js["error"]
    check(ok, "%s %r: want %d with '%s', got %d %r" % (path, body if not isinstance(body, bytes) else body[:60],
                                                        want_status, want_text, st, js))


def predict(model, names):
    """The CLI's answers: {name: (best label, its log-probability)}."""
    out = {}
    for line in recur("predict", model, "--json", "--top", "3", *names).splitlines():
        j = json.loads(line)
        out[j["name"]] = j["predictions"]
    return out


NAMES = ["Kalimos", "Bugwyd", "Chafe", "Ostel", "Zyrdub", "Pajeq", "Emil", "Vux"]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    make_data(os.path.join(WORK, "data"))
    common = ["--hidden", "16", "--embed", "8", "--threads", "1", "--lr", "0.01"]
    recur("train", "data", "-o", "cls.safetensors", "--epochs", "12", "--unidirectional", "--seed", "1", *common)
    recur("train", "data", "-o", "cls2.safetensors", "--epochs", "3", "--unidirectional", "--seed", "2",
          "--cell", "gru", *common)
    recur("train", "data", "--generate", "-o", "gen.safetensors", "--epochs", "2", *common)
    shutil.copy(os.path.join(WORK, "cls.safetensors"), os.path.join(WORK, "live.safetensors"))

    want = predict("cls.safetensors", NAMES)
    want2 = predict("cls2.safetensors", NAMES)
    srv = Server("cls.safetensors", "gen=gen.safetensors", "names=live.safetensors", "--threads", "8")
    check(srv.head.startswith("recur serve: listening on http://127.0.0.1:"), "binds to loopback by default")
    try:
        endpoints(srv, want)
        errors(srv)
        inspect(srv, want)
        concurrent(srv, want)
        reload_under_load(srv, want, want2)
        log_lines(srv)
    finally:
        code = srv.stop()
    check(code == 0, "SIGTERM: exit 0 (got %s)" % code)
    check(srv.wait_log("stopped after"), "a last log line on stop")

    dense()
    forced_batch(want)
    shutdown_under_load()
    limits()
    quiet()
    bad_command_lines()
    print("serve_test: %d failures" % len(FAILS))
    return 1 if FAILS else 0


def endpoints(srv, want):
    for path, key in (("/v2/health/live", "live"), ("/v2/health/ready", "ready")):
        st, js, _ = call(srv, path)
        check(st == 200 and js == {key: True}, "%s: %r" % (path, js))
    st, js, _ = call(srv, "/v2")
    check(st == 200 and js["name"] == "recur" and js["models"] == ["cls", "gen", "names"]
          and "classification" in js["extensions"], "/v2: %r" % js)
    st, js, _ = call(srv, "/v2/models/cls")
    p = js.get("parameters", {})
    check(st == 200 and js["name"] == "cls" and js["inputs"][0]["datatype"] == "BYTES" and p.get("task") == "classify"
          and p.get("cell") == "lstm" and p.get("labels") == ["Alpha", "Beta", "Gamma"]
          and {o["name"] for o in js["outputs"]} == {"label", "logprobs"}, "metadata: %r" % js)
    st, js, _ = call(srv, "/v2/models/gen")
    check(st == 200 and js["parameters"]["task"] == "generate" and js["inputs"] == [], "generator metadata: %r" % js)
    st, js, _ = call(srv, "/v2/models/cls/ready")
    check(st == 200 and js == {"name": "cls", "ready": True}, "model ready: %r" % js)
    st, js, _ = call(srv, "/v2/models/cls/versions/1/ready")
    check(st == 200 and js["ready"] is True, "versions/1/ready: %r" % js)

    # Classification: the CLI's labels and log-probabilities, in order.
    st, js, _ = call(srv, "/v2/models/cls/infer", dict(texts(NAMES), id="req-7"))
    check(st == 200 and js["model_name"] == "cls" and js["id"] == "req-7", "infer head: %r" % js)
    outs = {o["name"]: o for o in js.get("outputs", [])}
    check(outs["label"]["shape"] == [len(NAMES)] and outs["logprobs"]["shape"] == [len(NAMES), 3], "shapes")
    lp = outs["logprobs"]["data"]
    for i, n in enumerate(NAMES):
        best = want[n][0]
        check(outs["label"]["data"][i] == best["label"], "label of %s" % n)
        row = lp[3 * i:3 * i + 3]
        check(abs(max(row) - best["logprob"]) < 1e-3, "logprob of %s: %r vs %r" % (n, row, best))
    # Triton's classification extension, at request and at output level.
    for body in (dict(texts(NAMES[:2]), parameters={"classification": 2}),
                 dict(texts(NAMES[:2]), outputs=[{"name": "label", "parameters": {"classification": 2}}])):
        st, js, _ = call(srv, "/v2/models/cls/infer", body)
        out = js["outputs"]
        check(st == 200 and len(out) == 1 and out[0]["shape"] == [2, 2], "classification: %r" % js)
        for i, n in enumerate(NAMES[:2]):
            for k in range(2):
                v, idx, lab = out[0]["data"][2 * i + k].split(":")
                check(lab == want[n][k]["label"] and abs(float(v) - want[n][k]["logprob"]) < 0.006
                      and ["Alpha", "Beta", "Gamma"][int(idx)] == lab, "classification string %r" % out[0]["data"])
    st, js, _ = call(srv, "/v2/models/cls/infer", dict(texts(["Emil"]), outputs=[{"name": "logprobs"}]))
    check(st == 200 and [o["name"] for o in js["outputs"]] == ["logprobs"], "one output asked: %r" % js)
    # Shape [1, n] and nested data are the same texts.
    st, js, _ = call(srv, "/v2/models/cls/infer",
                     {"inputs": [{"name": "t", "shape": [2, 1], "datatype": "BYTES", "data": [["Emil"], ["Vux"]]}]})
    check(st == 200 and js["outputs"][0]["data"] == [want["Emil"][0]["label"], want["Vux"][0]["label"]],
          "nested data: %r" % js)
    # Generation: the same names as `recur sample` with the same seed.
    cli = recur("sample", "gen.safetensors", "--label", "Beta", "--count", "4", "--seed", "11", "--top-k", "5",
                "--start", "B").split()
    st, js, _ = call(srv, "/v2/models/gen/infer", {"parameters": {"label": "Beta", "count": 4, "seed": 11,
                                                                  "top_k": 5, "start": "B"}})
    out = {o["name"]: o for o in js.get("outputs", [])}
    check(st == 200 and out["text"]["data"] == cli and js["parameters"]["seed"] == 11, "generate: %r vs %r" % (js, cli))
    check(len(out["logprob"]["data"]) == 4 and all(v < 0 for v in out["logprob"]["data"]), "generate logprob")
    st, js, _ = call(srv, "/v2/models/gen/infer", {"parameters": {"label": "Alpha"}})
    check(st == 200 and len(js["outputs"][0]["data"]) == 1 and "seed" in js["parameters"], "generate, no seed")
    # The page.
    st, raw, hdr = call(srv, "/")
    check(st == 200 and hdr["Content-Type"].startswith("text/html") and b"<html" in raw, "the page")
    check(b"http://" not in raw and b"https://" not in raw, "the page loads nothing from elsewhere")


def inspect(srv, want):
    """recur inspect (terminal, --json, --svg) and POST .../inspect agree with
    each other and with predict."""
    out = recur("inspect", "cls.safetensors", "Kalimos", "--color", "never")
    rows = out.splitlines()
    check(rows[2].split()[:5] == ["input", "forget", "output", "cell", "hidden"], "inspect header: %r" % rows[:3])
    check([r.split()[0] for r in rows[3:10]] == list("Kalimos"), "one row per character: %r" % rows)
    check(rows[-1] == "-> %s (%.2f)" % (want["Kalimos"][0]["label"], 2.718281828459045 ** want["Kalimos"][0]["logprob"]),
          "inspect ends with predict's answer: %r vs %r" % (rows[-1], want["Kalimos"][0]))
    js = json.loads(recur("inspect", "cls.safetensors", "Kalimos", "--json"))
    check(len(js["steps"]) == 7 and js["steps"][-1]["top"] == want["Kalimos"][0]["label"]
          and abs(js["steps"][-1]["top_logprob"] - want["Kalimos"][0]["logprob"]) < 1e-4, "inspect --json")
    g = js["steps"][3]["layers"][0][0]
    check(set(g) == {"input", "forget", "output", "cell", "hidden"} and len(g["forget"]["units"]) == 16
          and all(0 <= u <= 1 for u in g["forget"]["units"]), "inspect --json gates")
    recur("inspect", "cls.safetensors", "Kalimos", "--svg", "gates.svg")
    with open(os.path.join(WORK, "gates.svg")) as f:
        svg = f.read()
    check(svg.startswith("<?xml") and svg.count("<rect") > 7 * 5 and "forget" in svg, "inspect --svg")
    st, js2, _ = call(srv, "/v2/models/cls/inspect", {"text": "Kalimos"})
    js.pop("model"), js2.pop("model")
    check(st == 200 and js2 == js, "POST inspect is inspect --json")
    st, js, _ = call(srv, "/v2/models/gen/inspect", {"text": "Bug", "label": "Beta"})
    check(st == 200 and [x["symbol"] for x in js["steps"]] == ["<s>", "B", "u", "g"] and len(js["outputs"]) > 10,
          "generator inspect: %r" % js.get("steps", js)[:1])
    for body, text in [({"text": ""}, "'text' is empty"), ({"txt": "a"}, "an inspect request is"),
                       (b"{", "malformed JSON"), ({"text": "a" * 1025}, "the limit is 1024"),
                       (b'{"text":"\xff"}', "not valid UTF-8")]:
        err_case(srv, "/v2/models/cls/inspect", body, 400, text)
    err_case(srv, "/v2/models/gen/inspect", {"text": "a"}, 400, "needs the 'label'")
    err_case(srv, "/v2/models/gen/inspect", {"text": "a", "label": "Nope"}, 400, "'Nope' is not a label of gen")
    err_case(srv, "/v2/models/cls/inspect", None, 405, "takes POST")
    for args, text in [(["inspect", "gen.safetensors", "Bug"], "give the --label"),
                       (["inspect", "cls.safetensors", "Bug", "--label", "Beta"], "--label goes with generation"),
                       (["inspect", "cls.safetensors", "Bug", "--layer", "2"], "has 1 layer"),
                       (["inspect", "cls.safetensors", "Bug", "--direction", "reverse"], "reads one way only"),
                       (["inspect", "cls.safetensors"], "missing")]:
        r = subprocess.run([BIN] + args, cwd=WORK, capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and r.stderr.startswith("recur: ") and text in r.stderr and not r.stdout,
              "%r: %d %r" % (args, r.returncode, r.stderr))


def errors(srv):
    inf = "/v2/models/cls/infer"
    cases = [
        (b"", 400, "empty body"),
        (b"{", 400, "malformed JSON"),
        (b'{"inputs": [}', 400, "malformed JSON at byte"),
        (b"[1, 2]", 400, "must be a JSON object"),
        ({}, 400, "exactly one input"),
        ({"inputs": {}}, 400, "'inputs' must be an array"),
        ({"inputs": [1]}, 400, "'inputs' must hold objects"),
        ({"inputs": [{"shape": [1], "datatype": "BYTES", "data": ["a"]}]}, 400, "needs a 'name'"),
        ({"inputs": [{"name": "t", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, 400, "datatype 'FP32' is not supported"),
        ({"inputs": [{"name": "t", "shape": [1], "data": ["a"]}]}, 400, "needs a 'datatype'"),
        ({"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": ["a"]}]}, 400, "holds 1 texts but 'shape' says 2"),
        ({"inputs": [{"name": "t", "shape": [1.5], "datatype": "BYTES", "data": ["a"]}]}, 400, "must be an integer"),
        ({"inputs": [{"name": "t", "shape": [-1], "datatype": "BYTES", "data": ["a"]}]}, 400, "out of range"),
        ({"inputs": [{"name": "t", "shape": "1", "datatype": "BYTES", "data": ["a"]}]}, 400, "'shape' of 1 to 4"),
        ({"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [7]}]}, 400, "is not a string"),
        ({"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": "a"}]}, 400, "needs a 'data' array"),
        ({"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [""]}]}, 400, "text 0 is empty"),
        ({"inputs": [{"name": "t", "shape": [0], "datatype": "BYTES", "data": []}]}, 400, "holds no text"),
        (texts(["x" * 1025]), 400, "is 1025 bytes long; the limit is 1024"),
        (texts(["a"] * 300), 400, "the limit is 256"),
        (dict(texts(["a"]), inputs=texts(["a"])["inputs"] * 2), 400, "exactly one input"),
        (b'{"inputs":[{"name":"t","shape":[1],"datatype":"BYTES","data":["\xff\xfe"]}]}', 400, "not valid UTF-8"),
        (b'{"inputs":[{"name":"t","shape":[1],"datatype":"BYTES","data":["\xc0\xaf"]}]}', 400, "not valid UTF-8"),
        (b'{"inputs":[{"name":"t","shape":[1],"datatype":"BYTES","data":["\xed\xa0\x80"]}]}', 400, "not valid UTF-8"),
        (dict(texts(["a"]), parameters={"classification": 4}), 400, "out of range 0..3"),
        (dict(texts(["a"]), parameters={"classification": "2"}), 400, "must be an integer"),
        (dict(texts(["a"]), parameters=[]), 400, "'parameters' must be an object"),
        (dict(texts(["a"]), outputs=[{"name": "probs"}]), 400, "unknown output 'probs'"),
        (dict(texts(["a"]), outputs={}), 400, "'outputs' must be an array"),
        (dict(texts(["a"]), id=5), 400, "'id' must be a string"),
        (b'{"inputs":' * 2000 + b"1" + b"}" * 2000, 400, "malformed JSON"),
        (b'{"inputs":[{"name":"t","shape":[1],"datatype":"BYTES","data":[[[[[["a"]]]]]]}]}', 400, "nested more than 4"),
        # fuzz_serve's first find: a raw newline in a name, echoed in the message.
        (b'{"inputs":[{"name":"t\n\x01x","shape":[1],"datatype":"FP32","data":[1]}]}', 400, "input 't??x'"),
    ]
    for body, st, text in cases:
        err_case(srv, inf, body, st, text)
    gen = "/v2/models/gen/infer"
    for body, st, text in [
        ({}, 400, "needs the parameter 'label'"),
        ({"parameters": {"label": "Klingon"}}, 400, "'Klingon' is not a label of gen (Alpha, Beta, Gamma)"),
        ({"parameters": {"label": "Alpha", "temperature": 0}}, 400, "'temperature' must be a number in (0, 100]"),
        ({"parameters": {"label": "Alpha", "count": 0}}, 400, "'count' 0 is out of range"),
        ({"parameters": {"label": "Alpha", "seed": -1}}, 400, "'seed' -1 is out of range"),
        ({"parameters": {"label": "Alpha", "start": "\u0416"}}, 400, "never saw in training"),
        ({"parameters": {"label": "Alpha", "start": "Abc", "max_length": 3}}, 400, "'max_length' is 3"),
        ({"parameters": {"label": 3}}, 400, "'label' must be a string"),
        (texts(["a"]), 400, "takes no inputs"),
    ]:
        err_case(srv, gen, body, st, text)
    err_case(srv, "/v2/models/nope/infer", texts(["a"]), 400, "unknown model 'nope' (this server has: cls, gen, names)")
    err_case(srv, "/v2/models/nope", None, 400, "unknown model 'nope'")
    err_case(srv, "/v2/models/cls/versions/2/infer", texts(["a"]), 400, "version '2' does not exist")
    err_case(srv, "/v2/models/cls/explain", None, 404, "no such path")
    err_case(srv, "/etc/passwd", None, 404, "no such path: /etc/passwd")
    err_case(srv, "/v2/models/..%2f..%2fcls.safetensors/infer", texts(["a"]), 400, "unknown model")
    err_case(srv, "/v2/models/cls/infer", None, 405, "takes POST")
    err_case(srv, "/v2/models/cls", b"{}", 405, "takes GET")
    err_case(srv, "/v2/health/live", b"{}", 405, "takes GET")
    err_case(srv, "/v2/models/cls/infer", b" " * (1 << 20 + 1), 413, "over the limit of 1048576 bytes")
    # The same over a chunked body (no Content-Length).
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)

    def chunks():
        for _ in range(40):
            yield b" " * 65536

    c.request("POST", "/v2/models/cls/infer", body=chunks(), encode_chunked=True)
    r = c.getresponse()
    check(r.status == 413 and b"over the limit" in r.read(), "chunked body over the limit: %d" % r.status)
    c.close()
    # Still serving after all of that.
    st, js, _ = call(srv, inf, texts(["Emil"]))
    check(st == 200, "serves after the errors")


def hammer(srv, names, n, results, errors_, stop=None, expect=None, phase=None):
    """n requests (or until stop is set) of one name each, over one kept-alive
    connection. A result is (time, name, label, logprob, p0, p1), p0 and p1
    the value of phase[0] when the request was sent and when its answer came
    (None without phase)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    i = 0
    while (stop is None and i < n) or (stop is not None and not stop.is_set()):
        name = names[i % len(names)]
        i += 1
        p0 = phase[0] if phase else None
        try:
            c.request("POST", "/v2/models/%s/infer" % (expect or "cls"),
                      body=json.dumps(texts([name])), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                errors_.append((r.status, body))
                continue
            js = json.loads(body)
            lp = js["outputs"][1]["data"]
            results.append((time.time(), name, js["outputs"][0]["data"][0], max(lp), p0, phase[0] if phase else None))
        except (OSError, http.client.HTTPException) as e:
            errors_.append(repr(e))
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.close()


def concurrent(srv, want):
    """16 clients at once: batched together, every answer is still its own."""
    results, errs = [], []
    ts = [threading.Thread(target=hammer, args=(srv, NAMES[k % 8:] + NAMES[:k % 8], 40, results, errs))
          for k in range(16)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check(not errs and len(results) == 640, "concurrent: %d answers, errors %r" % (len(results), errs[:3]))
    bad = [r for r in results if r[2] != want[r[1]][0]["label"] or abs(r[3] - want[r[1]][0]["logprob"]) > 1e-3]
    check(not bad, "concurrent answers match the lone ones: %r" % bad[:3])


def forced_batch(want):
    """Requests whose bodies come in halves: while one is still being read,
    a collector waits for it (--batch-wait is long here), so all of them run
    as one batch; each must still get its own answer."""
    srv = Server("cls.safetensors", "--batch-wait", "100000", "--threads", "8", "--quiet")
    try:
        socks = []
        for name in NAMES[:6]:
            body = json.dumps(texts([name])).encode()
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                      + body[:10])
            socks.append((s, body, name))
        time.sleep(0.1)
        t0 = time.time()
        for s, body, _ in socks:
            s.sendall(body[10:])
        for s, _, name in socks:
            s.settimeout(5)
            raw = b""
            while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < int(
                    raw.split(b"Content-Length: ", 1)[1].split(b"\r\n")[0] if b"Content-Length: " in raw else 1 << 30):
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
            s.close()
            js = json.loads(raw.split(b"\r\n\r\n", 1)[1])
            check(js["outputs"][0]["data"] == [want[name][0]["label"]]
                  and abs(max(js["outputs"][1]["data"]) - want[name][0]["logprob"]) < 1e-3,
                  "batched request of %s answered %r" % (name, js["outputs"]))
        check(time.time() - t0 < 2, "a batch does not wait past --batch-wait")
    finally:
        srv.stop()


def wait_until(pred, timeout=20):
    deadline = time.time() + timeout
    while not pred() and time.time() < deadline:
        time.sleep(0.01)
    return pred()


def reload_under_load(srv, want, want2):
    """SIGHUP swaps a changed file in while requests keep coming: none fails,
    answers switch from the old model to the new; a broken file is refused.
    Requests are told apart by what had been observed, not by the clock:
    phase 0 until SIGHUP is sent, 1 until the reload's log line is read (the
    server swaps the model before it logs), 2 until the refusal's line is
    read, then 3. An answer that came in phase 0 is the old model's; a
    request sent in phase 2 or later was taken in by the new one."""
    results, errs, stop, phase = [], [], threading.Event(), [0]
    ts = [threading.Thread(target=hammer, args=(srv, NAMES, 0, results, errs, stop, "names", phase))
          for _ in range(4)]
    [t.start() for t in ts]
    sent_in = lambda p: len([r for r in results if r[4] >= p])
    check(wait_until(lambda: len(results) > 20), "requests answered before the reload: %d" % len(results))
    tmp = os.path.join(WORK, "live.safetensors.new")
    shutil.copy(os.path.join(WORK, "cls2.safetensors"), tmp)
    os.rename(tmp, os.path.join(WORK, "live.safetensors"))
    phase[0] = 1
    srv.p.send_signal(signal.SIGHUP)
    check(srv.wait_log("reloaded names from live.safetensors"), "reload logged")
    phase[0] = 2
    check(wait_until(lambda: sent_in(2) > 20), "requests sent after the reload: %d" % sent_in(2))
    # A broken file: refused, the new model keeps serving.
    with open(os.path.join(WORK, "cls2.safetensors"), "rb") as f:
        raw = f.read()
    with open(tmp, "wb") as f:
        f.write(raw[: len(raw) // 2])
    os.rename(tmp, os.path.join(WORK, "live.safetensors"))
    srv.p.send_signal(signal.SIGHUP)
    check(srv.wait_log("reload of names refused"), "a broken file is refused with a log line")
    phase[0] = 3
    check(wait_until(lambda: sent_in(3) > 20), "requests sent after the refusal: %d" % sent_in(3))
    stop.set()
    [t.join() for t in ts]
    check(not errs, "no request failed during the reloads: %r" % errs[:3])
    old = [r for r in results if r[5] == 0]
    new = [r for r in results if r[4] >= 2]
    check(len(old) > 20 and len(new) > 40, "requests before and after the reload: %d, %d" % (len(old), len(new)))
    check(all(abs(r[3] - want[r[1]][0]["logprob"]) < 1e-3 for r in old), "old model before the reload")
    check(all(abs(r[3] - want2[r[1]][0]["logprob"]) < 1e-3 for r in new), "new model after it (and after the refusal)")
    st, js, _ = call(srv, "/v2/models/names")
    check(js["parameters"]["cell"] == "gru", "metadata of the new model: %r" % js.get("parameters"))


def log_lines(srv):
    lines = [l for l in srv.lines if l.startswith("POST /v2/models/cls/infer ")]
    check(len(lines) > 100, "a log line per request")
    check(all(l.split()[2].isdigit() and l.split()[3].endswith("us") for l in lines[:50]), "log line format: %r" % lines[:2])
    check(any(l.startswith("GET /etc/passwd 404 ") for l in srv.lines), "404s are logged")


def shutdown_under_load():
    srv = Server("cls.safetensors", "--quiet")
    results, errs, stop = [], [], threading.Event()
    ts = [threading.Thread(target=hammer, args=(srv, NAMES, 0, results, errs, stop)) for _ in range(8)]
    [t.start() for t in ts]
    time.sleep(0.3)
    n_before = len(results)
    t0 = time.time()
    code = srv.stop(signal.SIGTERM)
    took = time.time() - t0
    stop.set()
    [t.join() for t in ts]
    check(code == 0 and took < 5, "SIGTERM under load: exit %s after %.1f s" % (code, took))
    check(n_before > 10, "requests were served before the stop: %d" % n_before)
    # Every request either got a whole answer or could not connect: no
    # half-written response, no 5xx.
    check(all(isinstance(e, str) for e in errs), "no HTTP error status during shutdown: %r" % errs[:3])
    srv2 = Server("cls.safetensors", "--quiet")
    code = srv2.stop(signal.SIGINT)
    check(code == 0, "SIGINT: exit 0 (got %s: %s)" % (code, "".join(srv2.lines)))


def limits():
    srv = Server("cls.safetensors", "--threads", "2", "--connections", "2", "--timeout", "1", "--max-body", "4096", "--max-text", "8",
                 "--max-batch", "4", "--quiet")
    try:
        err_case(srv, "/v2/models/cls/infer", texts(["abcdefghi"]), 400, "the limit is 8")
        err_case(srv, "/v2/models/cls/infer", texts(["a"] * 5), 400, "the limit is 4")
        err_case(srv, "/v2/models/cls/infer", texts(["a" * 8] * 4 + [" " * 5000]), 413, "limit of 4096")
        # An idle connection is closed after --timeout.
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(5)
        t0 = time.time()
        closed = s.recv(10) == b""
        check(closed and 0.5 < time.time() - t0 < 4, "idle connection closed after the timeout")
        s.close()
        # Two connections held open: a third waits (unanswered) until one
        # closes. (Within the 1 s idle timeout, which would close them.)
        a = socket.create_connection(("127.0.0.1", srv.port))
        b = socket.create_connection(("127.0.0.1", srv.port))
        time.sleep(0.1)
        c = socket.create_connection(("127.0.0.1", srv.port))
        c.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        c.settimeout(0.4)
        try:
            got = c.recv(100)
        except socket.timeout:
            got = b""
        check(got == b"", "a connection over --connections waits: %r" % got[:40])
        a.close()
        b.close()
        c.settimeout(3)
        try:
            got = c.recv(100)
        except socket.timeout:
            got = b""
        check(got.startswith(b"HTTP/1.1 200"), "and is served once the others close: %r" % got[:40])
        c.close()
        st, _, _ = call(srv, "/v2/health/live")
        check(st == 200, "serves again once the connections close")
    finally:
        srv.stop()


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def read_safetensors(path):
    """({name: (shape, flat list of floats or ints)}, metadata) of a
    safetensors file, without NumPy (F32, I32 and I64 tensors)."""
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        blob = raw[8 + n + a:8 + n + b]
        fmt = {"F32": "f", "I32": "i", "I64": "q"}.get(t["dtype"])
        if fmt:
            out[name] = (t["shape"], list(struct.unpack("<%d%s" % (len(blob) // struct.calcsize(fmt), fmt), blob)))
    return out, head.get("__metadata__", {})


def fixture_model(name, path):
    """A recur model file of the PyTorch fixture `name` (its tensors and
    architecture, as tests/test_task.c builds it), through librecur by
    ctypes (the package's _lib; no NumPy)."""
    import ctypes
    sys.path.insert(0, os.path.join(os.path.dirname(FIXTURES), "..", "python"))
    from recur import _lib
    lib = _lib.lib()
    fx, meta = read_safetensors(os.path.join(FIXTURES, name + ".safetensors"))
    c = _lib.ModelConfig()
    lib.recur_model_config_default.argtypes = [ctypes.POINTER(_lib.ModelConfig)]
    lib.recur_model_config_default(ctypes.byref(c))
    c.cell = lib.recur_cell_parse(meta["cell"].encode())
    c.hidden, c.layers, c.bidirectional = int(meta["hidden"]), int(meta["layers"]), int(meta["bidirectional"])
    c.embed, c.input, c.input_size = 0, 1, int(meta["input_size"])
    c.head = 1 if meta["head"] == "steps" else 0
    real = meta["target"] == "real"
    c.target, c.outputs = (2 if real else 0), int(meta["outputs"])
    c.loss = {"nll": 1, "mse": 2, "huber": 3}[meta["loss"]]
    c.huber_delta = float(meta["huber_delta"])
    c.task = (3 if real else 2 if c.head else 0)
    labels = (ctypes.c_char_p * 3)(b"A", b"B", b"C")
    h = ctypes.c_void_p()
    _lib.call(lib.recur_model_create, ctypes.byref(c), None, labels, 0 if real else 3, ctypes.byref(h))
    for k in range(lib.recur_model_param_count(h)):
        p = lib.recur_model_param(h, k)
        vals = fx[p.name.decode()][1]
        ctypes.memmove(p.data, (ctypes.c_float * len(vals))(*vals), 4 * len(vals))
    F = c.input_size
    lib.recur_model_set_input_norm.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                               ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_lib.Error)]
    _lib.call(lib.recur_model_set_input_norm, h, (ctypes.c_float * F)(*fx["input_norm.mean"][1]),
              (ctypes.c_float * F)(*fx["input_norm.std"][1]))
    _lib.call(lib.recur_model_save, h, path.encode())
    lib.recur_model_free(h)
    return fx


def dense():
    """Dense-input models (FP32 features in): the four fixtures of
    tests/fixtures whose expected outputs PyTorch computed (classify, tag,
    regress final and per step). Padded [N, T, F] with lengths, one
    unbatched [T, F] sequence and nested data give those outputs; bad
    shapes, lengths and values are one-line 400s."""
    names = ["task_classify_lstm_dense", "task_tag_lstm_dense_bi2", "task_regress_gru_dense_final_bi2",
             "task_regress_lstm_dense_steps_l2"]
    fxs = {n: fixture_model(n, os.path.join(WORK, n + ".safetensors")) for n in names}
    srv = Server(*[n + ".safetensors" for n in names], "--quiet")
    try:
        for n in names:
            fx = fxs[n]
            (S, F), x = fx["input.features"]
            off = fx["input.offsets"][1]
            (rows, W), want = fx["expect.outputs"]
            N = len(off) - 1
            lens = [off[i + 1] - off[i] for i in range(N)]
            T = max(lens)
            steps = rows == S
            real = "input.targets" in fx
            pad = []
            for i in range(N):
                pad += x[off[i] * F:off[i + 1] * F] + [0.0] * ((T - lens[i]) * F)
            st, js, _ = call(srv, "/v2/models/%s" % n)
            check(st == 200 and js["inputs"][0]["datatype"] == "FP32" and js["inputs"][0]["shape"] == [-1, -1, F],
                  "%s: metadata names the FP32 input: %r" % (n, js))
            body = {"id": "d1", "inputs": [{"name": "features", "datatype": "FP32", "shape": [N, T, F], "data": pad},
                                           {"name": "lengths", "datatype": "INT32", "shape": [N], "data": lens}]}
            st, js, _ = call(srv, "/v2/models/%s/infer" % n, body)
            if not check(st == 200 and js.get("id") == "d1", "%s: infer %d %r" % (n, st, js)):
                continue
            outs = {o["name"]: o for o in js["outputs"]}
            o = outs["values" if real else "logprobs"]
            check(o["shape"] == ([N, T, W] if steps else [N, W]), "%s: output shape %r" % (n, o["shape"]))
            got = []
            for i in range(N):
                if steps:
                    got += o["data"][i * T * W:(i * T + lens[i]) * W]
                else:
                    got += o["data"][i * W:(i + 1) * W]
            worst = max(abs(a - b) for a, b in zip(got, want))
            check(len(got) == len(want) and worst < 2e-5, "%s: outputs vs PyTorch: worst %.3g" % (n, worst))
            if steps:
                tail = [v for i in range(N) for v in o["data"][(i * T + lens[i]) * W:(i + 1) * T * W]]
                check(all(v == 0 for v in tail), "%s: zeros past each length" % n)
            if not real:
                lab = outs["label"]["data"]
                best = [max(range(W), key=lambda c: want[r * W + c]) for r in range(rows)]
                mine = [lab[i * T + t] for i in range(N) for t in range(lens[i])] if steps else lab
                ok = all(a != "" for a in mine) and len(mine) == len(best)
                check(ok and (not steps or lab[T - 1] == "" or lens[0] == T), "%s: labels per row %r" % (n, lab))
            # One sequence alone, unbatched and nested: its rows of the batch.
            i = max(range(N), key=lambda k: lens[k])
            seq = [x[(off[i] + t) * F:(off[i] + t + 1) * F] for t in range(lens[i])]
            st, js1, _ = call(srv, "/v2/models/%s/infer" % n,
                              {"inputs": [{"name": "x", "datatype": "FP32", "shape": [lens[i], F], "data": seq}]})
            o1 = {o["name"]: o for o in js1.get("outputs", [])}.get("values" if real else "logprobs", {})
            mine = o["data"][i * T * W:(i * T + lens[i]) * W] if steps else o["data"][i * W:(i + 1) * W]
            # Not to the bit: a lone row's products may sum in another order
            # (the packed product's one-row tile keeps four partial sums).
            d1 = o1.get("data") or []
            near = len(d1) == len(mine) and all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(d1, mine))
            check(st == 200 and o1.get("shape") == ([lens[i], W] if steps else [W]) and near,
                  "%s: one unbatched sequence gives its rows: %d %r against %r" % (n, st, js1, mine))
        n = names[1]
        base = "/v2/models/%s/infer" % n

        def feats(shape, data, *more):
            return {"inputs": [{"name": "x", "datatype": "FP32", "shape": shape, "data": data}] + list(more)}
        err_case(srv, base, feats([2, 4], [0.0] * 8), 400, "reads 3 features")
        err_case(srv, base, feats([2, 3], [0.0] * 5), 400, "holds 5 values but 'shape' says 6")
        err_case(srv, base, feats([2, 3], [0.0] * 5 + ["a"]), 400, "is not a number")
        err_case(srv, base, feats([1, 3], [0.0, 1e39, 0.0]), 400, "does not fit a float")
        err_case(srv, base, feats([1, 2, 3], [0.0] * 6, {"name": "lengths", "datatype": "INT32", "shape": [1],
                                                         "data": [3]}), 400, "out of range 1..2")
        err_case(srv, base, feats([2, 1, 3], [0.0] * 6, {"name": "lengths", "datatype": "INT32", "shape": [1],
                                                         "data": [1]}), 400, "shape [2]")
        err_case(srv, base, texts(["Kalimos"]), 400, "a dense model reads one FP32 input")
        err_case(srv, base, {"inputs": []}, 400, "takes one FP32 input")
        err_case(srv, base, feats([2, 3], [0.0] * 6) | {"outputs": [{"name": "text"}]}, 400, "unknown output")
        err_case(srv, "/v2/models/%s/inspect" % n, {"text": "abc"}, 400, "not yet")
        st, _, _ = call(srv, "/v2/health/ready")
        check(st == 200, "dense: still serving after the bad requests")
    finally:
        srv.stop()


def quiet():
    srv = Server("cls.safetensors", "--quiet")
    call(srv, "/v2/health/live")
    srv.stop()
    check(not any(l.startswith("GET ") for l in srv.lines), "--quiet: no request lines")


def bad_command_lines():
    for args, text in [(["serve", "nothere.safetensors"], "nothere.safetensors"),
                       (["serve", "data/Alpha.txt"], "Alpha.txt"),
                       (["serve", "cls.safetensors", "cls.safetensors"], "two models are named 'cls'"),
                       (["serve", "cls.safetensors", "--host", "localhost"], "not a numeric IPv4 or IPv6 address"),
                       (["serve", "cls.safetensors", "--port", "70000"], "out of range"),
                       (["serve"], "missing")]:
        r = subprocess.run([BIN] + args, cwd=WORK, capture_output=True, text=True, timeout=10)
        check(r.returncode in (1, 2) and r.stderr.startswith("recur: ") and text in r.stderr
              and r.stderr.count("\n") == 1, "%r: %d %r" % (args, r.returncode, r.stderr))


if __name__ == "__main__":
    sys.exit(main())
