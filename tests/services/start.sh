#!/usr/bin/env bash
# Install (Debian packages, when missing and run as root) and start, on 127.0.0.1 only, the
# services the team-scale tests talk to:
#   munge + slurmctld + slurmd   a one-node SLURM cluster with every CPU of this machine,
#                                final job states in a job-completion file (no slurmdbd)
#   PostgreSQL                   user soen, databases soen_optuna (Optuna) and soen_mlflow
#   mlflow server                PostgreSQL backend store, local artifact store served over
#                                HTTP, basic auth on (admin user/password below)
# Idempotent: a service that already answers is left alone. Everything it starts is recorded
# in $SOEN_SERVICES_DIR/started and stopped by tests/services/stop.sh.
# What the tests need is written to $SOEN_SERVICES_DIR/services.env (read by
# tests/services/conftest.py). What could not start is said in ONE line on stderr
# ("services: could not start: <service> (<why>); ..."); with CI=true that is an exit code 1.
#
#   make services                      # or: tests/services/start.sh
#   tests/services/stop.sh
set -uo pipefail

DIR=${SOEN_SERVICES_DIR:-/tmp/soen_services}
PY=${SOEN_PYTHON:-python3}
HOSTNAME_S=$(hostname -s)
MLFLOW_PORT=${SOEN_MLFLOW_PORT:-5055}
PG_PORT=5432
PG_USER=soen
PG_PASSWORD=soen-test-pw
MLFLOW_ADMIN=admin
MLFLOW_ADMIN_PASSWORD=soen-admin-pw-1
mkdir -p "$DIR"
ENV_FILE="$DIR/services.env"
STARTED="$DIR/started"
touch "$STARTED"
FAILED=()

fail() { FAILED+=("$1 ($2)"); }

# record "<name> <pid>" for stop.sh (only processes this script started)
remember() { echo "$1 $2" >>"$STARTED"; }

wait_until() {  # wait_until <seconds> <command...>: poll once a second
    local limit=$1; shift
    for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    return 1
}

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing ${missing[*]} (install needs root and apt-get)"; return 1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "${missing[@]}"; } >"$DIR/apt.log" 2>&1 || { echo "apt-get install ${missing[*]} failed, see $DIR/apt.log"; return 1; }
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
    [ -f /etc/munge/munge.key ] || { echo "no /etc/munge/munge.key"; return 1; }
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    setsid runuser -u munge -- /usr/sbin/munged -F >"$DIR/munged.out" 2>&1 &
    remember munged $!
    wait_until 10 sh -c 'munge -n | unmunge' || { echo "munged did not answer, see $DIR/munged.out"; return 1; }
}

