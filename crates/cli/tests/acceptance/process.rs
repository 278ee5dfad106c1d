//! Black-box tests of the real `wcheckout` binary: every test runs it as child processes
//! (`serve`, `app …`, `check-config`, `call`, `sign`) with a working directory and environment
//! of its own, and talks to the server over HTTP like an integrator would.
//!
//! Every wait is bounded and every server is killed when its handle is dropped, so a failing
//! test never leaves a process behind or hangs the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wcheckout_client::{Client, ClientError, Credentials};
use wcheckout_testkit::{TempDir, free_port, fresh_postgres, fresh_sqlite};

const BIN: &str = env!("CARGO_BIN_EXE_wcheckout");
/// The anvil mnemonic.
const MNEMONIC: &str = "test test test test test test test test test test test junk";
/// 32 bytes as 64 hex digits.
const MASTER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const LISTENING: &str = "wcheckout listening on ";
/// Longest a server may take to print its listening line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest an operator command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a server may take to exit after SIGTERM or SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// A working directory and the `WCHECKOUT__*` variables a child runs with. Nothing of the
/// test runner's own `WCHECKOUT*` or `RUST_LOG` variables leaks into the child.
#[derive(Clone)]
struct Env {
    dir: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    /// No configuration at all.
    fn bare(dir: &Path) -> Env {
        Env {
            dir: dir.to_owned(),
            vars: Vec::new(),
        }
    }

    /// An ephemeral loopback port and fixed keys.
    fn fixed(dir: &Path) -> Env {
        Env::bare(dir)
            .with("WCHECKOUT__SERVER__LISTEN", "127.0.0.1:0")
            .with("WCHECKOUT__KEYS__SEED", MNEMONIC)
            .with("WCHECKOUT__KEYS__MASTER_KEY", MASTER_KEY)
    }

    fn with(mut self, key: &str, value: &str) -> Env {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_owned(), value.to_owned()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            let inherited = key
                .to_str()
                .is_some_and(|k| k.starts_with("WCHECKOUT") || k == "RUST_LOG");
            if inherited {
                command.env_remove(&key);
            }
        }
        command.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }
}

/// Waits for `child` at most `timeout`.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
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

fn read_all(mut reader: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// What a finished command printed.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `wcheckout ARGS` to completion (killed and failed after `timeout`).
fn run_with(env: &Env, args: &[&str], stdin: Option<&str>, timeout: Duration) -> Ran {
    let mut command = env.command(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("spawn wcheckout");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut pipe, text.as_bytes()).unwrap();
    }
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let Some(status) = wait_bounded(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "`wcheckout {}` did not finish within {timeout:?}",
            args.join(" ")
        );
    };
    Ran {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn run(env: &Env, args: &[&str]) -> Ran {
    run_with(env, args, None, COMMAND_TIMEOUT)
}

/// Runs `wcheckout ARGS`, which must succeed; returns its stdout.
fn run_ok(env: &Env, args: &[&str]) -> String {
    let ran = run(env, args);
    assert!(
        ran.status.success(),
        "`wcheckout {}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        ran.status,
        ran.stdout,
        ran.stderr
    );
    ran.stdout
}

/// A child process killed (SIGKILL) and reaped when dropped, with its stderr in a file.
struct Process {
    child: Child,
    stderr_path: PathBuf,
    _logs: TempDir,
}

impl Process {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_bounded(&mut self.child, STOP_TIMEOUT);
    }
}

/// A `wcheckout serve` that has been spawned but may not be listening yet.
struct Starting {
    process: Process,
    stdout: Receiver<String>,
    spawned: Instant,
}

/// Spawns `wcheckout serve` in `env`; stdout lines go to a channel, stderr to a file.
fn spawn_server(env: &Env) -> Starting {
    let logs = TempDir::new();
    let stderr_path = logs.path.join("stderr.log");
    let stderr_file = fs::File::create(&stderr_path).unwrap();
    let spawned = Instant::now();
    let mut child = env
        .command(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr_file))
        .spawn()
        .expect("spawn wcheckout serve");
    let stdout = child.stdout.take().unwrap();
    let (lines, stdout_lines) = mpsc::channel();
    // Keeps draining stdout for the life of the process, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    Starting {
        process: Process {
            child,
            stderr_path,
            _logs: logs,
        },
        stdout: stdout_lines,
        spawned,
    }
}

impl Starting {
    /// Waits (bounded) for `wcheckout listening on ADDR`.
    fn wait_ready(mut self) -> Result<Server, String> {
        let deadline = self.spawned + READY_TIMEOUT;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.trim().strip_prefix(LISTENING) {
                        let addr = address
                            .parse()
                            .map_err(|e| format!("bad listening line {line:?}: {e}"))?;
                        return Ok(Server {
                            process: self.process,
                            addr,
                            stdout: self.stdout,
                            spawned: self.spawned,
                            ready: Instant::now(),
                        });
                    }
                    before.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = wait_bounded(&mut self.process.child, STOP_TIMEOUT);
                    return Err(format!(
                        "wcheckout serve exited ({status:?}) before listening\nstdout:\n{}\nstderr:\n{}",
                        before.join("\n"),
                        self.process.stderr()
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "wcheckout serve did not print `{LISTENING}ADDR` within {READY_TIMEOUT:?}\n\
                         stdout:\n{}\nstderr:\n{}",
                        before.join("\n"),
                        self.process.stderr()
                    ));
                }
            }
        }
    }
}

