//! The overview, the console's first page: the last 30 days per token (SVG bars), success and
//! abnormal rates, balances, hot-wallet gas, chain health and webhooks, each cut to what the
//! operator sees.

use reqwest::StatusCode;
use serde_json::json;
use wcheckout_app::console_overview::whole_units;
use wcheckout_domain::abnormal::AbnormalKind;
use wcheckout_domain::ledger::Asset;
use wcheckout_domain::ports::{ChainStore, Clock, ConsoleStore, MoneyStore};
use wcheckout_domain::reconciliation::AssetReconciliation;
use wcheckout_domain::time::Timestamp;
use wcheckout_domain::token::{ChainKey, TokenId};
use wcheckout_domain::webhook::DeliveryStatus;
use wcheckout_testkit::store_fixtures as fixtures;

use crate::common::console::{Answer, Console, PASSWORD, create, create_for, pay_in_full};
use crate::common::{Db, TestGateway, usdt_order};

/// The text of the element with class `class` (`<dd class="success-rate">66.6 % …</dd>`).
fn class_text<'a>(page: &'a Answer, class: &str) -> &'a str {
    let marker = format!("class=\"{class}\">");
    let start = page.body.find(&marker).map(|i| i + marker.len());
    let start = start.unwrap_or_else(|| panic!("no {class} in {}", page.body));
    let end = page.body[start..].find('<').unwrap();
    &page.body[start..start + end]
}

/// The chart section of `token` on the page.
fn chart<'a>(page: &'a Answer, token: &str) -> &'a str {
    let marker = format!("data-token=\"{token}\"");
    let start = page.body.find(&marker).expect("the token's chart");
    let end = page.body[start..].find("</section>").unwrap();
    &page.body[start..start + end]
}

/// How the events about these orders stand, as the page should count them: not delivered yet,
/// delivered, given up.
async fn webhooks_of(gw: &TestGateway, sysids: &[&str]) -> [String; 3] {
    let keys: Vec<String> = sysids.iter().map(|s| format!("order:{s}")).collect();
    let events = gw.store.events_of_objects(&keys).await.unwrap();
    let count = |status| {
        events
            .iter()
            .filter(|e| e.status == status)
            .count()
            .to_string()
    };
    [
        count(DeliveryStatus::Pending),
        count(DeliveryStatus::Delivered),
        count(DeliveryStatus::Failed),
    ]
}

fn webhooks_shown(page: &Answer) -> [String; 3] {
    ["backlog", "delivered", "failed"].map(|class| class_text(page, class).to_owned())
}

