#!/usr/bin/env bash
# The classic checker's burst (its test 9), as it runs it: 1000 separate
# client processes started at once by a shell, each under a 5 s timeout, a
# quarter each: a library `run` that sleeps a random time up to 0.8 s around
# printing its call counter, `cat` of 250 distinct 128-byte files, a counter
# `reset`, a library that does not exist.
#
#   checker-burst.sh CLIENT SOCKET LIBDIR DATADIR RESULTS
#
# Appends one line per client to RESULTS (one write each: whole lines):
#   <n> <kind> <timeout's status> <start> <end> <what the client printed>
# with start and end in seconds ($EPOCHREALTIME, no process started to read them).
set -u
client=$1 socket=$2 lib=$3 data=$4 results=$5
export FNJAIL_SOCKET=$socket
for ((i = 0; i < 1000; i++)); do
  case $((i % 4)) in
    0) kind=run args=("$lib/libsleepy.so" run) ;;
    1) kind=cat args=("$lib/libbasic.so" cat "$data/file$((i / 4)).txt") ;;
    2) kind=reset args=("$lib/libcounter.so" reset) ;;
    3) kind=missing args=("$lib/libmissing.so") ;;
  esac
  {
    start=$EPOCHREALTIME
    out=$(timeout 5 "$client" "${args[@]}" 2>&1)
    status=$?
    echo "$i $kind $status $start $EPOCHREALTIME ${out//$'\n'/ }" >>"$results"
  } &
done
wait
