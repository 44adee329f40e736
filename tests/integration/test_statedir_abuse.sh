# needs: no kernel
# A hostile state directory (issue 12, item 2), on the host: every start
# of the agent replays the journals it finds there as root, so
#   - 150+ crafted journals with valid CRCs (tests/integration/
#     statedir_abuse.py: cgroup writes to files no fault writes, to /etc
#     via "..", through symlinked cgroup directories, to cgroup v1 and
#     tmpfs; removals of cgroups the agent never makes; network records
#     outside the namespace references it writes; helpers that are not
#     its own; kinds no fault records; torn, CRC-valid garbage, huge
#     fields and duplicate sequence numbers) are refused or do nothing, on
#     every start path: recover, inject, run, serve and the guardian;
#   - journals that are not the agent's files (a FIFO, which must not
#     block, a directory, a device, a socket, a hard link, another
#     user's, group-writable, a symlink) are not replayed;
#   - a state directory that is a symlink, another user's, below a
#     world-writable parent is refused (exit 4, the message says why); a
#     0777 one of ours is made 0700; a symlinked journal/ or cgns/ is not
#     followed (the canary mount behind cgns/ stays mounted);
# and after each: the canary files (content, mtime, mode), /etc/passwd,
# the canary cgroup (its processes, cgroup.freeze), a canary process
# (alive, and a stopped one still stopped) and a canary mount are as they
# were; every refusal names the journal and why; nothing hangs (timeout).
# timeout: 300
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { skip "state directory abuse" "needs root"; exit 0; }
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
V1=$(awk '$3 == "cgroup" { print $2; exit }' /proc/mounts)
[ -n "$V1" ] || V1=/proc
OUT=$WORK/outside
STATE=$WORK/state
CANARY=
STOPPED=
CCG=
TGT=
_sd_cleanup() {
	[ -n "$TGT" ] && rmdir "$TGT" 2>/dev/null
	[ -n "$CANARY" ] && kill -9 "$CANARY" 2>/dev/null
	[ -n "$STOPPED" ] && kill -9 "$STOPPED" 2>/dev/null
	[ -n "$CCG" ] && [ -d "$CCG" ] && { echo 1 > "$CCG/cgroup.kill" 2>/dev/null; sleep 0.2; rmdir "$CCG"; }
	mountpoint -q "$OUT/views/1-1" 2>/dev/null && umount "$OUT/views/1-1"
	mountpoint -q "$OUT/mnt" 2>/dev/null && umount "$OUT/mnt"
	_cleanup
}
trap _sd_cleanup EXIT

# ---- the canaries ----
PL=$WORK/planted
mkdir -p "$OUT/files" "$OUT/mnt" "$OUT/duress-cpu-1" "$OUT/views/1-1" "$PL/jdir"
for f in canary passwd memory.max cgroup.freeze cpu.max; do
	echo "canary $f" > "$OUT/files/$f"
	touch -d '2001-01-01 00:00:00' "$OUT/files/$f"
done
mount -t tmpfs -o size=1m canary "$OUT/mnt" && echo mounted > "$OUT/mnt/file"
mount -t tmpfs -o size=1m canaryview "$OUT/views/1-1" && echo view > "$OUT/views/1-1/file"
sleep 1000 & CANARY=$!; disown "$CANARY"
sleep 1000 & STOPPED=$!; disown "$STOPPED"
kill -STOP "$STOPPED"
if [ -n "$CG2" ]; then
	CCG=$CG2/duress-canary-$$
	mkdir "$CCG" && echo "$CANARY" > "$CCG/cgroup.procs"
	# the target of inject and run (empty: they only need to get going)
	TGT=$CG2/duress-it-target-$$
	mkdir "$TGT"
else
	CCG=
fi
CGDIR=${CCG:-/sys/fs/cgroup/none}
ln -s "$CGDIR" "$OUT/cg-link"
ln -s "$CGDIR" "$OUT/duress-memory-12"
ln -s "$OUT" "$OUT/dir-link"
start_of() { awk '{ print $22 }' "/proc/$1/stat"; }
CSTART=$(start_of "$CANARY")
SSTART=$(start_of "$STOPPED")

