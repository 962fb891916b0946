from setuptools import find_packages, setup

setup(
    name="ml-gateway",
    version="0.1.0",
    description="MLOps workflow for the ML Gateway pattern on Amazon SageMaker, runnable offline",
    python_requires=">=3.11",
    packages=find_packages(include=["mlgw*", "benchmarks*", "pipelines*", "processing*", "training*", "inference*",
                                    "monitoring*", "localcloud*"]),
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
        # the HTTP servers (localcloud/asgi_server.py): uvicorn with llhttp and libuv
        "uvicorn>=0.30",
        "httptools>=0.6",
        "uvloop>=0.19",
    ],
    extras_require={"test": ["pytest>=8", "pytest-timeout", "pytest-socket", "moto>=5", "cfn-lint>=1",
                             "import-linter>=2.16"]},
    entry_points={"console_scripts": ["mlgw=mlgw.cli:main"]},
)
