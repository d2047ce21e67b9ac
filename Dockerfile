# The one image behind web, worker, beat, flower and migrate in compose.yaml.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY requirements/app.lock ./requirements/
# The locked versions, checked against their hashes, then Beatkeeper itself without resolving.
RUN pip install --require-hashes --no-deps -r requirements/app.lock
COPY setup.cfg pyproject.toml README.md ./
COPY broker ./broker
COPY jobs ./jobs
COPY webapp ./webapp
COPY flower_config.py ./
RUN pip install --no-deps . && useradd --create-home beatkeeper && mkdir -p /app/var \
    && chown beatkeeper /app/var
USER beatkeeper
