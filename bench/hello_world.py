"""A FastAPI hello world under uvicorn with uvicorn's defaults: what an invite page is measured against.

    .venv/bin/python -m bench.hello_world --port 8999

Same machine, same packages, same event loop and HTTP parser uvicorn picks for the services, no work: the
ceiling a page of ours could reach. Access log off, as the services run.
"""

import argparse

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, world"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=arguments.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
