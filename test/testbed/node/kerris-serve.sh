#!/bin/sh
# The workload image's default command: the pod's hostname over HTTP on 8080 and a TCP echo on 7000.
# As PID 1 a shell gets no default SIGTERM action, hence the trap: pods stop at once instead of after the grace period.
mkdir -p /tmp/www
hostname > /tmp/www/index.html
httpd -f -p 8080 -h /tmp/www &
http=$!
nc -ll -p 7000 -e /bin/cat &
echo=$!
trap 'kill $http $echo; exit 0' TERM INT
wait
