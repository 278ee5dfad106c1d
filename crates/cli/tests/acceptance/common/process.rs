//! `wcheckout` as a child process, for the tests that run the real binary: commands in a
//! directory of their own without the test runner's environment, run to their end with bounded
//! waits; a listening `wcheckout serve` that is SIGKILLed and reaped when dropped (printing the
//! end of its log if the test failed); and the signed API calls those tests make to it.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use wcheckout_client::{Client, Credentials};

use super::TEST_MNEMONIC;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wcheckout");
/// What `wcheckout serve` prints on stdout once it accepts connections, before the address.
const LISTENING: &str = "wcheckout listening on ";
/// Longest wait for `wcheckout serve` to listen.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a killed or terminated process to be reaped.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest an operator command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one HTTP exchange with a gateway may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the gateway's log shown when a test fails.
const LOG_TAIL: usize = 80;

/// `NAME::sqlite` and `NAME::postgres`, tests of each `async fn NAME(label: &str, database_url:
/// &str)` on a fresh database of each engine (the PostgreSQL one skipped when there is none).
#[macro_export]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let database = wcheckout_testkit::fresh_sqlite();
                    super::$scenario("sqlite", &database.url).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let test = concat!(stringify!($scenario), "::postgres");
                    if let Some(database) = wcheckout_testkit::fresh_postgres(test).await {
                        super::$scenario("postgres", &database.url).await;
                    }
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

/// The `[server]`, `[database]` and `[keys]` sections of a test's configuration file: an
/// ephemeral loopback port, `database_url`, the test seed and `master_key`.
pub fn config_head(database_url: &str, master_key: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[database]
url = "{database_url}"

[keys]
seed = "{TEST_MNEMONIC}"
master_key = "{master_key}"
"#
    )
}

/// How the tests run `wcheckout`: in `dir`, maybe with `--config FILE`, with extra variables,
/// and with none of the runner's `WCHECKOUT*` or `RUST_LOG` variables (a developer's own
/// settings must not change what a test sees).
#[derive(Clone)]
pub struct Cli {
    dir: PathBuf,
    config: Option<PathBuf>,
    vars: Vec<(String, String)>,
}

impl Cli {
    /// In `dir`, with no configuration file.
    pub fn new(dir: &Path) -> Cli {
        Cli {
            dir: dir.to_owned(),
            config: None,
            vars: Vec::new(),
        }
    }

    /// In `dir`, with `--config config` before every command.
    pub fn with_config(dir: &Path, config: &Path) -> Cli {
        Cli {
            config: Some(config.to_owned()),
            ..Cli::new(dir)
        }
    }

    /// In `dir`, with `text` written to `dir/wcheckout.toml` as its configuration file.
    pub fn configured(dir: &Path, text: &str) -> Cli {
        let config = dir.join("wcheckout.toml");
        fs::write(&config, text).unwrap();
        Cli::with_config(dir, &config)
    }

    /// The configuration file, if any.
    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The same with `key=value` in the environment (replacing an earlier value of `key`).
    pub fn with(&self, key: &str, value: &str) -> Cli {
        let mut cli = self.clone();
        cli.vars.retain(|(k, _)| k != key);
        cli.vars.push((key.to_owned(), value.to_owned()));
        cli
    }

    /// `wcheckout [--config FILE] ARGS`, with nothing on stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
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

