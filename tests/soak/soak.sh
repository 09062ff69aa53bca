#!/bin/sh
# Soak run (not part of CI): builds iotmp-gateway and the soak driver in a
# Release tree, then runs the real gateway between a real mosquitto and the
# devserver for a while, publishing QoS 1 sequence numbers at 1,000 msg/s and
# dropping the cloud connection every 5 minutes (reset + refused for 5 s).
# Prints the gateway's VmRSS/VmHWM every minute and, at the end, a RESULT line
# with the messages lost (acknowledged by the broker, never seen by the cloud).
#
#   tests/soak/soak.sh [--minutes N] [--rate R] [--drop-every S] [--outage S]
#                      [--keepalive S] [--build-dir DIR]
#
# Defaults: 60 minutes, 1000 msg/s, a drop every 300 s lasting 5 s, build dir
# ../build-soak next to the source tree. Needs mosquitto on PATH. Exit 0 when
# the gateway survived and stopped cleanly.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build="$src/../build-soak"
minutes=60
pass=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --rate|--drop-every|--outage|--keepalive) pass="$pass $1 $2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

launcher=""
if command -v ccache >/dev/null 2>&1; then launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; fi
# Release: the soak measures what ships, not a debug build's memory and speed.
# Warnings are CI's business; a new optimiser warning must not stop a soak.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DIOTMP_WERROR=OFF $launcher >/dev/null
nice cmake --build "$build" -j2 --target iotmp-gateway iotmp-soak >/dev/null

# shellcheck disable=SC2086  # $pass is a list of options
exec "$build/tests/soak/iotmp-soak" --gateway "$build/iotmp-gateway" --minutes "$minutes" $pass
