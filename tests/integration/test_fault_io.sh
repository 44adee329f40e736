# io: io.max throttles an O_DIRECT writer in the target (fio, then our own
# workers); the device's ORIGINAL io.max line comes back; partitions map to
# their disk; device-less filesystems and bad options are refused, changing
# nothing; no worker, cgroup or scratch file is left.
. "$(dirname "$0")/lib.sh"

MiB=1048576
SCRATCH=/var/tmp

# The whole disk under /var/tmp (the VM's virtio disk /dev/vda).
mm=$(findmnt -n -o MAJ:MIN --target "$SCRATCH" 2>/dev/null | tr -d ' ')
if [ -z "$mm" ] || [ ! -e "/sys/dev/block/$mm" ]; then
	skip "io fault on a real disk" "$SCRATCH is not on a block device (findmnt: '$mm'): no disk to throttle"
	exit 0
fi
if [ -e "/sys/dev/block/$mm/partition" ]; then
	mm=$(cat "/sys/dev/block/$mm/../dev")
fi
disk=/dev/$(basename "$(readlink -f "/sys/dev/block/$mm")")
echo "  disk under $SCRATCH: $disk ($mm)"

dir=$(new_cgroup io)
spawn "$dir" sleep 1000
echo "$mm riops=5000" > "$dir/io.max"
orig="$mm rbps=max wbps=max riops=5000 wiops=max"
line() { grep "^$1 " "$dir/io.max"; }
wbytes() { sed -n "s/^$mm .*wbytes=\([0-9]*\).*/\1/p" "$dir/io.stat" | grep . || echo 0; }
check "original io.max line set before the fault ('$(line "$mm")')" [ "$(line "$mm")" = "$orig" ]
ls_before=$(ls -A "$SCRATCH" | sort | tr '\n' ' ')

# MiB/s written to $mm over the "during" samples of a samples file, the
# first second (the limit settling) left out.
during_rate() {
	jq -s --arg d "$mm" '[.[] | select(.phase == "during") | {t, w: (.io.devices[$d].wbytes // 0)}] |
		.[1:] | if length < 2 then -1 else ((.[-1].w - .[0].w) / (.[-1].t - .[0].t) / 1048576 * 100 | round / 100) end' "$1"
}
before_rate() {
	jq -s --arg d "$mm" '[.[] | select(.phase == "before") | {t, w: (.io.devices[$d].wbytes // 0)}] |
		if length < 2 then -1 else ((.[-1].w - .[0].w) / (.[-1].t - .[0].t) / 1048576 * 100 | round / 100) end' "$1"
}
no_leftovers() {
	local tag=$1
	check "$tag: io.max line of $mm back to the original" [ "$(line "$mm")" = "$orig" ]
	check "$tag: no workers cgroup left" bash -c "! ls -d $dir/duress-io-* 2>/dev/null"
	check "$tag: no duress-io worker left" bash -c "! pgrep -x duress-io"
	check "$tag: no scratch file left in $SCRATCH" [ "$(ls -A "$SCRATCH" | sort | tr '\n' ' ')" = "$ls_before" ]
}

# ---- dry run: the exact line, nothing changed
expect_exit "dry run exits 0" 0 "$DURESS" inject io -t "cgroup:$dir" --for 5s --wbps 1M --device "$disk" --dry-run
check "dry run prints the io.max line and the original" grep -qF "write '$mm wbps=1048576' to $dir/io.max (disk $(basename "$disk"); now '$orig')" "$WORK/stdout"
check "dry run prints the revert" grep -qF "revert: write '$orig' to $dir/io.max" "$WORK/stdout"
check "dry run changed nothing" [ "$(line "$mm")" = "$orig" ]