    /// Runs `wcheckout ARGS` to its end (killed and failed after [`COMMAND_TIMEOUT`]).
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_with(args, None, COMMAND_TIMEOUT)
    }

    /// [`Cli::run`] with `stdin` written to the command and another timeout.
    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, timeout: Duration) -> Ran {
        run_to_end(self.command(args), stdin, timeout)
    }

    /// Runs `wcheckout ARGS`, which must succeed.
    pub fn run_ok(&self, args: &[&str]) -> Ran {
        self.run(args).ok()
    }

    /// Runs `wcheckout ARGS`, which must succeed and print one JSON value.
    pub fn json(&self, args: &[&str]) -> Value {
        let ran = self.run_ok(args);
        serde_json::from_str(ran.stdout.trim())
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}):\n{}", ran.what, ran.stdout))
    }

    /// Runs `wcheckout ARGS`, which must fail.
    pub fn run_fails(&self, args: &[&str]) -> Ran {
        self.run(args).failed()
    }

    /// [`Cli::run`] off the async runtime's threads, for tests that keep serving requests
    /// meanwhile.
    pub async fn run_async(&self, args: &[&str]) -> Ran {
        let cli = self.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run(&args)
        })
        .await
        .unwrap()
    }

    /// `wcheckout app create --name NAME --json EXTRA`: the new app's credentials.
    pub fn create_app(&self, name: &str, extra: &[&str]) -> Creds {
        let mut args = vec!["app", "create", "--name", name, "--json"];
        args.extend(extra);
        Creds::parse(&self.run_ok(&args).stdout)
    }

    /// Spawns `wcheckout serve`, its stderr in `serve-{label}.log` in the working directory;
    /// it may not listen yet.
    pub fn start(&self, label: impl std::fmt::Display) -> Starting {
        let log = self.dir.join(format!("serve-{label}.log"));
        Gateway::start(self.command(&["serve"]), log)
    }

    /// [`Cli::start`], then waits (bounded) for the listening line.
    pub fn serve(&self, label: impl std::fmt::Display) -> Gateway {
        self.start(label).ready()
    }
}

