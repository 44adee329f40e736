# needs: no kernel
# Prometheus can scrape the agents of manifests/k8s/ with the jobs of
# manifests/grafana/prometheus.yaml, checked statically (python3-yaml) and
# against a real server:
#   - each manifest's duress container serves --metrics-listen on the port
#     its container port duress-metrics declares, with a
#     --metrics-token-file mounted from a Secret; its API stays off the pod
#     network (a unix socket, or loopback);
#   - the scrape job for it keeps that pod's port (its relabel rules run on
#     the labels Kubernetes' pod discovery gives it) and the other job drops
#     it; metrics_path is /metrics, scheme http (serve has no TLS), a
#     Bearer token from a file;
#   - a NetworkPolicy in the manifest selects the pod and opens the port to
#     Prometheus only;
#   - `duress serve` started with the manifest's own arguments (paths and
#     addresses moved into the test's directory) answers the job's
#     metrics_path with the token (200, Prometheus text), 401 without it,
#     and serves no API route there (404).
. "$(dirname "$0")/lib.sh"

python3 -c 'import yaml' 2> /dev/null || { fail "python3-yaml installed" "make deps"; exit 0; }
M=$TOP/manifests
SERVERS=()
_scrape_cleanup() {
	for p in "${SERVERS[@]}"; do kill -TERM "$p" 2> /dev/null && wait "$p" 2> /dev/null; done
	_cleanup
}
trap _scrape_cleanup EXIT

# the static checks, one line per result: "ok|FAIL description"
cat > "$WORK/scrape.py" << 'EOF'
import re, sys, yaml

def out(ok, what):
    print(("ok" if ok else "FAIL") + " " + what)

def arg(args, name):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None

prom = yaml.safe_load(open(sys.argv[3]))
jobs = {j["job_name"]: j for j in prom["scrape_configs"]}

def relabel(job, labels):
    """Prometheus' keep/drop/replace on one target's labels: kept or not."""
    for r in job.get("relabel_configs", []):
        val = r.get("separator", ";").join(labels.get(l, "") for l in r.get("source_labels", []))
        m = re.fullmatch(r.get("regex", "(.*)"), val)
        act = r.get("action", "replace")
        if act == "keep" and not m:
            return False
        if act == "drop" and m:
            return False
    return True

def meta_label(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)

