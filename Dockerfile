FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PORT=8000
EXPOSE 8000
CMD ["gunicorn", "-c", "webhook/gunicorn_conf.py", "webhook:create_app()"]
