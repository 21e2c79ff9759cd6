//! Writes the damaged-dump corpus (see `src/builder/damaged.rs`) and its manifest.
//!
//!   cargo run --example make-damaged-corpus [-- OUT_DIR]     # default: tests/damaged
//!
//! `tests/damaged_corpus.rs` checks the committed corpus against the manifest, and that
//! this generator still writes exactly the committed bytes.

use std::path::PathBuf;

use xendump_gdbserver::builder::damaged::{damaged_corpus, manifest};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("tests/damaged"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    // Remove cases that no longer exist.
    for entry in std::fs::read_dir(&out)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "core") {
            std::fs::remove_file(path)?;
        }
    }
    let cases = damaged_corpus();
    let mut total = 0;
    for c in &cases {
        std::fs::write(out.join(format!("{}.core", c.name)), &c.bytes)?;
        total += c.bytes.len();
    }
    std::fs::write(out.join("MANIFEST"), manifest(&cases))?;
    println!(
        "wrote {} damaged dumps ({} KiB) and MANIFEST to {}",
        cases.len(),
        total / 1024,
        out.display()
    );
    Ok(())
}
