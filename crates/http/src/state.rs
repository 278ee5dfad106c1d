//! What every handler can reach.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use wcheckout_app::Gateway;
use wcheckout_domain::app::IpNetwork;

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// The use cases.
    pub gateway: Arc<Gateway>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<IpNetwork>>,
    /// Prometheus exposition, when metrics are installed.
    pub metrics: Option<PrometheusHandle>,
}
