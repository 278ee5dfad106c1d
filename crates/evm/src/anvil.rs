//! A local anvil node (Foundry) for the devnet and tests.
//!
//! The binary comes from the npm package `@foundry-rs/anvil` pinned in the repository's
//! `package.json` (`npm ci` installs it under `node_modules/`); nothing is downloaded at run time.
//! The node is killed when its [`Anvil`] handle is dropped.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The mnemonic of anvil's default dev accounts. Public knowledge: never hold real funds with it.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Addresses of anvil's ten default dev accounts (`m/44'/60'/0'/0/i` of [`DEV_MNEMONIC`]).
pub const DEV_ACCOUNTS: [&str; 10] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
];

/// Private keys of [`DEV_ACCOUNTS`], in the same order. Well known: for local chains only.
pub const DEV_PRIVATE_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// anvil's default chain id.
pub const DEFAULT_CHAIN_ID: u64 = 31337;

/// Environment variable naming the anvil binary explicitly.
pub const ANVIL_ENV: &str = "WCHECKOUT_ANVIL";

/// Where `npm ci` puts the binary, relative to the directory holding `package.json`.
pub const NPM_BINARY_PATH: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// Longest wait for anvil to report its listening address (loading a big state file is slow).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for anvil to write its state file and exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start anvil.
#[derive(Clone, Debug)]
pub struct AnvilOptions {
    /// Interface to listen on.
    pub host: String,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Mine a block at this interval instead of one per transaction.
    pub block_time: Option<Duration>,
    /// Load the chain from this file when it exists, and write it back on a graceful stop.
    pub state_file: Option<PathBuf>,
    /// The binary; `None` searches the usual places (see [`find_binary`]).
    pub binary: Option<PathBuf>,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        AnvilOptions {
            host: "127.0.0.1".into(),
            port: 0,
            chain_id: DEFAULT_CHAIN_ID,
            block_time: None,
            state_file: None,
            binary: None,
        }
    }
}

/// Why anvil could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// No binary at `$WCHECKOUT_ANVIL` (when set) or in either `node_modules/`.
    #[error("{}", not_found_message(.env, .searched))]
    NotFound {
        /// `$WCHECKOUT_ANVIL`, when set (it overrides the other places).
        env: Option<PathBuf>,
        /// Every path tried, in order.
        searched: Vec<PathBuf>,
    },
    /// The binary could not be executed.
    #[error("cannot run anvil at {}: {source}", .binary.display())]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Something else already listens on the port.
    #[error(
        "port {port} on {host} is already in use (another devnet or node?); choose another port, or 0 for a free one"
    )]
    PortInUse {
        /// The interface.
        host: String,
        /// The port.
        port: u16,
    },
    /// anvil exited before listening.
    #[error("anvil exited before it was ready: {stderr}")]
    Exited {
        /// What it wrote to stderr.
        stderr: String,
    },
    /// anvil did not report a listening address in time.
    #[error("anvil did not start listening within {0:?}")]
    Timeout(Duration),
}

fn not_found_message(env: &Option<PathBuf>, searched: &[PathBuf]) -> String {
    let env_part = match env {
        Some(path) => format!("${ANVIL_ENV} is {}, which is not a file", path.display()),
        None => format!("${ANVIL_ENV} is unset"),
    };
    let npm_paths = searched
        .iter()
        .filter(|path| env.as_ref() != Some(*path))
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>();
    let npm_part = if npm_paths.is_empty() {
        format!(" (it overrides {NPM_BINARY_PATH} in the workspace and the current directory)")
    } else {
        format!(" and there is no {}", npm_paths.join(" nor "))
    };
    format!(
        "the anvil binary was not found: {env_part}{npm_part}. Run `npm ci` at the repository \
         root (it installs @foundry-rs/anvil pinned in package.json), or set ${ANVIL_ENV} to the binary"
    )
}

/// The places searched for the binary, in order: `$WCHECKOUT_ANVIL` alone when it is set;
/// otherwise `node_modules/` at the workspace root this crate was built in, then in the current
/// directory.
pub fn binary_candidates() -> Vec<PathBuf> {
    if let Some(explicit) = env_binary() {
        return vec![explicit];
    }
    let workspace_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = vec![workspace_root.join(NPM_BINARY_PATH)];
    if let Ok(current) = std::env::current_dir() {
        candidates.push(current.join(NPM_BINARY_PATH));
    }
    candidates
}

fn env_binary() -> Option<PathBuf> {
    std::env::var_os(ANVIL_ENV)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The first existing file among [`binary_candidates`].
pub fn find_binary() -> Result<PathBuf, AnvilError> {
    let searched = binary_candidates();
    match searched.iter().find(|path| path.is_file()) {
        Some(found) => Ok(found.canonicalize().unwrap_or_else(|_| found.clone())),
        None => Err(AnvilError::NotFound {
            env: env_binary(),
            searched,
        }),
    }
}

/// A running anvil node, stopped when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    address: SocketAddr,
    chain_id: u64,
    graceful_stop: bool,
}

