//! Black-box tests of the real `wcheckout` binary: every test runs it as child processes
//! (`serve`, `app …`, `check-config`, `call`, `sign`) with a working directory and environment
//! of its own, and talks to the server over HTTP like an integrator would.
//!
//! Every wait is bounded and every server is killed when its handle is dropped, so a failing
//! test never leaves a process behind or hangs the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::process::{
    BIN, COMMAND_TIMEOUT, Cli, Creds, Gateway, Ran, json_answer, run_to_end,
};
use crate::on_both_databases;
use serde_json::{Value, json};
use wcheckout_client::{Client, ClientError, routes};
use wcheckout_testkit::{TempDir, free_port, fresh_postgres};

/// The anvil mnemonic.
const MNEMONIC: &str = "test test test test test test test test test test test junk";
/// 32 bytes as 64 hex digits.
const MASTER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

// ---------------------------------------------------------------------------------------------
// Apps and API calls
// ---------------------------------------------------------------------------------------------

/// An ephemeral loopback port and fixed keys.
fn fixed(dir: &Path) -> Cli {
    Cli::new(dir)
        .with("WCHECKOUT__SERVER__LISTEN", "127.0.0.1:0")
        .with("WCHECKOUT__KEYS__SEED", MNEMONIC)
        .with("WCHECKOUT__KEYS__MASTER_KEY", MASTER_KEY)
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
    let created = signed(client, "POST", routes::CREATE_ORDER, &body).await;
    assert_eq!(retcode(&created), "200", "{created}");
    assert_eq!(created["retdata"]["orderStatus"], "PAYING", "{created}");
    created["retdata"].clone()
}

/// GetCheckoutOrderInfo, which must succeed.
async fn order_info(client: &Client, order_no: &str) -> Value {
    let path = routes::with_query(routes::ORDER_INFO, "orderNo", order_no);
    let info = signed(client, "GET", &path, "").await;
    assert_eq!(retcode(&info), "200", "{info}");
    info["retdata"].clone()
}

