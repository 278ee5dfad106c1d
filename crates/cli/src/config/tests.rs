//! The configuration's tests: loading, presets, validation, printing.

use std::path::Path;

use wcheckout_domain::address::{Address, ChainFamily, EvmAddress};
use wcheckout_domain::token::{ChainKey, Finality, Token, TokenId, TokenRegistry};

use super::load::env_key;
use super::*;

#[test]
fn env_keys_keep_chain_and_token_case() {
    assert_eq!(env_key("SERVER__LISTEN"), "server.listen");
    assert_eq!(env_key("CHAINS__ETH__RPC_URLS"), "chains.ETH.rpc_urls");
    assert_eq!(env_key("tokens__eth_usdt__rate"), "tokens.ETH_USDT.rate");
}

#[test]
fn defaults_are_a_valid_sandbox() {
    let config = load(None).unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.server.public_url, "http://127.0.0.1:8080");
    assert!(config.database.url.starts_with("sqlite://"));
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let registry = config.token_registry().unwrap();
    assert_eq!(registry.tokens().count(), 3);
    let wusd = registry
        .get(&TokenId::parse("ETH_WUSD").unwrap())
        .unwrap()
        .0;
    assert_eq!(wusd.contract.to_string(), DEVNET_WUSD);
    assert_eq!(wusd.decimals, 18);
}

