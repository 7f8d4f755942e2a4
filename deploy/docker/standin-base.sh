#!/bin/sh
# A local stand-in for python:3.11-slim, for building and testing the image on a machine that
# reaches Debian's packages and PyPI but no registry of images (as root; buildah builds, podman imports):
#   deploy/docker/standin-base.sh
#   MLOPS_TEST_BASE_IMAGE=localhost/python-standin:3.11-slim \
#     MLOPS_TEST_ENGINE_FLAGS="--storage-driver vfs" MLOPS_TEST_RUN_FLAGS="--isolation chroot" \
#     MLOPS_TEST_BUILD_FLAGS="--isolation chroot --network host" \
#     .venv/bin/pytest -q deploy/docker/test_image_build.py
# Debian 12's python3.11 and pip, python at /usr/local/bin as in the official image, and this
# machine's CA bundle (its TLS proxy) so pip and uv reach PyPI during the build. The vfs driver
# copies every layer whole: a build takes about 30 GB of disk while it runs; remove the images after.
set -eu
root=$(mktemp -d)
chmod 0755 "$root" # it becomes the image's /: mktemp's 0700 would lock uid 10001 out
trap 'rm -rf "$root"' EXIT
apt-get install -y -qq debootstrap buildah podman >/dev/null
debootstrap --variant=minbase --include=python3.11,python3-pip,ca-certificates bookworm "$root" \
  http://deb.debian.org/debian >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -f "$root/usr/lib/python3.11/EXTERNALLY-MANAGED"
ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python"
ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python3"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman --storage-driver vfs import \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' --change 'CMD ["python3"]' \
  - localhost/python-standin:3.11-slim
