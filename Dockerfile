# One image for every service of the workspace; docker-compose picks the command.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
COPY . .
RUN uv sync --frozen --all-packages --no-dev && useradd --system --no-create-home app
USER app
