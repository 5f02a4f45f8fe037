# The product's image: runtime packages only (requirements.txt, every package pinned with its
# hashes), code owned by root and read-only to the unprivileged user the processes run as.
# Tests and tools (requirements-dev.txt) stay out. docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app
COPY . .
# run/ is the one place under /app the processes may write (the sandbox's --cert-dir).
RUN mkdir -p run && chown app:app run
USER 10001:10001
ENV PORT=8000
EXPOSE 8000
CMD ["gunicorn", "-c", "webhook/gunicorn_conf.py", "webhook:create_app()"]
