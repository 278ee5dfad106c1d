//! The TRON node stand-in for tests and the devnet: `crates/tron/standin/tron-standin.mjs`, run by
//! `node` in front of an anvil node. It serves the `/wallet/*` calls of [`crate::node`] and
//! proxies `/jsonrpc` to anvil, on loopback only. It needs `node` and tronweb
//! (`npm ci` at the workspace root installs tronweb beside anvil). The process is killed when
//! its [`Standin`] handle is dropped. docs/chains.md says what it models and what it does not.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// What one `eth_getLogs` may span and answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// Most blocks between `fromBlock` and `toBlock` (java-tron: `maxBlockRange`).
    pub blocks: u64,
    /// Most logs in one answer (java-tron: `LogBlockQuery.MAX_RESULT`).
    pub results: u32,
}

impl LogLimits {
    /// java-tron's defaults: 5,000 blocks, 10,000 logs.
    pub const JAVA_TRON: LogLimits = LogLimits {
        blocks: 5_000,
        results: 10_000,
    };
}

/// Longest wait for the stand-in to listen (node loads tronweb first).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the stand-in could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    /// `node` could not be run.
    #[error("cannot run node for the TRON stand-in: {0}")]
    Spawn(std::io::Error),
    /// It exited or closed its output before listening (see its stderr).
    #[error("the TRON stand-in exited before it listened")]
    Exited,
    /// It did not listen in time.
    #[error("the TRON stand-in did not listen within {0:?}")]
    Timeout(Duration),
}

/// A running stand-in, stopped when dropped.
#[derive(Debug)]
pub struct Standin {
    child: Child,
    url: String,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Standin {
    /// The script.
    pub fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("standin/tron-standin.mjs")
    }

    /// Whether `node` runs and tronweb is installed in the workspace's `node_modules`.
    pub fn tools_present() -> bool {
        let tronweb = workspace_root().join("node_modules/tronweb/package.json");
        let node = Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        node && tronweb.is_file()
    }

    /// Starts the stand-in in front of the anvil node at `anvil_rpc_url` (`http://127.0.0.1:PORT`)
    /// on a free loopback port, and waits until it listens.
    pub fn spawn(anvil_rpc_url: &str) -> Result<Standin, StandinError> {
        Standin::spawn_with_log_limits(anvil_rpc_url, LogLimits::JAVA_TRON)
    }

    /// Like [`Standin::spawn`], refusing an `eth_getLogs` beyond `limits` as java-tron refuses
    /// one beyond its own (smaller limits test the same refusals cheaply).
    pub fn spawn_with_log_limits(
        anvil_rpc_url: &str,
        limits: LogLimits,
    ) -> Result<Standin, StandinError> {
        let mut child = Command::new("node")
            .arg(Standin::script())
            .arg("--anvil")
            .arg(anvil_rpc_url)
            .arg("--max-log-blocks")
            .arg(limits.blocks.to_string())
            .arg("--max-log-results")
            .arg(limits.results.to_string())
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(StandinError::Spawn)?;
        let (sender, receiver) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            // The first line names the address; the rest is drained so that a full pipe never
            // blocks the stand-in.
            thread::spawn(move || {
                let mut sender = Some(sender);
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let (Some(url), Some(sender)) = (listening_url(&line), sender.take()) {
                        let _ = sender.send(url);
                    }
                }
            });
        }
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(url) => Ok(Standin { child, url }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(match error {
                    mpsc::RecvTimeoutError::Timeout => StandinError::Timeout(START_TIMEOUT),
                    mpsc::RecvTimeoutError::Disconnected => StandinError::Exited,
                })
            }
        }
    }

    /// The HTTP API's base, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The Ethereum-compatible JSON-RPC, as java-tron serves it: `{url}/jsonrpc`.
    pub fn jsonrpc_url(&self) -> String {
        format!("{}/jsonrpc", self.url)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `listening http://127.0.0.1:PORT`.
fn listening_url(line: &str) -> Option<String> {
    let url = line.trim().strip_prefix("listening ")?;
    url.starts_with("http://127.0.0.1:").then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        assert_eq!(
            listening_url("listening http://127.0.0.1:4000\n").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(listening_url("listening http://0.0.0.0:4000"), None);
        assert_eq!(listening_url("settling abc: failed"), None);
    }

    #[test]
    fn the_script_is_in_the_crate() {
        assert!(Standin::script().is_file());
    }
}
