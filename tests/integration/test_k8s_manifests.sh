# needs: no kernel
# manifests/k8s/*.yaml: valid YAML naming only fields that exist in the
# Kubernetes API (tests/k8s/check.js: kubernetes-types 1.30 + the TypeScript
# compiler, docs/kubernetes.md), shown to reject misspelled fields, wrong
# types, bad YAML and unknown kinds; plus the security settings each needs.
# Needs tests/k8s/node_modules: `make deps` (npm ci from the lock file).
# timeout: 1200
. "$(dirname "$0")/lib.sh"

K=$TOP/tests/k8s
if [ ! -d "$K/node_modules/kubernetes-types" ] || [ ! -d "$K/node_modules/typescript" ]; then
	fail "tests/k8s/node_modules present" "run make deps (npm ci in tests/k8s)"
	exit 0
fi
kcheck() { node "$K/check.js" "$@" > "$WORK/kout" 2>&1; }
# the check must also work in a read-only checkout (the VM): it writes its
# scratch file next to node_modules, so copy the checker if needed
if ! touch "$K/.w" 2>/dev/null; then
	cp -r "$K" "$WORK/k8s" && K=$WORK/k8s
fi
rm -f "$K/.w"

check "check.js: manifests/k8s/*.yaml parse and match the API types" kcheck "$TOP"/manifests/k8s/*.yaml
cat "$WORK/kout"
check "every object was checked (5: Pod, NetworkPolicy, Namespace, DaemonSet, NetworkPolicy)" grep -q '^ok: 5 object(s) in 2 file(s)' "$WORK/kout"

# negative: each broken copy must fail, naming the problem.  All copies go
# through one run of the checker (one TypeScript program: the compiler is
# slow under the VM's emulation); each problem line starts with its file.
nbad=0
badfiles=() bdesc=() bwant=()
bad() {
	local desc=$1 file=$2 want=$3 expr=$4 out
	nbad=$((nbad + 1))
	out=$WORK/bad$nbad-$file
	sed -e "$expr" "$TOP/manifests/k8s/$file" > "$out"
	if cmp -s "$out" "$TOP/manifests/k8s/$file"; then
		fail "$desc" "the sed did not change $file"; return
	fi
	badfiles+=("$out") bdesc+=("$desc") bwant+=("$want")
}
bad "a misspelled pod field (shareProcessNamespac) fails" sidecar.yaml \
	"'\"shareProcessNamespac\"' does not exist in type 'PodSpec'" 's/shareProcessNamespace:/shareProcessNamespac:/'
bad "a misspelled nested field (capabilities.ad) fails" sidecar.yaml \
	"'\"ad\"' does not exist in type 'Capabilities'" 's/          add: \[SYS_ADMIN/          ad: [SYS_ADMIN/'
bad "a misspelled field in a DaemonSet's pod template (hostPid) fails" daemonset.yaml \
	"'\"hostPid\"' does not exist" 's/hostPID: true/hostPid: true/'
bad "a field at the wrong level (appArmorProfile under capabilities) fails" daemonset.yaml \
	"'\"appArmorProfile\"' does not exist in type 'Capabilities'" \
	's/              drop: \[ALL\]/              drop: [ALL]\n              appArmorProfile: {type: Unconfined}/'
bad "a wrong type (hostPID: \"yes\") fails" daemonset.yaml "not assignable to type 'boolean" 's/hostPID: true/hostPID: "yes"/'
bad "bad YAML (a mis-indented key) fails" sidecar.yaml "YAML" 's/^  name: web$/  name: web\n   bad: indentation/'
bad "a duplicate key fails" daemonset.yaml "YAML" 's/^  name: duress$/  name: duress\n  name: again/'
bad "an unknown kind fails" sidecar.yaml "has no exported member 'Pood'" 's/^kind: Pod$/kind: Pood/'
if kcheck "${badfiles[@]}"; then
	fail "the broken copies are rejected" "accepted: $(cat "$WORK/kout")"
else
	pass "the broken copies are rejected ($(tail -n 1 "$WORK/kout"))"
fi
for i in "${!badfiles[@]}"; do
	if grep -F -- "${badfiles[$i]}:" "$WORK/kout" | grep -qF -- "${bwant[$i]}"; then
		pass "${bdesc[$i]}"
	else
		fail "${bdesc[$i]}" "no '${bwant[$i]}' for ${badfiles[$i]##*/} in: $(head -c 600 "$WORK/kout")"
	fi
done

# what each manifest must say (docs/kubernetes.md), read with the same parser
# (both files converted to JSON by one node run, then read with jq)
WORK=$WORK node -e 'const Y=require(process.argv[1]+"/node_modules/yaml"), fs=require("fs");
	for (const f of process.argv.slice(2))
		fs.writeFileSync(f.replace(/.*\//, process.env.WORK+"/")+".json",
			JSON.stringify(Y.parseAllDocuments(fs.readFileSync(f,"utf8")).map(d=>d.toJS()).filter(Boolean)))' \
	"$K" "$TOP"/manifests/k8s/*.yaml
q() { jq -e "$2" "$WORK/${1##*/}.json" > /dev/null; }
S=$TOP/manifests/k8s/sidecar.yaml
DS=$TOP/manifests/k8s/daemonset.yaml
agent='.[] | select(.kind=="Pod") | .spec.containers[] | select(.name=="duress")'
check "sidecar: shareProcessNamespace" q "$S" '.[] | select(.kind=="Pod") | .spec.shareProcessNamespace == true'
check "sidecar: capabilities drop ALL, add SYS_ADMIN NET_ADMIN SYS_PTRACE KILL not privileged" q "$S" \
	"$agent | .securityContext | .privileged == false and .capabilities.drop == [\"ALL\"] and
	 (.capabilities.add | sort) == [\"KILL\",\"NET_ADMIN\",\"SYS_ADMIN\",\"SYS_PTRACE\"]"
check "sidecar: seccomp RuntimeDefault, AppArmor Unconfined" q "$S" \
	"$agent | .securityContext | .seccompProfile.type == \"RuntimeDefault\" and .appArmorProfile.type == \"Unconfined\""
check "sidecar: serve on loopback TCP with the token from the Secret" q "$S" \
	"($agent | .args[0:5] == [\"serve\",\"--listen\",\"127.0.0.1:7070\",\"--token-file\",\"/etc/duress/token\"]) and
	 (.[] | select(.kind==\"Pod\") | .spec.volumes[] | select(.name==\"duress-token\") | .secret.secretName == \"duress-token\")"
check "sidecar: ships no token (no Secret: made with kubectl create secret, issue 12 item 13)" q "$S" \
	'[.[] | select(.kind=="Secret")] | length == 0'
dagent='.[] | select(.kind=="DaemonSet") | .spec.template.spec'
check "daemonset: hostPID, same capabilities, not privileged" q "$DS" \
	"$dagent | .hostPID == true and (.containers[0].securityContext | .privileged == false and
	 (.capabilities.add | sort) == [\"KILL\",\"NET_ADMIN\",\"SYS_ADMIN\",\"SYS_PTRACE\"])"
check "daemonset: joins the node's cgroup namespace (DURESS_CGROUPNS=host), /run/duress as hostPath, socket in /run/duress" q "$DS" \
	"($dagent | .containers[0].env | any(.name == \"DURESS_CGROUPNS\" and .value == \"host\")) and
	 ($dagent | [.volumes[].hostPath.path] | index(\"/run/duress\") != null) and
	 ($dagent | .containers[0].args[0:3] == [\"serve\",\"--listen\",\"unix:/run/duress/duress.sock\"])"