impl Anvil {
    /// Starts anvil and waits until it listens.
    pub fn spawn(options: &AnvilOptions) -> Result<Anvil, AnvilError> {
        let binary = match &options.binary {
            Some(binary) => binary.clone(),
            None => find_binary()?,
        };
        let mut child = command(&binary, options)
            .spawn()
            .map_err(|source| AnvilError::Spawn {
                binary: binary.clone(),
                source,
            })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (listening, stderr) = watch_output(stdout, stderr);
        let ready = listening.recv_timeout(START_TIMEOUT);
        let address = match ready {
            Ok(address) => address,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                stop_child(&mut child, false);
                return Err(AnvilError::Timeout(START_TIMEOUT));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                stop_child(&mut child, false);
                let stderr = stderr.join().unwrap_or_default();
                return Err(start_failure(options, stderr));
            }
        };
        Ok(Anvil {
            child,
            address,
            chain_id: options.chain_id,
            graceful_stop: options.state_file.is_some(),
        })
    }

    /// `http://HOST:PORT`.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `ws://HOST:PORT` (anvil serves WebSocket on the same port).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.address)
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The chain id it was started with.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the node now; with a state file, gracefully so that it writes the file.
    pub fn stop(mut self) {
        stop_child(&mut self.child, self.graceful_stop);
    }

    /// Kills the node at once, so that it does not write its state file (to drop a chain
    /// whose setup failed halfway).
    pub fn kill(mut self) {
        stop_child(&mut self.child, false);
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        stop_child(&mut self.child, self.graceful_stop);
    }
}

fn command(binary: &Path, options: &AnvilOptions) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--host")
        .arg(&options.host)
        .arg("--port")
        .arg(options.port.to_string())
        .arg("--chain-id")
        .arg(options.chain_id.to_string());
    if let Some(block_time) = options.block_time {
        command
            .arg("--block-time")
            .arg(block_time.as_secs_f64().to_string());
    }
    if let Some(state_file) = &options.state_file {
        command.arg("--state").arg(state_file);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A process group of its own: Ctrl-C in a terminal goes to the foreground group, and the
    // node must outlive what watches it until that has stopped (then `stop` ends the node).
    command.process_group(0);
    command
}

/// Reads anvil's stdout on a thread: the `Listening on HOST:PORT` line goes to the channel and
/// the rest is drained (a full pipe would block the node). Stderr is collected on another.
fn watch_output(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
) -> (mpsc::Receiver<SocketAddr>, thread::JoinHandle<String>) {
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = stdout {
        thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = listening_address(&line)
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(address);
                }
            }
        });
    }
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text.trim().to_owned()
    });
    (receiver, stderr)
}

/// Parses `Listening on 127.0.0.1:8545`.
fn listening_address(line: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix("Listening on ")?
        .trim()
        .parse()
        .ok()
}

fn start_failure(options: &AnvilOptions, stderr: String) -> AnvilError {
    if stderr.contains("Address already in use") {
        AnvilError::PortInUse {
            host: options.host.clone(),
            port: options.port,
        }
    } else {
        AnvilError::Exited { stderr }
    }
}

/// Ends the process: SIGTERM first when it must write its state, SIGKILL otherwise or when it
/// does not exit in time; then reaps it.
fn stop_child(child: &mut Child, graceful: bool) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if graceful && terminate(child.id()) && exited_within(child, STOP_TIMEOUT) {
        return;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGTERM through the system's `kill` command (no `unsafe` signal call needed).
fn terminate(pid: u32) -> bool {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn exited_within(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        assert_eq!(
            listening_address("Listening on 127.0.0.1:8545"),
            Some("127.0.0.1:8545".parse().unwrap())
        );
        assert_eq!(
            listening_address("  Listening on 0.0.0.0:1\n").map(|a| a.port()),
            Some(1)
        );
        assert_eq!(listening_address("Listening on nowhere"), None);
        assert_eq!(listening_address("Private Keys"), None);
    }

    #[test]
    fn the_dev_keys_match_the_dev_accounts() {
        use alloy::signers::local::PrivateKeySigner;
        for (key, account) in DEV_PRIVATE_KEYS.iter().zip(DEV_ACCOUNTS) {
            let signer: PrivateKeySigner = key.parse().unwrap();
            assert_eq!(signer.address().to_checksum(None), account);
        }
    }

    #[test]
    fn the_dev_accounts_come_from_the_dev_mnemonic() {
        use secrecy::SecretString;
        let keys = crate::keys::deposit_account(&SecretString::from(DEV_MNEMONIC)).unwrap();
        for (index, account) in DEV_ACCOUNTS.iter().enumerate() {
            let derived = keys.derive(index as u64).unwrap();
            assert_eq!(derived.to_checksum(), *account);
        }
    }

    #[test]
    fn a_missing_binary_names_every_place_and_npm_ci() {
        let searched = vec![PathBuf::from("/ws/anvil"), PathBuf::from("/cwd/anvil")];
        let unset = AnvilError::NotFound {
            env: None,
            searched,
        }
        .to_string();
        assert!(unset.contains("$WCHECKOUT_ANVIL is unset"), "{unset}");
        assert!(unset.contains("/ws/anvil nor /cwd/anvil"), "{unset}");
        assert!(unset.contains("npm ci"), "{unset}");
        let wrong = AnvilError::NotFound {
            env: Some(PathBuf::from("/x/anvil")),
            searched: vec![PathBuf::from("/x/anvil")],
        }
        .to_string();
        assert!(wrong.contains("/x/anvil, which is not a file"), "{wrong}");
        assert!(wrong.contains("npm ci"), "{wrong}");
    }
}