snapshot() {
	find "$OUT" "$OUT/mnt" "$OUT/views/1-1" -xdev -printf '%p %y %s %T@ %m %n\n' 2>/dev/null | sort
	md5sum "$OUT"/files/* "$OUT/mnt/file" "$OUT/views/1-1/file" 2>&1
	stat -c '%n %s %Y %a' /etc/passwd /etc/shadow /etc/hosts
	mountpoint "$OUT/mnt"; mountpoint "$OUT/views/1-1"
	echo "canary $(awk '{ print $22, $3 }' "/proc/$CANARY/stat" 2>&1)"
	echo "stopped $(awk '{ print $22, $3 }' "/proc/$STOPPED/stat" 2>&1)"
	[ -z "$CCG" ] || { cat "$CCG/cgroup.procs" "$CCG/cgroup.freeze"; ls "$CCG" | wc -l; }
}
snapshot > "$WORK/snap0"
grep -q "stopped $SSTART T" "$WORK/snap0" || fail "the stopped canary is stopped" "$(grep stopped "$WORK/snap0")"
untouched() {
	snapshot > "$WORK/snap1"
	if cmp -s "$WORK/snap0" "$WORK/snap1"; then
		pass "$1: nothing outside was written, removed, signalled or unmounted"
	else
		fail "$1: nothing outside was written, removed, signalled or unmounted" \
			"$(diff "$WORK/snap0" "$WORK/snap1" | head -20 | tr '\n' '|')"
	fi
}

# a journal the checks would accept: it resumes the stopped canary (its
# pid and start time); used where the journal must not be read at all
cont_journal() {
	python3 - "$1" "$STOPPED" "$SSTART" << 'EOF'
import os, sys, zlib
def line(b): return b"%08x " % zlib.crc32(b.encode()) + b.encode() + b"\n"
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, line("0 BEGIN pid=4999999 start=1 cmd=planted") +
         line("1 ADD 0 cont planted %s %s sleep" % (sys.argv[2], sys.argv[3])))
EOF
}

fresh_state() {
	rm -rf "$STATE"
	mkdir -p "$STATE/journal"
	chmod 700 "$STATE" "$STATE/journal"
}

# The start paths: each runs with the state directory $STATE, bounded;
# its output (stdout and stderr) in $WORK/out, its exit status in $rc
SOCK=$WORK/duress.sock
cat > "$WORK/probes.yaml" << 'EOF'
title: probes only
description: an experiment that needs no target
method:
  - type: probe
    name: nothing listens there
    provider: {type: http, url: "http://127.0.0.1:1/", timeout: 1}
EOF
start_path() {
	local p=$1
	case $p in
	recover) timeout -k 5 60 "$DURESS" recover --state-dir "$STATE" ;;
	inject) timeout -k 5 60 "$DURESS" inject freeze -t "cgroup:$TGT" --for 0.1s --state-dir "$STATE" ;;
	run) timeout -k 5 60 "$DURESS" run "$WORK/probes.yaml" -q -t "cgroup:$TGT" --state-dir "$STATE" ;;
	serve)
		rm -f "$SOCK"
		timeout -k 5 60 "$DURESS" serve --state-dir "$STATE" --listen "unix:$SOCK" &
		local sp=$!
		wait_until 30 --while "$sp" curl -sf --unix-socket "$SOCK" http://d/healthz
		kill -TERM "$sp" 2>/dev/null
		wait "$sp"
		;;
	guardian)
		# the guardian of a dead agent replays the journal it was given
		# (four at a time: one process per journal)
		find "$STATE/journal" -maxdepth 1 -name '*.undo' -print0 |
			xargs -0 -P 4 -I J timeout -k 5 20 "$DURESS" __guardian 4999999 3 J 4 3< /dev/null 4> /dev/null
		# xargs: 124 if one timed out, 123 if one exited 1-125
		local r=$?
		[ "$r" = 124 ] && return 124
		return 0
		;;
	esac
}
run_path() {
	local t0=$SECONDS
	start_path "$1" > "$WORK/out" 2>&1
	rc=$?
	echo "    ($1: exit $rc, $((SECONDS - t0))s)"
}

# ---- 1. crafted journals, on every start path ----
for p in recover ${TGT:+inject run} serve guardian; do
	fresh_state
	python3 "$TOP/tests/integration/statedir_abuse.py" "$STATE/journal" "$OUT" "$CGDIR" \
		"$CANARY" "$CSTART" "$V1" > "$WORK/expect" || { fail "$p: the journals were made"; continue; }
	n=$(wc -l < "$WORK/expect")
	[ "$p" = recover ] && check "at least 100 crafted journals ($n)" [ "$n" -ge 100 ]
	run_path "$p"
	check "$p: it ends by itself (exit $rc, not the timeout's 124)" [ "$rc" != 124 ] && [ "$rc" != 137 ]
	untouched "$p: $n journals"
	# (one pass over what it said: a grep per journal costs more than the run)
	why_bad=$(python3 - "$WORK/expect" "$WORK/out" "$STATE/journal" << 'EOF'
import os, re, sys
out = open(sys.argv[2], errors="replace").read()
have = set(os.listdir(sys.argv[3]))
bad = []
for l in open(sys.argv[1]):
    name, expect, why = l.rstrip("\n").split("\t")
    if expect == "refused":
        said = re.search(re.escape(name) + ": not replayed.*" + re.escape(why), out)
        if name in have or name + ".refused" not in have or not said:
            bad.append("%s(%s)" % (name, why))
    elif name + ".refused" in have:
        bad.append("%s(refused)" % name)
print(" ".join(bad))
EOF
)
	check "$p: every hostile journal is refused, named with why, kept as .refused${why_bad:+ (not: $why_bad)}" [ -z "$why_bad" ]
	check "$p: no sanitizer report, no crash" bash -c "! grep -E 'AddressSanitizer|runtime error|Segmentation|core dumped' '$WORK/out'"
done
cp "$WORK/out" "$RESULTS/statedir_abuse.last.out" 2>/dev/null

# ---- 2. journals that are not the agent's files ----
for p in recover ${TGT:+inject run} serve guardian; do
	fresh_state
	J=$STATE/journal
	mkfifo "$J/fifo.undo"
	mkdir "$J/dir.undo"
	mknod "$J/dev.undo" c 1 3
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$J/socket.undo"
	cont_journal "$PL/jdir/hard.undo"
	ln "$PL/jdir/hard.undo" "$J/hard.undo"
	cont_journal "$J/other.undo"; chown nobody "$J/other.undo"
	cont_journal "$J/groupw.undo"; chmod 620 "$J/groupw.undo"
	cont_journal "$J/worldw.undo"; chmod 602 "$J/worldw.undo"
	cont_journal "$PL/jdir/target.undo"
	ln -s "$PL/jdir/target.undo" "$J/symlink.undo"
	ln -s "$OUT/files/canary" "$J/canary.undo"
	run_path "$p"
	rm -f "$PL/jdir/hard.undo" "$PL/jdir/target.undo"
	check "$p: a FIFO, a device, a socket as journals: it ends (exit $rc, not 124)" [ "$rc" != 124 ] && [ "$rc" != 137 ]
	untouched "$p: foreign journal files"
	missing=
	for f in fifo dir dev socket hard other groupw worldw symlink canary; do
		grep -q "$f.undo.*not replayed\|$f.undo.*symbolic link" "$WORK/out" || missing="$missing $f"
	done
	check "$p: each is named, not replayed, with why${missing:+ (not:$missing)}" [ -z "$missing" ]
done

# ---- 3. the state directory itself, and what is below it ----
layout() {
	local desc=$1 want=$2 msg=$3; shift 3
	local p
	for p in recover ${TGT:+inject run} serve; do
		run_path "$p"
		if [ "$rc" = "$want" ] && grep -q "$msg" "$WORK/out"; then
			pass "$desc: $p exits $want, saying '$msg'"
		else
			fail "$desc: $p exits $want, saying '$msg'" "exit $rc: $(head -c 300 "$WORK/out")"
		fi
	done
	untouched "$desc"
}
rm -rf "$STATE"; mkdir -p "$PL/realstate/journal"; chmod 700 "$PL/realstate" "$PL/realstate/journal"
cont_journal "$PL/realstate/journal/9.undo"
ln -s "$PL/realstate" "$STATE"
layout "a state directory that is a symlink" 4 "symbolic link"
check "  its journal was not replayed" [ -e "$PL/realstate/journal/9.undo" ]
rm -f "$STATE"; rm -rf "$PL/realstate"

fresh_state; cont_journal "$STATE/journal/9.undo"; chown -R nobody "$STATE"
layout "a state directory of another user" 4 "owned by uid"

fresh_state; cont_journal "$STATE/journal/9.undo"; chmod 777 "$WORK"
layout "a state directory below a world-writable directory" 4 "writable by group or others"
chmod 700 "$WORK"

fresh_state; rmdir "$STATE/journal"; mkdir -p "$PL/jdir2"; cont_journal "$PL/jdir2/9.undo"
ln -s "$PL/jdir2" "$STATE/journal"
run_path recover
check "a symlinked journal/: recover refuses it (exit $rc)" [ "$rc" = 4 ]
check "  saying it is a symbolic link" grep -q "journal is a symbolic link" "$WORK/out"
check "  the journal behind it was not replayed" [ -e "$PL/jdir2/9.undo" ]
untouched "a symlinked journal/"

fresh_state; chmod 777 "$STATE"
run_path recover
check "a 0777 state directory of ours: recover goes on (exit $rc)" [ "$rc" = 0 ]
check "  and makes it 0700 ($(stat -c %a "$STATE"))" [ "$(stat -c %a "$STATE")" = 700 ]

# cgns/ planted as a symlink to a directory with a mount named like a view
# (<pid>-<start>): a journal naming that view must not unmount it nor
# remove it, whether the view base comes from --state-dir or the
# environment
for how in option env; do
	fresh_state
	ln -s "$OUT/views" "$STATE/cgns"
	python3 - "$STATE/journal/77.undo" "$STATE/cgns/1-1" << 'EOF'
import os, sys, zlib
def line(b): return b"%08x " % zlib.crc32(b.encode()) + b.encode() + b"\n"
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, line("0 BEGIN pid=4999999 start=1 cmd=planted") +
         line("1 ADD 0 cgroup-write planted %s memory.max max" % sys.argv[2]) +
         line("2 ADD 1 cgroup-remove cpu %s/duress-cpu-1 %% %%" % sys.argv[2]))
EOF
	if [ $how = env ]; then
		DURESS_STATE_DIR=$STATE run_path recover
	else
		run_path recover
	fi
	check "a symlinked cgns/ ($how): recover ends (exit $rc)" [ "$rc" != 124 ]
	check "  the mount behind it is still mounted" mountpoint -q "$OUT/views/1-1"
	check "  its journal was not replayed (kept, or kept as .refused)" \
		bash -c "ls '$STATE/journal' | grep -q 77.undo"
	untouched "a symlinked cgns/ ($how)"
done

# a lock file planted as a symlink to a canary file: never followed nor
# truncated, the fault refused (the lock's name: the one a first run made)
if [ -n "$TGT" ]; then
	fresh_state
	run_path inject
	lock=$(ls "$STATE/locks" 2> /dev/null | head -n 1)
	check "inject made its lock file (${lock:-none})" [ -n "$lock" ]
	if [ -n "$lock" ]; then
		rm -f "$STATE/locks/$lock"
		ln -s "$OUT/files/canary" "$STATE/locks/$lock"
		run_path inject
		check "a lock file that is a symlink: inject refuses (exit $rc = 4)" [ "$rc" = 4 ]
		check "  naming it and why" grep -q "$lock.*symbolic link" "$WORK/out"
		rm -f "$STATE/locks/$lock"
		ln "$OUT/files/canary" "$STATE/locks/$lock"
		run_path inject
		check "a lock file hard-linked to a canary file: refused (exit $rc = 4)" [ "$rc" = 4 ]
		check "  naming it and why" grep -q "$lock.*hard links" "$WORK/out"
		rm -f "$STATE/locks/$lock"
		mkfifo "$STATE/locks/$lock"
		run_path inject
		check "a lock file that is a FIFO: inject refuses at once (exit $rc = 4)" [ "$rc" = 4 ]
		check "  naming it and why" grep -q "$lock.*not a regular file" "$WORK/out"
		rm -f "$STATE/locks/$lock"
		mknod "$STATE/locks/$lock" c 1 3
		run_path inject
		check "a lock file that is a device: refused, never opened (exit $rc = 4)" [ "$rc" = 4 ]
		check "  naming it and why" grep -q "$lock.*not a regular file" "$WORK/out"
		rm -f "$STATE/locks/$lock"
		untouched "planted lock files"
	fi
fi

# job directories: one planted (a symlink) under the id a client asks for
# is not written through; serve/ itself as a symlink is refused
fresh_state
mkdir -p "$STATE/serve"; chmod 700 "$STATE/serve"
ln -s "$OUT/files" "$STATE/serve/planted"
rm -f "$SOCK"
timeout -k 5 60 "$DURESS" serve --state-dir "$STATE" --listen "unix:$SOCK" > "$WORK/out" 2>&1 &
sp=$!
if wait_until 30 --while "$sp" curl -sf --unix-socket "$SOCK" http://d/healthz; then
	code=$(curl -s -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -H 'Content-Type: application/yaml' \
		--data-binary @"$WORK/probes.yaml" "http://d/v1/experiments?id=planted")
	check "a job whose directory name is planted as a symlink: started elsewhere ($code)" [ "$code" = 201 ]
	wait_until 30 bash -c "curl -s --unix-socket '$SOCK' http://d/v1/experiments/planted | jq -e '.state == \"exited\"'"
	curl -s -o /dev/null --unix-socket "$SOCK" -X DELETE http://d/v1/experiments/planted
	check "  the symlink still points where it did" [ "$(readlink "$STATE/serve/planted")" = "$OUT/files" ]
fi
kill -TERM "$sp" 2> /dev/null; wait "$sp"
untouched "a planted job directory"
fresh_state
ln -s "$OUT/files" "$STATE/serve"
run_path serve
check "serve/ planted as a symlink: serve refuses (exit $rc = 4)" [ "$rc" = 4 ]
check "  saying so" grep -q "serve is a symbolic link" "$WORK/out"
untouched "a planted serve/"