/// A listening `wcheckout serve`.
struct Server {
    process: Process,
    addr: SocketAddr,
    stdout: Receiver<String>,
    spawned: Instant,
    ready: Instant,
}

fn start(env: &Env) -> Server {
    spawn_server(env)
        .wait_ready()
        .unwrap_or_else(|e| panic!("{e}"))
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything written to stderr so far.
    fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Stdout lines printed after the listening line.
    fn more_stdout(&self) -> String {
        self.stdout.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.process.child.kill();
        assert!(
            wait_bounded(&mut self.process.child, STOP_TIMEOUT).is_some(),
            "server did not die after SIGKILL"
        );
    }

    /// SIGTERM, then wait (bounded) for a graceful exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.process.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        match wait_bounded(&mut self.process.child, STOP_TIMEOUT) {
            Some(status) => status,
            None => panic!(
                "server did not exit within {STOP_TIMEOUT:?} of SIGTERM\nstderr:\n{}",
                self.stderr()
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Apps and API calls
// ---------------------------------------------------------------------------------------------

/// Credentials printed by `app create --json` / `app rotate-secrets --json`.
#[derive(Clone, Debug)]
struct Creds {
    app_id: String,
    api_key: String,
    api_secret: String,
    sign_key: String,
}

impl Creds {
    /// The printed stdout must be exactly one JSON object with exactly these four keys.
    fn parse(stdout: &str) -> Creds {
        assert_eq!(
            stdout.trim().lines().count(),
            1,
            "expected one line of JSON, got:\n{stdout}"
        );
        let value: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON value ({e}):\n{stdout}"));
        let object = value.as_object().expect("a JSON object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["apiKey", "apiSecret", "appId", "signKey"],
            "{stdout}"
        );
        let text = |key: &str| {
            let text = object[key].as_str().expect("a string").to_owned();
            assert!(!text.is_empty(), "{key} is empty");
            text
        };
        Creds {
            app_id: text("appId"),
            api_key: text("apiKey"),
            api_secret: text("apiSecret"),
            sign_key: text("signKey"),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            api_key: self.api_key.clone(),
            api_secret: self.api_secret.clone(),
            sign_key: self.sign_key.clone(),
        }
    }

    fn client(&self, server: &Server) -> Client {
        Client::new(&server.url(), self.credentials())
    }
}

fn create_app(env: &Env, name: &str) -> Creds {
    Creds::parse(&run_ok(env, &["app", "create", "--name", name, "--json"]))
}

fn order_body(order_no: &str, expired_in: i64) -> String {
    json!({
        "orderNo": order_no,
        "orderAmount": 12.5,
        "customerId": "c-process",
        "merchantId": "m-process",
        "token": "ETH_USDT",
        "fiat": "USD",
        "expiredIn": expired_in
    })
    .to_string()
}

fn retcode(value: &Value) -> &str {
    value["retcode"].as_str().unwrap_or("")
}

async fn signed(client: &Client, method: &str, path: &str, body: &str) -> Value {
    let response = client
        .call(method, path, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    // Refusals before the caller is known (bad token) cannot be signed with its signKey.
    if response.retcode() == "200" {
        assert_eq!(
            response.signature_valid,
            Some(true),
            "{method} {path}: response signature not valid: {}",
            response.body
        );
    } else {
        assert_ne!(response.signature_valid, Some(false), "{}", response.body);
    }
    response.json
}

/// CreateCheckoutOrder, which must succeed.
async fn create_order(client: &Client, order_no: &str, expired_in: i64) -> Value {
    let body = order_body(order_no, expired_in);
    let created = signed(client, "POST", "/checkout/order/create", &body).await;
    assert_eq!(retcode(&created), "200", "{created}");
    assert_eq!(created["retdata"]["orderStatus"], "PAYING", "{created}");
    created["retdata"].clone()
}

/// GetCheckoutOrderInfo, which must succeed.
async fn order_info(client: &Client, order_no: &str) -> Value {
    let info = signed(
        client,
        "GET",
        &format!("/checkout/order/info?orderNo={order_no}"),
        "",
    )
    .await;
    assert_eq!(retcode(&info), "200", "{info}");
    info["retdata"].clone()
}

/// The health report without its per-chain part (whose figures depend on the node).
async fn health(url: &str) -> Value {
    let response = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut report: Value = response.json().await.unwrap();
    assert!(report["chains"].is_object(), "{report}");
    report.as_object_mut().unwrap().remove("chains");
    report
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

// ---------------------------------------------------------------------------------------------
// 1. No configuration at all
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_runs_without_any_configuration() {
    if let Err(error) = TcpListener::bind("127.0.0.1:8080") {
        panic!(
            "127.0.0.1:8080 is already taken on this machine ({error}); this test checks that \
             `wcheckout serve` without configuration listens there, so the port must be free"
        );
    }
    let dir = TempDir::new();
    let env = Env::bare(&dir.path);
    let mut server = start(&env);
    assert_eq!(server.addr, "127.0.0.1:8080".parse().unwrap());

    let data = dir.path.join("wcheckout-data");
    for file in ["wcheckout.db", "seed.txt", "master.key"] {
        assert!(data.join(file).is_file(), "{file} missing in {data:?}");
    }
    assert_eq!(mode_of(&data.join("seed.txt")), 0o600, "seed.txt mode");
    assert_eq!(mode_of(&data.join("master.key")), 0o600, "master.key mode");
    assert_eq!(mode_of(&data), 0o700, "data directory mode");
    let seed = fs::read_to_string(data.join("seed.txt")).unwrap();
    let words = seed.split_whitespace().count();
    assert!(words == 12 || words == 24, "seed.txt: {words} words");
    assert_ne!(seed.trim(), MNEMONIC);
    let master_key = fs::read_to_string(data.join("master.key")).unwrap();
    assert_eq!(master_key.trim().len(), 64, "master.key is 64 hex digits");
    assert!(master_key.trim().bytes().all(|b| b.is_ascii_hexdigit()));

    let stderr = server.stderr();
    assert!(
        stderr.contains("SANDBOX: generated a new seed"),
        "no seed banner:\n{stderr}"
    );
    assert!(
        stderr.contains("SANDBOX: generated a new master key"),
        "no master key banner:\n{stderr}"
    );
    assert!(!stderr.contains(seed.trim()), "the seed was printed");
    assert!(
        !stderr.contains(master_key.trim()),
        "the master key was printed"
    );
    assert_eq!(
        health(&server.url()).await,
        json!({"status": "ok", "database": "ok"})
    );

    // An app and an order, made against the sandbox files.
    let created = run(&env, &["app", "create", "--name", "Sandbox shop", "--json"]);
    assert!(created.status.success(), "{}", created.both());
    assert!(
        !created.stderr.contains("SANDBOX: generated"),
        "`app create` generated keys again:\n{}",
        created.stderr
    );
    let creds = Creds::parse(&created.stdout);
    let order = create_order(&creds.client(&server), "sandbox-1", 3600).await;

    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM should end the server cleanly, got {status}\n{}",
        server.stderr()
    );
    drop(server);

    // Second start: same files, same keys, same data.
    let mut server = start(&env);
    assert_eq!(server.addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(fs::read_to_string(data.join("seed.txt")).unwrap(), seed);
    assert_eq!(
        fs::read_to_string(data.join("master.key")).unwrap(),
        master_key
    );
    let stderr = server.stderr();
    assert!(
        !stderr.contains("SANDBOX: generated"),
        "second start generated keys again:\n{stderr}"
    );
    assert_eq!(
        health(&server.url()).await,
        json!({"status": "ok", "database": "ok"})
    );
    let apps: Value = serde_json::from_str(&run_ok(&env, &["app", "list", "--json"])).unwrap();
    assert!(
        apps.as_array()
            .unwrap()
            .iter()
            .any(|app| app["appId"] == creds.app_id.as_str()),
        "{apps}"
    );
    // The signKey is sealed with the master key: a signed call proves the key was reused.
    let client = creds.client(&server);
    let again = order_info(&client, "sandbox-1").await;
    assert_eq!(again["sysid"], order["sysid"]);
    assert_eq!(again["depositAddress"], order["depositAddress"]);
    assert_eq!(again["orderStatus"], "PAYING");
    let second = create_order(&client, "sandbox-2", 3600).await;
    assert_ne!(second["depositAddress"], order["depositAddress"]);
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.stderr());
    drop(server);

    // WCHECKOUT__SERVER__LISTEN moves it.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = start(&env.clone().with("WCHECKOUT__SERVER__LISTEN", &listen));
    assert_eq!(server.addr, listen.parse().unwrap());
    assert_eq!(
        health(&server.url()).await,
        json!({"status": "ok", "database": "ok"})
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Configuration errors
// ---------------------------------------------------------------------------------------------

/// Runs a command that must fail fast; returns its stderr.
fn fails(env: &Env, args: &[&str]) -> String {
    let ran = run_with(env, args, None, Duration::from_secs(30));
    assert!(
        !ran.status.success(),
        "`wcheckout {}` should fail:\n{}",
        args.join(" "),
        ran.both()
    );
    ran.stderr
}

fn assert_mentions(stderr: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}

fn assert_no_key_material(output: &str) {
    assert!(
        !output.contains(MNEMONIC),
        "the seed was printed:\n{output}"
    );
    assert!(
        !output.contains("junk"),
        "a seed word was printed:\n{output}"
    );
    assert!(
        !output.contains(MASTER_KEY),
        "the master key was printed:\n{output}"
    );
}

#[test]
fn configuration_errors_are_precise_and_fatal() {
    let dir = TempDir::new();
    let env = Env::bare(&dir.path);
    let file = |name: &str, text: &str| {
        let path = dir.path.join(name);
        fs::write(&path, text).unwrap();
        path.display().to_string()
    };

    // A bad value and an unknown key in the same file: both named, whatever the command.
    let bad = file(
        "bad.toml",
        "[server]\nlisten = \"nowhere\"\nlisten_port = 8080\n",
    );
    for command in ["serve", "check-config"] {
        let stderr = fails(&env, &["--config", &bad, command]);
        assert_mentions(&stderr, &["server.listen", "nowhere", "listen_port"]);
    }
    let stderr = fails(
        &env.clone().with("WCHECKOUT__SERVER__BOGUS", "1"),
        &["serve"],
    );
    assert_mentions(&stderr, &["bogus"]);
    let stderr = fails(
        &env.clone().with("WCHECKOUT__SERVER__LISTEN", "nowhere"),
        &["serve"],
    );
    assert_mentions(&stderr, &["server.listen", "nowhere"]);
    let typed = file("typed.toml", "[database]\nmax_connections = \"many\"\n");
    let stderr = fails(&env, &["--config", &typed, "serve"]);
    assert_mentions(&stderr, &["max_connections"]);
    let missing = dir.path.join("missing.toml").display().to_string();
    let stderr = fails(&env, &["--config", &missing, "serve"]);
    assert_mentions(&stderr, &["missing.toml", "does not exist"]);

    // Chains and tokens from the environment keep their upper-case keys.
    let from_env = Env::fixed(&dir.path)
        .with("WCHECKOUT__CHAINS__BSC__CHAIN_ID", "56")
        .with(
            "WCHECKOUT__CHAINS__BSC__RPC_URLS",
            "[\"https://bsc.example.com\"]",
        )
        .with(
            "WCHECKOUT__TOKENS__BSC_USDT__CONTRACT",
            "0x55d398326f99059fF775485246999027B3197955",
        )
        .with("WCHECKOUT__TOKENS__BSC_USDT__DECIMALS", "18");
    let ran = run(&from_env, &["check-config"]);
    assert!(ran.status.success(), "{}", ran.both());
    assert_mentions(
        &ran.stdout,
        &[
            "configuration is valid",
            "[chains.BSC]",
            "[tokens.BSC_USDT]",
        ],
    );

    // Production without keys: refused before anything is generated.
    let production = file(
        "production.toml",
        "[server]\nmode = \"production\"\npublic_url = \"https://pay.example.com\"\n\
         listen = \"127.0.0.1:0\"\n",
    );
    let stderr = fails(&env, &["--config", &production, "serve"]);
    assert_mentions(&stderr, &["keys.seed_file", "keys.master_key_file"]);
    assert!(
        !dir.path.join("wcheckout-data").join("seed.txt").exists(),
        "production mode generated a seed"
    );

    // Valid files: keys from files, and keys from the environment.
    fs::write(dir.path.join("seed.txt"), MNEMONIC).unwrap();
    fs::write(dir.path.join("master.key"), MASTER_KEY).unwrap();
    let good = file(
        "good.toml",
        &format!(
            "[server]\nmode = \"production\"\npublic_url = \"https://pay.example.com\"\n\
             listen = \"127.0.0.1:0\"\n[keys]\nseed_file = \"{}\"\nmaster_key_file = \"{}\"\n",
            dir.path.join("seed.txt").display(),
            dir.path.join("master.key").display()
        ),
    );
    let ran = run(&env, &["--config", &good, "check-config"]);
    assert!(ran.status.success(), "{}", ran.both());
    assert!(
        ran.stdout.contains("configuration is valid"),
        "{}",
        ran.stdout
    );
    assert_no_key_material(&ran.both());
    // What it prints is the effective configuration as TOML, not a debug dump.
    let printed: toml::Table = toml::from_str(&ran.stdout).unwrap();
    assert_eq!(printed["server"]["mode"].as_str(), Some("production"));
    assert!(!ran.stdout.contains("Config {"), "{}", ran.stdout);

    let sandbox = file("sandbox.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
    let ran = run(
        &Env::fixed(&dir.path),
        &["--config", &sandbox, "check-config"],
    );
    assert!(ran.status.success(), "{}", ran.both());
    assert!(
        ran.stdout.contains("configuration is valid"),
        "{}",
        ran.stdout
    );
    assert_no_key_material(&ran.both());
}

// ---------------------------------------------------------------------------------------------
// 3. App administration
// ---------------------------------------------------------------------------------------------

/// Fails when a file of the SQLite database holds `secret` in plain text.
fn assert_not_stored(data: &Path, secrets: &[(&str, &str)]) {
    for file in ["wcheckout.db", "wcheckout.db-wal"] {
        let path = data.join(file);
        let Ok(bytes) = fs::read(&path) else { continue };
        for (what, secret) in secrets {
            assert!(
                !contains_bytes(&bytes, secret.as_bytes()),
                "{file} holds the {what} in plain text"
            );
        }
    }
}

async fn token_refusal(url: &str, creds: &Creds) -> String {
    let client = Client::new(url, creds.credentials());
    match client.access_token().await {
        Err(ClientError::Token { retcode, .. }) => retcode,
        other => panic!("the token endpoint should refuse these credentials: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_are_administered_from_the_command_line() {
    let dir = TempDir::new();
    let env = Env::fixed(&dir.path);
    let data = dir.path.join("wcheckout-data");
    let mut server = start(&env);

    let creds = Creds::parse(&run_ok(
        &env,
        &[
            "app",
            "create",
            "--name",
            "Shop",
            "--webhook-url",
            "https://example.com/hook",
            "--ip-allow",
            "10.0.0.0/8,127.0.0.1/32",
            "--json",
        ],
    ));
    let client = creds.client(&server);
    let listed = signed(&client, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&listed), "200", "{listed}");

    let list_out = run_ok(&env, &["app", "list", "--json"]);
    let apps: Value = serde_json::from_str(&list_out).unwrap();
    let apps = apps.as_array().expect("a JSON array");
    assert_eq!(apps.len(), 1, "{list_out}");
    let app = &apps[0];
    assert_eq!(app["appId"], creds.app_id.as_str());
    assert_eq!(app["apiKey"], creds.api_key.as_str());
    assert_eq!(app["name"], "Shop");
    assert_eq!(app["webhookUrl"], "https://example.com/hook");
    assert_eq!(app["ipAllow"], json!(["10.0.0.0/8", "127.0.0.1/32"]));
    assert_eq!(app["enabled"], true);

    let show_out = run_ok(&env, &["app", "show", &creds.app_id]);
    let shown: Value = serde_json::from_str(&show_out).unwrap();
    assert_eq!(shown["appId"], creds.app_id.as_str());
    assert_eq!(shown["name"], "Shop");
    for output in [&list_out, &show_out] {
        assert!(!output.contains(&creds.api_secret), "apiSecret shown");
        assert!(!output.contains(&creds.sign_key), "signKey shown");
    }
    let unknown = run(&env, &["app", "show", "app_doesnotexist"]);
    assert!(!unknown.status.success(), "{}", unknown.both());
    assert!(unknown.stderr.contains("not found"), "{}", unknown.stderr);

    let updated: Value = serde_json::from_str(&run_ok(
        &env,
        &[
            "app",
            "update",
            &creds.app_id,
            "--name",
            "New",
            "--theme-color",
            "#112233",
            "--disable",
        ],
    ))
    .unwrap();
    assert_eq!(updated["name"], "New");
    assert_eq!(updated["themeColor"], "#112233");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["webhookUrl"], "https://example.com/hook");
    let shown: Value =
        serde_json::from_str(&run_ok(&env, &["app", "show", &creds.app_id])).unwrap();
    assert_eq!(shown["name"], "New");
    assert_eq!(shown["enabled"], false);
    // A disabled app gets no token and its tokens stop working.
    assert_eq!(token_refusal(&server.url(), &creds).await, "00005");
    let refused = signed(&client, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&refused), "00004", "{refused}");
    let bad_color = run(
        &env,
        &["app", "update", &creds.app_id, "--theme-color", "blue"],
    );
    assert!(!bad_color.status.success(), "{}", bad_color.both());
    assert!(
        bad_color.stderr.contains("theme-color"),
        "{}",
        bad_color.stderr
    );
    run_ok(&env, &["app", "update", &creds.app_id, "--enable"]);
    let listed = signed(&client, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&listed), "200", "{listed}");

    // Rotation: the old apiSecret and old tokens are refused, the new credentials work.
    let rotated = Creds::parse(&run_ok(
        &env,
        &["app", "rotate-secrets", &creds.app_id, "--json"],
    ));
    assert_eq!(rotated.app_id, creds.app_id);
    assert_ne!(rotated.api_secret, creds.api_secret);
    assert_ne!(rotated.sign_key, creds.sign_key);
    assert_eq!(token_refusal(&server.url(), &creds).await, "00005");
    let stale = signed(&client, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&stale), "00004", "{stale}");
    let fresh = rotated.client(&server);
    let listed = signed(&fresh, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&listed), "200", "{listed}");
    create_order(&fresh, "admin-1", 600).await;
    let shown: Value =
        serde_json::from_str(&run_ok(&env, &["app", "show", &creds.app_id])).unwrap();
    assert_eq!(shown["secretsVersion"], 2);

    // No secret in the database files, neither while running nor after shutdown.
    let secrets = [
        ("first apiSecret", creds.api_secret.as_str()),
        ("first signKey", creds.sign_key.as_str()),
        ("rotated apiSecret", rotated.api_secret.as_str()),
        ("rotated signKey", rotated.sign_key.as_str()),
    ];
    assert!(data.join("wcheckout.db").is_file());
    assert_not_stored(&data, &secrets);
    let status = server.terminate();
    assert!(status.success(), "{status}\n{}", server.stderr());
    assert_not_stored(&data, &secrets);
}

// ---------------------------------------------------------------------------------------------
// 4. Secrets never in logs
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_never_reach_the_logs() {
    let dir = TempDir::new();
    let env = Env::fixed(&dir.path).with("WCHECKOUT__LOGGING__LEVEL", "debug");
    let mut server = start(&env);
    let creds = create_app(&env, "Logged");
    let url = server.url();
    let http = reqwest::Client::new();
    let token_url = format!("{url}/user/auth/oauth2/token");

    // The token endpoint, credentials in the query string (as the client sends them).
    let client = creds.client(&server);
    let access_token = client.access_token().await.unwrap();
    create_order(&client, "logged-1", 600).await;
    order_info(&client, "logged-1").await;
    let listed = signed(&client, "POST", "/checkout/order/list", "{}").await;
    assert_eq!(retcode(&listed), "200");
    let cancelled = signed(
        &client,
        "GET",
        "/checkout/order/cancel?orderNo=logged-1",
        "",
    )
    .await;
    assert_eq!(retcode(&cancelled), "200", "{cancelled}");

    // The same credentials as a form and as JSON, then the refresh grant.
    let mut tokens = vec![access_token];
    let form = http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("api_key", creds.api_key.as_str()),
            ("api_secret", creds.api_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let form: Value = form.json().await.unwrap();
    assert_eq!(retcode(&form), "200", "{form}");
    let as_json: Value = http
        .post(&token_url)
        .json(
            &json!({"grantType": "client_credentials", "apiKey": creds.api_key,
                      "apiSecret": creds.api_secret}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retcode(&as_json), "200", "{as_json}");
    let refresh_token = as_json["retdata"]["refresh_token"].as_str().unwrap();
    let refreshed: Value = http
        .post(&token_url)
        .query(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retcode(&refreshed), "200", "{refreshed}");
    for response in [&form, &as_json, &refreshed] {
        for field in ["access_token", "refresh_token"] {
            tokens.push(response["retdata"][field].as_str().unwrap().to_owned());
        }
    }

    // Refusals that carry secrets: a wrong apiSecret, an unknown bearer token.
    let wrong_secret = "WRONGSECRETzq8Xv3Lm0Pw7";
    let refused: Value = http
        .post(&token_url)
        .query(&[
            ("grant_type", "client_credentials"),
            ("api_key", creds.api_key.as_str()),
            ("api_secret", wrong_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retcode(&refused), "00005", "{refused}");
    let unknown_token = "UNKNOWNTOKENr4Tn9Qk2Bv6";
    let refused: Value = http
        .post(format!("{url}/checkout/order/list"))
        .bearer_auth(unknown_token)
        .header("SIGNATURE", "c2lnbmF0dXJl")
        .header("TIMESTAMP", "1636360661729")
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retcode(&refused), "00004", "{refused}");

    let status = server.terminate();
    assert!(status.success(), "{status}");
    let stderr = server.stderr();
    let stdout = server.more_stdout();
    assert!(
        stderr.contains("DEBUG"),
        "the debug level was not applied:\n{stderr}"
    );
    for output in [&stderr, &stdout] {
        let mut secrets = vec![
            ("apiSecret", creds.api_secret.as_str()),
            ("signKey", creds.sign_key.as_str()),
            ("seed", MNEMONIC),
            ("master key", MASTER_KEY),
            ("wrong apiSecret", wrong_secret),
            ("unknown bearer token", unknown_token),
        ];
        secrets.extend(tokens.iter().map(|t| ("token", t.as_str())));
        for (what, secret) in secrets {
            assert!(!output.contains(secret), "the {what} is in the log");
        }
        assert!(!output.contains("junk"), "a seed word is in the log");
    }
    eprintln!(
        "secrets_never_reach_the_logs: {} bytes of debug log checked",
        stderr.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. `wcheckout call` and `wcheckout sign`
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_and_sign_commands() {
    let dir = TempDir::new();
    let env = Env::fixed(&dir.path);
    let server = start(&env);
    let created = run_ok(&env, &["app", "create", "--name", "Caller", "--json"]);
    Creds::parse(&created);
    let credentials = dir.path.join("credentials.json");
    fs::write(&credentials, &created).unwrap();
    let credentials = credentials.display().to_string();
    let url = server.url();

    let ran = run(
        &env,
        &[
            "call",
            "--url",
            &url,
            "--credentials",
            &credentials,
            "POST",
            "/checkout/order/create",
            &order_body("called-1", 900),
        ],
    );
    assert!(ran.status.success(), "{}", ran.both());
    let answer: Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("not one JSON envelope ({e}):\n{}", ran.stdout));
    assert_eq!(retcode(&answer), "200", "{answer}");
    assert_eq!(answer["retdata"]["orderNo"], "called-1");
    assert!(
        ran.stderr.contains("response signature: valid"),
        "{}",
        ran.stderr
    );

    // A query string, and a body read from stdin.
    let ran = run(
        &env,
        &[
            "call",
            "--url",
            &url,
            "--credentials",
            &credentials,
            "GET",
            "/checkout/order/info?orderNo=called-1",
        ],
    );
    assert!(ran.status.success(), "{}", ran.both());
    let info: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(info["retdata"]["orderStatus"], "PAYING", "{info}");
    assert!(ran.stderr.contains("response signature: valid"));
    let ran = run_with(
        &env,
        &[
            "call",
            "--url",
            &url,
            "--credentials",
            &credentials,
            "POST",
            "/checkout/order/list",
            "-",
        ],
        Some(r#"{"pageNo": 1, "pageSize": 5}"#),
        COMMAND_TIMEOUT,
    );
    assert!(ran.status.success(), "{}", ran.both());
    let list: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(retcode(&list), "200", "{list}");
    assert_eq!(list["retdata"]["total"], 1, "{list}");
    assert!(ran.stderr.contains("response signature: valid"));

    // The docs' example signature.
    let ran = run(
        &Env::bare(&dir.path),
        &[
            "sign",
            "--sign-key",
            "aR2822Y6XbehWMclnB0Y2NJK",
            "--method",
            "POST",
            "--path",
            "/openapi/test",
            "--body",
            r#"{"a":"124"}"#,
            "--timestamp",
            "1636360661729",
        ],
    );
    assert!(ran.status.success(), "{}", ran.both());
    assert!(
        ran.stdout.lines().any(|line| line
            == "SIGNATURE: MxrYnCm9Q7JOAvOrISf8+T2kuTW1d/w0at8aaPaoiX08VWfun3XPokVlIx1TkHXdcitls09wzfUGtXQZq23xdg=="),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .lines()
            .any(|line| line == "TIMESTAMP: 1636360661729"),
        "{}",
        ran.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Expiry survives restarts
// ---------------------------------------------------------------------------------------------

const WINDOW: Duration = Duration::from_secs(60);
const EXPIRY_SLACK: Duration = Duration::from_secs(3);

async fn sleep_until(instant: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(instant)).await;
}

/// Seconds (with milliseconds) as text.
fn secs(duration: Duration) -> String {
    format!("{:.3} s", duration.as_secs_f64())
}

async fn expiry_survives_restarts(label: &str, database_url: &str) {
    let dir = TempDir::new();
    let env = Env::fixed(&dir.path).with("WCHECKOUT__DATABASE__URL", database_url);
    let mut server = start(&env);
    let creds = create_app(&env, "Expiry");
    let client = creds.client(&server);
    client.access_token().await.unwrap();

    // Order A: the server dies at ~5 s and comes back at ~10 s.
    let a_sent = Instant::now();
    let a = create_order(&client, "expiry-A", 60).await;
    let a_created = Instant::now();
    assert_eq!(a["expiredIn"], 60, "{a}");
    sleep_until(a_sent + Duration::from_secs(5)).await;
    server.kill();
    sleep_until(a_sent + Duration::from_secs(10)).await;
    let mut server = start(&env);
    let client = creds.client(&server);
    let after_restart = order_info(&client, "expiry-A").await;
    assert_eq!(after_restart["orderStatus"], "PAYING", "{after_restart}");
    let remaining = after_restart["expiredIn"].as_i64().unwrap();
    assert!((45..=51).contains(&remaining), "{after_restart}");

    sleep_until(a_sent + WINDOW - Duration::from_secs(2)).await;
    let give_up = a_sent + WINDOW + Duration::from_secs(15);
    let mut last_paying = None;
    let a_timeout = loop {
        let polled = Instant::now();
        let info = order_info(&client, "expiry-A").await;
        let answered = Instant::now();
        match info["orderStatus"].as_str() {
            Some("PAYING") => {
                assert!(
                    polled < a_created + WINDOW + EXPIRY_SLACK,
                    "[{label}] order A still PAYING {} after creation",
                    secs(polled - a_sent)
                );
                last_paying = Some(polled - a_sent);
            }
            Some("TIMEOUT") => {
                assert!(
                    answered >= a_sent + WINDOW,
                    "[{label}] order A expired early, {} after creation",
                    secs(answered - a_sent)
                );
                break answered;
            }
            _ => panic!("[{label}] unexpected order A: {info}"),
        }
        assert!(Instant::now() < give_up, "[{label}] order A never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let last_paying = last_paying.expect("order A was PAYING right before its deadline");
    let a_delay = a_timeout.saturating_duration_since(a_sent + WINDOW);
    eprintln!(
        "[{label}] order A (expiredIn 60, SIGKILL at 5 s, restart at 10 s): last seen PAYING \
         {} after creation, TIMEOUT seen {} after the deadline",
        secs(last_paying),
        secs(a_delay)
    );
    assert!(
        a_delay <= EXPIRY_SLACK,
        "[{label}] order A: TIMEOUT {} after the deadline",
        secs(a_delay)
    );

    // Order C: the server dies 5 s before the deadline and is down until 5 s after it.
    let c_sent = Instant::now();
    create_order(&client, "expiry-C", 60).await;
    sleep_until(c_sent + WINDOW - Duration::from_secs(6)).await;
    let before_kill = order_info(&client, "expiry-C").await;
    assert_eq!(before_kill["orderStatus"], "PAYING", "{before_kill}");
    sleep_until(c_sent + WINDOW - Duration::from_secs(5)).await;
    server.kill();
    drop(server);
    sleep_until(c_sent + WINDOW + Duration::from_secs(5)).await;
    let restarted = Instant::now();
    let server = start(&env);
    let client = creds.client(&server);
    let listening = server.ready - server.spawned;
    let c_timeout = loop {
        let info = order_info(&client, "expiry-C").await;
        let answered = Instant::now();
        match info["orderStatus"].as_str() {
            Some("TIMEOUT") => break answered,
            Some("PAYING") => {}
            _ => panic!("[{label}] unexpected order C: {info}"),
        }
        assert!(
            answered < restarted + Duration::from_secs(15),
            "[{label}] order C never expired after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let c_delay = c_timeout - restarted;
    eprintln!(
        "[{label}] order C (SIGKILL 5 s before the deadline, restart 5 s after it): listening \
         {} after the restart, TIMEOUT seen {} after the restart",
        secs(listening),
        secs(c_delay)
    );
    assert!(
        c_delay <= EXPIRY_SLACK,
        "[{label}] order C: TIMEOUT {} after the restart",
        secs(c_delay)
    );
    let final_a = order_info(&client, "expiry-A").await;
    assert_eq!(final_a["orderStatus"], "TIMEOUT");
    assert_eq!(final_a["expiredIn"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_survives_restarts_on_sqlite() {
    let database = fresh_sqlite();
    expiry_survives_restarts("sqlite", &database.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_survives_restarts_on_postgres() {
    let Some(database) = fresh_postgres("expiry_survives_restarts_on_postgres").await else {
        return;
    };
    expiry_survives_restarts("postgres", &database.url).await;
}

// ---------------------------------------------------------------------------------------------
// 7. Several processes on one PostgreSQL database
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_share_postgres() {
    let Some(database) = fresh_postgres("several_processes_share_postgres").await else {
        return;
    };
    let dir = TempDir::new();
    let env = Env::fixed(&dir.path).with("WCHECKOUT__DATABASE__URL", &database.url);
    // Both start at once: they migrate the empty database concurrently.
    let first = spawn_server(&env);
    let second = spawn_server(&env);
    let servers = [
        first.wait_ready().unwrap_or_else(|e| panic!("{e}")),
        second.wait_ready().unwrap_or_else(|e| panic!("{e}")),
    ];
    let creds = create_app(&env, "Shared");
    let clients: Vec<Arc<Client>> = servers
        .iter()
        .map(|server| Arc::new(creds.client(server)))
        .collect();

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..200 {
        let client = Arc::clone(&clients[i % 2]);
        calls.spawn(async move {
            let body = order_body(&format!("shared-{i:03}"), 1800);
            signed(&client, "POST", "/checkout/order/create", &body).await
        });
    }
    let mut addresses = HashSet::new();
    let mut sysids = HashSet::new();
    while let Some(result) = calls.join_next().await {
        let created = result.unwrap();
        assert_eq!(retcode(&created), "200", "{created}");
        let address = created["retdata"]["depositAddress"].as_str().unwrap();
        assert!(address.starts_with("0x"), "{created}");
        addresses.insert(address.to_owned());
        sysids.insert(created["retdata"]["sysid"].as_str().unwrap().to_owned());
    }
    assert_eq!(addresses.len(), 200, "deposit addresses handed out twice");
    assert_eq!(sysids.len(), 200);

    // The same orderNo twenty times at once. Each body differs only in whitespace, so that
    // no two requests carry the same signature (which would be refused as a replay).
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let client = Arc::clone(&clients[i % 2]);
        calls.spawn(async move {
            let body =
                order_body("shared-same", 1800).replacen('{', &format!("{{{}", " ".repeat(i)), 1);
            signed(&client, "POST", "/checkout/order/create", &body).await
        });
    }
    let mut same = HashSet::new();
    while let Some(result) = calls.join_next().await {
        let created = result.unwrap();
        assert_eq!(retcode(&created), "200", "{created}");
        same.insert((
            created["retdata"]["sysid"].as_str().unwrap().to_owned(),
            created["retdata"]["depositAddress"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    assert_eq!(same.len(), 1, "one orderNo became several orders: {same:?}");
    let (_, address) = same.into_iter().next().unwrap();
    assert!(!addresses.contains(&address));

    let listed = signed(&clients[0], "POST", "/checkout/order/list", "{}").await;
    assert_eq!(listed["retdata"]["total"], 201, "{listed}");
    for server in &servers {
        assert_eq!(
            health(&server.url()).await,
            json!({"status": "ok", "database": "ok"})
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Deployment: the systemd unit of docs/deploy.md
// ---------------------------------------------------------------------------------------------

#[test]
fn the_systemd_unit_verifies() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|path| Path::new(path).exists());
    let Some(analyze) = analyze else {
        eprintln!("SKIPPED the_systemd_unit_verifies: systemd-analyze is not installed");
        return;
    };
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/wcheckout.service"
    );
    let unit = fs::read_to_string(shipped).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/wcheckout serve"),
        "{unit}"
    );
    // The unit as installed, with the binary under test where it expects the binary.
    let dir = TempDir::new();
    let path = dir.path.join("wcheckout.service");
    fs::write(&path, unit.replace("/usr/local/bin/wcheckout", BIN)).unwrap();
    let mut child = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, COMMAND_TIMEOUT).expect("systemd-analyze hung");
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "systemd-analyze verify failed:\n{said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned:\n{said}"
    );
}
