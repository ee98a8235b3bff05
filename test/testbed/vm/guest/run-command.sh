#!/bin/sh
# Runs the host's command inside the chroot with exactly its argv, environment and working
# directory, read from the run directory ($1) that the host wrote:
#   argv/0, argv/1, ...  one file per argument, its bytes unchanged
#   env/0, env/1, ...    one file per variable, NAME=VALUE (names were checked on the host)
#   cwd                  the working directory
# Arguments travel as files, never through a shell string, so no character in them is special.
# The host's env -i (coreutils) then gives the command only the variables the host asked for and
# finds the program in that PATH. Not busybox's env: it would run its own applet for names like
# sh, ip or tc. The host refuses a program name containing '=', which env would take for a variable.
run_dir=$1

# $(...) drops trailing newlines; the dot appended after the file keeps them.
read_file() {
  value=$(cat "$1" && echo .) || exit 1
  value=${value%.}
}

read_file "$run_dir/cwd"
cd "$value" || {
  echo "cannot enter the working directory $value" >"$run_dir/error"
  exit 1
}

set --
i=0
while [ -e "$run_dir/env/$i" ]; do
  read_file "$run_dir/env/$i"
  set -- "$@" "$value"
  i=$((i + 1))
done
i=0
while [ -e "$run_dir/argv/$i" ]; do
  read_file "$run_dir/argv/$i"
  set -- "$@" "$value"
  i=$((i + 1))
done

exec /usr/bin/env -i -- "$@"
