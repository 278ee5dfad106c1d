//! The sentences of the apps pages and of refunds, in English and Simplified Chinese (beside
//! [`super::i18n`], which holds the rest of the console's).

use crate::page::i18n::Lang;

/// Every sentence of the apps pages and refund forms.
#[derive(Debug)]
pub struct AppTexts {
    pub apps: &'static str,
    pub new_app: &'static str,
    pub name: &'static str,
    pub webhook_url: &'static str,
    pub webhook_url_hint: &'static str,
    pub ip_allowlist: &'static str,
    pub ip_allowlist_hint: &'static str,
    pub any_address: &'static str,
    pub create: &'static str,
    pub no_apps: &'static str,
    pub enabled: &'static str,
    pub disabled: &'static str,
    pub secrets_version: &'static str,
    pub credentials_title: &'static str,
    pub credentials_once: &'static str,
    pub credentials_gone: &'static str,
    pub open_app: &'static str,
    pub rotate: &'static str,
    pub rotate_warning: &'static str,
    pub save: &'static str,
    pub branding: &'static str,
    pub display_name: &'static str,
    pub display_name_hint: &'static str,
    pub theme_color: &'static str,
    pub logo: &'static str,
    pub logo_file: &'static str,
    pub remove_logo: &'static str,
    pub current_logo: &'static str,
    pub no_logo: &'static str,
    pub preview: &'static str,
    pub preview_title: &'static str,
    pub preview_note: &'static str,
    pub refund_order: &'static str,
    pub refund_abnormal: &'static str,
    pub refund_address: &'static str,
    pub refund_amount_left: &'static str,
    pub refund_title: &'static str,
    pub refund_sends: &'static str,
    pub refund_confirm: &'static str,
    pub refund_no: &'static str,
    pub abnormal_payment: &'static str,
    pub continue_: &'static str,
    pub order: &'static str,
    pub app_bound_create: &'static str,
}

static EN: AppTexts = AppTexts {
    apps: "Apps",
    new_app: "Create an app",
    name: "Name",
    webhook_url: "Webhook URL",
    webhook_url_hint: "http(s) URL; empty sends no webhooks",
    ip_allowlist: "IP allow-list",
    ip_allowlist_hint: "Addresses or CIDR networks, one per line or separated by commas; empty allows every address",
    any_address: "every address",
    create: "Create",
    no_apps: "No app yet.",
    enabled: "enabled",
    disabled: "disabled",
    secrets_version: "Secrets version",
    credentials_title: "Credentials of {app}",
    credentials_once: "Store apiSecret and signKey now: they are shown this once and cannot be shown again.",
    credentials_gone: "Credentials are shown only once and are not kept. Rotate the secrets to get new ones.",
    open_app: "Open the app",
    rotate: "Rotate secrets",
    rotate_warning: "Issues a new apiSecret and signKey; tokens issued before stop working.",
    save: "Save",
    branding: "Payment page branding",
    display_name: "Display name",
    display_name_hint: "empty shows the app's name",
    theme_color: "Theme colour (#rrggbb)",
    logo: "New logo: a data: URI of a PNG, JPEG, WebP, GIF or SVG image of at most 48 KiB (empty keeps the current one)",
    logo_file: "Or choose an image file",
    remove_logo: "Remove the logo",
    current_logo: "Current logo",
    no_logo: "no logo",
    preview: "Preview",
    preview_title: "Preview of the payment page",
    preview_note: "A sample order with the branding in the form, not saved until Save.",
    refund_order: "Refund this order",
    refund_abnormal: "Refund abnormal payment {no}",
    refund_address: "Destination (empty: the address that paid)",
    refund_amount_left: "Amount (empty: {amount} {token}, what is left)",
    refund_title: "Confirm the refund",
    refund_sends: "Refunding sends {amount} {token} to:",
    refund_confirm: "Refund {amount} {token}",
    refund_no: "Refund number",
    abnormal_payment: "Abnormal payment",
    continue_: "Continue",
    order: "Order",
    app_bound_create: "An account bound to one app cannot create apps.",
};

static ZH_CN: AppTexts = AppTexts {
    apps: "应用",
    new_app: "创建应用",
    name: "名称",
    webhook_url: "Webhook 地址",
    webhook_url_hint: "http(s) 地址；留空则不发送 Webhook",
    ip_allowlist: "IP 白名单",
    ip_allowlist_hint: "IP 地址或 CIDR 网段，每行一个或以逗号分隔；留空则允许所有地址",
    any_address: "所有地址",
    create: "创建",
    no_apps: "尚无应用。",
    enabled: "已启用",
    disabled: "已停用",
    secrets_version: "密钥版本",
    credentials_title: "{app} 的凭据",
    credentials_once: "请立即保存 apiSecret 和 signKey：它们只显示这一次，之后无法再次查看。",
    credentials_gone: "凭据只显示一次，且不会保存。如需新凭据，请轮换密钥。",
    open_app: "打开应用",
    rotate: "轮换密钥",
    rotate_warning: "签发新的 apiSecret 和 signKey；此前签发的令牌将失效。",
    save: "保存",
    branding: "支付页品牌",
    display_name: "显示名称",
    display_name_hint: "留空则显示应用名称",
    theme_color: "主题色（#rrggbb）",
    logo: "新徽标：PNG、JPEG、WebP、GIF 或 SVG 图片的 data: URI，最大 48 KiB（留空则保留当前徽标）",
    logo_file: "或选择图片文件",
    remove_logo: "移除徽标",
    current_logo: "当前徽标",
    no_logo: "无徽标",
    preview: "预览",
    preview_title: "支付页预览",
    preview_note: "使用表单中品牌设置的示例订单；点击“保存”前不会保存。",
    refund_order: "退款此订单",
    refund_abnormal: "退款异常付款 {no}",
    refund_address: "退款地址（留空：付款地址）",
    refund_amount_left: "金额（留空：剩余的 {amount} {token}）",
    refund_title: "确认退款",
    refund_sends: "退款将把 {amount} {token} 发送至：",
    refund_confirm: "退款 {amount} {token}",
    refund_no: "退款单号",
    abnormal_payment: "异常付款",
    continue_: "继续",
    order: "订单",
    app_bound_create: "绑定单个应用的账户不能创建应用。",
};

/// The apps pages' sentences in `lang`.
pub const fn app_texts(lang: Lang) -> &'static AppTexts {
    match lang {
        Lang::En => &EN,
        Lang::ZhCn => &ZH_CN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::texts;

    #[test]
    fn both_languages_fill_the_same_placeholders() {
        for lang in [Lang::En, Lang::ZhCn] {
            let t = app_texts(lang);
            for (text, names) in [
                (t.refund_sends, &["{amount}", "{token}"][..]),
                (t.refund_confirm, &["{amount}", "{token}"][..]),
                (t.refund_amount_left, &["{amount}", "{token}"][..]),
                (t.refund_abnormal, &["{no}"][..]),
                (t.credentials_title, &["{app}"][..]),
            ] {
                for name in names {
                    assert!(text.contains(name), "{lang:?}: {text} lacks {name}");
                }
            }
            assert_eq!(texts(lang).lang(), lang);
        }
        assert_ne!(app_texts(Lang::En).apps, app_texts(Lang::ZhCn).apps);
    }
}
