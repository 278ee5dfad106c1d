//! A local Solana cluster for the devnet and the tests: surfpool's Surfnet, from the npm module
//! `@solana/surfpool-linux-x64-gnu` (the real SVM with the real Token and associated token
//! account programs behind Solana's JSON-RPC), started offline on loopback by `launcher.mjs`
//! with node, and payments made through it with `@solana/web3.js` and `@solana/spl-token`, as a
//! payer's wallet makes them.
//!
//! The node modules are looked for under the workspace root of this build, then the current
//! directory (`npm ci` installs them).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

use crate::address::SolanaAddress;

const LAUNCHER: &str = include_str!("launcher.mjs");

/// The npm package that holds Surfnet.
pub const PACKAGE: &str = "@solana/surfpool-linux-x64-gnu";

/// What the cluster starts with.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    /// One mint per entry, with these decimals.
    pub mints: Vec<MintSpec>,
    /// How many payer wallets to make and fund (when `payer_keys` is empty).
    pub payers: usize,
    /// ed25519 secrets (hex) of the payer wallets, instead of generated ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub payer_keys: Vec<String>,
    /// Base units of every mint each payer and funded key gets.
    pub balance: String,
    /// ed25519 secrets (hex) of keys to fund with SOL and tokens (the hot wallet).
    pub fund: Vec<String>,
}

impl Setup {
    /// Mints of these decimals (at new addresses) and `payers` generated payers holding
    /// `balance` base units of each.
    pub fn new(decimals: &[u8], payers: usize, balance: u64) -> Setup {
        Setup {
            mints: decimals
                .iter()
                .map(|&decimals| MintSpec {
                    decimals,
                    key: None,
                    token_2022: false,
                })
                .collect(),
            payers,
            payer_keys: Vec::new(),
            balance: balance.to_string(),
            fund: Vec::new(),
        }
    }
}

/// A mint to create.
#[derive(Clone, Debug, Serialize)]
pub struct MintSpec {
    /// Its decimals.
    pub decimals: u8,
    /// The ed25519 secret (hex) whose address the mint takes; a new one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Made under the Token-2022 program rather than the Token program.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub token_2022: bool,
}

/// Surfnet could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum SurfnetError {
    /// node or the npm module is missing, or the launcher failed.
    #[error("Surfnet did not start: {0}")]
    Start(String),
    /// A command failed.
    #[error("Surfnet: {0}")]
    Command(String),
}

#[derive(Deserialize)]
struct Ready {
    rpc_url: String,
    ws_url: String,
    mints: Vec<String>,
    payers: Vec<String>,
}

/// A running Surfnet; stopped when dropped (its launcher's stdin closes).
pub struct Surfnet {
    child: Child,
    io: Mutex<(ChildStdin, Lines<BufReader<ChildStdout>>)>,
    /// Its JSON-RPC endpoint.
    pub rpc_url: String,
    /// Its WebSocket endpoint.
    pub ws_url: String,
    /// The mints made at setup, in [`Setup::mints`]' order.
    pub mints: Vec<SolanaAddress>,
    /// The payer wallets.
    pub payers: Vec<SolanaAddress>,
}

impl std::fmt::Debug for Surfnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Surfnet")
            .field("rpc_url", &self.rpc_url)
            .finish_non_exhaustive()
    }
}

/// Where `node_modules` holding Surfnet is: this build's workspace root, or the current
/// directory.
pub fn modules_root() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [Some(workspace), std::env::current_dir().ok()];
    candidates.into_iter().flatten().find(|root| {
        root.join("node_modules")
            .join(PACKAGE)
            .join("package.json")
            .is_file()
    })
}

fn parse(text: &str) -> Result<SolanaAddress, SurfnetError> {
    SolanaAddress::parse(text).map_err(|e| SurfnetError::Start(format!("{text}: {e}")))
}

