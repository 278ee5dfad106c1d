//! The outbound side: posts webhook bodies to integrators' endpoints without letting a webhook
//! URL reach into the operator's own network. Names are resolved by a resolver that drops
//! private, loopback and link-local addresses (unless allowed), literal IPs are checked the same
//! way, redirects are not followed, and only a bounded part of the answer is read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use wcheckout_domain::ports::{ReceiverAnswer, WebhookSender};

/// Most of an answer read from a receiver.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Which targets webhooks may reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow private, loopback and link-local addresses (sandboxes, tests).
    pub allow_private: bool,
    /// Refuse plain `http://` URLs.
    pub require_https: bool,
}

/// True for addresses a webhook must not reach unless the operator allows it: private,
/// loopback, link-local, shared (CGNAT), unspecified, multicast, broadcast, documentation,
/// benchmarking and reserved ranges, and their IPv4-mapped IPv6 forms.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
}

/// Resolves names, keeping only the addresses the policy allows.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .collect::<Vec<_>>();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || !is_internal(a.ip()))
                .collect();
            if allowed.is_empty() {
                let ips = found
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(format!("{host} resolves only to internal addresses ({ips}), which webhooks may not reach").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// Posts webhooks over HTTP(S).
pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl HttpWebhookSender {
    /// A sender applying `policy`.
    pub fn new(policy: TargetPolicy) -> Result<HttpWebhookSender, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wcheckout-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpWebhookSender { client, policy })
    }

    /// Refuses a URL the policy does not allow, before anything is sent.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if !self.policy.require_https => {}
            "http" => {
                return Err("webhook URLs must use https here (webhooks.require_https)".into());
            }
            other => return Err(format!("webhook URL scheme {other} is not http(s)")),
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err("webhook URL has no host".into()),
        };
        if let Some(ip) = literal.filter(|ip| !self.policy.allow_private && is_internal(*ip)) {
            return Err(format!(
                "{ip} is an internal address, which webhooks may not reach"
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
        timeout: Duration,
    ) -> Result<ReceiverAnswer, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid webhook URL: {e}"))?;
        self.check_url(&parsed)?;
        let mut request = self
            .client
            .post(parsed)
            .timeout(timeout)
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let mut answer = Vec::new();
        while answer.len() < MAX_ANSWER_BYTES {
            match response.chunk().await.map_err(describe)? {
                Some(chunk) => answer.extend_from_slice(&chunk),
                None => break,
            }
        }
        answer.truncate(MAX_ANSWER_BYTES);
        Ok(ReceiverAnswer {
            status,
            body: answer,
        })
    }
}

/// A transport error with its cause chain (reqwest puts the useful part in the source).
fn describe(error: reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "100.128.0.1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_sending() {
        let strict = HttpWebhookSender::new(TargetPolicy {
            allow_private: false,
            require_https: true,
        })
        .unwrap();
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(strict.check_url(&url("https://example.com/hook")).is_ok());
        assert!(
            strict
                .check_url(&url("http://example.com/hook"))
                .unwrap_err()
                .contains("https")
        );
        assert!(
            strict
                .check_url(&url("https://127.0.0.1/hook"))
                .unwrap_err()
                .contains("internal")
        );
        assert!(
            strict
                .check_url(&url("https://[::1]/hook"))
                .unwrap_err()
                .contains("internal")
        );
        assert!(strict.check_url(&url("ftp://example.com/")).is_err());
        let open = HttpWebhookSender::new(TargetPolicy {
            allow_private: true,
            require_https: false,
        })
        .unwrap();
        assert!(open.check_url(&url("http://127.0.0.1:9000/hook")).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused() {
        let strict = HttpWebhookSender::new(TargetPolicy {
            allow_private: false,
            require_https: false,
        })
        .unwrap();
        let error = strict
            .post("http://localhost:9/hook", &[], "{}", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(error.contains("internal addresses"), "{error}");
    }
}
