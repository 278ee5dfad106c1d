//! `wcheckout operator …`: the console's operator accounts.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use secrecy::{ExposeSecret as _, SecretString};
use wcheckout_app::clock::SystemClock;
use wcheckout_app::operators::{Actor, OperatorAdmin, OperatorSummary};
use wcheckout_app::secrets::SecretBox;

use crate::keys;
use crate::runtime::{load_config, open_store};

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Create an account; its password is read from stdin and stored as an Argon2id hash.
    Create {
        /// Sign-in name: letters, digits, '.', '_', '-' or '@'.
        #[arg(long)]
        name: String,
        /// viewer, support, finance or admin.
        #[arg(long)]
        role: String,
        /// Bind the account to one app: it sees only that app's data.
        #[arg(long = "app")]
        app_id: Option<String>,
        /// Read the password from stdin (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it can no longer sign in, and its sessions end.
    Disable {
        /// Sign-in name.
        name: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// Sign-in name.
        name: String,
    },
    /// Set an account's password (read from stdin), without the current one: every session of
    /// the account ends. For an operator who forgot theirs; one who knows it changes it on the
    /// console's account page.
    Password {
        /// Sign-in name.
        name: String,
        /// Read the password from stdin (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Switch an account's second factor (TOTP) on or off.
    Totp {
        /// Sign-in name.
        name: String,
        /// Switch it on with a new secret: prints the otpauth:// URI for the account's
        /// authenticator app, this once.
        #[arg(long, conflicts_with = "disable", required_unless_present = "disable")]
        enable: bool,
        /// Switch it off: the account signs in with its password alone, and can enrol again.
        #[arg(long)]
        disable: bool,
    },
}

pub async fn run(config_file: Option<PathBuf>, command: OperatorCommand) -> anyhow::Result<()> {
    let config = load_config(config_file.as_deref())?;
    // Only enrolment seals a secret: the other commands run without the master key.
    let secrets = match &command {
        OperatorCommand::Totp { enable: true, .. } => {
            Some(SecretBox::new(&keys::resolve(&config)?.master_key))
        }
        _ => None,
    };
    let store = open_store(&config).await?;
    let admin = OperatorAdmin::new(store.clone(), Arc::new(SystemClock));
    let result = execute(&admin, secrets.as_ref(), command).await;
    store.close().await;
    result
}

async fn execute(
    admin: &OperatorAdmin,
    secrets: Option<&SecretBox>,
    command: OperatorCommand,
) -> anyhow::Result<()> {
    let fail = |e: wcheckout_app::ServiceError| anyhow::anyhow!(e.public_message());
    let actor = Actor::command_line();
    match command {
        OperatorCommand::Create {
            name,
            role,
            app_id,
            password_stdin: _,
        } => {
            let password = password_from_stdin()?;
            let created = admin.create(&actor, &name, &role, app_id.as_deref(), &password);
            print_line(&created.await.map_err(fail)?);
        }
        OperatorCommand::List { json } => {
            let operators = admin.list().await.map_err(fail)?;
            if json {
                println!("{}", serde_json::to_string(&operators)?);
            } else {
                operators.iter().for_each(print_line);
            }
        }
        OperatorCommand::Disable { name } => {
            print_line(&admin.disable(&actor, &name).await.map_err(fail)?);
        }
        OperatorCommand::Enable { name } => {
            print_line(&admin.enable(&actor, &name).await.map_err(fail)?);
        }
        OperatorCommand::Password {
            name,
            password_stdin: _,
        } => {
            let password = password_from_stdin()?;
            let set = admin.set_password(&actor, &name, &password);
            print_line(&set.await.map_err(fail)?);
            println!("Password set; every session of '{name}' has ended.");
        }
        OperatorCommand::Totp {
            name, enable: true, ..
        } => {
            let secrets = secrets.context("the master key is needed to enrol")?;
            let (operator, uri) = admin
                .enable_totp(&actor, &name, secrets)
                .await
                .map_err(fail)?;
            print_line(&operator);
            println!("{}", uri.expose_secret());
            println!("Add this URI to the account's authenticator app now: it is not shown again.");
        }
        OperatorCommand::Totp { name, .. } => {
            print_line(&admin.reset_totp(&actor, &name).await.map_err(fail)?);
        }
    }
    Ok(())
}

fn print_line(operator: &OperatorSummary) {
    let app = operator.app_id.as_deref().unwrap_or("all apps");
    let totp = if operator.totp { "  TOTP" } else { "" };
    println!(
        "{}  {}  {app}  {}{totp}",
        operator.name, operator.role, operator.status
    );
}

/// The password: stdin up to its end, without the line break a shell or `echo` adds.
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from stdin")?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(SecretString::from(line.to_owned()))
}
