#!/usr/bin/env python3
"""Build and run the README's "Use it from Rust tests" example in a crate of its own (CI runs
this), with the README's own `[dev-dependencies]` lines: the git line is pointed at this checkout
by path (the form the README gives as the alternative), nothing else is changed. The crate uses
the workspace's Cargo.lock, so it builds the versions CI tests.

Usage: scripts/readme_rust_example.py
"""

import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    start = readme.index("\n## Use it from Rust tests")
    section = readme[start:readme.index("\n## ", start + 5)]
    toml = re.findall(r"```toml\n(.*?)```", section, re.S)
    rust = re.findall(r"```rust\n(.*?)```", section, re.S)
    if len(toml) != 1 or len(rust) != 1:
        sys.exit("readme-rust-example: the section needs one ```toml and one ```rust block")
    deps, n = re.subn(r'(?m)^kling-mock = \{ git = "[^"]*" \}.*$',
                      f'kling-mock = {{ path = "{os.path.join(REPO, "mock-server")}" }}', toml[0])
    if n != 1 or "[dev-dependencies]" not in deps:
        sys.exit("readme-rust-example: no `[dev-dependencies]` with a `kling-mock = { git = ... }` line")
    crate = os.path.join(REPO, "target", "readme-rust-example")
    shutil.rmtree(os.path.join(crate, "tests"), ignore_errors=True)
    os.makedirs(os.path.join(crate, "src"), exist_ok=True)
    os.makedirs(os.path.join(crate, "tests"), exist_ok=True)
    with open(os.path.join(crate, "Cargo.toml"), "w") as f:
        f.write('[package]\nname = "readme-rust-example"\nversion = "0.0.0"\nedition = "2024"\n'
                'publish = false\n\n# Not a member of the kling-mock workspace.\n[workspace]\n\n'
                + deps)
    open(os.path.join(crate, "src", "lib.rs"), "w").close()
    with open(os.path.join(crate, "tests", "readme.rs"), "w") as f:
        f.write(rust[0])
    shutil.copy(os.path.join(REPO, "Cargo.lock"), os.path.join(crate, "Cargo.lock"))
    r = subprocess.run(["cargo", "test", "--manifest-path", os.path.join(crate, "Cargo.toml")],
                       env={**os.environ, "CARGO_TARGET_DIR": os.path.join(crate, "target")})
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