for path, kind, job_name, other in ((sys.argv[1], "Pod", "duress-sidecar", "duress-daemonset"),
                                    (sys.argv[2], "DaemonSet", "duress-daemonset", "duress-sidecar")):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    obj = next(d for d in docs if d["kind"] == kind)
    name = path.rsplit("/", 1)[1]
    meta = obj["metadata"] if kind == "Pod" else obj["spec"]["template"]["metadata"]
    spec = obj["spec"] if kind == "Pod" else obj["spec"]["template"]["spec"]
    ns = obj["metadata"].get("namespace", "default")
    c = next(c for c in spec["containers"] if c["name"] == "duress")
    args = [str(a) for a in c["args"]]
    listen, mlisten, mtok = arg(args, "--listen"), arg(args, "--metrics-listen"), arg(args, "--metrics-token-file")
    ports = {p.get("name"): p for p in c.get("ports", [])}
    mport = ports.get("duress-metrics", {}).get("containerPort")
    out(mlisten is not None and mlisten.rsplit(":", 1)[1] == str(mport),
        f"{name}: --metrics-listen {mlisten} is on the port named duress-metrics ({mport})")
    out(ports.get("duress-metrics", {}).get("protocol", "TCP") == "TCP", f"{name}: the metrics port is TCP")
    out(listen is not None and (listen.startswith("unix:") or listen.startswith("127.")),
        f"{name}: the API stays off the pod network (--listen {listen})")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    mount = next((m for m in c.get("volumeMounts", []) if mtok and mtok.startswith(m["mountPath"].rstrip("/") + "/")), None)
    secret = mount and vols.get(mount["name"], {}).get("secret", {}).get("secretName")
    out(bool(secret) and mount.get("readOnly") is True,
        f"{name}: --metrics-token-file {mtok} comes from a Secret ({secret}), mounted read-only")
    out(not any(d["kind"] == "Secret" for d in docs), f"{name}: ships no Secret (made with kubectl create secret)")
    # what Kubernetes' pod discovery gives the target of that port
    labels = {"__meta_kubernetes_namespace": ns, "__meta_kubernetes_pod_container_name": "duress",
              "__meta_kubernetes_pod_container_port_name": "duress-metrics",
              "__meta_kubernetes_pod_container_port_number": str(mport)}
    for k, v in meta.get("labels", {}).items():
        labels["__meta_kubernetes_pod_label_" + meta_label(k)] = v
    job = jobs.get(job_name, {})
    sd = job.get("kubernetes_sd_configs", [{}])[0]
    in_ns = not sd.get("namespaces") or ns in sd["namespaces"].get("names", [])
    out(sd.get("role") == "pod" and in_ns and relabel(job, labels),
        f"prometheus.yaml {job_name}: keeps the duress-metrics port of {name}'s pod")
    out(not relabel(jobs[other], labels) or other == "duress-daemonset" and ns not in
        jobs[other]["kubernetes_sd_configs"][0].get("namespaces", {}).get("names", [ns]),
        f"prometheus.yaml {other}: does not scrape {name}'s pod too")
    app = dict(labels, __meta_kubernetes_pod_container_name="app", __meta_kubernetes_pod_container_port_name="http")
    out(not relabel(job, app), f"prometheus.yaml {job_name}: drops the other containers' ports")
    auth = job.get("authorization", {})
    out(job.get("metrics_path", "/metrics") == "/metrics" and job.get("scheme", "http") == "http" and
        auth.get("type", "Bearer") == "Bearer" and auth.get("credentials_file"),
        f"prometheus.yaml {job_name}: GET /metrics over http with a bearer token from a file")
    # the NetworkPolicy: the pod, the port, from Prometheus only
    pols = [d for d in docs if d["kind"] == "NetworkPolicy"]
    sel = lambda p: all(meta.get("labels", {}).get(k) == v for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())
    rules = [r for p in pols if sel(p) for r in p["spec"].get("ingress", [])
             if any(str(pt.get("port")) in ("duress-metrics", str(mport)) for pt in r.get("ports", []))]
    out(len(rules) == 1 and rules[0].get("from") and all(f.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "prometheus"
                                                         for f in rules[0]["from"]),
        f"{name}: a NetworkPolicy opens the metrics port to Prometheus pods only")
    print("ARGS " + name + " " + "\t".join(args))
EOF
python3 "$WORK/scrape.py" "$M/k8s/sidecar.yaml" "$M/k8s/daemonset.yaml" "$M/grafana/prometheus.yaml" > "$WORK/static"
while read -r res desc; do
	case $res in
	ok) pass "$desc" ;;
	FAIL) fail "$desc" ;;
	esac
done < "$WORK/static"

# the checks catch a broken copy: a metrics port renumbered in the
# sidecar, a scrape job keeping another port name for the DaemonSet
sed 's/containerPort: 9470/containerPort: 9471/' "$M/k8s/sidecar.yaml" > "$WORK/sidecar.yaml"
sed 's/regex: duress;duress-metrics$/regex: duress;metrics/' "$M/grafana/prometheus.yaml" > "$WORK/prometheus.yaml"
python3 "$WORK/scrape.py" "$WORK/sidecar.yaml" "$M/k8s/daemonset.yaml" "$WORK/prometheus.yaml" > "$WORK/broken"
check "a broken copy fails: the sidecar's port renumbered" grep -q "^FAIL sidecar.yaml: --metrics-listen 0.0.0.0:9470 is on the port named duress-metrics (9471)" "$WORK/broken"
check "a broken copy fails: a scrape job keeping another port name" grep -q "^FAIL prometheus.yaml duress-daemonset: keeps the duress-metrics port" "$WORK/broken"