# ---- wbps 1 MiB/s holds an O_DIRECT fio writer in the target
if command -v fio > /dev/null; then
	# the file exists beforehand, so fio writes at once (no layout pass)
	dd if=/dev/zero of="$SCRATCH/duress-it-io-$$.fio" bs=1M count=32 oflag=direct status=none
	spawn "$dir" fio --name=w --filename="$SCRATCH/duress-it-io-$$.fio" --rw=write --bs=64k --direct=1 \
		--size=32M --time_based --runtime=120 --ioengine=psync
	fio_pid=$SPAWNED
	w0=$(wbytes)
	for _ in $(seq 100); do sleep 0.2; [ "$(wbytes)" -gt $((w0 + 4 * MiB)) ] && break; done
	check "fio writes in the target before the fault" [ "$(wbytes)" -gt $((w0 + 4 * MiB)) ]
	"$DURESS" inject io -t "cgroup:$dir" --for 8s --baseline 3s --wbps 1M --device "$disk" \
		--samples "$WORK/fio.jsonl" --summary "$WORK/fio.json" -q > "$WORK/fio.out" 2> "$WORK/fio.err"
	rc=$?
	check "fio run exits 0 (got $rc)" [ $rc = 0 ]
	b=$(before_rate "$WORK/fio.jsonl"); d=$(during_rate "$WORK/fio.jsonl")
	echo "  fio O_DIRECT writer: ${b} MiB/s before, ${d} MiB/s at wbps 1 MiB/s"
	check "fio writes faster than the limit before it (${b} MiB/s > 2)" in_range "$b" 2 100000
	check "fio held at <= 1.2 MiB/s and really throttled (> 0.5; got ${d})" in_range "$d" 0.5 1.2
	check "summary: one step reverted, none failed" jq -e '.reverted == 1 and (.not_reverted | length) == 0' "$WORK/fio.json"
	check "summary names the device and the line" jq -e --arg l "$mm wbps=1048576" '.fault_report.io_max == $l' "$WORK/fio.json"
	kill "$fio_pid" 2> /dev/null
	wait "$fio_pid" 2> /dev/null
	rm -f "$SCRATCH/duress-it-io-$$.fio"
	no_leftovers "fio run"
else
	skip "fio O_DIRECT writer throttled" "fio is not installed (make deps)"
fi

# ---- our own O_DIRECT workers (device from the scratch directory)
avail0=$(stat -f -c '%a' "$SCRATCH")
"$DURESS" inject io -t "cgroup:$dir" --for 8s --baseline 1s --wbps 1M --workers 2 --mode write \
	--direct --block 64K --file-size 16M --samples "$WORK/w.jsonl" --summary "$WORK/w.json" -q \
	> "$WORK/w.out" 2> "$WORK/w.err"
rc=$?
check "workers run exits 0 (got $rc)" [ $rc = 0 ]
d=$(during_rate "$WORK/w.jsonl")
echo "  2 duress-io O_DIRECT writers at wbps 1 MiB/s: ${d} MiB/s"
check "workers held at <= 1.2 MiB/s and really throttled (> 0.5; got ${d})" in_range "$d" 0.5 1.2
check "plan: default device is the scratch directory's disk" grep -qF "write '$mm wbps=1048576'" "$WORK/w.err"
check "summary: 2 steps reverted (io.max, workers cgroup)" jq -e '.reverted == 2 and (.not_reverted | length) == 0 and .fault_report.io_workers == 2' "$WORK/w.json"
no_leftovers "workers run"
sleep 1
check "scratch space back in $SCRATCH ($avail0 -> $(stat -f -c '%a' "$SCRATCH") blocks)" \
	in_range "$(stat -f -c '%a' "$SCRATCH")" $((avail0 - 64)) $((avail0 + 100000))

# ---- random reads with a read IOPS limit (workers prefill their files first)
"$DURESS" inject io -t "cgroup:$dir" --for 6s --baseline 0 --riops 50 --workers 1 --mode randread \
	--direct --file-size 8M --samples "$WORK/r.jsonl" -q > "$WORK/r.out" 2> "$WORK/r.err"
