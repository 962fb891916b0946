"""The serving container's entry point for a script-mode user module, as the SageMaker XGBoost
1.7-1 container runs it; run by path by the serving image's own interpreter (Python 3.9), so
it is Python 3.9 code that imports nothing of localcloud, mlgw or this checkout.

What it reproduces (aws/sagemaker-xgboost-container at ddd9206,
src/sagemaker_xgboost_container/serving.py):

- `serving_entrypoint()`: OMP_NUM_THREADS defaults to 1, then sagemaker-containers'
  `_server.start(module_app)` runs gunicorn with the gevent worker, `--timeout
  SAGEMAKER_MODEL_SERVER_TIMEOUT`, `-w SAGEMAKER_MODEL_SERVER_WORKERS`, `--worker-connections
  1000*workers`, `--pythonpath sys.path + [/opt/ml/code]`, bound to SAGEMAKER_BIND_TO_PORT
  (default 8080) -- the same command line, started here by exec so this process *is* the
  gunicorn arbiter. Differences, both deliberate: no nginx in front (SAGEMAKER_USE_NGINX is
  ignored; locally localcloud's router is the front), and gunicorn binds 127.0.0.1, not
  0.0.0.0 (nothing local listens on other interfaces). `_server.start` also `pip install`s
  the user's code directory as a package; that needs the network (build isolation) and would
  write into the shared, cached image environment, so the code directory is put on the
  module path instead, which imports the same module; as there, the module is imported once
  before gunicorn starts, so a module that does not import ends the container at once.
- `main(environ, start_response)`: on the first request (in each gunicorn worker) import the
  user module named by SAGEMAKER_PROGRAM (sagemaker-containers' `ServingEnv().module_name`),
  build the library's `Transformer` from its model_fn/input_fn/predict_fn/output_fn (or
  transform_fn; both at once is a UserError there, a ValueError here from the library),
  `initialize()` it (model_fn on /opt/ml/model) and serve it through the library's `Worker`
  (Flask: `GET /ping`, `POST /invocations`).

The code directory is /opt/ml/code (the platform stages SAGEMAKER_SUBMIT_DIRECTORY there
before starting the container; sagemaker-containers' `_files.download_and_extract` leaves a
non-empty code directory as it is). The model is at /opt/ml/model.
"""

from __future__ import absolute_import

import importlib
import logging
import os
import sys

logging.basicConfig(format="%(asctime)s %(levelname)s - %(name)s - %(message)s", level=logging.INFO)

# set_default_serving_env_if_unspecified(): one OpenMP thread per worker by default.
os.environ.setdefault("OMP_NUM_THREADS", "1")

app = None


def _user_module_transformer(user_module):
    """serving.py's `_user_module_transformer`, for a user module that defines model_fn (the
    container's default model_fn and input/output defaults are the algorithm-mode encoders,
    which this entry point does not carry: a module without model_fn gets the library's
    default_model_fn, which raises NotImplementedError as the library does)."""
    from sagemaker_containers.beta.framework import transformer  # type: ignore[import-not-found]

    model_fn = getattr(user_module, "model_fn", None)
    input_fn = getattr(user_module, "input_fn", None)
    predict_fn = getattr(user_module, "predict_fn", None)
    output_fn = getattr(user_module, "output_fn", None)
    transform_fn = getattr(user_module, "transform_fn", None)
    if transform_fn is not None:
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    return transformer.Transformer(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn, output_fn=output_fn)


def main(environ, start_response):
    """The WSGI application gunicorn serves: serving.py's `main`, script mode only."""
    global app
    if app is None:
        from sagemaker_containers.beta.framework import env, worker

        serving_env = env.ServingEnv()
        if serving_env.module_name is None:
            raise RuntimeError("SAGEMAKER_PROGRAM is not set: no user module to serve")
        user_module = importlib.import_module(serving_env.module_name)
        user_module_transformer = _user_module_transformer(user_module)
        user_module_transformer.initialize()
        app = worker.Worker(transform_fn=user_module_transformer.transform, module_name=serving_env.module_name)
    return app(environ, start_response)


def gunicorn_command():
    """sagemaker-containers' `_server.start` command line, bound to 127.0.0.1."""
    from sagemaker_containers import _env  # type: ignore[import-not-found]

    serving_env = _env.ServingEnv()
    here = os.path.dirname(os.path.abspath(__file__))
    pythonpath = ",".join([here] + sys.path + [_env.code_dir])
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    return [
        gunicorn,
        "--timeout",
        str(serving_env.model_server_timeout),
        "-k",
        "gevent",
        "--pythonpath",
        pythonpath,
        "-b",
        "127.0.0.1:{}".format(serving_env.http_port),
        "--worker-connections",
        str(1000 * serving_env.model_server_workers),
        "-w",
        str(serving_env.model_server_workers),
        "--log-level",
        "info",
        "container_entry:main",
    ]


def import_user_module():
    """`_server.start` imports the user module before it starts gunicorn, so a module that
    does not import ends the container at once (here: this process exits, with the error)."""
    from sagemaker_containers import _env

    serving_env = _env.ServingEnv()
    if serving_env.module_name is None:
        raise SystemExit("SAGEMAKER_PROGRAM is not set: no user module to serve")
    sys.path.insert(0, _env.code_dir)
    importlib.import_module(serving_env.module_name)


if __name__ == "__main__":
    import_user_module()
    command = gunicorn_command()
    sys.stdout.flush()
    os.execv(command[0], command)
