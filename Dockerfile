# sfbackup as a container image (configs/k8s/cronjob.yaml runs it). Build from the repository root:
#   docker build -t sfbackup:0.1.0 .
#   docker run --rm -v /var/backups/acme:/var/backups/salesforce sfbackup:0.1.0 snapshots \
#     --repo /var/backups/salesforce
# The image runs as uid 10001 (not root), has no secrets in it, and writes only where volumes are
# mounted (the repository, /tmp): it works with readOnlyRootFilesystem.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="sfbackup" \
      org.opencontainers.image.description="Complete, verifiable Salesforce backups" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /install /usr/local
RUN groupadd --system --gid 10001 sfbackup \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sfbackup --create-home sfbackup
ENV PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /var/lib/sfbackup
ENTRYPOINT ["sfbackup"]
CMD ["--help"]
