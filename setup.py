from setuptools import find_packages, setup

setup(
    name="ml-gateway",
    version="0.1.0",
    description="MLOps workflow for the ML Gateway pattern on Amazon SageMaker, runnable offline",
    python_requires=">=3.11",
    packages=find_packages(
        include=[
            "mlgw*",
            "benchmarks*",
            "pipelines*",
            "processing*",
            "training*",
            "inference*",
            "monitoring*",
            "localcloud*",
        ]
    ),
    package_data={
        "mlgw.studio": ["templates/*.html", "static/*"],
        "mlgw": ["retrain_rule.json"],
        "localcloud.sagemaker.pipelines": ["definition.schema.json"],
    },
    # Exact pins live in requirements.lock; these are the direct dependencies.
    install_requires=[
        "sagemaker>=3.27,<4",
        "boto3>=1.43",
        "pandas>=2.2",
        "numpy>=2",
        "scikit-learn>=1.6",
        "xgboost>=3",
        "pyathena>=3",
        "duckdb>=1.2",
        "pyarrow>=20",
        "sqlglot>=26",
        "jsonschema>=4.18",  # pipeline definitions (localcloud) and gateway request bodies
        "regex>=2024.4",  # AWS's Java patterns with Unicode categories (localcloud.shapes)
        # mlgw studio: ASGI app, templates, graph layout, charts
        "starlette>=0.40",
        "Jinja2>=3.1",
        "networkx>=3",
        "matplotlib>=3.8",
        # the HTTP servers (localcloud/asgi_server.py): uvicorn with llhttp and libuv
        "uvicorn>=0.30",
        "httptools>=0.6",
        "uvloop>=0.19",
        "psutil>=7",  # servers found by their process and port (localcloud/daemon.py)
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout",
            "pytest-socket",
            "pytest-xdist>=3.5",
            "moto>=5",
            "cfn-lint>=1",
            "import-linter>=2.16",
            "selenium>=4.30",
            "ruff>=0.17",
            "mypy>=2.4",
        ]
    },
    entry_points={"console_scripts": ["mlgw=mlgw.cli:main"]},
)
