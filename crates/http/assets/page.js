// wcheckout payment page: keeps the status live (polling the page's status address), runs the
// countdown, copies the address, and pays through the browser wallet of the order's chain family
// (an injected EIP-1193 provider, TronLink on TRON, a wallet-standard wallet on Solana). Plain script, no dependencies; the
// server-rendered page already works without it.
"use strict";

(function () {
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var t = data.texts;
  var card = document.querySelector("main.card");
  var $ = function (id) { return document.getElementById(id); };
  var status = data.status;
  var deadline = Date.now() + status.expiresIn * 1000;
  var returnTimer = null;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function isOpen(state) {
    return state === "waiting" || state === "partly_paid" || state === "confirming";
  }

  function statusText(s) {
    var values = {
      token: data.token, remaining: s.remaining, paid: s.paid, amount: s.refunded,
      n: s.confirmations, required: s.requiredConfirmations
    };
    var text = {
      waiting: t.waiting,
      partly_paid: t.partlyPaid,
      confirming: s.requiredConfirmations == null ? t.confirmingFinal : t.confirming,
      paid: t.paid,
      expired: s.paid !== "0" ? t.expiredPartly : t.expired,
      cancelled: t.cancelled,
      refunding: t.refunding,
      refunded: t.refunded
    }[s.state] || "";
    return fill(text, values);
  }

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h > 0 ? h + ":" + two(m) + ":" + two(s) : two(m) + ":" + two(s);
  }

  function tick() {
    var left = (deadline - Date.now()) / 1000;
    $("time-left").textContent = clock(left);
    $("countdown").hidden = !(isOpen(status.state) && left > 0);
  }

  function render(s) {
    var previous = status;
    status = s;
    deadline = Date.now() + s.expiresIn * 1000;
    card.setAttribute("data-state", s.state);
    $("status-text").textContent = statusText(s);
    $("received").textContent = s.received;
    $("remaining").textContent = s.remaining;
    $("progress").hidden = !isOpen(s.state) || s.received === "0";
    tick();
    var payable = isOpen(s.state) && s.remainingUnits !== "0";
    $("pay").hidden = !payable;
    if (payable && s.remainingUnits !== previous.remainingUnits) {
      $("qr").src = data.qrUrl + "?units=" + encodeURIComponent(s.remainingUnits);
      var values = { amount: s.remaining, token: data.token, address: data.depositAddress };
      $("qr").alt = fill(data.qrAlt, values);
      if (data.qrNote) $("qr-note").textContent = fill(data.qrNote, values);
    }
    renderReceipt(s);
  }

  function renderReceipt(s) {
    var done = s.state === "paid" || s.state === "refunding" || s.state === "refunded";
    $("receipt").hidden = !done;
    if (!done) return;
    $("receipt-amount").textContent = s.paid;
    var tx = $("receipt-tx");
    tx.textContent = "";
    if (s.txHash) {
      var code = document.createElement("code");
      code.textContent = s.txHash;
      if (s.txUrl) {
        var link = document.createElement("a");
        link.href = s.txUrl;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.title = t.viewOnExplorer;
        link.appendChild(code);
        tx.appendChild(link);
      } else {
        tx.appendChild(code);
      }
    }
    if (s.state === "paid") startReturn();
  }

  function returnUrl() {
    var mobile = /Android|iPhone|iPad|Mobile/i.test(navigator.userAgent);
    return mobile
      ? data.appCallbackUrl || data.pcCallbackUrl
      : data.pcCallbackUrl || data.appCallbackUrl;
  }

  function startReturn() {
    var url = returnUrl();
    var link = $("return");
    if (!url || !link || returnTimer) return;
    link.href = url;
    var seconds = 10;
    var show = function () { $("returning").textContent = fill(t.returningIn, { seconds: seconds }); };
    show();
    returnTimer = setInterval(function () {
      seconds -= 1;
      if (seconds <= 0) {
        clearInterval(returnTimer);
        window.location.assign(url);
      } else {
        show();
      }
    }, 1000);
  }

  function poll() {
    var wait = isOpen(status.state) ? 1500 : 10000;
    fetch(data.statusUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) { if (body && body.retcode === "200") render(body.retdata); })
      .catch(function () { /* the next poll tries again */ })
      .then(function () {
        var ended = status.state === "expired" || status.state === "cancelled" ||
          status.state === "refunded";
        if (!ended) setTimeout(poll, wait);
      });
  }

  // --- copying the address -------------------------------------------------------------------

  function copyAddress() {
    var box = $("address");
    var address = box.textContent.trim();
    var done = function () { flash($("copy"), t.copied); };
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents(box);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try {
        if (document.execCommand("copy")) return done();
      } catch (e) { /* shown below */ }
      say(t.copyFailed, true);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(address).then(done, fallback);
    } else {
      fallback();
    }
  }

  function flash(button, text) {
    button.textContent = text;
    setTimeout(function () { button.textContent = t.copy; }, 2000);
  }

  // --- paying with a browser wallet ----------------------------------------------------------

  function say(text, isError) {
    var message = $("wallet-message");
    message.textContent = text;
    message.classList.toggle("error", !!isError);
  }

  function hex(n) { return "0x" + BigInt(n).toString(16); }

  function word(value) { return value.toString(16).padStart(64, "0"); }

  function units(amount, decimals) {
    var text = amount.toString().padStart(decimals + 1, "0");
    var whole = text.slice(0, text.length - decimals);
    var fraction = text.slice(text.length - decimals).replace(/0+$/, "");
    return fraction ? whole + "." + fraction : whole;
  }

  function onChain(wallet) {
    var wanted = hex(data.chainId);
    return wallet.request({ method: "eth_chainId" }).then(function (current) {
      if (BigInt(current) === BigInt(data.chainId)) return;
      return wallet.request({ method: "wallet_switchEthereumChain", params: [{ chainId: wanted }] })
        .catch(function (error) {
          if (!error || error.code !== 4902) throw error;
          if (!data.walletRpcUrl) throw { wcheckout: fill(t.walletAddChain, chainValues()) };
          return wallet.request({
            method: "wallet_addEthereumChain",
            params: [{ chainId: wanted, chainName: data.chainName, rpcUrls: [data.walletRpcUrl],
              nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }]
          });
        })
        .then(function () { return wallet.request({ method: "eth_chainId" }); })
        .then(function (now) {
          if (BigInt(now) !== BigInt(data.chainId)) {
            throw { wcheckout: fill(t.walletWrongChain, chainValues()) };
          }
        });
    });
  }

  function chainValues() { return { network: data.chainName, chainId: data.chainId }; }

  function checkBalance(wallet, from, due) {
    var call = { to: data.tokenContract, data: "0x70a08231" + word(BigInt(from)) };
    return wallet.request({ method: "eth_call", params: [call, "latest"] }).then(function (result) {
      var balance = BigInt(result === "0x" ? 0 : result);
      if (balance < due) {
        throw { wcheckout: fill(t.walletNoToken, {
          balance: units(balance, data.tokenDecimals), amount: status.remaining, token: data.token
        }) };
      }
    });
  }

  function explain(error) {
    if (error && error.wcheckout) return error.wcheckout;
    var code = error && (error.code || (error.data && error.data.code));
    var message = String((error && (error.message || error.reason)) || error || "");
    if (code === 4001 || /reject|denied|declined|cancel/i.test(message)) return t.walletRejected;
    if (code === 4901 || /chain|network/i.test(message) && /mismatch|wrong|unsupported/i.test(message)) {
      return fill(t.walletWrongChain, chainValues());
    }
    if (/insufficient funds|balance is not sufficient|resource insufficient/i.test(message)) {
      return t.walletNoGas;
    }
    return fill(t.walletError, { message: message.slice(0, 200) });
  }

  function payWithEip1193() {
    var wallet = window.ethereum;
    var manual = $("manual");
    if (!wallet || typeof wallet.request !== "function") {
      manual.hidden = false;
      say("");
      return;
    }
    manual.hidden = true;
    var button = $("wallet");
    var due = BigInt(status.remainingUnits);
    var from;
    button.disabled = true;
    say(t.walletConfirm);
    wallet.request({ method: "eth_requestAccounts" })
      .then(function (accounts) {
        from = accounts && accounts[0];
        if (!from) throw { code: 4001 };
        return onChain(wallet);
      })
      .then(function () { return checkBalance(wallet, from, due); })
      .then(function () {
        var transfer = "0xa9059cbb" + word(BigInt(data.depositAddress)) + word(due);
        return wallet.request({
          method: "eth_sendTransaction",
          params: [{ from: from, to: data.tokenContract, data: transfer, value: "0x0" }]
        });
      })
      .then(function () { say(t.walletSent); })
      .catch(function (error) { say(explain(error), true); })
      .then(function () { button.disabled = false; });
  }

  // --- TRON: TronLink's injected objects (wallet apps' browsers inject the same) --------------

  function tronLinkPresent() { return !!(window.tronLink || window.tronWeb); }

  // TronLink answers its connection request with `{code, message}` (200 connected, 4001
  // rejected, nothing while locked); newer versions may answer with the accounts instead.
  function connectTronLink() {
    var link = window.tronLink;
    if (!link || typeof link.request !== "function") return Promise.resolve();
    return link.request({ method: "tron_requestAccounts" }).then(function (answer) {
      if (Array.isArray(answer) && answer.length) return;
      if (answer && answer.code === 200) return;
      if (answer && answer.code === 4001) throw { code: 4001 };
      throw { wcheckout: t.walletLocked };
    });
  }

  // A TRC-20 amount as an integer, whatever number type the wallet's tronWeb returns.
  function integer(value) {
    if (value && typeof value === "object" && 0 in value) value = value[0];
    return BigInt(String(value));
  }

  function payWithTronLink() {
    var button = $("wallet");
    var due = status.remainingUnits;
    var tronWeb, token, from;
    button.disabled = true;
    say(t.walletConfirm);
    connectTronLink()
      .then(function () {
        tronWeb = (window.tronLink && window.tronLink.tronWeb) || window.tronWeb;
        from = tronWeb && tronWeb.defaultAddress && tronWeb.defaultAddress.base58;
        if (!from) throw { wcheckout: t.walletLocked };
        return tronWeb.contract().at(data.tokenContract);
      })
      .then(function (contract) {
        token = contract;
        return token.balanceOf(from).call();
      })
      .then(function (balance) {
        balance = integer(balance);
        if (balance < BigInt(due)) {
          throw { wcheckout: fill(t.walletNoToken, {
            balance: units(balance, data.tokenDecimals), amount: status.remaining, token: data.token
          }) };
        }
        // Base units as an integer string: never a float. The fee limit caps the TRX the
        // transfer may burn for energy (100 TRX, in sun); the wallet shows the real cost.
        return token.transfer(data.depositAddress, due).send({ feeLimit: 100000000 });
      })
      .then(function () { say(t.walletSent); })
      .catch(function (error) { say(explain(error), true); })
      .then(function () { button.disabled = false; });
  }

  // TronLink injects its objects a moment after the page loads: the button appears once they do.
  function showWhenTronLinkPresent() {
    var show = function () { $("wallet").hidden = !tronLinkPresent(); };
    show();
    window.addEventListener("tronLink#initialized", show);
    var checks = 0;
    var timer = setInterval(function () {
      show();
      checks += 1;
      if (checks >= 10 || tronLinkPresent()) clearInterval(timer);
    }, 300);
  }

  // --- Solana: wallets found through the wallet standard -------------------------------------
  // Wallets announce themselves with `wallet-standard:register-wallet` (whose detail is a
  // callback taking our API) and answer our `wallet-standard:app-ready` (whose detail is the
  // API) by registering: either way they call `register(wallet, ...)`. A wallet pays here when
  // it connects (`standard:connect`) and signs and sends Solana transactions
  // (`solana:signAndSendTransaction`); the gateway builds the transaction, the wallet signs it.

  var standardWallets = [];

  function isSolanaChain(chain) { return String(chain).indexOf("solana:") === 0; }

  function paysSolana(wallet) {
    var features = wallet && wallet.features;
    return !!(features && features["standard:connect"] &&
      features["solana:signAndSendTransaction"] &&
      (wallet.chains || []).some(isSolanaChain));
  }

  function showWhenSolanaWalletPresent() { $("wallet").hidden = !standardWallets.some(paysSolana); }

  function registerWallets(list) {
    list.forEach(function (wallet) {
      if (wallet && standardWallets.indexOf(wallet) < 0) standardWallets.push(wallet);
    });
    showWhenSolanaWalletPresent();
    return function unregister() {
      standardWallets = standardWallets.filter(function (w) { return list.indexOf(w) < 0; });
      showWhenSolanaWalletPresent();
    };
  }

  function watchStandardWallets() {
    var api = Object.freeze({
      register: function () { return registerWallets(Array.prototype.slice.call(arguments)); }
    });
    window.addEventListener("wallet-standard:register-wallet", function (event) {
      if (event && typeof event.detail === "function") event.detail(api);
    });
    window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: api }));
  }

  function bytesOf(base64) {
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // The unsigned transaction paying what is still due from `account`, built by the gateway.
  function askTransaction(account) {
    var refused = { "00409": t.walletNotPayable, "00001": t.walletBadAccount };
    return fetch(data.transactionUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ account: account }),
      cache: "no-store"
    })
      .then(function (r) { return r.json(); })
      .catch(function () { return null; })
      .then(function (body) {
        if (body && body.retcode === "200" && body.retdata) return body.retdata;
        throw { wcheckout: (body && refused[body.retcode]) || t.walletUnavailable };
      });
  }

  function payWithWalletStandard() {
    var wallet = standardWallets.filter(paysSolana)[0];
    var manual = $("manual");
    if (!wallet) {
      manual.hidden = false;
      say("");
      return;
    }
    manual.hidden = true;
    var button = $("wallet");
    var account;
    button.disabled = true;
    say(t.walletConfirm);
    Promise.resolve()
      .then(function () { return wallet.features["standard:connect"].connect(); })
      .then(function (connected) {
        var accounts = (connected && connected.accounts && connected.accounts.length)
          ? connected.accounts : (wallet.accounts || []);
        account = accounts.filter(function (a) {
          return a && a.address && (!a.chains || a.chains.some(isSolanaChain));
        })[0];
        if (!account) throw { wcheckout: t.walletLocked };
        return askTransaction(account.address);
      })
      .then(function (answer) {
        return wallet.features["solana:signAndSendTransaction"].signAndSendTransaction({
          account: account,
          chain: answer.chain,
          transaction: bytesOf(answer.transaction)
        });
      })
      .then(function () { say(t.walletSent); })
      .catch(function (error) { say(explain(error), true); })
      .then(function () { button.disabled = false; });
  }

  var wallets = {
    eip1193: { pay: payWithEip1193, watch: function () {} },
    tronlink: { pay: payWithTronLink, watch: showWhenTronLinkPresent },
    "wallet-standard": { pay: payWithWalletStandard, watch: watchStandardWallets }
  };
  var wallet = wallets[data.wallet] || wallets.eip1193;

  $("copy").addEventListener("click", copyAddress);
  $("wallet").addEventListener("click", wallet.pay);
  wallet.watch();
  setInterval(tick, 1000);
  tick();
  renderReceipt(status);
  setTimeout(poll, 1500);
})();
