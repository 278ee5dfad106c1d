//! The OpenAPI document, assembled from the handlers' and types' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wcheckout — W Checkout merchant API",
        description = "Every /checkout route needs `Authorization: Bearer <access_token>` and the \
            `SIGNATURE`/`TIMESTAMP` headers: SIGNATURE = Base64(HMAC-SHA512(signKey, METHOD + \
            TIMESTAMP + URI + QueryString + Body)), TIMESTAMP in epoch milliseconds within 2 \
            minutes. Responses carry SIGNATURE, TIMESTAMP and D-Signature over the response body. \
            Business outcomes are HTTP 200 with `retcode`; see the error table in docs/api.md."
    ),
    paths(
        crate::token::token,
        crate::orders::create,
        crate::orders::cancel,
        crate::orders::info,
        crate::orders::list,
        crate::abnormal::list,
        crate::refunds::create_abnormal,
        crate::refunds::create,
        crate::refunds::cancel,
        crate::refunds::info,
        crate::refunds::list,
        crate::settlements::create,
        crate::settlements::create_fiat,
        crate::settlements::cancel,
        crate::settlements::info,
        crate::settlements::list,
        crate::page::status,
        crate::ops::health,
        crate::ops::metrics,
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Access tokens"),
        (name = "order", description = "Checkout orders"),
        (name = "abnormal payment", description = "Over-, under- and late payments"),
        (name = "refund", description = "Tokens back to payers"),
        (name = "settlement", description = "Merchants taking their money out, on chain or by bank wire"),
        (name = "payment page", description = "What payers open"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "SIGNATURE",
                "Base64(HMAC-SHA512(signKey, METHOD + TIMESTAMP + URI + QueryString + Body)), \
                 with the TIMESTAMP header (epoch ms)",
            ))),
        );
    }
}
