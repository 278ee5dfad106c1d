//! The outbound side: posts webhook bodies to integrators' endpoints without letting a webhook
//! URL reach into the operator's own network. Names are resolved by a resolver that drops
//! every address that is not public (unless allowed), literal IPs are checked the same way,
//! redirects are not followed, and only a bounded part of the answer is read.
//!
//! Proxies from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are ignored: a proxy
//! would resolve and reach what the guard refuses. Only a proxy the operator configures
//! (`webhooks.proxy_url`) is used, and it is then the operator's egress control: names are
//! resolved by the proxy, so the guard sees only literal IPs in webhook URLs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use wcheckout_domain::ports::{DeliveryError, ReceiverAnswer, WebhookSender};

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

/// True for addresses a webhook must not reach unless the operator allows it: every IPv4
/// address that is not public (private, loopback, link-local, shared, reserved …) and every
/// IPv6 address that is not global unicast (see [`internal_v6`]).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
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

/// An IPv6 address is internal unless it is global unicast: inside `2000::/3` and outside the
/// special ranges there. Everything else — loopback, unspecified, IPv4-compatible `::a.b.c.d`,
/// NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, discard `100::/64`, ULA `fc00::/7`, link-local
/// `fe80::/10`, site-local `fec0::/10`, multicast — lies outside `2000::/3`. An IPv4-mapped
/// address (`::ffff:a.b.c.d`) is the IPv4 address it carries, and is judged as that.
fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let [first, second, ..] = ip.segments();
    let global_unicast = (first & 0xe000) == 0x2000;
    !global_unicast || special_in_global_unicast(first, second)
}

/// The special-purpose ranges inside `2000::/3`, none of which is an integrator's endpoint.
fn special_in_global_unicast(first: u16, second: u16) -> bool {
    match first {
        // 2001::/23: IETF protocol assignments (Teredo 2001::/32, benchmarking 2001:2::/48,
        // ORCHID 2001:10::/28 and 2001:20::/28, …); 2001:db8::/32: documentation.
        0x2001 => second < 0x0200 || second == 0x0db8,
        // 2002::/16: 6to4, which embeds an IPv4 address.
        0x2002 => true,
        // 3fff::/20: documentation.
        0x3fff => second < 0x1000,
        _ => false,
    }
}

/// Resolves names, keeping only the addresses the policy allows. The configured proxy's own
/// name is exempt: the operator chose it, and it is usually on the operator's network.
struct GuardedResolver {
    allow_private: bool,
    proxy_host: Option<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let is_proxy = self
            .proxy_host
            .as_deref()
            .is_some_and(|proxy| proxy.eq_ignore_ascii_case(name.as_str()));
        let allow_private = self.allow_private || is_proxy;
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
    /// A sender applying `policy`, connecting directly (proxies in the environment are ignored)
    /// unless `proxy_url` names the operator's egress proxy, through which every delivery then goes.
    pub fn new(policy: TargetPolicy, proxy_url: Option<&str>) -> Result<HttpWebhookSender, String> {
        let proxy = proxy_url
            .map(egress_proxy)
            .transpose()
            .map_err(|e| format!("webhook proxy URL {e}"))?;
        let resolver = GuardedResolver {
            allow_private: policy.allow_private,
            proxy_host: proxy.as_ref().map(|(_, host)| host.clone()),
        };
        let builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wcheckout-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30));
        let builder = match proxy {
            Some((proxy, _)) => builder.proxy(proxy),
            None => builder.no_proxy(),
        };
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(HttpWebhookSender { client, policy })
    }

    /// Refuses a URL the policy does not allow, before anything is sent.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), DeliveryError> {
        let refused = |why: String| Err(DeliveryError::Refused(why));
        match url.scheme() {
            "https" => {}
            "http" if !self.policy.require_https => {}
            "http" => {
                return refused("webhook URLs must use https here (webhooks.require_https)".into());
            }
            other => return refused(format!("webhook URL scheme {other} is not http(s)")),
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return refused("webhook URL has no host".into()),
        };
        if let Some(ip) = literal.filter(|ip| !self.policy.allow_private && is_internal(*ip)) {
            return refused(format!(
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
    ) -> Result<ReceiverAnswer, DeliveryError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| DeliveryError::Refused(format!("invalid webhook URL: {e}")))?;
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

/// Checks an egress proxy URL (`webhooks.proxy_url`): `http://` or `https://` with a host.
/// The message never repeats the URL, which may carry credentials.
pub fn check_proxy_url(proxy_url: &str) -> Result<(), String> {
    egress_proxy(proxy_url).map(|_| ())
}

/// The proxy every delivery goes through, and its host name (for the resolver's exemption).
fn egress_proxy(proxy_url: &str) -> Result<(reqwest::Proxy, String), String> {
    let invalid = || "must be an http:// or https:// URL with a host".to_owned();
    let url = reqwest::Url::parse(proxy_url).map_err(|_| invalid())?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_owned(),
        Some(_) => String::new(),
        None => return Err(invalid()),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid());
    }
    let proxy = reqwest::Proxy::all(url).map_err(|_| invalid())?;
    Ok((proxy, host))
}