# a server with each manifest's own arguments: the token files and the
# socket moved into $WORK, the addresses onto loopback ports of our own
openssl rand -hex 32 > "$WORK/api-token"
openssl rand -hex 32 > "$WORK/metrics-token"
chmod 600 "$WORK/api-token" "$WORK/metrics-token"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
n=0
while IFS=$'\t' read -r -a args; do
	name=${args[0]#ARGS }
	name=${name%% *}
	args[0]=${args[0]#ARGS $name }
	n=$((n + 1))
	mport=$(free_port) aport=$(free_port)
	cmd=()
	for ((i = 0; i < ${#args[@]}; i++)); do
		a=${args[$i]}
		case $a in
		/etc/duress-metrics/token) a=$WORK/metrics-token ;;
		/etc/duress/token) a=$WORK/api-token ;;
		unix:*) a=unix:$WORK/s$n.sock ;;
		127.0.0.1:*) a=127.0.0.1:$aport ;;
		0.0.0.0:*) a=127.0.0.1:$mport ;;
		esac
		cmd+=("$a")
	done
	up() { curl -s --max-time 2 "http://127.0.0.1:$mport/healthz"; }
	if ! bg_start SRV 15 up "$WORK/serve$n.log" "$WORK/serve$n.log" "$DURESS" "${cmd[@]}" --state-dir "$WORK/state$n"; then
		fail "$name: duress serve starts with the manifest's arguments" "$(tail -n 3 "$WORK/serve$n.log")"
		continue
	fi
	SERVERS+=("$SRV")
	pass "$name: duress serve starts with the manifest's arguments (${cmd[*]:1})"
	url=http://127.0.0.1:$mport/metrics
	code=$(curl -s -o "$WORK/m$n" -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/metrics-token")" "$url")
	check "$name: Prometheus' request (metrics_path, its token) gets the metrics ($code)" \
		bash -c '[ "$1" = 200 ] && grep -q "^# TYPE duress_fault_active gauge" "$2"' _ "$code" "$WORK/m$n"
	check "$name: without the token, 401" [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 401 ]
	check "$name: the API's token is not the metrics' (401)" \
		[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/api-token")" "$url")" = 401 ]
	check "$name: no API route on the metrics port (404)" \
		[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/metrics-token")" "http://127.0.0.1:$mport/v1/faults")" = 404 ]
done < <(grep '^ARGS ' "$WORK/static")
check "both manifests' servers were tried" [ "$n" = 2 ]

# the metrics listener's own command-line checks (exit 2, nothing started)
expect_exit "--metrics-listen without --metrics-token-file: exit 2" 2 \
	"$DURESS" serve --listen "unix:$WORK/x.sock" --metrics-listen 127.0.0.1:1 --state-dir "$WORK/st"
check "  naming what is missing" grep -q "needs --metrics-token-file" "$WORK/stderr"
expect_exit "--metrics-token-file without --metrics-listen: exit 2" 2 \
	"$DURESS" serve --listen "unix:$WORK/x.sock" --metrics-token-file "$WORK/metrics-token" --state-dir "$WORK/st"
expect_exit "--metrics-listen with a name, not a numeric address: exit 2" 2 \
	"$DURESS" serve --listen "unix:$WORK/x.sock" --metrics-listen localhost:9470 --metrics-token-file "$WORK/metrics-token" --state-dir "$WORK/st"
chmod 644 "$WORK/metrics-token"
expect_exit "a metrics token file others can read: exit 2" 2 \
	"$DURESS" serve --listen "unix:$WORK/x.sock" --metrics-listen 127.0.0.1:1 --metrics-token-file "$WORK/metrics-token" --state-dir "$WORK/st"
check "  naming the option" grep -q -- "--metrics-token-file" "$WORK/stderr"
check "nothing was left listening or created" bash -c '[ ! -e "$1/x.sock" ]' _ "$WORK"