write_slurm_conf() {
    local cpus mem
    cpus=$(nproc)
    # a little below what slurmd measures, so the node is never drained for "Low RealMemory"
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$(( mem * 9 / 10 ))
    mkdir -p "$DIR/slurmctld" "$DIR/slurmd" /etc/slurm
    cat >/etc/slurm/slurm.conf <<EOF
# written by soen_train tests/services/start.sh: one node, this machine, 127.0.0.1 only
ClusterName=soen
SlurmctldHost=$HOSTNAME_S(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# a job or srun without --mem gets this per CPU, not the whole node's memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
StateSaveLocation=$DIR/slurmctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MinJobAge=300
KillWait=5
NodeName=$HOSTNAME_S NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

node_ready() { sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

start_slurm() {
    if node_ready; then return 0; fi
    write_slurm_conf
    if ! scontrol ping 2>/dev/null | grep -q UP; then
        setsid /usr/sbin/slurmctld -D -i >"$DIR/slurmctld.out" 2>&1 &
        remember slurmctld $!
        wait_until 20 sh -c 'scontrol ping | grep -q UP' || { echo "slurmctld did not answer, see $DIR/slurmctld.log"; return 1; }
    fi
    if ! pgrep -F "$DIR/slurmd.pid" slurmd >/dev/null 2>&1; then
        setsid /usr/sbin/slurmd -D >"$DIR/slurmd.out" 2>&1 &
        remember slurmd $!
    fi
    if ! wait_until 30 node_ready; then
        scontrol update nodename="$HOSTNAME_S" state=resume >/dev/null 2>&1
        wait_until 10 node_ready || { echo "node $HOSTNAME_S is $(sinfo -h -N -o '%T %E' 2>&1 | head -1), see $DIR/slurmd.log"; return 1; }
    fi
}

pg_psql() { runuser -u postgres -- psql -p "$PG_PORT" -qtAX "$@"; }

start_postgres() {
    local version
    version=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1}')
    if [ -z "$version" ]; then
        version=$(ls /usr/lib/postgresql | sort -n | tail -1)
        pg_createcluster "$version" main >"$DIR/pg_create.log" 2>&1 || { echo "pg_createcluster failed, see $DIR/pg_create.log"; return 1; }
    fi
    if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
        pg_ctlcluster "$version" main start -- -o "-c listen_addresses=127.0.0.1" >"$DIR/pg_start.log" 2>&1 \
            || { echo "pg_ctlcluster $version main start failed, see $DIR/pg_start.log"; return 1; }
        remember postgresql "pg:$version"
    fi
    wait_until 20 pg_psql -c 'select 1' || { echo "PostgreSQL does not answer"; return 1; }
    if [ "$(pg_psql -c "select 1 from pg_roles where rolname='$PG_USER'")" != 1 ]; then
        pg_psql -c "create role $PG_USER login password '$PG_PASSWORD'" || { echo "create role failed"; return 1; }
    fi
    for db in soen_optuna soen_mlflow; do
        if [ "$(pg_psql -c "select 1 from pg_database where datname='$db'")" != 1 ]; then
            pg_psql -c "create database $db owner $PG_USER" || { echo "create database $db failed"; return 1; }
        fi
    done
}

mlflow_up() { "$PY" - "$MLFLOW_PORT" <<'EOF'
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2)
EOF
}

start_mlflow() {
    if mlflow_up 2>/dev/null; then return 0; fi
    local mlflow_bin
    mlflow_bin="$(dirname "$(command -v "$PY")")/mlflow"
    [ -x "$mlflow_bin" ] && "$mlflow_bin" server --help 2>/dev/null | grep -q -- --app-name \
        || { echo "no 'mlflow server' next to $PY (pip install -e '.[team]')"; return 1; }
    mkdir -p "$DIR/mlflow-artifacts"
    cat >"$DIR/mlflow_auth.ini" <<EOF
[mlflow]
default_permission = READ
database_uri = sqlite:///$DIR/mlflow_auth.db
admin_username = $MLFLOW_ADMIN
admin_password = $MLFLOW_ADMIN_PASSWORD
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
    # the basic-auth app checks CSRF tokens with this key (kept for restarts of the server)
    [ -s "$DIR/mlflow_secret" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/mlflow_secret"
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$DIR/mlflow_secret") \
    MLFLOW_AUTH_CONFIG_PATH="$DIR/mlflow_auth.ini" setsid "$mlflow_bin" server \
        --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 --app-name basic-auth \
        --backend-store-uri "postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/soen_mlflow" \
        --artifacts-destination "$DIR/mlflow-artifacts" >"$DIR/mlflow.out" 2>&1 &
    local pid=$!
    remember mlflow $pid
    for _ in $(seq 120); do
        mlflow_up 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then  # it died: its last line says why
            echo "mlflow server exited: $(grep -E 'Error|Exception' "$DIR/mlflow.out" | tail -1 | cut -c1-200)"; return 1
        fi
        sleep 1
    done
    echo "mlflow server did not answer on port $MLFLOW_PORT within 120 s, see $DIR/mlflow.out"; return 1
}

run_step() {  # run_step <name> <function>: on failure record the function's last line
    local out="$DIR/$1.step"
    "$2" >"$out" 2>&1 && return 0
    fail "$1" "$(tail -1 "$out")"
    return 1
}

PKG_WHY=$(install_packages 2>&1)
if [ $? -ne 0 ]; then
    fail packages "$PKG_WHY"
else
    SLURM_OK=0; PG_OK=0; MLFLOW_OK=0
    run_step munge start_munge && run_step slurm start_slurm && SLURM_OK=1
    run_step postgresql start_postgres && PG_OK=1
    if [ $PG_OK = 1 ]; then run_step mlflow start_mlflow && MLFLOW_OK=1; else fail mlflow "needs PostgreSQL"; fi
fi

{
    echo "# written by tests/services/start.sh; read by tests/services/conftest.py"
    if [ "${SLURM_OK:-0}" = 1 ]; then
        echo "SOEN_SLURM_JOBCOMP=$DIR/jobcomp.txt"
        echo "SOEN_SLURM_PARTITION=debug"
    fi
    if [ "${PG_OK:-0}" = 1 ]; then
        echo "SOEN_PG_OPTUNA_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/soen_optuna"
    fi
    if [ "${MLFLOW_OK:-0}" = 1 ]; then
        echo "SOEN_MLFLOW_URI=http://127.0.0.1:$MLFLOW_PORT"
        echo "SOEN_MLFLOW_ADMIN_USER=$MLFLOW_ADMIN"
        echo "SOEN_MLFLOW_ADMIN_PASSWORD=$MLFLOW_ADMIN_PASSWORD"
        echo "SOEN_MLFLOW_AUTH_CONFIG=$DIR/mlflow_auth.ini"
        echo "SOEN_MLFLOW_OUT=$DIR/mlflow.out"
        echo "SOEN_MLFLOW_BACKEND=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/soen_mlflow"
        echo "SOEN_MLFLOW_ARTIFACTS=$DIR/mlflow-artifacts"
        echo "SOEN_MLFLOW_SECRET_FILE=$DIR/mlflow_secret"
    fi
    if [ ${#FAILED[@]} -gt 0 ]; then
        (IFS=';'; echo "SOEN_SERVICES_PROBLEM=\"could not start: ${FAILED[*]}\"")
    fi
} >"$ENV_FILE"

if [ ${#FAILED[@]} -gt 0 ]; then
    (IFS=';'; echo "services: could not start: ${FAILED[*]}" >&2)
    [ "${CI:-}" = true ] && exit 1
    exit 0
fi
echo "services: SLURM (partition debug, $(nproc) CPUs), PostgreSQL, mlflow server http://127.0.0.1:$MLFLOW_PORT up; env in $ENV_FILE"
