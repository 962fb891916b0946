"""`mlgw bench gateway`: the ML Gateway end to end against DESIGN.md's targets, with its peers
measured in the same run.

One run sets up, as a user would: localcloud in its own process (`mlgw localcloud start`) with a
temp MLGW_HOME, a small XGBoost endpoint and populated `claims` / `customers` feature groups,
an API key, and the gateway in its own process (`mlgw gateway start`). Then, at 1 and 16
concurrent clients:

  (a) in-process: feature lookup in a dict + inference.serving predict on the loaded model
      (the floor: no HTTP at all);
  (b) naive: one stdlib http.server process doing (a)'s work behind HTTP (no hops);
  (c) gateway: POST /v1/predict with x-api-key → key/usage plan/validation → Lambda proxy →
      BatchGetRecord + InvokeEndpoint on localcloud, every request;
  (d) the Lambda handler alone, its AWS answers replayed in-process: what the handler and
      botocore cost before any network or service (the floor of any design that keeps boto3
      in the Lambda, as the issue requires);
  (e) gateway, direct integration: POST /v1/predict/direct with the encoded features →
      key/usage plan/validation → InvokeEndpoint on localcloud (no Lambda, no Feature Store).

Targets (issue 14), each printed with its figure and MET/MISSED:
  Lambda route (c): CPU per request (gateway + localcloud) <= 1.5 x (CPU of (d) + CPU of (b)),
  p50 < 3 ms at 1 client, >= 1,000 req/s and p99 < 30 ms at 16 clients.
  Direct route (e): p50 and throughput within 1.5 x of (b), p99 < 15 ms at 16 clients.

Load for (b) and (c) comes from a second process (one keep-alive http.client connection per
client thread) on loopback.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud import daemon
from mlgw import lambda_package

ENDPOINT = "bench-fraud"
POLICIES = 5_000
TARGETS = {"lambda_p50_ms": 3.0, "lambda_p99_ms": 30.0, "lambda_rps": 1000.0, "direct_p99_ms": 15.0, "ratio": 1.5}
START_TIMEOUT_S = 20.0


# -- the work itself (shared by (a) and (b)) ---------------------------------------------------


class Scorer:
    """Feature lookup in a dict (values as the store returns them: strings) + serving predict."""

    def __init__(self, model_dir: Path, data: dict[str, dict[str, dict[str, str]]]):
        from inference import serving
        from processing.features import encode_record

        self._serving, self._encode = serving, encode_record
        self.model = serving.model_fn(model_dir)
        self.claims, self.customers = data["claims"], data["customers"]

    def direct_body(self, policy_id: int) -> str:
        """The /v1/predict/direct request for a policy: its encoded features (None = missing)."""
        import math

        from processing.features import MODEL_FEATURES

        key = str(policy_id)
        features = self._encode(self.claims[key])
        features.update(self._encode(self.customers[key]))
        out = {}
        for name in MODEL_FEATURES:
            value = features.get(name)
            out[name] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        return json.dumps({"features": out})

    def score(self, policy_id: int) -> dict[str, Any] | None:
        key = str(policy_id)
        claim, customer = self.claims.get(key), self.customers.get(key)
        if claim is None or customer is None:
            return None
        features = self._encode(claim)
        features.update(self._encode(customer))
        s = self._serving
        body, _ = s.encode(s.predict([features], self.model), "application/json")
        first = json.loads(body)["predictions"][0]
        return {
            "policy_id": policy_id,
            "fraud_probability": first["score"],
            "predicted_label": first["predicted_label"],
        }


def _store_strings(frame) -> dict[str, dict[str, str]]:
    """{policy_id: {feature: ValueAsString}} as the online store holds the frame."""
    out = {}
    for row in frame.to_dict("records"):
        out[str(int(row["policy_id"]))] = {k: str(v) for k, v in row.items() if v is not None and v == v}
    return out


# -- (b) the naive single-process HTTP service --------------------------------------------------


def serve_naive(port: int, model_dir: Path, data_file: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    scorer = Scorer(model_dir, json.loads(data_file.read_text()))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                result = scorer.score(int(json.loads(self.rfile.read(length))["policy_id"]))
                status = 200 if result is not None else 404
            except (ValueError, KeyError, TypeError):
                result, status = {"message": "bad request"}, 400
            body = json.dumps(result or {"message": "not found"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default 5 resets connections when 16 clients connect

    server = Server(("127.0.0.1", port), Handler)
    server.serve_forever()


# -- load generation (runs in a second process) --------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def _load(
    policy_ids: list[int],
    concurrency: int,
    requests: int,
    warmup: int,
    open_client: Callable[[], tuple[Callable[[int], bool], Callable[[], None]]],
) -> dict[str, Any]:
    """`requests` calls spread over `concurrency` threads, timed after `warmup` calls each.
    `open_client()` gives a thread its `call(policy_id) -> ok` and a `close()`."""
    per_thread = max(1, requests // concurrency)
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    barrier = threading.Barrier(concurrency + 1)

    def client(i: int) -> None:
        rng = random.Random(i)
        ids = [rng.choice(policy_ids) for _ in range(per_thread + warmup)]
        call, close = open_client()
        for pid in ids[:warmup]:
            call(pid)
        barrier.wait()
        out = lat[i]
        for pid in ids[warmup:]:
            t0 = time.perf_counter()
            ok = call(pid)
            out.append((time.perf_counter() - t0) * 1e3)
            errors[i] += not ok
        close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    samples = [x for part in lat for x in part]
    return {**_percentiles(samples), "rps": len(samples) / wall, "errors": sum(errors), "n": len(samples)}


def drive(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    policy_ids: list[int],
    concurrency: int,
    requests: int,
    warmup: int,
    bodies: dict[int, str] | None = None,
) -> dict[str, Any]:
    """POSTs over HTTP, one keep-alive connection per client thread; the body is
    {"policy_id": id}, or bodies[id] when given."""
    import http.client

    sent = {**headers, "Content-Type": "application/json"}

    def open_client():
        conn = http.client.HTTPConnection(host, port, timeout=30)

        def call(policy_id: int) -> bool:
            body = bodies[policy_id] if bodies is not None else json.dumps({"policy_id": policy_id})
            try:
                conn.request("POST", path, body, sent)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()  # counted as an error; the next call reconnects
                return False
            return response.status == 200

        return call, conn.close

    return _load(policy_ids, concurrency, requests, warmup, open_client)


def in_process(scorer: Scorer, policy_ids: list[int], concurrency: int, requests: int, warmup: int) -> dict[str, Any]:
    """The floor: the same lookup and prediction as plain function calls."""

    def open_client():
        def call(policy_id: int) -> bool:
            scorer.score(policy_id)
            return True

        return call, lambda: None

    return _load(policy_ids, concurrency, requests, warmup, open_client)


class _Replay:
    """A botocore `before-send` hook for (d): the first request of each operation goes to
    localcloud for real; later ones get that answer back without leaving the process, so only
    the handler's and botocore's own work (serialise, sign, parse) is timed."""

    def __init__(self) -> None:
        from botocore.httpsession import URLLib3Session

        self._http = URLLib3Session()
        self._answers: dict[tuple[str, str, str], tuple[int, dict[str, str], bytes]] = {}

    def __call__(self, request, **kwargs):
        from urllib.parse import urlsplit

        from botocore.awsrequest import AWSResponse

        key = (request.method, urlsplit(request.url).path, request.headers.get("X-Amz-Target", ""))
        answer = self._answers.get(key)
        if answer is None:
            real = self._http.send(request)
            answer = self._answers[key] = (real.status_code, dict(real.headers), real.content)
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, _ReplayedBody(body))


class _ReplayedBody(io.BytesIO):
    def stream(self, amt: int = 65536, decode_content: bool | None = None):
        while chunk := self.read(amt):
            yield chunk


def handler_alone(policy_ids: list[int], requests: int, warmup: int, env: dict[str, str]) -> dict[str, Any]:
    """(d): inference.gateway_handler.handler called with proxy events, one caller, answers replayed."""
    from benchmarks.gateway_stack import environ
    from inference import gateway_handler

    def open_client():
        def call(policy_id: int) -> bool:
            event = {"body": json.dumps({"policy_id": policy_id}), "requestContext": {"requestId": "bench"}}
            return gateway_handler.handler(event)["statusCode"] == 200

        return call, lambda: None

    with environ(env):
        clients = gateway_handler.clients()
        botos = (clients.featurestore, clients.runtime, clients.control)
        replay = _Replay()
        for client in botos:
            client.meta.events.register("before-send", replay)
        try:
            cpu0 = time.process_time()
            result = _load(policy_ids, 1, requests, warmup, open_client)
            result["cpu_ms"] = (time.process_time() - cpu0) / (result["n"] + warmup) * 1e3
            return result
        finally:
            for client in botos:
                client.meta.events.unregister("before-send", replay)


# -- processes ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(command: list[str], env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    return daemon.spawn(command, env, "127.0.0.1", port, log_path, command[2], START_TIMEOUT_S)


def _family(pid: int) -> list[int]:
    """pid and its children (the gateway's forked workers)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    return pids


def _cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of these processes so far (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the benchmark ----------------------------------------------------------------------------------


def _row(name: str, clients: int, r: dict[str, Any]) -> str:
    errors = f"  ({r['errors']} errors)" if r["errors"] else ""
    return (
        f"  {name:<26} {clients:>3}  {r['p50_ms']:>8.3f} {r['p95_ms']:>8.3f} {r['p99_ms']:>8.3f} "
        f"{r['rps']:>9,.0f}{errors}"
    )


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def bench_gateway(
    out=None, requests: int = 4000, concurrency=(1, 16), policies: int = POLICIES, workers: int | None = None
) -> int:
    """Run the five measurements; print the table and the verdicts. 0 when every target is met.

    `workers`: gateway processes (`mlgw gateway start --workers`); default one per CPU, at most 2.
    """
    import multiprocessing

    from benchmarks import gateway_stack as stack
    from localcloud.apigateway.models import KeyStore, default_path
    from localcloud.config import Config

    out = out or sys.stdout
    say = lambda *a: print(*a, file=out, flush=True)  # noqa: E731
    concurrency = tuple(concurrency)
    workers = workers or min(2, os.cpu_count() or 1)
    say(
        f"gateway benchmark: {policies:,} policies, {requests:,} requests per figure, "
        f"clients {', '.join(map(str, concurrency))}; {os.cpu_count()} CPUs, "
        f"{workers} gateway worker(s), load average {os.getloadavg()[0]:.1f} at start"
    )
    gateway = naive = None
    with tempfile.TemporaryDirectory(prefix="mlgw-bench-gateway-") as tmp:
        home = Path(tmp) / "mlgw"
        config = Config(home=home, port=_free_port())
        try:
            t0 = time.perf_counter()
            config = daemon.start(config)
            built = stack.build(config.url, home, policies=policies, endpoint=ENDPOINT, env=config.client_env())
            keys = KeyStore(default_path(home))
            _, api_key = keys.create("bench")
            keys.close()
            # The function's zip and document, as `mlgw gateway start` writes them.
            lambda_package.publish(home, ENDPOINT, config.account_id, config.region)
            gw_port = _free_port()
            command = [
                sys.executable,
                "-m",
                "localcloud.apigateway",
                "--host",
                "127.0.0.1",
                "--port",
                str(gw_port),
                "--home",
                str(home),
                "--endpoint-name",
                ENDPOINT,
            ]
            if workers > 1:
                command += ["--workers", str(workers)]
            env = {**os.environ, **config.client_env(), "ENDPOINT_NAME": ENDPOINT}
            gateway = _spawn(command, env, gw_port, home / "gateway.log")

            model_dir = Path(tmp) / "model"
            model_dir.mkdir()
            with tarfile.open(fileobj=__import__("io").BytesIO(built["model_tar"])) as tar:
                tar.extractall(model_dir, filter="data")
            data = {"claims": _store_strings(built["claims"]), "customers": _store_strings(built["customers"])}
            data_file = Path(tmp) / "features.json"
            data_file.write_text(json.dumps(data))
            naive_port = _free_port()
            naive = _spawn(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.gateway",
                    "--naive",
                    "--port",
                    str(naive_port),
                    "--model-dir",
                    str(model_dir),
                    "--data",
                    str(data_file),
                ],
                dict(os.environ),
                naive_port,
                Path(tmp) / "naive.log",
            )
            say(
                f"  setup (localcloud, endpoint, feature groups, gateway, naive peer): {time.perf_counter() - t0:.1f} s"
            )

            ids = [int(p) for p in built["claims"]["policy_id"]]
            scorer = Scorer(model_dir, data)
            direct_bodies = {pid: scorer.direct_body(pid) for pid in ids}
            warmup = 50
            results: dict[tuple[str, int], dict[str, Any]] = {}
            cpu: dict[tuple[str, int], dict[str, float]] = {}
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(1) as pool:
                loader = pool.apply(os.getpid)
                procs = {
                    "gateway": _family(gateway.pid),
                    "localcloud": [daemon.status(config)["pid"]],
                    "naive": [naive.pid],
                    "load generator": [loader],
                }

                def measure(
                    kind: str,
                    clients: int,
                    port: int,
                    path: str,
                    headers: dict[str, str],
                    bodies: dict[int, str] | None = None,
                ) -> None:
                    before = {k: _cpu_seconds(v) for k, v in procs.items()}
                    results[kind, clients] = pool.apply(
                        drive, ("127.0.0.1", port, path, headers, ids, clients, requests, warmup, bodies)
                    )
                    n = results[kind, clients]["n"] + warmup * clients
                    cpu[kind, clients] = {k: (_cpu_seconds(v) - before[k]) / n * 1e3 for k, v in procs.items()}

                for clients in concurrency:
                    results["a", clients] = in_process(scorer, ids, clients, requests, warmup)
                    measure("b", clients, naive_port, "/v1/predict", {})
                    measure("c", clients, gw_port, "/v1/predict", {"x-api-key": api_key})
                    measure("e", clients, gw_port, "/v1/predict/direct", {"x-api-key": api_key}, direct_bodies)
            lo = min(concurrency)
            results["d", lo] = handler_alone(ids, requests, warmup, {**config.client_env(), "ENDPOINT_NAME": ENDPOINT})
        finally:
            _stop(gateway)
            _stop(naive)
            daemon.stop(config)
    return _report(say, results, cpu, concurrency)


def _report(say, results: dict, cpu: dict, concurrency: tuple[int, ...]) -> int:
    """The table, the CPU split, each target with its figure and MET/MISSED; 0 when every
    request answered (MISSED is a result), 1 when some did not (the figures are not valid)."""
    names = {
        "a": "(a) in-process floor",
        "b": "(b) naive HTTP service",
        "c": "(c) gateway, Lambda route",
        "d": "(d) handler, AWS replayed",
        "e": "(e) gateway, direct route",
    }
    say(f"  {'':<26} {'cli':>3}  {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>9}")
    for kind in "abcde":
        for clients in concurrency:
            if (kind, clients) in results:
                say(_row(names[kind], clients, results[kind, clients]))
    for (kind, clients), split in cpu.items():
        served = {k: v for k, v in split.items() if k in ("gateway", "localcloud", "naive")}
        say(
            f"  {kind} CPU per request at {clients:>2} client(s): "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in served.items() if v >= 0.005 or k != "naive")
            + f"; load generator {split['load generator']:.2f} ms"
        )
    lo, hi = min(concurrency), max(concurrency)
    b1, bN = results["b", lo], results["b", hi]
    c1, cN, e1, eN = results["c", lo], results["c", hi], results["e", lo], results["e", hi]
    d1 = results["d", lo]
    # (c)'s CPU: gateway + localcloud per request, the worse of the two client counts.
    c_cpu = max(cpu["c", n]["gateway"] + cpu["c", n]["localcloud"] for n in concurrency)
    b_cpu = max(cpu["b", n]["naive"] for n in concurrency)
    cpu_ratio = c_cpu / (d1["cpu_ms"] + b_cpu)
    direct_p50 = e1["p50_ms"] / b1["p50_ms"]
    direct_rps = bN["rps"] / eN["rps"]
    say(
        f"  (d) the Lambda handler's own work, no network and no service behind it: "
        f"{d1['p50_ms']:.2f} ms p50, {d1['cpu_ms']:.2f} ms CPU per request; (b) {b_cpu:.2f} ms "
        f"CPU per request"
    )
    r = TARGETS["ratio"]
    checks = [
        (
            f"Lambda: CPU/request (c) <= {r:g}x ((d) + (b))",
            f"{c_cpu:.2f} / ({d1['cpu_ms']:.2f} + {b_cpu:.2f}) ms = {cpu_ratio:.2f}x",
            cpu_ratio <= r,
        ),
        (
            f"Lambda: p50 at {lo} client(s) < {TARGETS['lambda_p50_ms']:g} ms",
            f"{c1['p50_ms']:.2f} ms",
            c1["p50_ms"] < TARGETS["lambda_p50_ms"],
        ),
        (
            f"Lambda: throughput at {hi} clients >= {TARGETS['lambda_rps']:,.0f} req/s",
            f"{cN['rps']:,.0f} req/s",
            cN["rps"] >= TARGETS["lambda_rps"],
        ),
        (
            f"Lambda: p99 at {hi} clients < {TARGETS['lambda_p99_ms']:g} ms",
            f"{cN['p99_ms']:.2f} ms",
            cN["p99_ms"] < TARGETS["lambda_p99_ms"],
        ),
        (f"direct: p50 at {lo} client(s) <= {r:g}x (b)", f"{direct_p50:.2f}x", direct_p50 <= r),
        (f"direct: throughput at {hi} clients >= (b)/{r:g}", f"{direct_rps:.2f}x lower", direct_rps <= r),
        (
            f"direct: p99 at {hi} clients < {TARGETS['direct_p99_ms']:g} ms",
            f"{eN['p99_ms']:.2f} ms",
            eN["p99_ms"] < TARGETS["direct_p99_ms"],
        ),
    ]
    for name, value, ok in checks:
        say(f"  target {name:<48} {value:>34}  {_verdict(ok)}")
    errors = sum(res["errors"] for res in results.values())
    if errors:
        say(f"  {errors} requests did not answer 200")
    ok = all(c[2] for c in checks) and not errors
    worst = max(cpu_ratio, direct_p50, direct_rps)
    say(
        f"gateway p99 {cN['p99_ms']:.1f} ms (Lambda) / {eN['p99_ms']:.1f} ms (direct) at {hi} "
        f"clients, worst ratio {worst:.2f}x (target {r:g}x): {'MET' if ok else 'MISSED'}"
    )
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway")
    parser.add_argument("--naive", action="store_true", help="serve the naive peer (internal)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--policies", type=int, default=POLICIES)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--clients", type=int, action="append")
    args = parser.parse_args(argv)
    if args.naive:
        serve_naive(args.port, args.model_dir, args.data)
        return 0
    return bench_gateway(
        requests=args.requests, policies=args.policies, workers=args.workers, concurrency=tuple(args.clients or (1, 16))
    )


if __name__ == "__main__":
    sys.exit(main())
