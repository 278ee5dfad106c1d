//! The console's first page once signed in: who you are, and the overview's figures, with the
//! last 30 days per token drawn as bars in inline SVG (no script, nothing loaded), and each
//! asset's custody by the ledger beside the chain's at the last reconciliation.

use maud::{Markup, html};
use wcheckout_app::console_overview::{
    Balance, DayFigures, Overview, TokenDays, permille, whole_units,
};
use wcheckout_domain::operator::Operator;
use wcheckout_domain::time::Timestamp;

use super::LOGOUT_EVERYWHERE;
use super::html::{csrf_field, document, signed_in_header};
use super::i18n::texts;
use crate::page::i18n::{Lang, fill};

/// The overview's sentences.
struct OverviewTexts {
    last_days: &'static str,
    created: &'static str,
    paid: &'static str,
    volume: &'static str,
    success_rate: &'static str,
    abnormal_rate: &'static str,
    rates_of: &'static str,
    no_orders: &'static str,
    custody: &'static str,
    merchant_balances: &'static str,
    asset: &'static str,
    bucket: &'static str,
    balance: &'static str,
    ledger_now: &'static str,
    chain_reconciled: &'static str,
    difference: &'static str,
    reconciled: &'static str,
    never: &'static str,
    addresses_differ: &'static str,
    in_flight: &'static str,
    reconcile_note: &'static str,
    ago: [&'static str; 4],
    gas: &'static str,
    chain: &'static str,
    chains: &'static str,
    head_age: &'static str,
    lag: &'static str,
    rpc_errors: &'static str,
    stalled: &'static str,
    no_chains: &'static str,
    webhooks: &'static str,
    backlog: &'static str,
    delivered: &'static str,
    failed: &'static str,
    failure_rate: &'static str,
    day_orders: &'static str,
}

const EN: OverviewTexts = OverviewTexts {
    last_days: "Last 30 days, from {from} (UTC)",
    created: "Orders created",
    paid: "paid",
    volume: "Paid volume",
    success_rate: "Success rate (paid / created)",
    abnormal_rate: "Abnormal payments / orders created",
    rates_of: "{part} of {whole}",
    no_orders: "No order in the last 30 days.",
    custody: "Balances held (custody of every address)",
    merchant_balances: "Merchant balances (ledger)",
    asset: "Asset",
    bucket: "Bucket",
    balance: "Balance",
    ledger_now: "Ledger (now)",
    chain_reconciled: "Chain (last reconcile)",
    difference: "Difference",
    reconciled: "Reconciled",
    never: "never",
    addresses_differ: "differing addresses: {n}",
    in_flight: "payouts in flight then: {n}",
    reconcile_note: "The chain side is the last reconciliation's: every address of ours the ledger holds money at, and the hot wallet, read by the payout workers every hour (payouts.reconcile_interval_secs) or by `wcheckout reconcile`. The ledger side is now, so it may have moved since. A difference while payouts were in flight settles when they are final.",
    ago: ["{n} s ago", "{n} min ago", "{n} h ago", "{n} d ago"],
    gas: "Hot-wallet gas (ledger)",
    chain: "Chain",
    chains: "Chain health",
    head_age: "Head age (s)",
    lag: "Lag (blocks)",
    rpc_errors: "RPC errors",
    stalled: "stalled",
    no_chains: "No chain is watched by this process.",
    webhooks: "Webhooks",
    backlog: "Not delivered yet",
    delivered: "Delivered (30 days)",
    failed: "Given up (30 days)",
    failure_rate: "Failure rate (given up / finished)",
    day_orders: "{date}: {created} created, {paid} paid",
};

const ZH_CN: OverviewTexts = OverviewTexts {
    last_days: "最近 30 天，自 {from} 起（UTC）",
    created: "创建订单数",
    paid: "已支付",
    volume: "已支付金额",
    success_rate: "成功率（已支付 / 已创建）",
    abnormal_rate: "异常付款 / 已创建订单",
    rates_of: "{whole} 中的 {part}",
    no_orders: "最近 30 天没有订单。",
    custody: "持有余额（所有地址托管）",
    merchant_balances: "商户余额（账本）",
    asset: "资产",
    bucket: "类别",
    balance: "余额",
    ledger_now: "账本（当前）",
    chain_reconciled: "链上（最近一次对账）",
    difference: "差额",
    reconciled: "对账时间",
    never: "从未",
    addresses_differ: "{n} 个地址不一致",
    in_flight: "当时有 {n} 笔付款在途",
    reconcile_note: "链上一侧取自最近一次对账：账本中有余额的我方地址及热钱包，由付款进程每小时读取（payouts.reconcile_interval_secs），或运行 `wcheckout reconcile`。账本一侧为当前值，此后可能已有变动。对账时若有付款在途，差额会在其最终确认后消失。",
    ago: ["{n} 秒前", "{n} 分钟前", "{n} 小时前", "{n} 天前"],
    gas: "热钱包燃料费（账本）",
    chain: "链",
    chains: "链状态",
    head_age: "最新区块时长（秒）",
    lag: "落后区块数",
    rpc_errors: "RPC 错误",
    stalled: "停滞",
    no_chains: "此进程未监听任何链。",
    webhooks: "Webhook 通知",
    backlog: "尚未投递",
    delivered: "已投递（30 天）",
    failed: "已放弃（30 天）",
    failure_rate: "失败率（已放弃 / 已结束）",
    day_orders: "{date}：创建 {created}，支付 {paid}",
};

const fn overview_texts(lang: Lang) -> &'static OverviewTexts {
    match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH_CN,
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `yyyy-MM-dd` of a day since 1970-01-01.
fn date_of(day: i64) -> String {
    let mut text = Timestamp::from_micros(day.saturating_mul(MICROS_PER_DAY)).to_spaced_seconds();
    text.truncate(10);
    text
}

/// `66.7 %`, or `–` when there is nothing to divide by.
fn rate(part: u64, whole: u64) -> String {
    permille(part, whole).map_or_else(|| "–".to_owned(), |p| format!("{}.{} %", p / 10, p % 10))
}

/// The chart's drawing area, in SVG units.
const BAR_STEP: u128 = 10;
const BAR_WIDTH: u128 = 8;
const CHART_HEIGHT: u128 = 60;

/// Bars of `values`, scaled to the largest; each titled by `title(i)` (a tooltip, and what a
/// screen reader says).
fn bars(label: &str, values: &[u128], title: impl Fn(usize) -> String) -> Markup {
    let top = values.iter().copied().max().unwrap_or(0).max(1);
    let width = BAR_STEP.saturating_mul(values.len() as u128);
    html! {
        svg.chart role="img" aria-label=(label) viewBox={ "0 0 " (width) " " (CHART_HEIGHT) }
            preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" {
            @for (i, value) in values.iter().enumerate() {
                @let height = value.saturating_mul(CHART_HEIGHT) / top;
                @let x = BAR_STEP.saturating_mul(i as u128);
                rect x=(x) y=(CHART_HEIGHT.saturating_sub(height)) width=(BAR_WIDTH)
                    height=(height) fill="#2563eb" {
                    title { (title(i)) }
                }
            }
        }
    }
}

