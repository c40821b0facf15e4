//! Replays every file of `fuzz/corpus/<target>/` (seeds, and inputs that once crashed) through the fuzz
//! harnesses of `sockscope::fuzzing`, on stable: the corpus doubles as a regression suite.

use std::path::Path;

use sockscope::fuzzing::TARGETS;

#[test]
fn every_corpus_file_passes_its_harness() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, harness) in TARGETS {
        let dir = corpus.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name}: no seeds in {}", dir.display());
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if let Err(e) = std::panic::catch_unwind(|| harness(&data)) {
                panic!("{} fails its harness: {e:?}", f.display());
            }
        }
    }
}

#[test]
fn every_harness_has_a_fuzz_target() {
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (name, _) in TARGETS {
        let t = targets.join(format!("{name}.rs"));
        let src = std::fs::read_to_string(&t).unwrap_or_else(|e| panic!("{}: {e}", t.display()));
        assert!(src.contains(&format!("sockscope::fuzzing::{name}(")), "{} runs another harness", t.display());
    }
}
