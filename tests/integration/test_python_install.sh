# The Python package installs offline as docs/python.md says, with Debian's
# python3, python3-pip, python3-setuptools and python3-venv only, inside a
# network namespace with no network at all: a wheel whose version is
# VERSION's and whose pytest11 entry point names the plugin; a virtual
# environment where Debian's pytest finds the plugin by itself (its options,
# a test skipped with the reason when no agent answers) and duress reports
# the repository's version; the Debian way (pip --break-system-packages,
# here into a --root instead of /usr/local); uninstalled, nothing left.
# (Three pip runs and a venv: ~15 s on a quiet host.)
# needs: no kernel
# timeout: 300
. "$(dirname "$0")/lib.sh"

PY=${DURESS_PYTHON:-/usr/bin/python3}
VERSION=$(cat "$TOP/VERSION")
for m in pip venv setuptools pytest; do
	if ! "$PY" -c "import $m" 2> /dev/null; then
		fail "$PY has $m" "missing: make deps installs python3-pip python3-venv python3-setuptools python3-pytest"
		exit 0
	fi
done
# a copy of the package beside a copy of VERSION (python/VERSION links to
# ../VERSION): builds write into the source tree, not into the checkout's
mkdir -p "$WORK/src"
cp -a "$TOP/python" "$WORK/src/python"
cp "$TOP/VERSION" "$WORK/src/VERSION"
rm -rf "$WORK/src/python/build" "$WORK/src/python"/src/*.egg-info
check "python/VERSION is a link to the repository's VERSION" \
	bash -c "[ \"\$(readlink '$TOP/python/VERSION')\" = ../VERSION ]"
# offline: no network namespace but our own, with nothing in it
off() { unshare -n env -u http_proxy -u https_proxy PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }
check "the builds run with no network at all (unshare -n: lo only, down)" \
	bash -c "[ \"\$(unshare -n ip -o link | wc -l)\" = 1 ] && ! unshare -n ip -o addr | grep -q inet"

# ---- a wheel ----
off "$PY" -m pip wheel --no-build-isolation --no-index --no-deps "$WORK/src/python" \
	-w "$WORK/dist" > "$WORK/wheel.out" 2>&1
W=$WORK/dist/duress-$VERSION-py3-none-any.whl
check "pip wheel, offline: duress-$VERSION-py3-none-any.whl" [ -f "$W" ] || tail -n 5 "$WORK/wheel.out"
check "  it holds the client, the plugin and chaosduress" bash -c \
	"'$PY' -m zipfile -l '$W' | grep -q 'duress/pytest_plugin.py' && '$PY' -m zipfile -l '$W' | grep -q 'chaosduress/actions.py'"
check "  its entry point: pytest11 duress.pytest_plugin = duress.pytest_plugin" bash -c \
	"'$PY' -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read(\"duress-$VERSION.dist-info/entry_points.txt\").decode())' '$W' | grep -A1 -x '\[pytest11\]' | grep -qx 'duress.pytest_plugin = duress.pytest_plugin'"
check "  no test files in it" bash -c "! '$PY' -m zipfile -l '$W' | grep -q fakeagent"

# ---- a virtual environment that sees Debian's pytest ----
V=$WORK/venv
"$PY" -m venv --system-site-packages "$V" > "$WORK/venv.out" 2>&1
off "$V/bin/pip" install --no-build-isolation --no-index "$WORK/src/python" > "$WORK/pip.out" 2>&1
check "pip install --no-build-isolation --no-index ./python into a venv, offline" \
	"$V/bin/python" -c 'import duress, chaosduress.actions, chaosduress.probes' || tail -n 5 "$WORK/pip.out"
check "  duress.__version__ is VERSION's ($VERSION)" \
	bash -c "[ \"\$('$V/bin/python' -c 'import duress; print(duress.__version__)')\" = '$VERSION' ]"
check "  and so is the distribution's" \
	bash -c "[ \"\$('$V/bin/python' -c 'import importlib.metadata as m; print(m.version(\"duress\"))')\" = '$VERSION' ]"
check "  Debian's pytest loads the plugin by itself (--duress-socket in --help)" \
	bash -c "'$V/bin/python' -m pytest --help | grep -q -- '--duress-socket'"
check "  and -p duress.pytest_plugin as well (the entry point's name: loaded once)" \
	bash -c "'$V/bin/python' -m pytest -p duress.pytest_plugin --help | grep -q -- '--duress-socket'"
mkdir -p "$WORK/suite"
cat > "$WORK/suite/test_needs_agent.py" << 'EOF'
def test_uses_the_agent(duress):
    duress.faults()
EOF
( cd "$WORK/suite" && "$V/bin/python" -m pytest -p no:cacheprovider -rs \
	--duress-socket "$WORK/nobody.sock" > out.txt 2>&1 )
rc=$?
check "  with no agent: the test skipped, with the reason (exit $rc)" bash -c \
	"[ $rc = 0 ] && grep -q 'SKIPPED.*no socket at $WORK/nobody.sock' '$WORK/suite/out.txt'"
check "  the header names the agent" grep -q "^duress: agent at unix:$WORK/nobody.sock" "$WORK/suite/out.txt"
off "$V/bin/pip" uninstall -y duress > /dev/null 2>&1
check "  pip uninstall: gone" bash -c "! '$V/bin/python' -c 'import duress' 2> /dev/null"

# ---- the Debian way: pip --break-system-packages (of the wheel above: the
# same install, without building again), into a root of our own ----
R=$WORK/root
off "$PY" -m pip install --break-system-packages --no-index --no-deps --root "$R" "$W" \
	> "$WORK/deb.out" 2>&1
site=$(find "$R" -type d -name dist-packages | head -n 1)
check "pip install --break-system-packages: under /usr/local (${site#"$R"})" \
	bash -c "[ -n '$site' ] && [ -f '$site/duress/client.py' ] && case '${site#"$R"}' in /usr/local/*) ;; *) exit 1;; esac" ||
	tail -n 5 "$WORK/deb.out"
check "  Debian's python3 and pytest find it there (--duress-socket in --help)" \
	bash -c "PYTHONPATH='$site' '$PY' -m pytest --help | grep -q -- '--duress-socket'"
check "  nothing written into apt's own path (/usr/lib/python3/dist-packages)" \
	bash -c "! find '$R' -path '*/usr/lib/python3/dist-packages*' | grep -q ."
