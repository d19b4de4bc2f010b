# modelscreen worker image: `docker build -t modelscreen .`
# Runs `modelscreen <command>` as an unprivileged user; the compose file uses
# the commands `worker` and `setup`. `--build-arg EXTRAS=evaluate` adds onnxruntime for the behaviour
# evaluate stage (`worker --stage evaluate`).
FROM python:3.11-slim
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 modelscreen \
 && useradd --system --uid 10001 --gid modelscreen \
      --home-dir /home/modelscreen --create-home --shell /usr/sbin/nologin modelscreen

WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY schemas ./schemas
COPY workers ./workers
COPY rules ./rules
COPY deploy ./deploy
# Build the wheel (a C compiler only while building: the pickle walker's optional fast path), install
# it, and keep nothing of the source: rules, templates and Kibana assets are package data of the wheel.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip wheel --no-deps -w /tmp/dist . \
 && wheel=$(ls /tmp/dist/modelscreen-*.whl) && pip install "${wheel}${EXTRAS:+[$EXTRAS]}" \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* /tmp/dist /src

USER modelscreen:modelscreen
WORKDIR /home/modelscreen

ENTRYPOINT ["modelscreen"]
CMD ["worker"]
