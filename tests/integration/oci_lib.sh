# Helpers for OCI containers in the VM tests (sourced after lib.sh).
# A bundle's rootfs is a few empty directories plus the host's /usr
# bind-mounted read-only (bin, lib, sbin, lib64 are symlinks into it, as
# on the host), so the workload can use the host's tools.

# every namespace of its own but the user namespace
NS_ALL='[{"type":"pid"},{"type":"mount"},{"type":"network"},{"type":"cgroup"},{"type":"ipc"},{"type":"uts"}]'

# oci_parent NAME: a test cgroup (new_cgroup NAME) that gives its children
# cpu, memory and pids, for the containers' cgroups; sets parent (its path)
# and pname (the same below /sys/fs/cgroup, for cgroupsPath)
oci_parent() {
	parent=$(new_cgroup "$1") || return 1
	pname=${parent#"$CG"}
	echo "+cpu +memory +pids" > "$parent/cgroup.subtree_control"
}

# oci_config ARGS_JSON CGROUPS_PATH NAMESPACES_JSON [CAPS_JSON] [EXTRA_MOUNTS_JSON]
oci_config() {
	local args=$1 cgpath=$2 ns=$3
	local caps=${4:-'["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_KILL","CAP_NET_RAW","CAP_NET_ADMIN","CAP_SETUID","CAP_SETGID","CAP_SYS_ADMIN","CAP_SYS_PTRACE"]'}
	local extra=${5:-'[]'}
	jq -n --argjson args "$args" --arg cg "$cgpath" --argjson ns "$ns" \
		--argjson caps "$caps" --argjson extra "$extra" '{
	ociVersion: "1.0.2",
	process: {
		terminal: false, user: {uid: 0, gid: 0}, args: $args, cwd: "/",
		env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		capabilities: {bounding: $caps, effective: $caps, permitted: $caps},
		noNewPrivileges: true
	},
	root: {path: "rootfs", readonly: true},
	hostname: "oci",
	mounts: ([
		{destination: "/proc", type: "proc", source: "proc"},
		{destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=8m"]},
		{destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]},
		{destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]},
		{destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"]},
		{destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755"]}
	] + $extra),
	linux: {cgroupsPath: $cg, namespaces: $ns,
		maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
		readonlyPaths: ["/proc/sys", "/proc/sysrq-trigger"]}
}'
}

# oci_rootfs_hostusr DIR: a rootfs whose /usr is the host's (bind, read-only).
oci_rootfs_hostusr() {
	local d=$1
	mkdir -p "$d"/{proc,dev,sys,tmp,run,usr,etc}
	ln -sfn usr/bin "$d/bin"; ln -sfn usr/sbin "$d/sbin"
	ln -sfn usr/lib "$d/lib"; ln -sfn usr/lib64 "$d/lib64"
	cp /etc/passwd /etc/group "$d/etc/"
}
