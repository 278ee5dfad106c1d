//! The OpenAPI document, assembled from the handlers' and types' annotations.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, OneOfBuilder, Schema, Type};
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
            minutes. Answers to requests that passed these checks carry SIGNATURE, TIMESTAMP and \
            D-Signature over the response body; refusals by them are unsigned. \
            Business outcomes are HTTP 200 with `retcode`; see the error table in docs/api.md. \
            `retdata` is `null` whenever nothing is returned (every error)."
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
        crate::page::page,
        crate::page::status,
        crate::page::qr_code,
        crate::page::logo,
        crate::page::wallet_transaction,
        crate::ops::health,
        crate::ops::metrics,
    ),
    modifiers(&Security, &NullableRetdata),
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

/// `retdata` is `null` on every error, but utoipa drops the `null` of `Option<T>` when it
/// composes a generic `Envelope<T>` (it inlines `T` in place of the field), so the envelopes'
/// `retdata` is made nullable here.
struct NullableRetdata;

/// Prefix of the envelopes' component names (`Envelope_OrderView` …).
const ENVELOPE_PREFIX: &str = "Envelope_";

impl Modify for NullableRetdata {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (name, schema) in &mut components.schemas {
            if !name.starts_with(ENVELOPE_PREFIX) {
                continue;
            }
            let RefOr::T(Schema::Object(envelope)) = schema else {
                continue;
            };
            if let Some(retdata) = envelope.properties.get_mut("retdata") {
                *retdata = nullable(retdata.clone());
            }
        }
    }
}

/// `null` or `schema`, unless `schema` admits `null` already.
fn nullable(schema: RefOr<Schema>) -> RefOr<Schema> {
    if admits_null(&schema) {
        return schema;
    }
    OneOfBuilder::new()
        .item(Object::with_type(Type::Null))
        .item(schema)
        .description(Some(
            "The result; `null` on every error and wherever nothing is returned.",
        ))
        .into()
}

fn admits_null(schema: &RefOr<Schema>) -> bool {
    let null = RefOr::T(Schema::Object(Object::with_type(Type::Null)));
    match schema {
        RefOr::T(Schema::OneOf(one_of)) => one_of.items.contains(&null),
        _ => false,
    }
}
