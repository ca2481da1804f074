# Sách Nói — one-machine image: waitress serving the app, SQLite and media in the /data volume.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ffmpeg libsndfile1 nodejs npm fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 sachnoi
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

COPY pyproject.toml README.md ./
COPY studio studio
COPY mastering mastering
COPY delivery delivery
COPY catalog catalog
COPY streaming streaming
COPY web web
COPY recordings recordings
COPY examples examples
RUN pip install --no-cache-dir . \
 && mkdir -p web/static/vendor \
 && cp node_modules/hls.js/dist/hls.min.js node_modules/tus-js-client/dist/tus.min.js \
       node_modules/axe-core/axe.min.js web/static/vendor/ \
 && cp -r web/static/vendor "$(python -c 'import web, os; print(os.path.dirname(web.__file__))')/static/" \
 && mkdir -p /data && chown sachnoi:sachnoi /data

ENV SACHNOI_HOME=/data \
    SACHNOI_ENV=production
VOLUME ["/data"]
USER sachnoi
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["sachnoi"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
