//! The console's sentences in English and Simplified Chinese, in the payment page's languages
//! (chosen the same way: `?lang=`, then `Accept-Language`).

use crate::page::i18n::Lang;

/// Every sentence of the console.
#[derive(Debug)]
pub struct ConsoleTexts {
    pub console: &'static str,
    pub switch_language: &'static str,
    pub sign_in: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub role: &'static str,
    pub scope: &'static str,
    pub all_apps: &'static str,
    pub forbidden: &'static str,
    pub form_expired: &'static str,
    pub not_found: &'static str,
    pub failed: &'static str,
    pub orders: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub no_results: &'static str,
    pub order_no: &'static str,
    pub app: &'static str,
    pub status: &'static str,
    pub amount: &'static str,
    pub paying: &'static str,
    pub paid: &'static str,
    pub token: &'static str,
    pub created: &'static str,
    pub updated: &'static str,
    pub deposit_address: &'static str,
    pub tx_hash: &'static str,
    pub customer: &'static str,
    pub transfers: &'static str,
    pub no_transfers: &'static str,
    pub block: &'static str,
    pub from: &'static str,
    pub state: &'static str,
}

const EN: ConsoleTexts = ConsoleTexts {
    console: "wcheckout console",
    switch_language: "中文",
    sign_in: "Sign in",
    username: "Username",
    password: "Password",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    role: "Role",
    scope: "Sees",
    all_apps: "all apps",
    forbidden: "Your role may not do this.",
    form_expired: "This form has expired or was not sent from the console. Reload the page and try again.",
    not_found: "Not found.",
    failed: "Something went wrong. Try again later.",
    orders: "Orders",
    search: "Search",
    search_hint: "Order number, sysid, deposit address or transaction hash",
    no_results: "No order found.",
    order_no: "Order number",
    app: "App",
    status: "Status",
    amount: "Amount",
    paying: "To pay",
    paid: "Paid",
    token: "Token",
    created: "Created",
    updated: "Updated",
    deposit_address: "Deposit address",
    tx_hash: "Transaction",
    customer: "Customer",
    transfers: "Transfers on chain",
    no_transfers: "No transfer yet.",
    block: "Block",
    from: "From",
    state: "State",
};

const ZH_CN: ConsoleTexts = ConsoleTexts {
    console: "wcheckout 控制台",
    switch_language: "English",
    sign_in: "登录",
    username: "用户名",
    password: "密码",
    sign_out: "退出登录",
    signed_in_as: "当前用户",
    role: "角色",
    scope: "可见范围",
    all_apps: "全部应用",
    forbidden: "您的角色无权执行此操作。",
    form_expired: "表单已过期或并非来自控制台。请刷新页面后重试。",
    not_found: "未找到。",
    failed: "出错了，请稍后重试。",
    orders: "订单",
    search: "搜索",
    search_hint: "订单号、系统单号、收款地址或交易哈希",
    no_results: "未找到订单。",
    order_no: "订单号",
    app: "应用",
    status: "状态",
    amount: "金额",
    paying: "应付",
    paid: "已付",
    token: "代币",
    created: "创建时间",
    updated: "更新时间",
    deposit_address: "收款地址",
    tx_hash: "交易",
    customer: "客户",
    transfers: "链上转账",
    no_transfers: "暂无转账。",
    block: "区块",
    from: "付款地址",
    state: "状态",
};

/// The console's sentences in `lang`.
pub const fn texts(lang: Lang) -> &'static ConsoleTexts {
    match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH_CN,
    }
}

/// The sign-in refusal in `lang` (the one message for every reason).
pub const fn sign_in_refused(lang: Lang) -> &'static str {
    match lang {
        Lang::En => wcheckout_app::console::SIGN_IN_REFUSED,
        Lang::ZhCn => "用户名或密码错误，或尝试次数过多。请稍后再试。",
    }
}
