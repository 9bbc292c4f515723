# source-copy.sh - sourced by check-sanitize.sh and fuzz.sh: a copy of the
# source tree to configure and build in, since a tree configured in place
# refuses a second (VPATH) configuration.
#   qkv_source_copy TOP DEST   copy TOP's files (in a git checkout: tracked
#                              and untracked-but-not-ignored; else all but
#                              the _sanitize/_fuzz build folders) into DEST,
#                              only those newer than DEST's; bootstrap DEST
#                              if it has no configure script.
qkv_source_copy() {
    mkdir -p "$2"
    if git -C "$1" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$1" && git ls-files -z -c -o --exclude-standard | xargs -0 cp -u --parents -t "$2")
    else
        (cd "$1" && find . \( -path ./_sanitize -o -path ./_fuzz \) -prune -o -type f -print0 |
            xargs -0 cp -u --parents -t "$2")
    fi
    [ -x "$2/configure" ] || (cd "$2" && autoreconf -fi >/dev/null)
}