fn token_chart(lang: Lang, token: &TokenDays) -> Markup {
    let o = overview_texts(lang);
    let counts: Vec<u128> = token.days.iter().map(|d| u128::from(d.created)).collect();
    let volumes: Vec<u128> = token.days.iter().map(|d| d.volume.base_units()).collect();
    let day_title = |d: &DayFigures| {
        fill(
            o.day_orders,
            &[
                ("date", &date_of(d.day)),
                ("created", &d.created.to_string()),
                ("paid", &d.paid.to_string()),
            ],
        )
    };
    let volume_of = |d: &DayFigures| {
        let units = i128::try_from(d.volume.base_units()).unwrap_or(i128::MAX);
        format!(
            "{}: {} {}",
            date_of(d.day),
            whole_units(units, token.decimals),
            token.token
        )
    };
    let created: u64 = token
        .days
        .iter()
        .map(|d| d.created)
        .fold(0, u64::saturating_add);
    let paid: u64 = token
        .days
        .iter()
        .map(|d| d.paid)
        .fold(0, u64::saturating_add);
    let volume = token
        .days
        .iter()
        .map(|d| d.volume.base_units())
        .fold(0u128, u128::saturating_add);
    let volume = whole_units(i128::try_from(volume).unwrap_or(i128::MAX), token.decimals);
    html! {
        section.token-chart data-token=(token.token) {
            h3 { (token.token) }
            p { (o.created) ": " span.created { (created) } ", " (o.paid) ": " span.paid { (paid) } }
            (bars(o.created, &counts, |i| day_title(&token.days[i])))
            p { (o.volume) ": " span.volume { (volume) } " " (token.token) }
            (bars(o.volume, &volumes, |i| volume_of(&token.days[i])))
        }
    }
}