async fn the_overview_shows_each_operator_its_figures(gw: TestGateway) {
    let (shop, other) = (gw.create_app().await, gw.create_app().await);
    let mut sysids = Vec::new();
    for (app, no) in [
        (&shop, "S-1"),
        (&shop, "S-2"),
        (&shop, "S-3"),
        (&other, "O-1"),
    ] {
        let order = gw.created_order(app, usdt_order(no, "10", json!({}))).await;
        sysids.push(order["sysid"].as_str().unwrap().to_owned());
    }
    for (n, sysid) in [(1, &sysids[0]), (2, &sysids[1]), (3, &sysids[3])] {
        pay_in_full(&gw, sysid, n).await;
    }
    let first = gw.store.order_by_sysid(&sysids[0]).await.unwrap().unwrap();
    let abnormal = wcheckout_domain::abnormal::AbnormalPayment {
        created_at: gw.clock.now(),
        updated_at: gw.clock.now(),
        ..fixtures::abnormal(1, &first, AbnormalKind::LatePayment, 0)
    };
    fixtures::create(&*gw.store, &[&abnormal]).await;
    let paying = first.paying_amount.base_units();
    let today = &gw.clock.now().to_spaced_seconds()[..10];

    create(&gw, "root", "viewer").await;
    create_for(&gw, "shop", "viewer", Some(&shop.app_id)).await;
    let console = Console::of(&gw);

    // Every app: 4 created, 3 paid, 1 abnormal; custody and gas by the ledger.
    let root = console.sign_in("root", PASSWORD).await;
    let page = console.get("/admin", &root.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(class_text(&page, "success-rate"), "75.0 % (3 of 4)");
    assert_eq!(class_text(&page, "abnormal-rate"), "25.0 % (1 of 4)");
    let usdt = chart(&page, "ETH_USDT");
    assert!(usdt.contains("<svg"), "{usdt}");
    assert!(
        usdt.contains(&format!("<title>{today}: 4 created, 3 paid</title>")),
        "{usdt}"
    );
    let three = whole_units(i128::try_from(paying * 3).unwrap(), 6);
    assert!(
        usdt.contains(&format!("class=\"volume\">{three}<")),
        "{three}: {usdt}"
    );
    for heading in [
        "Balances held (custody of every address)",
        "Chain (last reconcile)",
        "Hot-wallet gas (ledger)",
        "Chain health",
    ] {
        assert!(page.body.contains(heading), "{heading}");
    }
    // The three payments sit in their deposit addresses; the hot wallet holds no ETH yet;
    // nothing was reconciled.
    assert_eq!(
        page.custody_row("ETH_USDT"),
        format!(
            "<td>ETH_USDT</td><td class=\"num ledger-side\">{three}</td><td class=\"num\">–</td><td class=\"num\">–</td><td>never</td>"
        )
    );
    assert!(
        page.body
            .contains("<td>ETH_NATIVE</td><td class=\"num\">0</td>"),
        "the gas table"
    );
    let every = webhooks_of(&gw, &sysids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(webhooks_shown(&page), every);
    assert_eq!(
        every.iter().map(|n| n.parse::<u32>().unwrap()).sum::<u32>(),
        3,
        "3 payments"
    );

    // One app: its 3 orders, 2 paid, its merchants' balances; no custody, no gas.
    let bound = console.sign_in("shop", PASSWORD).await;
    let page = console.get("/admin?lang=en", &bound.cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(class_text(&page, "success-rate"), "66.6 % (2 of 3)");
    assert_eq!(class_text(&page, "abnormal-rate"), "33.3 % (1 of 3)");
    assert!(
        chart(&page, "ETH_USDT").contains(&format!("<title>{today}: 3 created, 2 paid</title>"))
    );
    assert!(page.body.contains("Merchant balances (ledger)"));
    let two = whole_units(i128::try_from(paying * 2).unwrap(), 6);
    assert!(
        page.body.contains(&format!(
            "<td>ETH_USDT</td><td>available</td><td class=\"num\">{two}</td>"
        )),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Hot-wallet gas"));
    assert!(!page.body.contains("custody of every address"));
    let own = webhooks_of(&gw, &[&sysids[0], &sysids[1], &sysids[2]]).await;
    assert_eq!(webhooks_shown(&page), own);

    // In Chinese too; without a session, the sign-in form.
    let zh = console.get("/admin?lang=zh-CN", &bound.cookie).await;
    assert!(zh.body.contains("成功率"), "{}", zh.body);
    let unsigned = console.get("/admin", "").await;
    assert_eq!(unsigned.status, StatusCode::SEE_OTHER);
}

/// The custody table puts each asset's last reconciliation (not an earlier one) beside the
/// ledger: the chain's total, the difference with what explains it, and its age.
async fn the_overview_shows_the_last_reconciliation_beside_the_ledger(gw: TestGateway) {
    let shop = gw.create_app().await;
    let order = gw
        .created_order(&shop, usdt_order("R-1", "10", json!({})))
        .await;
    let sysid = order["sysid"].as_str().unwrap();
    pay_in_full(&gw, sysid, 1).await;
    let paying = gw
        .store
        .order_by_sysid(sysid)
        .await
        .unwrap()
        .unwrap()
        .paying_amount;
    let now = gw.clock.now().micros();
    let result = |minutes_ago: i64, on_chain: u128, differing: u64| AssetReconciliation {
        chain: ChainKey::parse("ETH").unwrap(),
        asset: Asset::Token(TokenId::parse("ETH_USDT").unwrap()),
        at: Timestamp::from_micros(now - minutes_ago * 60_000_000),
        ledger: i128::try_from(paying.base_units()).unwrap(),
        on_chain,
        accounts: 1,
        differing,
        in_flight: differing,
    };
    let extra = 2_000_000;
    let kept = [
        result(90, paying.base_units(), 0),
        result(10, paying.base_units() + extra, 1),
    ];
    gw.store.record_reconciliations(&kept).await.unwrap();
    create(&gw, "root", "viewer").await;
    let console = Console::of(&gw);
    let root = console.sign_in("root", PASSWORD).await;

    let page = console.get("/admin?lang=en", &root.cookie).await;
    let row = page.custody_row("ETH_USDT");
    let ledger = whole_units(i128::try_from(paying.base_units()).unwrap(), 6);
    let chain = whole_units(i128::try_from(paying.base_units() + extra).unwrap(), 6);
    assert!(
        row.contains(&format!("<td class=\"num ledger-side\">{ledger}</td>")),
        "{row}"
    );
    assert!(
        row.contains(&format!("<td class=\"num chain-side\">{chain}</td>")),
        "{row}"
    );
    assert!(
        row.contains("<td class=\"num difference differs\"><strong>2</strong><br>differing addresses: 1<br>payouts in flight then: 1</td>"),
        "{row}"
    );
    assert!(row.contains(">10 min ago</time>"), "{row}");
    let zh = console.get("/admin?lang=zh-CN", &root.cookie).await;
    assert!(zh.custody_row("ETH_USDT").contains(">10 分钟前</time>"));

    // Reconciled again, agreeing: the difference is 0 and unmarked.
    let agreed = result(0, paying.base_units(), 0);
    gw.store.record_reconciliations(&[agreed]).await.unwrap();
    let page = console.get("/admin?lang=en", &root.cookie).await;
    let row = page.custody_row("ETH_USDT");
    assert!(row.contains("<td class=\"num difference\">0</td>"), "{row}");
    assert!(
        row.contains(" s ago</time>"),
        "seconds old (the clock runs): {row}"
    );
}

on_both_engines!(
    the_overview_shows_each_operator_its_figures,
    the_overview_shows_the_last_reconciliation_beside_the_ledger
);