/// What a finished command printed.
pub struct Ran {
    /// The command line, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Stdout, then stderr.
    pub fn both(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails the test unless the command succeeded.
    pub fn ok(self) -> Ran {
        assert!(
            self.status.success(),
            "`{}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the command failed.
    pub fn failed(self) -> Ran {
        assert!(
            !self.status.success(),
            "`{}` should have failed:\n{}",
            self.what,
            self.both()
        );
        self
    }
}

/// Runs `command` to its end, `stdin` written to it; killed and failed after `timeout`.
pub fn run_to_end(mut command: Command, stdin: Option<&str>, timeout: Duration) -> Ran {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or_default();
    let what = std::iter::once(program)
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn `{what}`: {e}"));
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    if let Some(text) = stdin {
        // Dropping the pipe closes it: the command reads to its end.
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let Some(status) = wait_bounded(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`{what}` did not finish within {timeout:?}");
    };
    Ran {
        what,
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
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

/// Reads `reader` to its end on a thread of its own (so that a child never blocks on a full
/// pipe); the text, invalid UTF-8 replaced.
fn read_all(mut reader: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The lines `child` prints on its (piped) stdout, read by a thread for the life of the
/// process, so that it never blocks on a full pipe.
pub fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Spawns `command` with its stdout lines on a channel (see [`stdout_lines`]) and its stderr
/// in the file `stderr_path`.
pub fn spawn_logged(mut command: Command, stderr_path: &Path) -> (Child, Receiver<String>) {
    let stderr = fs::File::create(stderr_path).unwrap();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", command.get_args().collect::<Vec<_>>()));
    let lines = stdout_lines(&mut child);
    (child, lines)
}

/// Sends `signal` (`TERM`, `INT`) to `target`: a process id, or a negative process group id.
pub fn send_signal(signal: &str, target: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} -- {target} failed");
}

/// SIGTERM to `child`, then waits for its exit at most `timeout`.
pub fn terminate(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    send_signal("TERM", &child.id().to_string());
    wait_bounded(child, timeout)
}

// ---------------------------------------------------------------------------------------------
// `wcheckout serve`
// ---------------------------------------------------------------------------------------------

/// A listening `wcheckout serve`, SIGKILLed and reaped when dropped.
pub struct Gateway {
    child: Child,
    addr: SocketAddr,
    stderr_path: PathBuf,
    stdout: Receiver<String>,
    spawned: Instant,
    ready: Instant,
}

/// A spawned `wcheckout serve` that may not listen yet (several can then start at once).
pub struct Starting(Gateway);

impl Gateway {
    /// Spawns `serve` (a `wcheckout … serve` command) with its stderr in `stderr_path`.
    pub fn start(serve: Command, stderr_path: PathBuf) -> Starting {
        let spawned = Instant::now();
        let (child, stdout) = spawn_logged(serve, &stderr_path);
        Starting(Gateway {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr_path,
            stdout,
            spawned,
            ready: spawned,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How long it took from the spawn to the listening line.
    pub fn startup(&self) -> Duration {
        self.ready - self.spawned
    }

    /// Everything the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The stdout lines printed after the listening line.
    pub fn more_stdout(&self) -> String {
        self.stdout.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// `GET {url}{path}` (bounded): the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap();
        let response = http.get(format!("{}{path}", self.url())).send().await;
        let response = response.unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The health report, which must be served with status 200.
    pub async fn health(&self) -> Value {
        let (status, body) = self.get("/health").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/health is not JSON ({e}): {body}"))
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

    /// SIGTERM, then waits (bounded) for a graceful exit.
    pub fn terminate(&mut self) -> ExitStatus {
        terminate(&mut self.child, STOP_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "the gateway did not exit within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                self.stderr()
            )
        })
    }
}

impl Starting {
    /// Waits (bounded) for `wcheckout listening on ADDR`.
    pub fn ready(self) -> Gateway {
        let mut gateway = self.0;
        let deadline = gateway.spawned + READY_TIMEOUT;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match gateway.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.trim().strip_prefix(LISTENING) {
                        gateway.addr = address
                            .parse()
                            .unwrap_or_else(|e| panic!("bad listening line {line:?}: {e}"));
                        gateway.ready = Instant::now();
                        return gateway;
                    }
                    before.push(line);
                }
                Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout) => panic!(
                    "wcheckout serve did not print `{LISTENING}ADDR` within {READY_TIMEOUT:?} \
                     (exit: {:?})\nstdout:\n{}\nstderr:\n{}",
                    gateway.child.try_wait(),
                    before.join("\n"),
                    gateway.stderr()
                ),
            }
        }
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

// ---------------------------------------------------------------------------------------------
// Apps and API calls
// ---------------------------------------------------------------------------------------------

/// An app's credentials, as `app create --json` and `app rotate-secrets --json` print them.
#[derive(Clone, Debug)]
pub struct Creds {
    pub app_id: String,
    pub credentials: Credentials,
}

impl Creds {
    /// `stdout` must be exactly one line: a JSON object with exactly the four keys.
    pub fn parse(stdout: &str) -> Creds {
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
            credentials: Credentials {
                api_key: text("apiKey"),
                api_secret: text("apiSecret"),
                sign_key: text("signKey"),
            },
        }
    }

    /// A client of `gateway` with these credentials.
    pub fn client(&self, gateway: &Gateway) -> Client {
        Client::new(&gateway.url(), self.credentials.clone())
    }

    pub fn sign_key(&self) -> &str {
        &self.credentials.sign_key
    }
}

/// A signed API call (bounded by [`CALL_TIMEOUT`]); its whole answer. A request refused as a
/// replay, which two identical requests signed in the same millisecond are, is sent again.
async fn call_raw(client: &Client, method: &str, path: &str, body: &str) -> Value {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let response = tokio::time::timeout(CALL_TIMEOUT, client.call(method, path, body))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {CALL_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if response.retcode() == "00007" && attempts < 3 {
            tokio::time::sleep(Duration::from_millis(3)).await;
            continue;
        }
        return response.json;
    }
}

/// A signed API call that must succeed; its `retdata`.
pub async fn call(client: &Client, method: &str, path: &str, body: &str) -> Value {
    let answer = call_raw(client, method, path, body).await;
    assert_eq!(answer["retcode"], "200", "{method} {path} {body}: {answer}");
    answer["retdata"].clone()
}

/// Sends `request` and decodes its JSON answer.
pub async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    response.json().await.unwrap()
}
