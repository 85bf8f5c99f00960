#!/usr/bin/env bash
# Install Debian unstable's CPython of a version this Debian release does not package (3.14 on
# bookworm), for machines where uv cannot download one. Usage: tools/debian_python.sh 3.14
#
# apt resolves the interpreter's packages against unstable in a private state folder (the
# system's packages are untouched) and checks them with the system's archive keyring. The
# packages are unpacked into /opt/python<version> with unstable's own C library, and the binary
# is pointed at that library's loader, so it runs on an older system. /usr/local/bin/python<v>
# links to it, where uv and pyenv-less PATHs find it. Needs root (as .ci/run runs).
set -euo pipefail

version="${1:?usage: $0 <major.minor>}"
target="/opt/python${version}"
link="/usr/local/bin/python${version}"

if "$link" -c 'import ssl, sqlite3, venv' >/dev/null 2>&1; then
    exit 0
fi
command -v patchelf >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null
}

state="$(mktemp -d)"
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/archives/partial"
touch "$state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
    >"$state/sources.list"
apt_options=(
    -o "Dir::Etc::sourcelist=$state/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status"
    -o "Dir::Cache::archives=$state/archives" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
)
apt-get "${apt_options[@]}" update -qq
# An empty status file: apt fetches the whole closure, C library included.
apt-get "${apt_options[@]}" install -y -qq --download-only \
    "python${version}" "python${version}-venv" >/dev/null

rm -rf "$target"
mkdir -p "$target"
for package in "$state"/archives/*.deb; do
    dpkg-deb -x "$package" "$target"
done
libraries="$target/usr/lib/x86_64-linux-gnu"
# DT_RPATH (not RUNPATH) so the extension modules' own libraries come from there too.
patchelf --set-interpreter "$libraries/ld-linux-x86-64.so.2" --force-rpath \
    --set-rpath "$libraries" "$target/usr/bin/python${version}"
ln -sf "$target/usr/bin/python${version}" "$link"
"$link" -c 'import ssl, sqlite3, venv, sys; print("Python", sys.version.split()[0], "in", sys.prefix)'
