//! Generates one doc-tested module per guide chapter (and one for the README), so that
//! `cargo test` compiles and runs every `rust` code block of the guide.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let chapters = root.join("book").join("src");
    println!("cargo:rerun-if-changed={}", chapters.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("README.md").display()
    );
    let mut pages: Vec<_> = std::fs::read_dir(&chapters)
        .expect("book/src exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages.push(root.join("README.md"));
    let mut out = String::new();
    for page in pages {
        println!("cargo:rerun-if-changed={}", page.display());
        let stem = page.file_stem().unwrap().to_string_lossy().to_lowercase();
        let name: String = stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        writeln!(
            out,
            "#[doc = include_str!({:?})]\npub mod {name}_md {{}}",
            page.canonicalize().unwrap().display().to_string()
        )
        .unwrap();
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("chapters.rs");
    std::fs::write(dest, out).unwrap();
}
