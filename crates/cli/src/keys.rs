//! The operator's key material: the BIP-39 seed (deposit addresses, payout keys) and the
//! master key (seals `signKey`s). Production reads both from files or the environment; a
//! sandbox without them gets fresh ones generated into the data directory, said loudly.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use wcheckout_app::secrets::{MASTER_KEY_LEN, generate_master_key};

use crate::config::{Config, Mode};

/// Resolved key material.
pub struct KeyMaterial {
    /// BIP-39 mnemonic.
    pub seed: SecretString,
    /// 32-byte master key.
    pub master_key: SecretBox<[u8; MASTER_KEY_LEN]>,
}

fn read_secret_file(path: &Path, what: &str) -> anyhow::Result<SecretString> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} file {}", path.display()))?;
    Ok(SecretString::from(text.trim().to_owned()))
}

/// Writes a new secret file readable by its owner only; refuses to overwrite.
pub(crate) fn write_secret_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::runtime::create_private_dir(dir)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

/// Says `message` once: as a banner to a person at a terminal, or as a log line where stderr
/// is collected (a service manager, a file), where a banner would break the log's format.
fn loud(message: &str) {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let line = "!".repeat(78);
        eprintln!("{line}\n{message}\n{line}");
    } else {
        tracing::warn!("{message}");
    }
}

fn sandbox_secret(
    config: &Config,
    file_name: &str,
    what: &str,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<SecretString> {
    let path = config.server.data_dir.join(file_name);
    if path.exists() {
        return read_secret_file(&path, what);
    }
    if config.server.mode == Mode::Production {
        bail!("production mode needs the {what} configured (keys section)");
    }
    write_secret_file(&path, &generate())?;
    loud(&format!(
        "SANDBOX: generated a new {what} in {} (mode 0600).\nBack it up. For production, \
         configure keys.* and keep it out of the data directory.",
        path.display()
    ));
    read_secret_file(&path, what)
}

fn parse_master_key(hex_text: &SecretString) -> anyhow::Result<SecretBox<[u8; MASTER_KEY_LEN]>> {
    let mut key = [0u8; MASTER_KEY_LEN];
    hex::decode_to_slice(hex_text.expose_secret().trim(), &mut key).map_err(|_| {
        anyhow::anyhow!("keys.master_key: must be {} hex digits", MASTER_KEY_LEN * 2)
    })?;
    Ok(SecretBox::new(Box::new(key)))
}

/// Reads (or, in a sandbox, creates) the seed and master key.
pub fn resolve(config: &Config) -> anyhow::Result<KeyMaterial> {
    let keys = &config.keys;
    let seed = match (&keys.seed, &keys.seed_file) {
        (Some(seed), _) => SecretString::from(seed.clone()),
        (None, Some(file)) => read_secret_file(file, "seed")?,
        (None, None) => sandbox_secret(config, "seed.txt", "seed", || {
            wcheckout_evm::keys::generate_mnemonic()
                .expose_secret()
                .to_owned()
        })?,
    };
    let master_hex = match (&keys.master_key, &keys.master_key_file) {
        (Some(key), _) => SecretString::from(key.clone()),
        (None, Some(file)) => read_secret_file(file, "master key")?,
        (None, None) => sandbox_secret(config, "master.key", "master key", || {
            hex::encode(generate_master_key())
        })?,
    };
    Ok(KeyMaterial {
        seed,
        master_key: parse_master_key(&master_hex)?,
    })
}
