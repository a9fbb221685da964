# BitSniper's Airflow image: the official Airflow 3.3.2 image (Python 3.11) plus the pinned stack and the
# package. One image for every Airflow service in docker-compose.yaml; DAGs and the package ship inside it,
# so what runs is what was built (no bind mounts). Secrets never enter the image (.dockerignore drops .env).
FROM apache/airflow:3.3.2-python3.11

USER root
# /opt/airflow/auth holds the generated admin password (a named volume takes over the owner set here).
RUN mkdir -p /opt/bitsniper /opt/airflow/auth && chown airflow:0 /opt/bitsniper /opt/airflow/auth
USER airflow

# The pinned set first (its own layer: rebuilt only when requirements.txt changes). It pins
# apache-airflow==3.3.2 too, so pip keeps the image's Airflow.
COPY --chown=airflow:0 requirements.txt /opt/bitsniper/requirements.txt
RUN pip install --no-cache-dir -r /opt/bitsniper/requirements.txt

# The package, installed in place (editable): the candle suite (include/gx) and the migrations are read
# from paths relative to the source tree.
COPY --chown=airflow:0 pyproject.toml README.md /opt/bitsniper/
COPY --chown=airflow:0 bitsniper /opt/bitsniper/bitsniper
COPY --chown=airflow:0 include /opt/bitsniper/include
COPY --chown=airflow:0 dags /opt/bitsniper/dags
RUN pip install --no-cache-dir --no-deps -e /opt/bitsniper

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/bitsniper/dags
WORKDIR /opt/airflow
