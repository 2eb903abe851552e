#!/bin/sh
# Run by the postgres image once, when its data volume is first made (docker-entrypoint-initdb.d): a role per
# service, with the password compose passes in, owning its own database and reaching no other.
set -eu
for service in periods notifier responses claims; do
    variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    password="$(printenv "$variable" || true)"
    if [ -z "$password" ]; then
        echo "$variable is not set: every service's database role needs a password (python -m shared.keys)." >&2
        exit 1
    fi
    psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=role="$service" --set=password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
