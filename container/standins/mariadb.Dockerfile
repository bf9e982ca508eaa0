# A stand-in for the official MariaDB image where registries cannot be reached (make image-test): Debian's
# mariadb-server, the same environment variables (MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD,
# MARIADB_RANDOM_ROOT_PASSWORD) and healthcheck.sh, the same data folder /var/lib/mysql.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/lib/mysql/* \
    && mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY mariadb-healthcheck.sh /usr/local/bin/healthcheck.sh
VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["mariadbd"]
