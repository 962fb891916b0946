"""`python -m localcloud`: serve in the foreground until interrupted (the daemon runs this)."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from localcloud.config import Config


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


# The serving libraries are imported once a pipeline execution starts (its jobs are
# subprocesses: the daemon mostly waits), or once the first request was answered and the server
# then went this long without one. The import holds the GIL for ~2 s: it must not share it with
# a client's burst of calls (`mlgw run` uploading and upserting right after starting the
# daemon took 3 s instead of 1.4 s with a 0.2 s threshold).
PRELOAD_AFTER_IDLE_SECONDS = 2.0


def _warm(server) -> None:
    log = logging.getLogger("localcloud")
    cloud = server.cloud
    t0 = time.perf_counter()
    from localcloud.s3.responses import prepare as prepare_s3

    prepare_s3()  # S3's route table, from botocore's model: the first client call is an upload
    cloud.featurestore  # opens the online store and its group metadata
    warmed = cloud.sagemaker.warm()
    if warmed:
        log.info("warmed %s in %.1f s", ", ".join(warmed), time.perf_counter() - t0)
    # The daemon mostly idles while a pipeline's jobs run (they are subprocesses): import the
    # serving code's libraries at a quiet moment, so the first CreateEndpoint does not pay ~2 s.
    # wait_idle returns early (False) once an execution is launched: either is the moment.
    server.activity.wait_idle(PRELOAD_AFTER_IDLE_SECONDS, cloud.execution_launched)
    t0 = time.perf_counter()
    try:
        from localcloud.sagemaker.model_server import preload_serving

        imported = preload_serving()
    except Exception as exc:  # noqa: BLE001 - the first endpoint imports them again and reports it
        log.warning(
            "could not import the serving code's libraries ahead of the first endpoint: %s: %s", type(exc).__name__, exc
        )
    else:
        log.info("imported the serving code's libraries (%s) in %.1f s", ", ".join(imported), time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m localcloud", description="Serve localcloud in the foreground.")
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--home", type=Path, default=defaults.home)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from localcloud.server import LocalCloudServer

    try:
        server = LocalCloudServer(Config(home=args.home.resolve(), host=args.host, port=args.port))
    except OSError as exc:
        print(f"localcloud: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    # SIGTERM (mlgw localcloud stop) shuts down cleanly so buffered writes are flushed;
    # SIGUSR1 writes every thread's stack to the log (what is a slow server doing?).
    signal.signal(signal.SIGTERM, _interrupt)
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    logging.getLogger("localcloud").info("serving %s with state in %s", server.url, args.home)
    # Warm what a restart left cold (models, the online store) while the server already answers.
    threading.Thread(target=_warm, args=(server,), name="warmer", daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
