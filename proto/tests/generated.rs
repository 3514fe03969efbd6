//! The committed wire code (`src/swim.v1.rs`) is what prost generates from
//! `swim.proto` today.
//!
//! Building `swim-proto` runs no code generator, so an embedder's tree has
//! neither prost-build nor protox. This test holds the generator instead: it
//! compiles `swim.proto` with protox, generates the Rust code with the
//! configuration below into a scratch directory, and compares it with the
//! committed file byte for byte. After editing `swim.proto` (or upgrading
//! prost), run
//!
//! ```text
//! SWIM_PROTO_BLESS=1 cargo test -p swim-proto --test generated
//! ```
//!
//! to rewrite the committed file, then review and commit the diff.

use std::path::{Path, PathBuf};

/// The committed file, relative to the crate root.
const COMMITTED: &str = "src/swim.v1.rs";

/// The command that rewrites the committed file.
const BLESS: &str = "SWIM_PROTO_BLESS=1 cargo test -p swim-proto --test generated";

fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Generates the code from `swim.proto` into `out` and returns it.
fn generate(out: &Path) -> String {
    let root = crate_root();
    let descriptors = protox::compile([root.join("swim.proto")], [root])
        .unwrap_or_else(|e| panic!("swim.proto does not compile: {e:?}"));
    prost_build::Config::new()
        .out_dir(out)
        .bytes(["."])
        // A key to install travels in `KeyOp.key`: its `Debug` (in lib.rs)
        // shows the key's length, never its bytes.
        .skip_debug(["swim.v1.KeyOp"])
        .compile_fds(descriptors)
        .unwrap_or_else(|e| panic!("prost-build failed: {e}"));
    let file = out.join("swim.v1.rs");
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}

/// A scratch directory of its own under Cargo's temporary directory for
/// integration tests, emptied first.
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("swim-proto-generated");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The first line where two texts differ (1-based), with both versions.
fn first_difference(committed: &str, generated: &str) -> String {
    let mut a = committed.lines();
    let mut b = generated.lines();
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (None, None) => return "the files differ only in line endings".into(),
            (x, y) => {
                return format!(
                    "first difference at line {line}:\n  committed: {}\n  generated: {}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>")
                )
            }
        }
    }
}

#[test]
fn committed_code_matches_swim_proto() {
    let generated = generate(&scratch());
    let path = crate_root().join(COMMITTED);
    if std::env::var_os("SWIM_PROTO_BLESS").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        committed == generated,
        "{COMMITTED} is not what swim.proto generates ({}).\nRegenerate it with:\n\n    {BLESS}\n",
        first_difference(&committed, &generated)
    );
}