/// Loads `text` as a config file.
fn load_text(name: &str, text: &str) -> Result<Config, Vec<String>> {
    let dir = std::env::temp_dir().join(format!("wcheckout-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wcheckout.toml");
    std::fs::write(&file, text).unwrap();
    let loaded = load(Some(&file)).and_then(|config| {
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

fn token<'a>(registry: &'a TokenRegistry, id: &str) -> Option<&'a Token> {
    registry
        .get(&TokenId::parse(id).unwrap())
        .map(|(token, _)| token)
}

const RPC: &str = "rpc_urls = [\"https://rpc.example\"]\n";

#[test]
fn the_mainnet_preset_fills_the_chain_and_its_stablecoins() {
    let config = load_text(
        "mainnet",
        &format!("[chains.ETH]\nnetwork = \"mainnet\"\n{RPC}"),
    )
    .unwrap();
    let chain = &config.chains["ETH"];
    assert_eq!(chain.chain_id, 1);
    let registry = config.token_registry().unwrap();
    let eth = registry.chain(&ChainKey::parse("ETH").unwrap()).unwrap();
    assert_eq!(eth.display_name, "Ethereum");
    assert_eq!(
        eth.finality,
        Finality::Confirmations(12),
        "Ethereum's default depth"
    );
    assert_eq!(
        eth.explorer_tx_url.as_deref(),
        Some("https://etherscan.io/tx/{tx}")
    );
    let expected = [
        ("ETH_USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
        ("ETH_USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6),
        ("ETH_WUSD", "0x7Cd017ca5ddb86861FA983a34b5F495C6F898c41", 18),
    ];
    assert_eq!(registry.tokens().count(), expected.len());
    for (id, contract, decimals) in expected {
        let token = token(&registry, id).unwrap();
        assert_eq!(token.contract.to_string(), contract, "{id}");
        assert_eq!(token.decimals, decimals, "{id}");
        assert_eq!(token.payment_scale, 2, "{id}");
        assert!(token.enabled, "{id}");
    }
    assert!(registry.payable("ETH_WUSD").is_ok());
}

#[test]
fn every_preset_key_can_be_overridden() {
    let text = format!(
        "[chains.ETH]\nnetwork = \"mainnet\"\n{RPC}display_name = \"Main\"\n\
             finality = \"finalized\"\nexplorer_tx_url = \"https://x.example/{{tx}}\"\n\
             [tokens.ETH_WUSD]\ncontract = \"{DEVNET_WUSD}\"\ndecimals = 6\n\
             [tokens.ETH_USDC]\nenabled = false\n"
    );
    let config = load_text("override", &text).unwrap();
    let registry = config.token_registry().unwrap();
    let eth = registry.chain(&ChainKey::parse("ETH").unwrap()).unwrap();
    assert_eq!(eth.display_name, "Main");
    assert_eq!(eth.finality, Finality::Finalized);
    assert_eq!(
        eth.explorer_tx_url.as_deref(),
        Some("https://x.example/{tx}")
    );
    let wusd = token(&registry, "ETH_WUSD").unwrap();
    assert_eq!(wusd.contract.to_string(), DEVNET_WUSD);
    assert_eq!(wusd.decimals, 6);
    let usdc = token(&registry, "ETH_USDC").unwrap();
    assert!(!usdc.enabled, "disabled, still known for its orders");
    assert_eq!(
        usdc.contract.to_string(),
        "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    );
    assert!(registry.payable("ETH_USDC").is_err());
}

#[test]
fn the_sepolia_preset_asks_for_a_usdt_contract() {
    let bare = format!("[chains.ETH]\nnetwork = \"sepolia\"\n{RPC}");
    let problems = load_text("sepolia-bare", &bare).unwrap_err().join("\n");
    assert!(
        problems.contains(
            "tokens.ETH_USDT.contract: network 'sepolia' has no official USDT contract; set \
                 tokens.ETH_USDT.contract to the USDT contract you accept, or \
                 tokens.ETH_USDT.enabled = false to offer no ETH_USDT"
        ),
        "{problems}"
    );
    let without = format!("{bare}[tokens.ETH_USDT]\nenabled = false\n");
    let config = load_text("sepolia-without", &without).unwrap();
    assert_eq!(config.chains["ETH"].chain_id, 11_155_111);
    let registry = config.token_registry().unwrap();
    assert!(token(&registry, "ETH_USDT").is_none(), "left out");
    let usdc = token(&registry, "ETH_USDC").unwrap();
    assert_eq!(
        usdc.contract.to_string(),
        "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"
    );
    let wusd = token(&registry, "ETH_WUSD").unwrap();
    assert_eq!(
        wusd.contract,
        Address::Evm(EvmAddress::parse("0x371607f7463d27ae9deaf64ae00da9cbd4cf0065").unwrap())
    );
    assert_eq!(wusd.decimals, 18);
    let eth = registry.chain(&ChainKey::parse("ETH").unwrap()).unwrap();
    assert_eq!(eth.display_name, "Ethereum Sepolia");
    let with = format!("{bare}[tokens.ETH_USDT]\ncontract = \"{DEVNET_USDT}\"\n");
    let registry = load_text("sepolia-with", &with)
        .unwrap()
        .token_registry()
        .unwrap();
    let usdt = token(&registry, "ETH_USDT").unwrap();
    assert_eq!(
        (usdt.contract.to_string().as_str(), usdt.decimals),
        (DEVNET_USDT, 6)
    );
}

#[test]
fn presets_follow_the_chain_key_and_refuse_a_wrong_network() {
    let text = format!(
        "[chains.SEPOLIA]\nnetwork = \"sepolia\"\n{RPC}[tokens.SEPOLIA_USDT]\nenabled = false\n"
    );
    let registry = load_text("key", &text).unwrap().token_registry().unwrap();
    assert!(token(&registry, "SEPOLIA_USDC").is_some());
    assert!(token(&registry, "SEPOLIA_WUSD").is_some());
    let unknown = format!("[chains.ETH]\nnetwork = \"goerli\"\n{RPC}");
    let problems = load_text("unknown", &unknown).unwrap_err().join("\n");
    assert!(
        problems.contains("chains.ETH.network: 'goerli' must be mainnet or sepolia"),
        "{problems}"
    );
    assert!(
        problems.contains("chains.ETH.chain_id: required"),
        "{problems}"
    );
    let mismatch = format!("[chains.ETH]\nnetwork = \"mainnet\"\nchain_id = 5\n{RPC}");
    let problems = load_text("mismatch", &mismatch).unwrap_err().join("\n");
    assert!(
        problems.contains("chains.ETH.chain_id: 5 is not network 'mainnet' (chain id 1)"),
        "{problems}"
    );
    let bare_token = format!("[chains.ETH]\nchain_id = 1\n{RPC}[tokens.ETH_USDT]\ndecimals = 6\n");
    let problems = load_text("bare-token", &bare_token).unwrap_err().join("\n");
    assert!(
        problems.contains("tokens.ETH_USDT.contract: required"),
        "{problems}"
    );
}

#[test]
fn the_example_file_is_valid_and_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/wcheckout.example.toml");
    let config = load(Some(&path)).unwrap();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let example = std::fs::read_to_string(&path).unwrap();
    let defaults = toml::Value::try_from(load(None).unwrap()).unwrap();
    for (section, table) in defaults.as_table().unwrap() {
        assert!(
            example.contains(&format!("[{section}")),
            "[{section}] is not documented"
        );
        let keys = table.as_table().unwrap().values().flat_map(|v| match v {
            toml::Value::Table(inner) => inner.keys().cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        });
        let direct = table.as_table().unwrap().keys().cloned();
        for key in direct.chain(keys) {
            let documented = example.lines().any(|line| {
                let line = line.trim_start_matches(['#', ' ']);
                line.starts_with(&format!("{key} ="))
                    || line.starts_with(&format!("[{section}.{key}]"))
            });
            assert!(documented, "{section}.{key} is not in the example file");
        }
    }
    for key in [
        "seed_file",
        "seed",
        "master_key_file",
        "master_key",
        "network",
        "ws_url",
        "explorer_tx_url",
        "wallet_rpc_url",
        "start_block",
        "allow_private_targets",
        "require_https",
        "proxy_url",
        "approval_above",
        "account_name",
    ] {
        assert!(
            example.contains(&format!("# {key} =")),
            "{key} is not documented"
        );
    }
}

#[test]
fn unknown_keys_do_not_hide_other_problems() {
    let dir = std::env::temp_dir().join(format!("wcheckout-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("unknown.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"nowhere\"\nlisten_port = 1\n[bogus]\nx = 1\n",
    )
    .unwrap();
    let problems = load(Some(&file)).unwrap_err().join("\n");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        problems.contains("server.listen_port: unknown key"),
        "{problems}"
    );
    assert!(problems.contains("bogus: unknown key"), "{problems}");
    assert!(problems.contains("server.listen: 'nowhere'"), "{problems}");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &file,
        "[database]\nmax_connections = \"many\"\n[server]\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let problems = load(Some(&file)).unwrap_err().join("\n");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        problems.contains("database.max_connections: invalid type"),
        "{problems}"
    );
    assert!(problems.contains("server.listen: 'nowhere'"), "{problems}");
}

#[test]
fn problems_name_their_keys() {
    let mut config = load(None).unwrap();
    config.server.listen = "nowhere".into();
    config.server.mode = Mode::Production;
    config.tokens.get_mut("ETH_USDT").unwrap().contract = "0x1234".into();
    let problems = config.problems().join("\n");
    assert!(problems.contains("server.listen: 'nowhere'"), "{problems}");
    assert!(
        problems.contains("server.public_url: must be https://"),
        "{problems}"
    );
    assert!(
        problems.contains("keys.seed_file: production mode"),
        "{problems}"
    );
    assert!(problems.contains("tokens.ETH_USDT.contract"), "{problems}");
}

#[test]
fn printed_configuration_is_toml_in_the_example_layout_with_secrets_redacted() {
    let text = "[database]\nurl = \"postgres://gw:pg-secret@db:5432/wcheckout\"\n\
                    [keys]\nseed = \"abandon abandon abandon abandon abandon abandon abandon \
                    abandon abandon abandon abandon about\"\nmaster_key = \"\
                    2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b\"\n\
                    [webhooks]\nproxy_url = \"http://user:proxy-secret@proxy:3128\"\n";
    let config = load_text("printed", text).unwrap();
    let printed = config.to_redacted_toml().unwrap();
    for secret in ["pg-secret", "abandon", "2b2b", "proxy-secret"] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
    }
    assert!(printed.contains("url = \"postgres://gw:[REDACTED]@db:5432/wcheckout\""));
    // The sections of the example file, in its order.
    let example = include_str!("../../../../config/wcheckout.example.toml");
    let sections = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with('[') && !l.starts_with("[[") && !l.contains('.'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let printed_sections = sections(&printed);
    let mut order = sections(example)
        .into_iter()
        .filter(|s| printed_sections.contains(s));
    assert!(
        printed_sections
            .iter()
            .filter(|s| sections(example).contains(s))
            .all(|s| order.next().as_ref() == Some(s)),
        "{printed_sections:?}"
    );
    // Loaded again (secrets given back), it prints the same: it can be diffed.
    let given_back = printed
        .replace("[REDACTED]@db", "pg-secret@db")
        .replace(
            "seed = \"[REDACTED]\"",
            &format!("seed = {:?}", config.keys.seed.clone().unwrap()),
        )
        .replace(
            "master_key = \"[REDACTED]\"",
            &format!("master_key = {:?}", config.keys.master_key.clone().unwrap()),
        )
        .replace("\"[REDACTED]\"", "\"http://user:proxy-secret@proxy:3128\"");
    let again = load_text("printed-again", &given_back).unwrap();
    assert_eq!(again.to_redacted_toml().unwrap(), printed);
}

#[test]
fn webhook_proxy_url_is_checked_and_never_shown() {
    let mut config = load(None).unwrap();
    config.webhooks.proxy_url = Some(ProxyUrl("socks5://user:secret@proxy:1080".into()));
    let problems = config.problems().join("\n");
    assert!(
        problems.contains("webhooks.proxy_url: must be an http"),
        "{problems}"
    );
    assert!(!problems.contains("secret"), "{problems}");
    config.webhooks.proxy_url = Some(ProxyUrl("http://user:secret@proxy.internal:3128".into()));
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    assert!(!format!("{config:?}").contains("secret"));
}

const TRON_HEAD: &str = "[chains.TRX]\nfamily = \"tron\"\n\
                         rpc_urls = [\"https://api.trongrid.io/jsonrpc\"]\n";

#[test]
fn the_tron_mainnet_preset_fills_its_contracts_and_solidified_finality() {
    let text =
        format!("{TRON_HEAD}network = \"mainnet\"\napi_urls = [\"https://api.trongrid.io\"]\n");
    let config = load_text("tron-mainnet", &text).unwrap();
    let registry = config.token_registry().unwrap();
    let trx = registry.chain(&ChainKey::parse("TRX").unwrap()).unwrap();
    assert_eq!(trx.family, ChainFamily::Tron);
    assert_eq!(trx.chain_id, 728_126_428);
    assert_eq!(trx.display_name, "TRON");
    assert_eq!(trx.finality, Finality::Finalized, "solidified blocks");
    let usdt = token(&registry, "TRX_USDT").unwrap();
    assert_eq!(
        usdt.contract.to_string(),
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    );
    assert_eq!(usdt.decimals, 6);
    let usdc = token(&registry, "TRX_USDC").unwrap();
    assert_eq!(
        usdc.contract.to_string(),
        "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8"
    );
    assert!(
        token(&registry, "TRX_WUSD").is_none(),
        "TRON has no WUSD preset"
    );
    // Counting blocks instead: 20 by default.
    let counted = format!("{text}finality = \"confirmations\"\n");
    let registry = load_text("tron-count", &counted)
        .unwrap()
        .token_registry()
        .unwrap();
    let trx = registry.chain(&ChainKey::parse("TRX").unwrap()).unwrap();
    assert_eq!(trx.finality, Finality::Confirmations(20));
}

#[test]
fn the_nile_preset_asks_for_a_usdc_contract() {
    let text =
        format!("{TRON_HEAD}network = \"nile\"\napi_urls = [\"https://nile.trongrid.io\"]\n");
    let problems = load_text("tron-nile", &text).unwrap_err().join("\n");
    assert!(
        problems.contains("tokens.TRX_USDC.contract: network 'nile' has no official USDC"),
        "{problems}"
    );
    let without = format!("{text}[tokens.TRX_USDC]\nenabled = false\n");
    let registry = load_text("tron-nile-usdt", &without)
        .unwrap()
        .token_registry()
        .unwrap();
    let usdt = token(&registry, "TRX_USDT").unwrap();
    assert_eq!(
        usdt.contract.to_string(),
        "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
    );
    let trx = registry.chain(&ChainKey::parse("TRX").unwrap()).unwrap();
    assert_eq!(trx.chain_id, 3_448_148_188);
}

#[test]
fn a_tron_chain_needs_its_http_api_and_tron_contracts() {
    let bare = format!("{TRON_HEAD}chain_id = 31338\n");
    let problems = load_text("tron-no-api", &bare).unwrap_err().join("\n");
    assert!(
        problems.contains("chains.TRX.api_urls: at least one URL of the node's HTTP API"),
        "{problems}"
    );
    let with_api = format!("{bare}api_urls = [\"http://127.0.0.1:8090\"]\n");
    let evm_contract =
        format!("{with_api}[tokens.TRX_USDT]\ncontract = \"{DEVNET_USDT}\"\ndecimals = 6\n");
    let problems = load_text("tron-evm-contract", &evm_contract)
        .unwrap_err()
        .join("\n");
    assert!(
        problems.contains("tokens.TRX_USDT.contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' is an EVM (0x…) address; this chain takes TRON addresses"),
        "{problems}"
    );
    let typo = format!(
        "{with_api}[tokens.TRX_USDT]\ncontract = \"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u\"\ndecimals = 6\n"
    );
    let problems = load_text("tron-typo", &typo).unwrap_err().join("\n");
    assert!(problems.contains("wrong checksum"), "{problems}");
    let on_evm =
        format!("[chains.ETH]\nchain_id = 1\n{RPC}api_urls = [\"http://127.0.0.1:8090\"]\n");
    let problems = load_text("evm-api-urls", &on_evm).unwrap_err().join("\n");
    assert!(
        problems.contains("chains.ETH.api_urls: only TRON chains"),
        "{problems}"
    );
    let unknown = format!("[chains.BTC]\nfamily = \"bitcoin\"\nchain_id = 1\n{RPC}");
    let problems = load_text("unknown-family", &unknown)
        .unwrap_err()
        .join("\n");
    assert!(
        problems.contains("chains.BTC.family: 'bitcoin' must be evm, tron or solana"),
        "{problems}"
    );
}

/// Loads `text` as a config file without the final validation (which refuses every Solana
/// chain until one can be served), for the conversion's own checks.
fn load_unvalidated(name: &str, text: &str) -> Result<Config, Vec<String>> {
    let dir = std::env::temp_dir().join(format!("wcheckout-config-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wcheckout.toml");
    std::fs::write(&file, text).unwrap();
    let loaded = load(Some(&file));
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

const SOLANA_HEAD: &str = "[chains.SOL]\nfamily = \"solana\"\n\
                           rpc_urls = [\"https://api.mainnet-beta.solana.com\"]\n";

/// The chain table of a Solana config, or its problems.
fn solana_registry(name: &str, text: &str) -> Result<TokenRegistry, String> {
    load_unvalidated(name, text)
        .and_then(|config| config.token_registry())
        .map_err(|problems| problems.join("\n"))
}

#[test]
fn the_solana_mainnet_preset_fills_its_mints_and_finalized_commitment() {
    let text = format!("{SOLANA_HEAD}network = \"mainnet\"\n");
    let registry = solana_registry("sol-mainnet", &text).unwrap();
    let sol = registry.chain(&ChainKey::parse("SOL").unwrap()).unwrap();
    assert_eq!(sol.family, ChainFamily::Solana);
    assert_eq!(sol.chain_id, 0, "Solana has no chain id");
    assert_eq!(sol.display_name, "Solana");
    assert_eq!(sol.finality, Finality::Finalized);
    for (id, mint) in [
        ("SOL_USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
        ("SOL_USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"),
    ] {
        let token = token(&registry, id).unwrap();
        assert_eq!(token.contract.family(), ChainFamily::Solana);
        assert_eq!(token.contract.to_string(), mint);
        assert_eq!(token.decimals, 6);
    }
    assert!(token(&registry, "SOL_WUSD").is_none());
}

#[test]
fn the_solana_devnet_preset_has_circle_s_usdc_and_asks_for_a_usdt_mint() {
    let text = format!("{SOLANA_HEAD}network = \"devnet\"\n");
    let problems = solana_registry("sol-devnet", &text).unwrap_err();
    assert!(
        problems.contains("tokens.SOL_USDT.contract: network 'devnet' has no official USDT"),
        "{problems}"
    );
    let named = format!(
        "{text}[tokens.SOL_USDT]\ncontract = \"Gh9ZwEmdLJ8DscKNTkTqPbNwLNNBjuSzaG9Vp2KGtKJr\"\n"
    );
    let registry = solana_registry("sol-devnet-usdt", &named).unwrap();
    let usdc = token(&registry, "SOL_USDC").unwrap();
    assert_eq!(
        usdc.contract.to_string(),
        "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    );
    let usdt = token(&registry, "SOL_USDT").unwrap();
    assert_eq!(usdt.decimals, 6, "the preset's decimals stay");
    let sol = registry.chain(&ChainKey::parse("SOL").unwrap()).unwrap();
    assert_eq!(sol.display_name, "Solana Devnet");
}

#[test]
fn solana_finality_is_finalized_or_confirmed_with_a_slot_count() {
    let finality = |extra: &str| {
        solana_registry(
            "sol-finality",
            &format!("{SOLANA_HEAD}network = \"mainnet\"\n{extra}"),
        )
        .map(|registry| {
            registry
                .chain(&ChainKey::parse("SOL").unwrap())
                .unwrap()
                .finality
        })
    };
    assert_eq!(finality(""), Ok(Finality::Finalized));
    assert_eq!(
        finality("finality = \"confirmed\"\n"),
        Ok(Finality::Confirmations(1))
    );
    assert_eq!(
        finality("finality = \"confirmed\"\nconfirmations = 32\n"),
        Ok(Finality::Confirmations(32))
    );
    for (extra, says) in [
        (
            "finality = \"safe\"\n",
            "chains.SOL.finality: 'safe' must be finalized or confirmed on a Solana chain",
        ),
        (
            "finality = \"confirmations\"\n",
            "'confirmations' must be finalized or confirmed",
        ),
        (
            "confirmations = 5\n",
            "chains.SOL.confirmations: counts slots after finality = \"confirmed\" only",
        ),
        (
            "finality = \"confirmed\"\nconfirmations = 0\n",
            "chains.SOL.confirmations: must be between 1 and 10000",
        ),
    ] {
        let problems = finality(extra).unwrap_err();
        assert!(problems.contains(says), "{extra}: {problems}");
    }
}

#[test]
fn a_solana_chain_takes_only_solana_mints_and_keys_it_uses() {
    let mint = |contract: &str| {
        format!("{SOLANA_HEAD}[tokens.SOL_USDC]\ncontract = \"{contract}\"\ndecimals = 6\n")
    };
    let problems =
        solana_registry("sol-tron-mint", &mint("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")).unwrap_err();
    assert!(
        problems.contains(
            "tokens.SOL_USDC.contract: 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t' is a TRON (T…) \
             address; this chain takes Solana addresses"
        ),
        "{problems}"
    );
    let problems = solana_registry("sol-evm-mint", &mint(DEVNET_USDT)).unwrap_err();
    assert!(problems.contains("is an EVM (0x…) address"), "{problems}");
    let problems = solana_registry(
        "sol-bad-mint",
        &mint("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt10"),
    )
    .unwrap_err();
    assert!(problems.contains("is not base58"), "{problems}");
    assert!(
        solana_registry(
            "sol-mint",
            &mint("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
        )
        .is_ok()
    );
    // A Solana mint on an EVM chain is named as such.
    let on_evm = format!(
        "[chains.ETH]\nchain_id = 1\n{RPC}[tokens.ETH_USDC]\n\
         contract = \"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v\"\ndecimals = 6\n"
    );
    let problems = solana_registry("evm-solana-mint", &on_evm).unwrap_err();
    assert!(problems.contains("is a Solana address"), "{problems}");
    let extra = format!(
        "{SOLANA_HEAD}network = \"mainnet\"\nchain_id = 101\n\
         api_urls = [\"https://api.example\"]\nws_url = \"wss://ws.example\"\n\
         wallet_rpc_url = \"https://rpc.example\"\nstart_block = 5\n"
    );
    let problems = solana_registry("sol-extra", &extra).unwrap_err();
    for says in [
        "chains.SOL.chain_id: a Solana chain has no chain id",
        "chains.SOL.api_urls: only TRON chains have an HTTP API; Solana chains use rpc_urls",
        "chains.SOL.ws_url: not used on a Solana chain",
        "chains.SOL.wallet_rpc_url: only EVM chains",
        "chains.SOL.start_block: a Solana chain is read by deposit account",
    ] {
        assert!(problems.contains(says), "{says}: {problems}");
    }
    let no_rpc = "[chains.SOL]\nfamily = \"solana\"\nnetwork = \"mainnet\"\nrpc_urls = []\n";
    let problems = solana_registry("sol-no-rpc", no_rpc).unwrap_err();
    assert!(
        problems.contains("chains.SOL.rpc_urls: at least one RPC URL is required"),
        "{problems}"
    );
}

#[test]
fn a_solana_chain_is_served_with_payouts_on_or_off() {
    let text = format!("{SOLANA_HEAD}network = \"mainnet\"\n");
    load_text("sol-paying", &text).unwrap();
    let both = format!("{text}[chains.ETH]\nnetwork = \"mainnet\"\n{RPC}");
    load_text("sol-paying-both", &both).unwrap();
    let detecting = format!("[payouts]\nenabled = false\n\n{text}");
    load_text("sol-detecting", &detecting).unwrap();
}
