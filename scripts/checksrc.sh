#!/usr/bin/env bash
# The source checker (STYLE.md rule 9): banned unbounded or thread-unsafe functions, SQL outside
# store/, and log calls that mention PHI fields. Exit 1 with the offending lines.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0
hits=$(grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|gets|strtok|gmtime|localtime|asctime|ctime|rand|srand)\s*\(' src fuzz bench 2>/dev/null | grep -vE '^\S+:\s*(//|\*|/\*)')
[ -n "$hits" ] && { echo "banned functions:"; echo "$hits"; bad=1; }
sql=$(grep -rlE 'sqlite3_prepare|sqlite3_exec|PQexec|PQprepare' src 2>/dev/null | grep -v '^src/store/')
[ -n "$sql" ] && { echo "SQL outside src/store/:"; echo "$sql"; bad=1; }
phi=$(grep -rnE '(pp_log_[a-z]+|fprintf\(stderr)[^;]*(family|given|birth|dob|mrn|ssn|address|message_body|username)' src 2>/dev/null)
[ -n "$phi" ] && { echo "possible PHI in a log call:"; echo "$phi"; bad=1; }
exit $bad