fn balances_table(lang: Lang, rows: &[Balance]) -> Markup {
    let (t, o) = (texts(lang), overview_texts(lang));
    let with_bucket = rows.iter().any(|b| b.bucket.is_some());
    html! {
        @if rows.is_empty() {
            p { (t.none) }
        } @else {
            div.scroll { table.balances {
                thead { tr {
                    th { (o.asset) }
                    @if with_bucket { th { (o.bucket) } }
                    th { (o.balance) }
                } }
                tbody { @for b in rows { tr {
                    td { (b.asset) }
                    @if with_bucket { td { (b.bucket.map_or("", |k| k.as_str())) } }
                    td.num { (whole_units(b.units, b.decimals)) }
                } } }
            } }
        }
    }
}

/// How long before `now` `at` was, in the largest whole unit (`12 min ago`).
fn age(lang: Lang, now: Timestamp, at: Timestamp) -> String {
    let seconds = now.micros().saturating_sub(at.micros()).max(0) / 1_000_000;
    let (unit, n) = match seconds {
        0..60 => (0, seconds),
        60..3_600 => (1, seconds / 60),
        3_600..86_400 => (2, seconds / 3_600),
        _ => (3, seconds / 86_400),
    };
    fill(overview_texts(lang).ago[unit], &[("n", &n.to_string())])
}

/// The chain side of one custody row: the last reconciliation's total, the difference, and
/// how long ago; a difference is marked, with what explains it.
fn reconciled_cells(lang: Lang, now: Timestamp, b: &Balance) -> Markup {
    let o = overview_texts(lang);
    let Some(r) = &b.reconciled else {
        return html! { td.num { "–" } td.num { "–" } td { (o.never) } };
    };
    let on_chain = i128::try_from(r.on_chain).unwrap_or(i128::MAX);
    let difference = r
        .difference()
        .map_or_else(|| "–".to_owned(), |d| whole_units(d, b.decimals));
    let count = |text: &str, n: u64| fill(text, &[("n", &n.to_string())]);
    html! {
        td.num.chain-side { (whole_units(on_chain, b.decimals)) }
        @if r.agrees() {
            td.num.difference { (difference) }
        } @else {
            td.num.difference.differs {
                strong { (difference) } br;
                (count(o.addresses_differ, r.differing))
                @if r.in_flight > 0 { br; (count(o.in_flight, r.in_flight)) }
            }
        }
        @let when = r.at.to_spaced_seconds();
        td.reconciled {
            time datetime={ (when.replace(' ', "T")) "Z" } title={ (when) " UTC" } { (age(lang, now, r.at)) }
        }
    }
}

fn custody_table(lang: Lang, overview: &Overview) -> Markup {
    let (t, o) = (texts(lang), overview_texts(lang));
    let rows = &overview.balances;
    html! {
        @if rows.is_empty() {
            p { (t.none) }
        } @else {
            div.scroll { table.balances.custody {
                thead { tr {
                    th { (o.asset) } th { (o.ledger_now) } th { (o.chain_reconciled) }
                    th { (o.difference) } th { (o.reconciled) }
                } }
                tbody { @for b in rows { tr data-asset=(b.asset) {
                    td { (b.asset) }
                    td.num.ledger-side { (whole_units(b.units, b.decimals)) }
                    (reconciled_cells(lang, overview.at, b))
                } } }
            } }
        }
    }
}

fn rates(lang: Lang, overview: &Overview) -> Markup {
    let o = overview_texts(lang);
    let of = |part: u64, whole: u64| {
        fill(
            o.rates_of,
            &[("part", &part.to_string()), ("whole", &whole.to_string())],
        )
    };
    html! {
        dl.rates {
            dt { (o.success_rate) }
            dd.success-rate { (rate(overview.paid, overview.created)) " (" (of(overview.paid, overview.created)) ")" }
            dt { (o.abnormal_rate) }
            dd.abnormal-rate { (rate(overview.abnormal, overview.created)) " (" (of(overview.abnormal, overview.created)) ")" }
        }
    }
}