/// A transport error with its cause chain (reqwest puts the useful part in the source).
fn describe(error: reqwest::Error) -> DeliveryError {
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
    DeliveryError::Transport(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn strict() -> HttpWebhookSender {
        HttpWebhookSender::new(
            TargetPolicy {
                allow_private: false,
                require_https: false,
            },
            None,
        )
        .unwrap()
    }

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
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "100.128.0.1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    /// Every IPv6 form that is not global unicast, in particular those embedding an IPv4
    /// address that would reach the operator's network (here 127.0.0.1 and 10.0.0.1).
    #[test]
    fn ipv6_that_is_not_global_unicast_is_internal() {
        for (ip, form) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::10.0.0.1", "IPv4-compatible"),
            (
                "::8.8.8.8",
                "IPv4-compatible (deprecated form, never global)",
            ),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:0:7f00:1", "IPv4-translated"),
            ("64:ff9b::7f00:1", "NAT64 well-known prefix"),
            ("64:ff9b::a00:1", "NAT64 well-known prefix"),
            ("64:ff9b::808:808", "NAT64 well-known prefix"),
            ("64:ff9b:1::a00:1", "NAT64 local-use prefix"),
            ("100::1", "discard"),
            ("2001::7f00:1", "Teredo"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:10::1", "ORCHID"),
            ("2001:20::1", "ORCHIDv2"),
            ("2001:1ff::1", "IETF protocol assignments"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2002:7f00:1::1", "6to4"),
            ("2002:a00:1::1", "6to4"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("4000::1", "outside 2000::/3"),
            ("1fff::1", "outside 2000::/3"),
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip} ({form})");
        }
    }

    #[test]
    fn urls_are_checked_before_sending() {
        let strict = HttpWebhookSender::new(
            TargetPolicy {
                allow_private: false,
                require_https: true,
            },
            None,
        )
        .unwrap();
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(strict.check_url(&url("https://example.com/hook")).is_ok());
        assert!(
            strict
                .check_url(&url("https://[2606:4700::1111]/hook"))
                .is_ok()
        );
        assert!(
            strict
                .check_url(&url("http://example.com/hook"))
                .unwrap_err()
                .to_string()
                .contains("https")
        );
        for internal in [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::127.0.0.1]/hook",
            "https://[::ffff:169.254.169.254]/hook",
            "https://[64:ff9b::a9fe:a9fe]/hook",
            "https://[2002:a9fe:a9fe::1]/hook",
            "https://[2001::1]/hook",
            "https://[fec0::1]/hook",
            "https://2130706433/hook",
            "https://0x7f.1/hook",
        ] {
            assert!(
                strict
                    .check_url(&url(internal))
                    .unwrap_err()
                    .to_string()
                    .contains("internal"),
                "{internal}"
            );
        }
        assert!(strict.check_url(&url("ftp://example.com/")).is_err());
        let open = HttpWebhookSender::new(
            TargetPolicy {
                allow_private: true,
                require_https: false,
            },
            None,
        )
        .unwrap();
        assert!(open.check_url(&url("http://127.0.0.1:9000/hook")).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused() {
        let error = strict()
            .post("http://localhost:9/hook", &[], "{}", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("internal addresses"), "{error}");
    }

    /// Accepts one connection, returns the request head it read and answers 200.
    async fn answer_once(listener: TcpListener) -> String {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buffer).await.unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nSUCCESS")
            .await
            .unwrap();
        String::from_utf8_lossy(&head).into_owned()
    }

    /// Set by [`environment_proxies_are_ignored`] in the child process it starts.
    const CHILD_MARKER: &str = "WCHECKOUT_TEST_ENV_PROXY_CHILD";

    /// A proxy named by `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` is not used: the delivery goes
    /// straight to the receiver. The variables are process-wide, so the sender is built in a
    /// child process (this test binary running only this test) started with them set.
    #[tokio::test]
    async fn environment_proxies_are_ignored() {
        if std::env::var_os(CHILD_MARKER).is_some() {
            return deliver_directly_despite_environment_proxy().await;
        }
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        proxy.set_nonblocking(true).unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "webhook_client::tests::environment_proxies_are_ignored",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_MARKER, "1")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            child.env(name, &proxy_url);
        }
        let output = tokio::task::spawn_blocking(move || child.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            proxy.accept().is_err(),
            "the environment's proxy was contacted"
        );
    }

    async fn deliver_directly_despite_environment_proxy() {
        assert!(std::env::var("HTTP_PROXY").is_ok_and(|p| p.starts_with("http://127.0.0.1:")));
        let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", receiver.local_addr().unwrap());
        let received = tokio::spawn(answer_once(receiver));
        let sender = HttpWebhookSender::new(
            TargetPolicy {
                allow_private: true,
                require_https: false,
            },
            None,
        )
        .unwrap();
        let answer = sender
            .post(&url, &[], "{}", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let head = received.await.unwrap();
        assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    }

    /// A configured proxy carries every delivery, even to a name this machine cannot resolve
    /// and with private targets refused: the proxy resolves it, and the proxy's own name
    /// (`localhost` here) is not refused by the guard.
    #[tokio::test]
    async fn a_configured_proxy_carries_every_delivery() {
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://localhost:{}", proxy.local_addr().unwrap().port());
        let received = tokio::spawn(answer_once(proxy));
        let sender = HttpWebhookSender::new(
            TargetPolicy {
                allow_private: false,
                require_https: false,
            },
            Some(&proxy_url),
        )
        .unwrap();
        let answer = sender
            .post(
                "http://receiver.invalid/hook",
                &[],
                "{}",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        let head = received.await.unwrap();
        assert!(
            head.starts_with("POST http://receiver.invalid/hook HTTP/1.1"),
            "{head}"
        );
        // Literal internal IPs in webhook URLs are still refused before anything is sent.
        let error = sender
            .post("http://10.0.0.1/hook", &[], "{}", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("internal"), "{error}");
    }

    #[test]
    fn proxy_urls_are_checked_without_repeating_them() {
        assert!(check_proxy_url("http://proxy.internal:3128").is_ok());
        assert!(check_proxy_url("https://user:pass@10.0.0.5:3128").is_ok());
        for bad in [
            "socks5://user:secret@proxy:1080",
            "ftp://user:secret@proxy",
            "user:secret@proxy:3128",
            "http://",
            "",
        ] {
            let error = check_proxy_url(bad).unwrap_err();
            assert!(!error.contains("secret"), "{error}");
        }
        assert!(
            HttpWebhookSender::new(
                TargetPolicy {
                    allow_private: false,
                    require_https: true,
                },
                Some("socks5://proxy:1080"),
            )
            .is_err()
        );
    }
}
