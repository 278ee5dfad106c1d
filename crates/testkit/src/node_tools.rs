//! The chains' own JavaScript tools (tronweb, @solana/web3.js, surfpool's Surfnet, anvil), which
//! `npm ci` installs under the workspace root: whether they are here, and a script's answers.
//!
//! Without them a test is skipped with a message on stderr, unless `WCHECKOUT_REQUIRE_TOOLS=1`
//! (set by CI) turns the skip into a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::Value;

/// The workspace root, where `node_modules` is.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `node` runs.
pub fn node_runs() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether `node` and each npm package of `packages` are here and `also` holds (another tool
/// the test needs, anvil say). If not, says that `what` is skipped, or fails under
/// `WCHECKOUT_REQUIRE_TOOLS=1`.
pub fn tools_available(what: &str, packages: &[&str], also: bool) -> bool {
    let root = workspace_root();
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| {
            !root
                .join("node_modules")
                .join(package)
                .join("package.json")
                .is_file()
        })
        .collect();
    let present = also && missing.is_empty() && node_runs();
    if !present {
        let needs = format!(
            "node, the npm packages {packages:?} (missing: {missing:?}) and the tools it names (npm ci at the workspace root)"
        );
        assert!(
            std::env::var("WCHECKOUT_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "WCHECKOUT_REQUIRE_TOOLS=1 but {what} cannot run: it needs {needs}"
        );
        eprintln!("SKIPPED: {what} needs {needs}");
    }
    present
}

/// Runs `script` with node at the workspace root, `requests` as a JSON array on its stdin; the
/// JSON array it prints, one answer per request.
pub fn node_answers(script: &Path, requests: &[Value]) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let input = serde_json::to_vec(requests).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answers.len(), requests.len());
    answers
}

/// A random generator whose seed is printed, so that a failure can be replayed.
pub fn replayable_rng() -> (StdRng, u64) {
    let seed = rand::rngs::OsRng.next_u64();
    eprintln!("seed {seed}");
    (StdRng::seed_from_u64(seed), seed)
}
