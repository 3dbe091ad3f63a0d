# Dockyard's image: `dockyard server`, `dockyard controllers`, `dockyard notifier`, `dockyard
# agent` (mount the host's Docker socket) or `dockyard up`. Build: docker build -t dockyard .
FROM python:3.11-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dockyard
COPY pyproject.toml README.md ./
COPY src ./src
COPY alembic ./alembic
RUN pip install --no-cache-dir .
ENTRYPOINT ["dockyard"]
CMD ["up"]
