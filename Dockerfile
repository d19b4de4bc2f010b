# modelscreen worker image: `docker build -t modelscreen .`
# Runs `modelscreen <command>` as an unprivileged user; the compose file uses
# the commands `worker` and `setup`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 modelscreen \
 && useradd --system --uid 10001 --gid modelscreen \
      --home-dir /home/modelscreen --create-home --shell /usr/sbin/nologin modelscreen

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY workers ./workers
COPY rules ./rules
COPY deploy ./deploy
# A C compiler only while installing: it builds the pickle walker's optional fast path.
COPY setup.py ./
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install . \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* build ./*.egg-info
# The rule library and the Elasticsearch templates stay in /app; the installed package finds them here.
ENV MODELSCREEN_RULES_DIR=/app/rules/yara \
    MODELSCREEN_TEMPLATES_DIR=/app/deploy/elasticsearch \
    MODELSCREEN_KIBANA_ASSETS_DIR=/app/deploy/kibana

USER modelscreen:modelscreen
WORKDIR /home/modelscreen

ENTRYPOINT ["modelscreen"]
CMD ["worker"]
