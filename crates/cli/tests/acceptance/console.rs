//! The operator console: its accounts (`wcheckout operator …`) and audit log, on both engines.

use serde_json::{Value, json};
use wcheckout_app::secrets::verify_password;
use wcheckout_domain::operator::ConsoleAction;
use wcheckout_domain::ports::OperatorStore;
use wcheckout_store::{SqlStore, StoreOptions};
use wcheckout_testkit::TempDir;

use crate::common::process::{Cli, config_head};
use crate::on_both_databases;

/// 32 bytes as 64 hex digits.
const MASTER_KEY: &str = "8a1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PASSWORD: &str = "correct horse battery";

/// `wcheckout operator create --name NAME --role ROLE [EXTRA] --password-stdin` fed `password`.
fn create_operator(cli: &Cli, name: &str, role: &str, extra: &[&str], password: &str) -> String {
    let mut args = vec!["operator", "create", "--name", name, "--role", role];
    args.extend(extra);
    args.push("--password-stdin");
    let ran = cli.run_with(
        &args,
        Some(password),
        crate::common::process::COMMAND_TIMEOUT,
    );
    assert!(!ran.both().contains(password), "{}", ran.both());
    if ran.status.success() {
        ran.stdout
    } else {
        format!("error {}", ran.stderr)
    }
}

fn operators(cli: &Cli) -> Value {
    cli.json(&["operator", "list", "--json"])
}

async fn operators_are_administered_from_the_command_line(label: &str, database_url: &str) {
    let dir = TempDir::new();
    let cli = Cli::configured(&dir.path, &config_head(database_url, MASTER_KEY));
    let app = cli.create_app("Shop", &[]).app_id;
    let created = create_operator(&cli, "alice", "admin", &[], &format!("{PASSWORD}\n"));
    assert_eq!(
        created.trim(),
        "alice  admin  all apps  ACTIVE",
        "[{label}]"
    );
    let created = create_operator(&cli, "bob", "finance", &["--app", &app], PASSWORD);
    assert_eq!(created.trim(), format!("bob  finance  {app}  ACTIVE"));
    let listed = json!([
        {"name": "alice", "role": "admin", "appId": null, "status": "ACTIVE"},
        {"name": "bob", "role": "finance", "appId": app, "status": "ACTIVE"},
    ]);
    let without_times = |mut list: Value| {
        for operator in list.as_array_mut().unwrap() {
            assert!(operator["createdTime"].is_string(), "{operator}");
            operator.as_object_mut().unwrap().remove("createdTime");
        }
        list
    };
    assert_eq!(without_times(operators(&cli)), listed, "[{label}]");

    let refusals = [
        (
            "alice",
            "viewer",
            vec![],
            PASSWORD,
            "operator 'alice' exists already",
        ),
        (
            "carol",
            "root",
            vec![],
            PASSWORD,
            "role: must be viewer, support, finance or admin",
        ),
        (
            "carol x",
            "viewer",
            vec![],
            PASSWORD,
            "name: must be 1 to 64 characters",
        ),
        (
            "carol",
            "viewer",
            vec![],
            "short",
            "password: must be 12 to 1024 characters",
        ),
        (
            "carol",
            "viewer",
            vec!["--app", "app_nope"],
            PASSWORD,
            "app 'app_nope' not found",
        ),
    ];
    for (name, role, extra, password, message) in refusals {
        let refused = create_operator(&cli, name, role, &extra, password);
        assert!(
            refused.starts_with("error ") && refused.contains(message),
            "{refused}"
        );
    }
    let unasked = cli.run_with(
        &["operator", "create", "--name", "carol", "--role", "viewer"],
        Some(PASSWORD),
        crate::common::process::COMMAND_TIMEOUT,
    );
    assert!(unasked.failed().stderr.contains("--password-stdin"));
    assert_eq!(
        without_times(operators(&cli)),
        listed,
        "refusals change nothing"
    );

    let disabled = cli.run_ok(&["operator", "disable", "bob"]).stdout;
    assert_eq!(disabled.trim(), format!("bob  finance  {app}  DISABLED"));
    let again = cli.run_fails(&["operator", "disable", "bob"]).stderr;
    assert!(
        again.contains("operator 'bob' is disabled already"),
        "{again}"
    );
    let unknown = cli.run_fails(&["operator", "disable", "nobody"]).stderr;
    assert!(unknown.contains("operator 'nobody' not found"), "{unknown}");

    let store = SqlStore::open(database_url, &StoreOptions::default())
        .await
        .unwrap();
    let alice = store.operator("alice").await.unwrap().unwrap();
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(
        verify_password(PASSWORD, &alice.password_hash),
        "the line break is not part of it"
    );
    let audit: Vec<_> = store
        .audit_log(10)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| {
            assert_eq!(
                (entry.action, entry.operator.as_str(), entry.client.as_str()),
                (ConsoleAction::ManageOperators, "cli", "local")
            );
            entry.target
        })
        .collect();
    assert_eq!(audit, ["bob", "bob", "alice"], "newest first");
    store.close().await;
}

on_both_databases!(operators_are_administered_from_the_command_line);