rc=$?
check "randread run exits 0 (got $rc)" [ $rc = 0 ]
riops=$(jq -s --arg d "$mm" '[.[] | select(.phase == "during") | {t, r: (.io.devices[$d].rios // 0)}] | .[1:] |
	if length < 2 then -1 else ((.[-1].r - .[0].r) / (.[-1].t - .[0].t) | round) end' "$WORK/r.jsonl")
echo "  randread worker at riops 50: $riops reads/s"
check "randread held at riops 50 (got $riops, 35-60)" in_range "$riops" 35 60
no_leftovers "randread run"

# ---- a partition maps to its whole disk (loop device with a partition table)
img=$SCRATCH/duress-it-io-$$.img
# an MBR with one Linux partition from sector 2048 to the end (64 MiB)
mbr_entry='\x00\x00\x00\x00\x83\x00\x00\x00\x00\x08\x00\x00\x00\xf8\x01\x00'
if truncate -s 64M "$img" && printf "$mbr_entry" | dd of="$img" bs=1 seek=446 conv=notrunc status=none &&
	printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none &&
	loopdev=$(losetup -P -f --show "$img" 2> /dev/null); then
	for _ in $(seq 50); do [ -b "${loopdev}p1" ] && break; sleep 0.1; done
	lmm=$(cat "/sys/block/$(basename "$loopdev")/dev")
	pmm=$(cat "/sys/block/$(basename "$loopdev")/$(basename "$loopdev")p1/dev")
	expect_exit "partition $pmm: dry run exits 0" 0 "$DURESS" inject io -t "cgroup:$dir" --for 2s --riops 100 --device "${loopdev}p1" --dry-run
	check "plan maps partition $pmm to disk $lmm" grep -qF "partition $pmm is on disk $(basename "$loopdev") ($lmm)" "$WORK/stdout"
	check "plan writes the disk's line ($lmm riops=100)" grep -qF "write '$lmm riops=100' to $dir/io.max" "$WORK/stdout"
	"$DURESS" inject io -t "cgroup:$dir" --for 1s --baseline 0 --riops 100 --device "${loopdev}p1" -q > /dev/null 2> "$WORK/p.err"
	check "partition run exits 0" [ $? = 0 ]
	check "the loop disk had no line before, has none after (all max)" bash -c "! grep -q '^$lmm ' $dir/io.max"
	losetup -d "$loopdev"
else
	fail "make a partitioned loop device" "truncate/dd/losetup -P failed"
fi
rm -f "$img"

# ---- device-less filesystems and unknown devices: refused, nothing changed
tmpmnt=$(mktemp -d /tmp/duress-it-io-tmpfs.XXXXXX)
mount -t tmpfs -o size=8M duress-it "$tmpmnt"
expect_exit "--device on tmpfs -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps 1M --device "$tmpmnt"
check "message names --device and tmpfs" grep -q -- "--device $tmpmnt: .*tmpfs filesystem.*no block device" "$WORK/stderr"
expect_exit "workers on tmpfs, default device -> 4" 4 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps 1M --workers 1 --file-size 1M --path "$tmpmnt"
check "message names tmpfs and --device" grep -q "tmpfs filesystem.*--device" "$WORK/stderr"
umount "$tmpmnt"; rmdir "$tmpmnt"
rootfs=$(findmnt -n -o FSTYPE /)
case $rootfs in
overlay | 9p | tmpfs | virtiofs)
	expect_exit "default device on a $rootfs root -> 4" 4 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps 1M
	check "message names $rootfs and --device" grep -q "$rootfs filesystem.*--device" "$WORK/stderr" ;;
*)
	skip "default device on a device-less root" "the root here is $rootfs, on a disk" ;;
esac
expect_exit "unknown device 4095:4095 -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps 1M --device 4095:4095
check "message names --device and the device" grep -q -- "--device 4095:4095: no block device 4095:4095" "$WORK/stderr"
expect_exit "missing device file -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps 1M --device /dev/duress-nope
check "message names --device" grep -q -- "--device /dev/duress-nope" "$WORK/stderr"

# ---- bad options: usage errors naming the option
expect_exit "missing --for -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --wbps 1M --device "$disk"
check "message names --for" grep -q -- '--for' "$WORK/stderr"
expect_exit "negative --wbps -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps -1M --device "$disk"
check "message names --wbps" grep -q -- '--wbps.*negative' "$WORK/stderr"
expect_exit "--riops 0 -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --riops 0 --device "$disk"
check "message names --riops" grep -q -- '--riops' "$WORK/stderr"
expect_exit "nothing to do -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s
check "message lists the options" grep -q -- '--wbps.*--workers' "$WORK/stderr"
expect_exit "--mode without --workers -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --wbps 1M --mode read
check "message names --mode" grep -q -- '--mode: only with --workers' "$WORK/stderr"
expect_exit "bad --mode -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --workers 1 --mode sideways
check "message names --mode and the choices" grep -q -- "--mode: 'sideways': must be one of read, write" "$WORK/stderr"
expect_exit "--direct with --block 1000 -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --workers 1 --direct --block 1000
check "message names --block" grep -q -- '--block 1000: with --direct' "$WORK/stderr"
echo hello > "$WORK/afile"
expect_exit "--path an existing file -> 2" 2 "$DURESS" inject io -t "cgroup:$dir" --for 1s --workers 1 --path "$WORK/afile"
check "message names --path" grep -q -- "--path $WORK/afile: exists and is not a directory" "$WORK/stderr"
check "the existing file is untouched" grep -qx hello "$WORK/afile"
no_leftovers "after the refused runs"

# ---- SIGTERM mid-fault: reverted, exit 8
"$DURESS" inject io -t "cgroup:$dir" --for 60s --baseline 0 --wbps 2M --workers 1 --direct --file-size 8M -q > /dev/null 2>&1 &
agent=$!
for _ in $(seq 100); do line "$mm" | grep -q 'wbps=2097152' && pgrep -x duress-io > /dev/null && break; sleep 0.1; done
check "limit and worker in force while the agent runs" bash -c "grep -q '^$mm .*wbps=2097152' $dir/io.max && pgrep -x duress-io"
kill -TERM $agent; wait $agent; rc=$?
check "SIGTERM: exit 8 (interrupted; got $rc)" [ $rc = 8 ]
no_leftovers "SIGTERM"
