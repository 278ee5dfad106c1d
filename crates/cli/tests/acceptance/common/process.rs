//! `wcheckout` as a child process, for the tests that crash and restart it: commands without
//! the test runner's environment, and a listening `wcheckout serve` that is SIGKILLed and
//! reaped when dropped (printing the end of its log if the test failed).

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wcheckout");
/// What `wcheckout serve` prints on stdout once it accepts connections, before the address.
pub const LISTENING: &str = "wcheckout listening on ";
/// Longest wait for `wcheckout serve` to listen.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a killed process to be reaped.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of the gateway's log shown when a test fails.
const LOG_TAIL: usize = 80;

/// `wcheckout --config FILE ARGS` in `dir`, with none of the runner's `WCHECKOUT*` variables.
pub fn command(dir: &Path, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let inherited = key
            .to_str()
            .is_some_and(|k| k.starts_with("WCHECKOUT") || k == "RUST_LOG");
        if inherited {
            command.env_remove(&key);
        }
    }
    command
}

/// Waits for `child` at most `timeout`.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A listening `wcheckout serve`, SIGKILLed and reaped when dropped.
pub struct Gateway {
    child: Child,
    addr: SocketAddr,
    stderr_path: PathBuf,
}

impl Gateway {
    /// Spawns `serve` (a `wcheckout … serve` command) with its stderr in `stderr_path` and
    /// waits (bounded) for its listening line.
    pub fn spawn(mut serve: Command, stderr_path: PathBuf) -> Gateway {
        let stderr = fs::File::create(&stderr_path).unwrap();
        let mut child = serve
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn wcheckout serve");
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        // Drains stdout for the life of the process, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut gateway = Gateway {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr_path,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.trim().strip_prefix(LISTENING) {
                        gateway.addr = address.parse().unwrap();
                        return gateway;
                    }
                }
                Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout) => panic!(
                    "wcheckout serve did not print `{LISTENING}ADDR` within {READY_TIMEOUT:?}:\n{}",
                    gateway.stderr()
                ),
            }
        }
    }

    /// `wcheckout serve` in `dir` with the variables `env` (a failpoint to stop at, say), its
    /// stderr in `serve-{label}.log`; waits (bounded) for its listening line.
    pub fn serve(
        dir: &Path,
        config: &Path,
        label: impl std::fmt::Display,
        env: &[(&str, &str)],
    ) -> Gateway {
        let mut serve = command(dir, config, &["serve"]);
        serve.envs(env.iter().copied());
        Gateway::spawn(serve, dir.join(format!("serve-{label}.log")))
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits (bounded) until the process printed `line` on stderr.
    pub async fn wait_for_stderr(&mut self, line: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stderr().lines().any(|l| l.trim() == line) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "wcheckout serve exited ({status}) before `{line}`:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no `{line}` within {timeout:?}:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        assert!(
            wait_bounded(&mut self.child, STOP_TIMEOUT).is_some(),
            "the gateway did not die after SIGKILL"
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_bounded(&mut self.child, STOP_TIMEOUT);
        if std::thread::panicking() {
            // The test failed: the end of the gateway's log tells why.
            let log = self.stderr();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
            eprintln!(
                "--- last lines of {} ---\n{tail}",
                self.stderr_path.display()
            );
        }
    }
}
