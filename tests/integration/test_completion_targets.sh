# Bash completion of targets (-t): the prefixes, a fake docker container's
# id and its pid, cgroup directories (a cgroup v2 tree: the VM's).  The
# rest of the completion is test_completion.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/completion_lib.sh"

D=$DURESS

# targets: prefixes, a container's id and its pid, cgroup directories
id=feedbeef0123456789abcdef0123456789abcdef0123456789abcdef01234567
slice=$(new_cgroup completion)
mkdir "$slice/docker-$id.scope"
spawn "$slice/docker-$id.scope" sleep 600
for _ in $(seq 50); do grep -q . "$slice/docker-$id.scope/cgroup.procs" && break; sleep 0.1; done
check "-t: the three target prefixes" \
	bash -c 'for p in cgroup: pid: container:; do grep -qx "$p" <<<"$1" || exit 1; done' _ "$(comp "$D sample -t ")"
# bash splits "container:feed" at ':' and keeps "container:", so the reply is the rest
check "-t container:feed completes the container's full id (after the ':')" \
	same "$(comp "$D inject cpu -t container:feed")" "$id"
check "--target=container:feed completes the id too" \
	same "$(comp "$D run x.yaml --target=container:feed")" "$id"
check "-t pid: offers the container's process ($SPAWNED)" \
	bash -c 'grep -qx "$1" <<<"$2"' _ "$SPAWNED" "$(comp "$D sample -t pid:")"
rel=${slice#"$CG"/}
check "-t cgroup:${rel%-*}: completes the cgroup directory" \
	bash -c 'grep -qx "$1/" <<<"$2"' _ "${rel#cgroup:}" "$(comp "$D sample -t cgroup:${rel%-*}")"
check "-t cgroup:$rel/d: completes the container's cgroup below it" \
	same "$(comp "$D sample -t cgroup:$rel/d")" "$rel/docker-$id.scope/"
