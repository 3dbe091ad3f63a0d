# Dockyard's control plane image. Build: docker build -t dockyard .
FROM python:3.11-slim
WORKDIR /opt/dockyard
COPY pyproject.toml README.md ./
COPY src ./src
COPY alembic ./alembic
RUN pip install --no-cache-dir .
ENTRYPOINT ["dockyard"]
CMD ["up"]
