#!/usr/bin/env python3
"""make bench's server rows: `recur serve` against the same model behind
FastAPI on uvicorn (bench/serve_torch.py), each on loopback, each sent a
fixed number of one-name infer requests at concurrency 1, 8 and 64 (one
kept-alive connection per client thread). Per row: p50 and p99 latency
(request sent to response read, in the client), requests per second, and
how many failed or answered a label other than `recur predict`'s (must be
0). The client is Python threads on the same machine, so it takes its share
of the cores too: the figures are the pair's, not a server's peak.

    bench/serve_bench.py [--model M] [--requests 2000] [--quick] [--no-torch]

Without --model it trains one on $RECUR_DATA (the default architecture,
one epoch: speed does not depend on accuracy). Prints a Markdown table."""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def start(cmd, env=None, ready="listening"):
    if ready is None:   # readiness: the port answers (see main)
        return subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        lines.append(line)
        if ready in line:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p
    p.kill()
    raise SystemExit("server did not start: %s" % "".join(lines))


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def load(port, model, names, want, n, conc):
    """n requests from conc threads; latencies in seconds, failures, wall time."""
    lat, bad = [], []
    lock = threading.Lock()
    counter = iter(range(n))

    def client(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, wrong = [], []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            name = names[(i * 7 + k) % len(names)]
            body = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [name]}]})
            t0 = time.perf_counter()
            try:
                c.request("POST", "/v2/models/%s/infer" % model, body=body, headers={"Content-Type": "application/json"})
                r = c.getresponse()
                raw = r.read()
                mine.append(time.perf_counter() - t0)
                if r.status != 200 or json.loads(raw)["outputs"][0]["data"][0] != want[name]:
                    wrong.append(name)
            except (OSError, http.client.HTTPException) as e:
                wrong.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.close()
        with lock:
            lat.extend(mine)
            bad.extend(wrong)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(conc)]
    t0 = time.perf_counter()
    [t.start() for t in ts]
    [t.join() for t in ts]
    return sorted(lat), bad, time.perf_counter() - t0


def pct(v, q):
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--recur", default=os.path.join(HERE, "..", "build", "recur"))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", default="1,8,64")
    ap.add_argument("--quick", action="store_true", help="500 requests a row")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each row (the median is shown)")
    a = ap.parse_args()
    n = 500 if a.quick else a.requests
    data = os.environ.get("RECUR_DATA") or os.path.join(HERE, "..", "..", "shared", "data", "names")
    work = tempfile.mkdtemp(prefix="recur-serve-bench-")
    model = a.model
    if not model:
        model = os.path.join(work, "names.safetensors")
        print("serve_bench: training %s on %s (1 epoch, default architecture)" % (model, data), file=sys.stderr)
        subprocess.run([a.recur, "train", data, "-o", model, "--epochs", "1", "--quiet"], check=True)
    name = os.path.basename(model).rsplit(".safetensors", 1)[0]
    names = []
    for f in sorted(os.listdir(data)):
        if f.endswith(".txt"):
            with open(os.path.join(data, f), encoding="utf-8") as fh:
                names.extend(l.strip() for l in fh if l.strip())
    random.Random(1).shuffle(names)
    names = names[:500]
    pred = subprocess.run([a.recur, "predict", model, "--json"], input="\n".join(names) + "\n", text=True,
                          capture_output=True, check=True).stdout
    want = {}
    for line in pred.splitlines():
        j = json.loads(line)
        want[j["name"]] = j["predictions"][0]["label"]
    concs = [int(c) for c in a.concurrency.split(",")]
    servers = [("recur serve", lambda port: start([a.recur, "serve", model, "--port", str(port), "--quiet"]))]
    if not a.no_torch:
        env = dict(os.environ, RECUR_BENCH_MODEL=model)
        servers.append(("PyTorch + FastAPI/uvicorn", lambda port: start(
            ["/usr/bin/python3", "-m", "uvicorn", "--app-dir", HERE, "serve_torch:app", "--port", str(port),
             "--log-level", "warning", "--no-access-log"], env, ready=None)))
    rows = []
    for label, launch in servers:
        port = free_port()
        p = launch(port)
        try:
            import socket
            for _ in range(300):   # up and answering
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            load(port, name, names, want, 100, 4)  # warm-up
            for conc in concs:
                runs = []
                for _ in range(a.repeat):
                    lat, bad, wall = load(port, name, names, want, n, conc)
                    runs.append((len(lat) / wall, pct(lat, 0.5), pct(lat, 0.99), len(bad) + n - len(lat)))
                runs.sort()
                rps, p50, p99, fails = runs[len(runs) // 2]
                rows.append((label, conc, n, p50 * 1e3, p99 * 1e3, rps, fails))
                print("%s c=%d: p50 %.2f ms p99 %.2f ms %.0f req/s, %d failed or wrong" % (label, conc, p50 * 1e3,
                      p99 * 1e3, rps, fails), file=sys.stderr)
        finally:
            p.terminate()
            p.wait(timeout=20)
    print("| server | concurrency | requests | p50 ms | p99 ms | requests/s | failed or wrong |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %.2f | %.2f | %.0f | %d |" % r)
    return 1 if any(r[6] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
