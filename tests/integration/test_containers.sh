# container:ID finds containers by their runtime's cgroup naming; `duress
# targets` lists them; ambiguous prefixes list every match.
. "$(dirname "$0")/lib.sh"

id1=abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789
id2=abcdef9876543210abcdef0123456789abcdef0123456789abcdef0123456789
id3=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
slice=$(new_cgroup containers)
echo "+cpu +memory +io +pids" > "$slice/cgroup.subtree_control"
mkdir "$slice/docker-$id1.scope" "$slice/cri-containerd-$id2.scope" "$slice/crio-conmon-$id3.scope" "$slice/libpod-$id3.scope"
spawn "$slice/docker-$id1.scope" "$HELPERS/memhold" 20
wait_ready "$WORK/spawn.$$.out"
spawn "$slice/libpod-$id3.scope" "$HELPERS/spin"

"$DURESS" targets > "$WORK/targets.txt"
check "targets exits 0" [ $? = 0 ]
cat "$WORK/targets.txt" | sed 's/^/    /'
check "targets lists the docker container" grep -q "${id1:0:12}.*docker" "$WORK/targets.txt"
check "targets lists the containerd container" grep -q "${id2:0:12}.*containerd" "$WORK/targets.txt"
check "targets lists the podman container" grep -q "${id3:0:12}.*podman" "$WORK/targets.txt"
check "targets skips conmon cgroups" bash -c "! grep -q 'crio-conmon' '$WORK/targets.txt'"
"$DURESS" targets --format json > "$WORK/targets.json"
check "targets --format json: memory of the docker container ~20 MiB" \
	jq -e --arg id "$id1" '.[] | select(.id == $id) | .memory_current > 18000000 and .pids == 1' "$WORK/targets.json"

"$DURESS" sample -t "container:${id1:0:8}" --duration 1s --format jsonl -o "$WORK/s.jsonl"
check "container:<prefix> samples the docker container" jq -e '.memory.current > 18000000' "$WORK/s.jsonl"
"$DURESS" sample -t "container:${id3:0:10}" --duration 1s --format jsonl -o /dev/null
check "container:<prefix> finds the podman container" [ $? = 0 ]
expect_exit "ambiguous prefix -> 3" 3 "$DURESS" sample -t container:abcdef --duration 1s
check "ambiguous message lists both matches" bash -c "grep -q '${id1:0:12}' '$WORK/stderr' && grep -q '${id2:0:12}' '$WORK/stderr'"
