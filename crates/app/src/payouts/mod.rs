//! The payout engine: one per chain, under a lease so only one process sends from an address.
//! Each round it follows the payouts already signed (receipts to the chain's finality, lost
//! transactions rebroadcast, stuck ones replaced with higher fees at the same nonce, or on a
//! chain whose transactions expire, a fresh one signed once the last is dead), signs the
//! queued ones (after checking funds and gas) and plans sweeps. Every transaction is stored
//! before it is broadcast and keeps its payout's nonce (or is signed again only when no block
//! can hold the previous one any more), so a crash or retry never pays twice.

mod effects;
mod follow;
mod renew;
mod sign;
mod sweep;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use wcheckout_domain::address::Address;
use wcheckout_domain::chain::{ChainError, ChainReader, ChainWriter};
use wcheckout_domain::ids::{SysidKind, compose_sysid};
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::money::TokenAmount;
use wcheckout_domain::payout::{Payout, PayoutKind, PayoutStatus, Signer};
use wcheckout_domain::ports::StoreError;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{Chain, ChainKey, TokenId};

pub use effects::Mined;
pub use sweep::SweepSettings;

use crate::error::ServiceError;
use crate::gateway::Gateway;
use crate::outage::Outage;
use crate::secrets::sysid_suffix;

/// A payout before it is recorded.
#[derive(Clone, Debug)]
pub(crate) struct PayoutDraft {
    pub chain: ChainKey,
    pub kind: PayoutKind,
    pub reference: String,
    pub signer: Signer,
    pub from: Address,
    pub to: Address,
    pub asset: Asset,
    pub amount: TokenAmount,
}

