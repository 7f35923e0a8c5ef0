#!/usr/bin/env bash
# Stop what tests/services/start.sh started (and only that): the processes and the PostgreSQL
# cluster it recorded in $SOEN_SERVICES_DIR/started, newest first.
set -uo pipefail
DIR=${SOEN_SERVICES_DIR:-/tmp/soen_services}
STARTED="$DIR/started"
[ -f "$STARTED" ] || { echo "services: nothing recorded in $STARTED"; exit 0; }
tac "$STARTED" | while read -r name pid; do
    case "$pid" in
        pg:*) pg_ctlcluster "${pid#pg:}" main stop >/dev/null 2>&1 && echo "stopped $name" ;;
        *) if kill "$pid" 2>/dev/null; then
               for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
               echo "stopped $name (pid $pid)"
           fi ;;
    esac
done
rm -f "$STARTED" "$DIR/services.env"