impl Surfnet {
    /// Starts a cluster set up as `setup` says.
    pub async fn start(setup: &Setup) -> Result<Surfnet, SurfnetError> {
        let root = modules_root().ok_or_else(|| {
            SurfnetError::Start(format!("node_modules/{PACKAGE} not found (run `npm ci`)"))
        })?;
        let setup = serde_json::to_string(setup).map_err(|e| SurfnetError::Start(e.to_string()))?;
        let mut child = Command::new("node")
            .args(["--input-type=module", "-e", LAUNCHER])
            .env("WCHECKOUT_SURFNET_SETUP", setup)
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SurfnetError::Start(format!("node: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| SurfnetError::Start("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SurfnetError::Start("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next_line()
            .await
            .map_err(|e| SurfnetError::Start(e.to_string()))?
            .ok_or_else(|| SurfnetError::Start("the launcher exited".into()))?;
        let ready: Ready = serde_json::from_str(&line)
            .map_err(|_| SurfnetError::Start(format!("the launcher said {line:?}")))?;
        Ok(Surfnet {
            child,
            io: Mutex::new((stdin, lines)),
            rpc_url: ready.rpc_url,
            ws_url: ready.ws_url,
            mints: ready
                .mints
                .iter()
                .map(|m| parse(m))
                .collect::<Result<_, _>>()?,
            payers: ready
                .payers
                .iter()
                .map(|p| parse(p))
                .collect::<Result<_, _>>()?,
        })
    }

    async fn command(&self, command: Value) -> Result<Value, SurfnetError> {
        let mut io = self.io.lock().await;
        let (stdin, lines) = &mut *io;
        let line = format!("{command}\n");
        stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| SurfnetError::Command(e.to_string()))?;
        let answer = lines
            .next_line()
            .await
            .map_err(|e| SurfnetError::Command(e.to_string()))?
            .ok_or_else(|| SurfnetError::Command("the launcher exited".into()))?;
        let answer: Value =
            serde_json::from_str(&answer).map_err(|e| SurfnetError::Command(e.to_string()))?;
        match answer.get("error") {
            Some(error) => Err(SurfnetError::Command(error.to_string())),
            None => Ok(answer),
        }
    }

    /// Payer `payer` sends `amount` base units of `mint` to the owner `to` (its associated
    /// account created if missing); the signature, once confirmed.
    pub async fn pay(
        &self,
        payer: usize,
        mint: &SolanaAddress,
        to: &str,
        amount: u64,
    ) -> Result<String, SurfnetError> {
        self.send(payer, mint, to, amount, false).await
    }

    /// A transfer from payer `payer` to `to` that fails on chain (more than the payer holds,
    /// sent without preflight): it lands in a block as a failed transaction; its signature.
    pub async fn pay_and_fail(
        &self,
        payer: usize,
        mint: &SolanaAddress,
        to: &str,
    ) -> Result<String, SurfnetError> {
        self.send(payer, mint, to, 0, true).await
    }

    async fn send(
        &self,
        payer: usize,
        mint: &SolanaAddress,
        to: &str,
        amount: u64,
        fail: bool,
    ) -> Result<String, SurfnetError> {
        let pay = json!({"payer": payer, "mint": mint.to_string(), "to": to,
                         "amount": amount.to_string(), "fail": fail});
        let answer = self.command(json!({ "pay": pay })).await?;
        answer["signature"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SurfnetError::Command(format!("no signature in {answer}")))
    }

    /// The highest slot at `commitment` (`"finalized"` or `"confirmed"`).
    pub async fn slot(&self, commitment: &str) -> Result<u64, SurfnetError> {
        let answer = self.command(json!({ "slot": commitment })).await?;
        answer["slot"]
            .as_u64()
            .ok_or_else(|| SurfnetError::Command(format!("no slot in {answer}")))
    }

    /// Stops the node and waits for it.
    pub async fn stop(mut self) {
        drop(self.io);
        let _ = self.child.wait().await;
    }
}