impl PayoutDraft {
    /// The payout, queued now.
    pub(crate) fn queued(self, now: Timestamp) -> Payout {
        Payout {
            id: compose_sysid(SysidKind::Payout, now, sysid_suffix()),
            chain: self.chain,
            kind: self.kind,
            reference: self.reference,
            signer: self.signer,
            from: self.from,
            to: self.to,
            asset: self.asset,
            amount: self.amount,
            status: PayoutStatus::Queued,
            nonce: None,
            tx_hash: None,
            fee: None,
            note: None,
            not_before: now,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// The reference of a payout of an object (`refund:RF…`); unique per kind in the store.
pub(crate) fn reference_of(kind: PayoutKind, object: &str) -> String {
    let prefix = match kind {
        PayoutKind::Refund => "refund",
        PayoutKind::Settlement => "settlement",
        PayoutKind::Sweep => "sweep",
        PayoutKind::GasTopUp => "topup",
    };
    format!("{prefix}:{object}")
}

impl Gateway {
    /// Tokens out of the hot wallet for a refund or settlement.
    pub(crate) fn token_payout(
        &self,
        kind: PayoutKind,
        object: &str,
        chain: &Chain,
        to: Address,
        token: &TokenId,
        amount: TokenAmount,
    ) -> Result<PayoutDraft, ServiceError> {
        Ok(PayoutDraft {
            chain: chain.key.clone(),
            kind,
            reference: reference_of(kind, object),
            signer: Signer::HotWallet,
            from: self.hot_wallet(chain)?,
            to,
            asset: Asset::Token(token.clone()),
            amount,
        })
    }
}

/// How the engine sends.
#[derive(Clone, Debug)]
pub struct PayoutSettings {
    /// Highest max fee per gas ever offered, wei.
    pub max_fee_per_gas: u128,
    /// A broadcast transaction not mined after this long is replaced with higher fees.
    pub replace_after: Duration,
    /// Rounds run at least this often (a queued payout also wakes the engine).
    pub poll_interval: Duration,
    /// How long a payout waiting for funds or gas waits before it is checked again.
    pub funds_retry: Duration,
    /// How long the engine's lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Node calls in flight at once in a round (receipts followed, gas estimated, transactions
    /// broadcast): one slow answer holds up only itself.
    pub rpc_concurrency: usize,
    /// Sweeping.
    pub sweeps: SweepSettings,
}

impl Default for PayoutSettings {
    fn default() -> Self {
        PayoutSettings {
            max_fee_per_gas: 500_000_000_000,
            replace_after: Duration::from_secs(180),
            poll_interval: Duration::from_secs(2),
            funds_retry: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(30),
            rpc_concurrency: 16,
            sweeps: SweepSettings::default(),
        }
    }
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// The chain node failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The store or a rule failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for PayoutError {
    fn from(error: StoreError) -> Self {
        PayoutError::Service(error.into())
    }
}

impl From<crate::error::ChangeError> for PayoutError {
    fn from(error: crate::error::ChangeError) -> Self {
        PayoutError::Service(error.settled())
    }
}

/// What a round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    /// False when another process holds the chain's payout lease.
    pub leader: bool,
    /// Payouts signed and broadcast for the first time.
    pub sent: usize,
    /// Payouts that reached a final outcome.
    pub finished: usize,
    /// Payouts that could not proceed (funds, gas, fees, node errors).
    pub waiting: usize,
    /// True when new payouts are held (after a restore, or by the operator).
    pub held: bool,
}

/// The chain's final block as a round sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FinalPoint {
    /// Its height; `None` while no block is final.
    pub height: Option<u64>,
    /// Its time, read only on chains whose transactions expire.
    pub time: Option<Timestamp>,
}

/// Amounts already promised by signed, unfinished transactions, per sender and asset.
pub(crate) type Promised = HashMap<(Address, Asset), u128>;

/// What one round learns as it goes.
#[derive(Debug, Default)]
pub(crate) struct RoundState {
    /// Promised by signed payouts (and those signed this round).
    pub promised: Promised,
    /// What waiting payouts lack.
    pub shortfalls: Shortfalls,
    /// The fees of this round, once asked.
    pub fees: Option<Option<(u128, u128)>>,
    /// Balances read this round, per holder and token contract (`None`: the coin).
    pub balances: HashMap<(Address, Option<Address>), u128>,
    /// Gas that transactions signed this round may burn, per sender, wei.
    pub gas_reserved: HashMap<Address, u128>,
    /// The chain's next nonce (pending pool included) per sender, read once a round.
    pub chain_nonces: HashMap<Address, u64>,
}

impl RoundState {
    /// What signed payouts promise from a sender in an asset.
    pub(crate) fn promised(&self, key: &(Address, Asset)) -> u128 {
        self.promised.get(key).copied().unwrap_or(0)
    }
}

/// Sends one chain's payouts.
pub struct PayoutEngine {
    gateway: Arc<Gateway>,
    chain: Chain,
    reader: Arc<dyn ChainReader>,
    writer: Arc<dyn ChainWriter>,
    settings: PayoutSettings,
    holder: String,
    last_sweep: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    /// Queued payouts waiting (with an unchanged note) until then, kept in memory.
    deferred: std::sync::Mutex<HashMap<String, Timestamp>>,
    /// Whether the last round found payouts held (to log the change once).
    was_held: std::sync::atomic::AtomicBool,
}

impl PayoutEngine {
    /// The engine of `chain`; `holder` names this process in leases.
    pub fn new(
        gateway: Arc<Gateway>,
        chain: Chain,
        reader: Arc<dyn ChainReader>,
        writer: Arc<dyn ChainWriter>,
        settings: PayoutSettings,
        holder: String,
    ) -> PayoutEngine {
        PayoutEngine {
            gateway,
            chain,
            reader,
            writer,
            settings,
            holder,
            last_sweep: tokio::sync::Mutex::new(None),
            deferred: std::sync::Mutex::new(HashMap::new()),
            was_held: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lease_name(&self) -> String {
        format!("payouts:{}", self.chain.key)
    }

    /// Runs rounds until `shutdown` turns true, then gives up the lease.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(chain = %self.chain.key, "payout engine started");
        let mut outage = Outage::new(self.settings.poll_interval, Duration::from_secs(30));
        while !*shutdown.borrow() {
            let round = self.round().await;
            let now = self.gateway.clock.now();
            let wait = match round {
                Ok(_) => {
                    if let Some(recovery) = outage.succeeded(now) {
                        tracing::info!(chain = %self.chain.key, down_secs = recovery.down_secs, failed_rounds = recovery.failed_rounds, "payout rounds succeed again");
                    }
                    self.settings.poll_interval
                }
                Err(error) => {
                    let failure = outage.failed(now);
                    if failure.starts_outage {
                        tracing::warn!(chain = %self.chain.key, %error, "payout rounds failing; retrying with backoff");
                    } else {
                        tracing::debug!(chain = %self.chain.key, %error, "payout round failed again");
                    }
                    failure.wait
                }
            };
            tokio::select! {
                () = self.gateway.payout_signal.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        let released = self
            .gateway
            .store
            .release_lease(&self.lease_name(), &self.holder)
            .await;
        if let Err(error) = released {
            tracing::warn!(chain = %self.chain.key, %error, "could not release the payout lease");
        }
    }

    /// One round: follow what is in flight, send what is queued, sweep when due.
    pub async fn round(&self) -> Result<RoundReport, PayoutError> {
        let store = &self.gateway.store;
        let now = self.gateway.clock.now();
        let ttl = i64::try_from(self.settings.lease_ttl.as_micros()).unwrap_or(i64::MAX);
        let until = Timestamp::from_micros(now.micros().saturating_add(ttl));
        let mut report = RoundReport::default();
        let name = self.lease_name();
        if !crate::lease::take(store.as_ref(), &name, &self.holder, now, until).await? {
            return Ok(report);
        }
        report.leader = true;
        let open = store.open_payouts(&self.chain.key, 500).await?;
        let mut round = RoundState {
            promised: promised_by(&open),
            ..RoundState::default()
        };
        let in_flight: Vec<&Payout> = open
            .iter()
            .filter(|p| p.status != PayoutStatus::Queued)
            .collect();
        // What is signed keeps its nonce and is safe to follow; what is queued waits while
        // payouts are held, and so do sweeps (they would queue more).
        report.held = store.payouts_held().await?;
        self.log_hold_change(report.held);
        let due: Vec<&Payout> = open
            .iter()
            .filter(|p| p.status == PayoutStatus::Queued && p.not_before <= now)
            .filter(|p| !report.held && self.due(&p.id, now))
            .collect();
        let started = std::time::Instant::now();
        // Following and sending touch different payouts and nonces: neither waits for the
        // other's slowest call. (What is promised was read before both, so a payout confirmed
        // meanwhile is still counted: the funds check errs on the safe side.)
        let ((finished, stalled), (sent, waiting)) =
            tokio::join!(self.follow_all(&in_flight), self.send_due(&due, &mut round));
        if sent + finished + waiting + stalled > 0 {
            tracing::debug!(chain = %self.chain.key, in_flight = in_flight.len(), finished, stalled, due = due.len(), sent, waiting, ms = started.elapsed().as_millis(), "payout round");
        }
        report.finished += finished;
        report.waiting += stalled;
        report.sent += sent;
        report.waiting += waiting;
        if report.held {
            report.waiting += open.len().saturating_sub(in_flight.len());
        } else {
            self.sweep_if_due(&open, &round.shortfalls).await?;
        }
        self.forget_deferrals(&open);
        metrics::gauge!("wcheckout_payouts_open", "chain" => self.chain.key.to_string())
            .set(open.len() as f64);
        Ok(report)
    }

    fn log_hold_change(&self, held: bool) {
        let was = self
            .was_held
            .swap(held, std::sync::atomic::Ordering::Relaxed);
        match (was, held) {
            (false, true) => tracing::warn!(
                chain = %self.chain.key,
                "payouts are held: nothing queued is signed until `wcheckout payout release`"
            ),
            (true, false) => tracing::info!(chain = %self.chain.key, "payouts released"),
            (false, false) | (true, true) => {}
        }
    }

    /// Follows every signed or broadcast payout, several at once (each one's calls are its
    /// own: a slow or lost answer delays only that payout, and a node that cannot even say its
    /// head delays only this step); how many finished and how many could not be followed.
    async fn follow_all(&self, in_flight: &[&Payout]) -> (usize, usize) {
        if in_flight.is_empty() {
            return (0, 0);
        }
        let final_point = match self.final_point().await {
            Ok(point) => point,
            Err(error) => {
                tracing::warn!(chain = %self.chain.key, %error, "cannot read the head; payouts in flight followed next round");
                return (0, in_flight.len());
            }
        };
        // Owned payouts: a stream of borrowed ones would not be `Send` for every lifetime.
        let outcomes: Vec<(Payout, Result<bool, PayoutError>)> =
            futures::stream::iter(in_flight.iter().map(|p| (*p).clone()).collect::<Vec<_>>())
                .map(|payout: Payout| async move {
                    let outcome = self.follow(&payout, final_point).await;
                    (payout, outcome)
                })
                .buffer_unordered(self.settings.rpc_concurrency.max(1))
                .collect()
                .await;
        let (mut finished, mut stalled) = (0, 0);
        for (payout, outcome) in outcomes {
            match outcome {
                Ok(true) => finished += 1,
                Ok(false) => {}
                Err(error) => {
                    stalled += 1;
                    tracing::warn!(payout = %payout.id, %error, "could not follow payout");
                }
            }
        }
        (finished, stalled)
    }

    /// The highest final block, from the head, and on a chain whose transactions expire its
    /// time (a transaction expiring by then can no longer land).
    async fn final_point(&self) -> Result<FinalPoint, PayoutError> {
        let head = self.writer.head_number().await?;
        let height = crate::finality::final_height(&self.chain, self.reader.as_ref(), head).await?;
        let time = match height {
            Some(height) if !self.nonce_ordered() => self
                .reader
                .blocks(&[height])
                .await?
                .into_iter()
                .find(|block| block.number == height)
                .map(|block| block.time),
            Some(_) | None => None,
        };
        Ok(FinalPoint { height, time })
    }

    /// Whether a queued payout's in-memory wait is over.
    fn due(&self, id: &str, now: Timestamp) -> bool {
        let deferred = self
            .deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        deferred.get(id).is_none_or(|until| *until <= now)
    }

    /// Makes a queued payout wait until `until` without writing it.
    pub(crate) fn defer(&self, id: &str, until: Timestamp) {
        let mut deferred = self
            .deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        deferred.insert(id.to_owned(), until);
    }

    /// Drops the waits of payouts no longer queued.
    fn forget_deferrals(&self, open: &[Payout]) {
        let queued: std::collections::HashSet<&str> = open
            .iter()
            .filter(|p| p.status == PayoutStatus::Queued)
            .map(|p| p.id.as_str())
            .collect();
        let mut deferred = self
            .deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        deferred.retain(|id, _| queued.contains(id.as_str()));
    }

    /// Sweeps at the configured interval, or at once when payouts wait for tokens or gas.
    async fn sweep_if_due(
        &self,
        open: &[Payout],
        shortfalls: &Shortfalls,
    ) -> Result<(), PayoutError> {
        if !self.settings.sweeps.enabled {
            return Ok(());
        }
        let mut last = self.last_sweep.lock().await;
        let due = last.is_none_or(|at| at.elapsed() >= self.settings.sweeps.interval);
        if !due && shortfalls.is_empty() {
            return Ok(());
        }
        *last = Some(tokio::time::Instant::now());
        drop(last);
        self.plan_sweeps(open, shortfalls).await
    }
}

/// What payouts waited for this round: tokens of the hot wallet, gas of a deposit address.
#[derive(Debug, Default)]
pub(crate) struct Shortfalls {
    /// Tokens the hot wallet lacks, base units.
    pub tokens: HashMap<TokenId, u128>,
    /// Deposit addresses (of queued sweeps) that lack gas, with the wei they need in all.
    pub gas: HashMap<Address, u128>,
}

impl Shortfalls {
    fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.gas.is_empty()
    }
}

fn promised_by(open: &[Payout]) -> Promised {
    let mut promised = Promised::new();
    for payout in open
        .iter()
        .filter(|p| matches!(p.status, PayoutStatus::Signed | PayoutStatus::Broadcast))
    {
        let sum = promised
            .entry((payout.from, payout.asset.clone()))
            .or_default();
        *sum = sum.saturating_add(payout.amount.base_units());
    }
    promised
}
