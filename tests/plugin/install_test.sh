#!/bin/sh
# install_test.sh - `cmake --install` into a temporary prefix, then, as a
# user of the installed package would:
#   1. build a renamed copy of plugins/template with cc and `pkg-config vimo`;
#   2. build plugins/template unchanged with CMake and find_package(vimo);
#   3. run the installed `vimo plugins --json` and a host program built
#      against the installed headers, with VIMO_PLUGIN_PATH = those builds.
# The work folder is made outside the build tree on purpose: a libvimo inside
# the build tree would also search the build tree's plugins.
# usage: install_test.sh CMAKE BUILD_DIR SOURCE_DIR CC PKG_CONFIG [SANITIZER_FLAGS]
set -eu
cmake=$1 build=$2 src=$3 cc=$4 pkgconfig=$5 san=${6:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/vimo_install.XXXXXX")
work=$(cd "$work" && pwd -P)
fail() { echo "install_test: $* (files kept in $work)" >&2; exit 1; }

mkdir -p "$work/mine" "$work/out"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" || fail "cmake --install failed"

pc=$(find "$prefix" -name vimo.pc | head -n 1)
[ -n "$pc" ] || fail "no vimo.pc installed"
export PKG_CONFIG_PATH="$(dirname "$pc")"
cflags=$("$pkgconfig" --cflags vimo)
libs=$("$pkgconfig" --libs vimo)
plugindir=$("$pkgconfig" --variable=plugindir vimo)
libdir=$("$pkgconfig" --variable=libdir vimo)
case "$cflags $libs" in *"$src"*|*"$build"*) fail "pkg-config flags point into the source or build tree: $cflags $libs";; esac
[ -f "$plugindir/encoder_template.so" ] || fail "template plugin not installed in $plugindir"
[ -x "$prefix/bin/vimo" ] || fail "vimo executable not installed"

# 1. A renamed copy, as the README tells a newcomer to do.
sed -e 's/encoder\.template/encoder.mine/' -e 's/VIMO_PLUGIN_DEFINE(encoder_template)/VIMO_PLUGIN_DEFINE(encoder_mine)/' \
    "$src/plugins/template/encoder_template.c" > "$work/mine/encoder_mine.c"
"$cc" -std=c17 -Wall -Wextra -Werror -O2 -fPIC -shared -fvisibility=hidden $san $cflags \
    "$work/mine/encoder_mine.c" $libs -o "$work/out/encoder_mine.so" || fail "pkg-config build of the copy failed"
"$cc" -std=c17 -Wall -Wextra -Werror $san $cflags "$src/tests/plugin/install_host.c" $libs \
    -Wl,-rpath,"$libdir" -o "$work/install_host" || fail "host program build failed"

# 2. The template folder as is, out of tree, through find_package(vimo).
cp -r "$src/plugins/template" "$work/tmpl"
"$cmake" -S "$work/tmpl" -B "$work/tmpl-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$san" > "$work/tmpl-config.log" 2>&1 \
    || { cat "$work/tmpl-config.log"; fail "find_package(vimo) configure failed"; }
"$cmake" --build "$work/tmpl-build" > "$work/tmpl-build.log" 2>&1 \
    || { cat "$work/tmpl-build.log"; fail "find_package(vimo) build failed"; }
[ -f "$work/tmpl-build/plugins/encoder_template.so" ] || fail "vimo_add_plugin did not write plugins/encoder_template.so"

# 3. The installed loader finds the installed plugins by itself ...
unset LD_LIBRARY_PATH || true
real_plugindir=$(cd "$plugindir" && pwd -P)
VIMO_PLUGIN_PATH= "$prefix/bin/vimo" plugins --json > "$work/plugins0.json" || fail "installed vimo plugins failed"
grep -q "\"path\":[[:space:]]*\"$real_plugindir/encoder_template.so\"" "$work/plugins0.json" \
    || fail "the installed vimo does not find $real_plugindir/encoder_template.so"
# ... and VIMO_PLUGIN_PATH comes first.
export VIMO_PLUGIN_PATH="$work/out:$work/tmpl-build/plugins"
"$prefix/bin/vimo" plugins --json > "$work/plugins.json" || fail "installed vimo plugins failed"
grep -q '"id":[[:space:]]*"encoder.mine"' "$work/plugins.json" || fail "encoder.mine not listed"
grep -q "\"path\":[[:space:]]*\"$work/tmpl-build/plugins/encoder_template.so\"" "$work/plugins.json" \
    || fail "the out-of-tree template does not override the installed one"
grep -q "\"winner\":[[:space:]]*\"$work/tmpl-build/plugins/encoder_template.so\"" "$work/plugins.json" \
    || fail "the installed template is not reported as shadowed"
"$work/install_host" encoder.mine "$work/out/" || fail "host could not use encoder.mine"
"$work/install_host" encoder.template "$work/tmpl-build/plugins/" || fail "host could not use encoder.template"
echo "install_test: ok ($prefix)"
rm -rf "$work"