fn chain_health(lang: Lang, overview: &Overview) -> Markup {
    let o = overview_texts(lang);
    html! {
        h2 { (o.chains) }
        @if overview.chains.is_empty() {
            p { (o.no_chains) }
        } @else {
            div.scroll { table.chains {
                thead { tr {
                    th { (o.chain) } th { (o.head_age) } th { (o.lag) } th { (o.rpc_errors) }
                } }
                tbody { @for (chain, health) in &overview.chains { tr {
                    td { (chain) @if health.stalled { " (" (o.stalled) ")" } }
                    td.num { (health.head_age_seconds) }
                    td.num { (health.lag_blocks) }
                    td.num { (health.rpc_errors) }
                } } }
            } }
        }
    }
}

fn webhooks(lang: Lang, overview: &Overview) -> Markup {
    let o = overview_texts(lang);
    let w = &overview.webhooks;
    let finished = w.delivered.saturating_add(w.failed);
    html! {
        h2 { (o.webhooks) }
        dl.webhooks {
            dt { (o.backlog) } dd.backlog { (w.backlog) }
            dt { (o.delivered) } dd.delivered { (w.delivered) }
            dt { (o.failed) } dd.failed { (w.failed) }
            dt { (o.failure_rate) } dd.failure-rate { (rate(w.failed, finished)) }
        }
    }
}

fn orders_by_status(lang: Lang, overview: &Overview) -> Markup {
    let t = texts(lang);
    html! {
        h2 { (t.orders_by_status) }
        div.scroll { table.by-status {
            thead { tr { th { (t.status) } th { (t.count) } } }
            tbody { @for (status, count) in &overview.by_status {
                tr { td { (status) } td.num { (count) } }
            } }
        } }
    }
}

fn money(lang: Lang, overview: &Overview) -> Markup {
    let o = overview_texts(lang);
    html! {
        @match &overview.gas {
            Some(gas) => {
                h2 { (o.custody) }
                (custody_table(lang, overview))
                p.note { (o.reconcile_note) }
                h2 { (o.gas) }
                (balances_table(lang, gas))
            }
            None => {
                h2 { (o.merchant_balances) }
                (balances_table(lang, &overview.balances))
            }
        }
    }
}

/// The first page: who is signed in, then the overview.
pub(super) fn home_page(
    lang: Lang,
    operator: &Operator,
    csrf_token: &str,
    overview: &Overview,
) -> String {
    let (t, o) = (texts(lang), overview_texts(lang));
    let scope = operator.app.as_ref().map_or(t.all_apps, |app| app.as_str());
    let from = date_of(overview.first_day);
    let body = html! {
        section.card {
            h1 { (t.signed_in_as) " " (operator.name) }
            dl {
                dt { (t.role) } dd { (operator.role) }
                dt { (t.scope) } dd { (scope) }
            }
            form.action method="post" action=(LOGOUT_EVERYWHERE) {
                (csrf_field(csrf_token))
                button type="submit" { (t.sign_out_everywhere) }
            }
        }
        section.dashboard {
            h2 { (fill(o.last_days, &[("from", &from)])) }
            (rates(lang, overview))
            @if overview.tokens.is_empty() { p { (o.no_orders) } }
            div.charts { @for token in &overview.tokens { (token_chart(lang, token)) } }
            (orders_by_status(lang, overview))
            (money(lang, overview))
            (chain_health(lang, overview))
            (webhooks(lang, overview))
        }
    };
    let header = signed_in_header(t, operator, csrf_token);
    document(lang, t.console, header, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_rates_read_as_people_write_them() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(19_723), "2024-01-01");
        assert_eq!(rate(2, 3), "66.6 %");
        assert_eq!(rate(0, 0), "–");
    }

    #[test]
    fn ages_read_in_their_largest_whole_unit() {
        let at = Timestamp::from_micros(1_000_000_000_000);
        let after = |seconds: i64| Timestamp::from_micros(at.micros() + seconds * 1_000_000);
        assert_eq!(age(Lang::En, after(59), at), "59 s ago");
        assert_eq!(age(Lang::En, after(600), at), "10 min ago");
        assert_eq!(age(Lang::En, after(7_300), at), "2 h ago");
        assert_eq!(age(Lang::ZhCn, after(3 * 86_400), at), "3 天前");
        assert_eq!(age(Lang::En, after(-5), at), "0 s ago", "a clock behind");
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let svg = bars("x", &[0, 5, 10], |i| format!("day {i}")).into_string();
        assert!(
            svg.contains(r#"x="20" y="0" width="8" height="60""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"x="10" y="30" width="8" height="30""#),
            "{svg}"
        );
        assert!(svg.contains("<title>day 1</title>"), "{svg}");
    }
}
