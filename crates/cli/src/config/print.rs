//! The configuration as `check-config` prints it: TOML in the example file's layout, secrets
//! redacted.

use super::schema::*;

/// What stands in the printed configuration for a secret.
pub const REDACTED: &str = "[REDACTED]";

impl Config {
    /// The configuration as TOML, in the layout of `config/wcheckout.example.toml` (its sections
    /// in its order), every secret replaced by [`REDACTED`]: the seed, the master key, the
    /// webhook proxy URL and a password in the database URL.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        let mut shown = self.clone();
        let redact = |secret: &mut Option<String>| {
            if secret.is_some() {
                *secret = Some(REDACTED.to_owned());
            }
        };
        redact(&mut shown.keys.seed);
        redact(&mut shown.keys.master_key);
        if shown.webhooks.proxy_url.is_some() {
            shown.webhooks.proxy_url = Some(ProxyUrl(REDACTED.to_owned()));
        }
        shown.database.url = without_password(&shown.database.url);
        toml::to_string(&shown)
    }
}

/// A URL with the password of its user part replaced: `postgres://u:pw@h/db` →
/// `postgres://u:[REDACTED]@h/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_part, host)) => match user_part.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:{REDACTED}@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