/// The health report without its per-chain part (whose figures depend on the node).
async fn health(server: &Gateway) -> Value {
    let mut report = server.health().await;
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
    let env = Cli::new(&dir.path);
    let mut server = env.serve("first");
    assert_eq!(server.addr(), "127.0.0.1:8080".parse().unwrap());

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
        health(&server).await,
        json!({"status": "ok", "database": "ok"})
    );

    // An app and an order, made against the sandbox files.
    let created = env.run(&["app", "create", "--name", "Sandbox shop", "--json"]);
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
    let mut server = env.serve("second");
    assert_eq!(server.addr(), "127.0.0.1:8080".parse().unwrap());
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
        health(&server).await,
        json!({"status": "ok", "database": "ok"})
    );
    let apps: Value = serde_json::from_str(&env.run_ok(&["app", "list", "--json"]).stdout).unwrap();
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
    let server = env
        .with("WCHECKOUT__SERVER__LISTEN", &listen)
        .serve("moved");
    assert_eq!(server.addr(), listen.parse().unwrap());
    assert_eq!(
        health(&server).await,
        json!({"status": "ok", "database": "ok"})
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Configuration errors
// ---------------------------------------------------------------------------------------------

/// Runs a command that must fail fast; returns its stderr.
fn fails(cli: &Cli, args: &[&str]) -> String {
    let fast = Duration::from_secs(30);
    cli.run_with(args, None, fast).failed().stderr
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

/// `check-config` with `config`, which must succeed, say so and print no key material.
fn checks_valid(cli: &Cli, config: &str) -> Ran {
    let ran = cli.run_ok(&["--config", config, "check-config"]);
    assert!(
        ran.stdout.contains("configuration is valid"),
        "{}",
        ran.stdout
    );
    assert_no_key_material(&ran.both());
    ran
}

#[test]
fn configuration_errors_are_precise_and_fatal() {
    let dir = TempDir::new();
    let env = Cli::new(&dir.path);
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
    let stderr = fails(&env.with("WCHECKOUT__SERVER__BOGUS", "1"), &["serve"]);
    assert_mentions(&stderr, &["bogus"]);
    let stderr = fails(
        &env.with("WCHECKOUT__SERVER__LISTEN", "nowhere"),
        &["serve"],
    );
    assert_mentions(&stderr, &["server.listen", "nowhere"]);
    let typed = file("typed.toml", "[database]\nmax_connections = \"many\"\n");
    let stderr = fails(&env, &["--config", &typed, "serve"]);
    assert_mentions(&stderr, &["max_connections"]);
    let missing = dir.path.join("missing.toml").display().to_string();
    let stderr = fails(&env, &["--config", &missing, "serve"]);
    assert_mentions(&stderr, &["missing.toml", "does not exist"]);

    // A valid Solana chain: accepted.
    let solana = file(
        "solana.toml",
        "[chains.SOL]\nfamily = \"solana\"\nnetwork = \"mainnet\"\n\
         rpc_urls = [\"https://api.mainnet-beta.solana.com\"]\n",
    );
    let ran = checks_valid(&env, &solana);
    assert_mentions(
        &ran.stdout,
        &[
            "[chains.SOL]",
            "family = \"solana\"",
            "network = \"mainnet\"",
        ],
    );

    // Chains and tokens from the environment keep their upper-case keys.
    let from_env = fixed(&dir.path)
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
    let ran = from_env.run(&["check-config"]);
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
    let ran = checks_valid(&env, &good);
    // What it prints is the effective configuration as TOML, not a debug dump.
    let printed: toml::Table = toml::from_str(&ran.stdout).unwrap();
    assert_eq!(printed["server"]["mode"].as_str(), Some("production"));
    assert!(!ran.stdout.contains("Config {"), "{}", ran.stdout);

    let sandbox = file("sandbox.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
    checks_valid(&fixed(&dir.path), &sandbox);
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

async fn token_refusal(server: &Gateway, creds: &Creds) -> String {
    match creds.client(server).access_token().await {
        Err(ClientError::Token { retcode, .. }) => retcode,
        other => panic!("the token endpoint should refuse these credentials: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_are_administered_from_the_command_line() {
    let dir = TempDir::new();
    let env = fixed(&dir.path);
    let data = dir.path.join("wcheckout-data");
    let mut server = env.serve("apps");

    let creds = Creds::parse(
        &env.run_ok(&[
            "app",
            "create",
            "--name",
            "Shop",
            "--webhook-url",
            "https://example.com/hook",
            "--ip-allow",
            "10.0.0.0/8,127.0.0.1/32",
            "--json",
        ])
        .stdout,
    );
    let client = creds.client(&server);
    let listed = signed(&client, "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(retcode(&listed), "200", "{listed}");

    let list_out = env.run_ok(&["app", "list", "--json"]).stdout;
    let apps: Value = serde_json::from_str(&list_out).unwrap();
    let apps = apps.as_array().expect("a JSON array");
    assert_eq!(apps.len(), 1, "{list_out}");
    let app = &apps[0];
    assert_eq!(app["appId"], creds.app_id.as_str());
    assert_eq!(app["apiKey"], creds.credentials.api_key.as_str());
    assert_eq!(app["name"], "Shop");
    assert_eq!(app["webhookUrl"], "https://example.com/hook");
    assert_eq!(app["ipAllow"], json!(["10.0.0.0/8", "127.0.0.1/32"]));
    assert_eq!(app["enabled"], true);

    let show_out = env.run_ok(&["app", "show", &creds.app_id]).stdout;
    let shown: Value = serde_json::from_str(&show_out).unwrap();
    assert_eq!(shown["appId"], creds.app_id.as_str());
    assert_eq!(shown["name"], "Shop");
    for output in [&list_out, &show_out] {
        assert!(
            !output.contains(&creds.credentials.api_secret),
            "apiSecret shown"
        );
        assert!(
            !output.contains(&creds.credentials.sign_key),
            "signKey shown"
        );
    }
    let unknown = env.run(&["app", "show", "app_doesnotexist"]);
    assert!(!unknown.status.success(), "{}", unknown.both());
    assert!(unknown.stderr.contains("not found"), "{}", unknown.stderr);

    let updated: Value = serde_json::from_str(
        &env.run_ok(&[
            "app",
            "update",
            &creds.app_id,
            "--name",
            "New",
            "--theme-color",
            "#112233",
            "--disable",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(updated["name"], "New");
    assert_eq!(updated["themeColor"], "#112233");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["webhookUrl"], "https://example.com/hook");
    let shown: Value =
        serde_json::from_str(&env.run_ok(&["app", "show", &creds.app_id]).stdout).unwrap();
    assert_eq!(shown["name"], "New");
    assert_eq!(shown["enabled"], false);
    // A disabled app gets no token and its tokens stop working.
    assert_eq!(token_refusal(&server, &creds).await, "00005");
    let refused = signed(&client, "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(retcode(&refused), "00004", "{refused}");
    let bad_color = env.run(&["app", "update", &creds.app_id, "--theme-color", "blue"]);
    assert!(!bad_color.status.success(), "{}", bad_color.both());
    assert!(
        bad_color.stderr.contains("theme-color"),
        "{}",
        bad_color.stderr
    );
    env.run_ok(&["app", "update", &creds.app_id, "--enable"]);
    let listed = signed(&client, "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(retcode(&listed), "200", "{listed}");

    // Rotation: the old apiSecret and old tokens are refused, the new credentials work.
    let rotated = Creds::parse(
        &env.run_ok(&["app", "rotate-secrets", &creds.app_id, "--json"])
            .stdout,
    );
    assert_eq!(rotated.app_id, creds.app_id);
    assert_ne!(rotated.credentials.api_secret, creds.credentials.api_secret);
    assert_ne!(rotated.credentials.sign_key, creds.credentials.sign_key);
    assert_eq!(token_refusal(&server, &creds).await, "00005");
    let stale = signed(&client, "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(retcode(&stale), "00004", "{stale}");
    let fresh = rotated.client(&server);
    let listed = signed(&fresh, "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(retcode(&listed), "200", "{listed}");
    create_order(&fresh, "admin-1", 600).await;
    let shown: Value =
        serde_json::from_str(&env.run_ok(&["app", "show", &creds.app_id]).stdout).unwrap();
    assert_eq!(shown["secretsVersion"], 2);

    // No secret in the database files, neither while running nor after shutdown.
    let secrets = [
        ("first apiSecret", creds.credentials.api_secret.as_str()),
        ("first signKey", creds.credentials.sign_key.as_str()),
        ("rotated apiSecret", rotated.credentials.api_secret.as_str()),
        ("rotated signKey", rotated.credentials.sign_key.as_str()),
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
    let env = fixed(&dir.path).with("WCHECKOUT__LOGGING__LEVEL", "debug");
    let mut server = env.serve("logged");
    let creds = env.create_app("Logged", &[]);
    let keys = &creds.credentials;
    let url = server.url();
    let http = reqwest::Client::new();
    let token_url = format!("{url}{}", routes::TOKEN);

    // The token endpoint, credentials in the query string (as the client sends them).
    let client = creds.client(&server);
    let access_token = client.access_token().await.unwrap();
    create_order(&client, "logged-1", 600).await;
    order_info(&client, "logged-1").await;
    let listed = signed(&client, "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(retcode(&listed), "200");
    let cancel = routes::with_query(routes::CANCEL_ORDER, "orderNo", "logged-1");
    let cancelled = signed(&client, "GET", &cancel, "").await;
    assert_eq!(retcode(&cancelled), "200", "{cancelled}");

    // The same credentials as a form and as JSON, then the refresh grant.
    let mut tokens = vec![access_token];
    let form = json_answer(http.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("api_key", keys.api_key.as_str()),
        ("api_secret", keys.api_secret.as_str()),
    ]))
    .await;
    assert_eq!(retcode(&form), "200", "{form}");
    let as_json = json_answer(http.post(&token_url).json(
        &json!({"grantType": "client_credentials", "apiKey": keys.api_key,
                      "apiSecret": keys.api_secret}),
    ))
    .await;
    assert_eq!(retcode(&as_json), "200", "{as_json}");
    let refresh_token = as_json["retdata"]["refresh_token"].as_str().unwrap();
    let refreshed = json_answer(http.post(&token_url).query(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ]))
    .await;
    assert_eq!(retcode(&refreshed), "200", "{refreshed}");
    for response in [&form, &as_json, &refreshed] {
        for field in ["access_token", "refresh_token"] {
            tokens.push(response["retdata"][field].as_str().unwrap().to_owned());
        }
    }

    // Refusals that carry secrets: a wrong apiSecret, an unknown bearer token.
    let wrong_secret = "WRONGSECRETzq8Xv3Lm0Pw7";
    let refused = json_answer(http.post(&token_url).query(&[
        ("grant_type", "client_credentials"),
        ("api_key", keys.api_key.as_str()),
        ("api_secret", wrong_secret),
    ]))
    .await;
    assert_eq!(retcode(&refused), "00005", "{refused}");
    let unknown_token = "UNKNOWNTOKENr4Tn9Qk2Bv6";
    let refused = json_answer(
        http.post(format!("{url}{}", routes::LIST_ORDERS))
            .bearer_auth(unknown_token)
            .header("SIGNATURE", "c2lnbmF0dXJl")
            .header("TIMESTAMP", "1636360661729")
            .body("{}"),
    )
    .await;
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
            ("apiSecret", keys.api_secret.as_str()),
            ("signKey", keys.sign_key.as_str()),
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

/// `wcheckout call --url URL --credentials FILE REQUEST…`, which must succeed and find the
/// response signature valid; the JSON envelope it printed.
fn called(cli: &Cli, url: &str, credentials: &str, request: &[&str], stdin: Option<&str>) -> Value {
    let mut args = vec!["call", "--url", url, "--credentials", credentials];
    args.extend(request);
    let ran = cli.run_with(&args, stdin, COMMAND_TIMEOUT).ok();
    assert!(
        ran.stderr.contains("response signature: valid"),
        "{}",
        ran.stderr
    );
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("not one JSON envelope ({e}):\n{}", ran.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_and_sign_commands() {
    let dir = TempDir::new();
    let env = fixed(&dir.path);
    let server = env.serve("calls");
    let created = env
        .run_ok(&["app", "create", "--name", "Caller", "--json"])
        .stdout;
    Creds::parse(&created);
    let credentials = dir.path.join("credentials.json");
    fs::write(&credentials, &created).unwrap();
    let credentials = credentials.display().to_string();
    let url = server.url();

    let call = |request: &[&str], stdin| called(&env, &url, &credentials, request, stdin);
    let answer = call(
        &["POST", routes::CREATE_ORDER, &order_body("called-1", 900)],
        None,
    );
    assert_eq!(retcode(&answer), "200", "{answer}");
    assert_eq!(answer["retdata"]["orderNo"], "called-1");

    // A query string, and a body read from stdin.
    let info_path = routes::with_query(routes::ORDER_INFO, "orderNo", "called-1");
    let info = call(&["GET", &info_path], None);
    assert_eq!(info["retdata"]["orderStatus"], "PAYING", "{info}");
    let list = call(
        &["POST", routes::LIST_ORDERS, "-"],
        Some(r#"{"pageNo": 1, "pageSize": 5}"#),
    );
    assert_eq!(retcode(&list), "200", "{list}");
    assert_eq!(list["retdata"]["total"], 1, "{list}");

    // The docs' example signature.
    let ran = Cli::new(&dir.path).run(&[
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
    ]);
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
    let env = fixed(&dir.path).with("WCHECKOUT__DATABASE__URL", database_url);
    let mut server = env.serve("first");
    let creds = env.create_app("Expiry", &[]);
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
    let mut server = env.serve("restarted");
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
    let server = env.serve("after-deadline");
    let client = creds.client(&server);
    let listening = server.startup();
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

on_both_databases!(expiry_survives_restarts);

// ---------------------------------------------------------------------------------------------
// 7. Several processes on one PostgreSQL database
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_share_postgres() {
    let Some(database) = fresh_postgres("several_processes_share_postgres").await else {
        return;
    };
    let dir = TempDir::new();
    let env = fixed(&dir.path).with("WCHECKOUT__DATABASE__URL", &database.url);
    // Both start at once: they migrate the empty database concurrently.
    let first = env.start("first");
    let second = env.start("second");
    let servers = [first.ready(), second.ready()];
    let creds = env.create_app("Shared", &[]);
    let clients: Vec<Arc<Client>> = servers
        .iter()
        .map(|server| Arc::new(creds.client(server)))
        .collect();

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..200 {
        let client = Arc::clone(&clients[i % 2]);
        calls.spawn(async move {
            let body = order_body(&format!("shared-{i:03}"), 1800);
            signed(&client, "POST", routes::CREATE_ORDER, &body).await
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
            signed(&client, "POST", routes::CREATE_ORDER, &body).await
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

    let listed = signed(&clients[0], "POST", routes::LIST_ORDERS, "{}").await;
    assert_eq!(listed["retdata"]["total"], 201, "{listed}");
    for server in &servers {
        assert_eq!(
            health(server).await,
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
    let mut verify = Command::new(analyze);
    verify.arg("verify").arg(&path);
    let ran = run_to_end(verify, None, COMMAND_TIMEOUT);
    let said = ran.stderr;
    assert!(
        ran.status.success(),
        "systemd-analyze verify failed:\n{said}"
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned:\n{said}"
    );
}
