//! Runs every golden script in `impl/testdata/*.txt` and compares what each step prints with
//! the file. `REWRITE=1 cargo test -p raft-impl --test interaction` rewrites the files instead.

use std::path::PathBuf;

use raft_impl::testing::script;

#[test]
fn golden_interaction_scripts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("impl/testdata exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 4, "expected the golden scripts in {dir:?}");
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut failed = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("readable script");
        let got = script::run(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if rewrite {
            std::fs::write(path, &got).expect("writable script");
        } else if got != text {
            let first = got
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(text.lines().count()));
            failed.push(format!(
                "{}: line {}: expected {:?}, got {:?}",
                path.display(),
                first + 1,
                text.lines().nth(first).unwrap_or("<end>"),
                got.lines().nth(first).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "golden scripts differ (REWRITE=1 regenerates):\n{}",
        failed.join("\n")
    );
}

#[test]
fn a_script_with_a_wrong_expectation_fails() {
    let script = "> cluster 1\n1 Leader term=9 vote=- commit=0 log=[]\n\n";
    let got = script::run(script).unwrap();
    assert_ne!(
        got, script,
        "the runner must regenerate, not echo, the expected lines"
    );
    assert!(got.contains("1 Follower term=0"));
}

#[test]
fn a_bad_command_is_an_error_naming_it() {
    let err = script::run("> cluster 3\n> deliver 1->2\n").unwrap_err();
    assert!(
        err.contains("deliver 1->2") && err.contains("no message"),
        "{err}"
    );
}
