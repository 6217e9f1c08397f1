//! The server's two OpenAPI 3.1 documents (docs/operations.md#openapi): the public
//! one (the AMS door and the probes) at `/openapi.json`, and the admin API's at
//! `/admin/openapi.json`, behind the admin bearer token like the rest of `/admin`.

use crate::admin::{ChargebackBody, JobView, ScriptBody};
use axum::response::{IntoResponse, Response};
use backflow_notify::{AttemptView, NotificationDetail, NotificationView};
use std::sync::LazyLock;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, PathItem, Ref, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

// Rendered once: the documents are constant for the life of the process.
static PUBLIC: LazyLock<String> = LazyLock::new(|| json(&public()));
static ADMIN: LazyLock<String> = LazyLock::new(|| json(&admin()));

fn json(doc: &OpenApi) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

fn serve(doc: &'static str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc,
    )
        .into_response()
}

/// `GET /openapi.json`.
pub async fn public_json() -> Response {
    serve(&PUBLIC)
}

/// `GET /admin/openapi.json`.
pub async fn admin_json() -> Response {
    serve(&ADMIN)
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn text(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "text/plain; charset=utf-8",
        ContentBuilder::new().schema(Some(string())).build(),
    )
}

fn get(id: &str, summary: &str, responses: ResponsesBuilder) -> PathItem {
    PathItem::new(
        HttpMethod::Get,
        OperationBuilder::new()
            .operation_id(Some(id))
            .tag("server")
            .summary(Some(summary))
            .responses(responses),
    )
}

/// The AMS door's document with the server's probes and this document.
pub fn public() -> OpenApi {
    let mut doc = backflow_ams::openapi::document();
    let any_json = || {
        ResponseBuilder::new()
            .description("This document.")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                    .build(),
            )
    };
    for (path, item) in [
        (
            "/healthz",
            get(
                "healthz",
                "Liveness: the process answers",
                ResponsesBuilder::new().response("200", text("`ok`")),
            ),
        ),
        (
            "/readyz",
            get(
                "readyz",
                "Readiness: the database answers",
                ResponsesBuilder::new()
                    .response("200", text("`ready`"))
                    .response("503", text("`database unavailable`")),
            ),
        ),
        (
            "/metrics",
            get(
                "metrics",
                "Prometheus metrics (docs/operations.md)",
                ResponsesBuilder::new().response(
                    "200",
                    ResponseBuilder::new()
                        .description("The text exposition format.")
                        .content(
                            "text/plain; version=0.0.4",
                            ContentBuilder::new().schema(Some(string())).build(),
                        ),
                ),
            ),
        ),
        (
            "/openapi.json",
            get(
                "openapi",
                "This document",
                ResponsesBuilder::new().response("200", any_json()),
            ),
        ),
    ] {
        doc.paths.paths.insert(path.to_owned(), item);
    }
    doc
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn path_params(names: &[&str]) -> Vec<Parameter> {
    names
        .iter()
        .map(|n| {
            ParameterBuilder::new()
                .name(*n)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string()))
                .build()
        })
        .collect()
}

fn query_param(name: &str, schema: ObjectBuilder, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn json_response(description: &str, schema: RefOr<Schema>) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    )
}

/// What an admin route answers besides its success: 401, and the errors it names.
fn responses(ok: (&str, &str, RefOr<Schema>), errors: &[(&str, &str)]) -> ResponsesBuilder {
    let error = || reference("AdminError");
    errors.iter().fold(
        ResponsesBuilder::new()
            .response(ok.0, json_response(ok.1, ok.2))
            .response(
                "401",
                json_response("The bearer token is missing or wrong.", error()),
            )
            .response(
                "500",
                json_response("An internal failure, logged.", error()),
            ),
        |r, (status, description)| r.response(*status, json_response(description, error())),
    )
}

fn object<const N: usize>(fields: [(&str, ObjectBuilder); N]) -> RefOr<Schema> {
    RefOr::T(
        fields
            .into_iter()
            .fold(
                ObjectBuilder::new().schema_type(Type::Object),
                |o, (n, s)| o.property(n, s).required(n),
            )
            .into(),
    )
}

struct Route {
    path: &'static str,
    method: HttpMethod,
    id: &'static str,
    summary: &'static str,
    params: Vec<Parameter>,
    body: Option<&'static str>,
    responses: ResponsesBuilder,
}

fn admin_routes() -> Vec<Route> {
    let list = |field: &str, item: &str| {
        RefOr::T(
            ObjectBuilder::new()
                .property(field, ArrayBuilder::new().items(reference(item)))
                .required(field)
                .into(),
        )
    };
    vec![
        Route {
            path: "/admin/sandbox/{client_id}/refund-scripts",
            method: HttpMethod::Post,
            id: "script_refund",
            summary:
                "Queue a scripted outcome for a sandbox merchant's next refund (docs/sandbox.md)",
            params: path_params(&["client_id"]),
            body: Some("ScriptBody"),
            responses: responses(
                (
                    "201",
                    "Queued.",
                    object([("merchant", string()), ("script", string())]),
                ),
                &[
                    ("400", "A malformed client id or script."),
                    ("404", "No such merchant."),
                ],
            ),
        },
        Route {
            path: "/admin/payments/{client_id}/{payment_id}/chargeback",
            method: HttpMethod::Post,
            id: "chargeback",
            summary: "Open or close a chargeback on a card payment",
            params: path_params(&["client_id", "payment_id"]),
            body: Some("ChargebackBody"),
            responses: responses(
                (
                    "200",
                    "The payment's chargeback flag.",
                    object([
                        ("paymentId", string()),
                        (
                            "chargebackPending",
                            ObjectBuilder::new().schema_type(Type::Boolean),
                        ),
                    ]),
                ),
                &[
                    ("400", "Malformed ids or input."),
                    ("404", "No such merchant or payment."),
                ],
            ),
        },
        Route {
            path: "/admin/jobs",
            method: HttpMethod::Get,
            id: "jobs",
            summary: "Scheduled jobs not yet done, oldest first",
            params: vec![query_param(
                "dead",
                ObjectBuilder::new().schema_type(Type::Boolean),
                "Only dead jobs (failed 10 runs in a row).",
            )],
            body: None,
            responses: responses(("200", "The jobs.", list("jobs", "JobView")), &[]),
        },
        Route {
            path: "/admin/jobs/{id}/retry",
            method: HttpMethod::Post,
            id: "retry_job",
            summary: "Run a dead job again now",
            params: path_params(&["id"]),
            body: None,
            responses: responses(
                (
                    "200",
                    "The job is pending again.",
                    object([("id", string()), ("status", string())]),
                ),
                &[("404", "No such dead job.")],
            ),
        },
        Route {
            path: "/admin/reports/{client_id}",
            method: HttpMethod::Get,
            id: "reports",
            summary: "A merchant's kept reports (docs/reports.md)",
            params: path_params(&["client_id"]),
            body: None,
            responses: responses(
                (
                    "200",
                    "The reports, by name.",
                    object([
                        ("merchant", string()),
                        ("reports", ObjectBuilder::new().schema_type(Type::Array)),
                    ]),
                ),
                &[
                    ("400", "A malformed client id."),
                    ("404", "This server keeps no reports."),
                ],
            ),
        },
        Route {
            path: "/admin/reports/{client_id}/{name}",
            method: HttpMethod::Get,
            id: "report",
            summary: "One report, as it is on disk",
            params: path_params(&["client_id", "name"]),
            body: None,
            responses: ResponsesBuilder::new()
                .response(
                    "200",
                    ResponseBuilder::new().description("The file.").content(
                        "application/octet-stream",
                        ContentBuilder::new().schema(Some(string())).build(),
                    ),
                )
                .response(
                    "400",
                    json_response("A malformed id or name.", reference("AdminError")),
                )
                .response(
                    "401",
                    json_response(
                        "The bearer token is missing or wrong.",
                        reference("AdminError"),
                    ),
                )
                .response(
                    "404",
                    json_response("No such report.", reference("AdminError")),
                ),
        },
        Route {
            path: "/admin/notifications",
            method: HttpMethod::Get,
            id: "notifications",
            summary: "Notifications, newest first (docs/notifications.md)",
            params: vec![
                query_param("merchant", string(), "A client id."),
                query_param(
                    "status",
                    string(),
                    "PENDING, DELIVERED or GAVE_UP, in any case.",
                ),
                query_param(
                    "limit",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                    "At most this many rows (default 100, at most 1000).",
                ),
            ],
            body: None,
            responses: responses(
                (
                    "200",
                    "The notifications.",
                    list("notifications", "NotificationView"),
                ),
                &[("400", "A malformed filter.")],
            ),
        },
        Route {
            path: "/admin/notifications/{id}",
            method: HttpMethod::Get,
            id: "notification",
            summary: "One notification with its body and delivery log",
            params: path_params(&["id"]),
            body: None,
            responses: responses(
                ("200", "The notification.", reference("NotificationDetail")),
                &[("404", "No such notification.")],
            ),
        },
        Route {
            path: "/admin/notifications/{id}/resend",
            method: HttpMethod::Post,
            id: "resend_notification",
            summary: "Send a notification again now",
            params: path_params(&["id"]),
            body: None,
            responses: responses(
                (
                    "200",
                    "Scheduled.",
                    object([
                        ("id", string()),
                        ("status", string()),
                        ("nextAttemptAt", string()),
                    ]),
                ),
                &[
                    ("404", "No such notification."),
                    ("409", "An attempt is being delivered."),
                ],
            ),
        },
        Route {
            path: "/admin/openapi.json",
            method: HttpMethod::Get,
            id: "admin_openapi",
            summary: "This document",
            params: vec![],
            body: None,
            responses: responses(
                (
                    "200",
                    "This document.",
                    RefOr::T(ObjectBuilder::new().schema_type(Type::Object).into()),
                ),
                &[],
            ),
        },
    ]
}

/// The admin API's document.
pub fn admin() -> OpenApi {
    let mut doc = OpenApi::new(
        InfoBuilder::new()
            .title("Backflow admin API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Operators' API: every route needs `Authorization: Bearer <admin token>` (docs/operations.md#openapi).",
            ))
            .build(),
        utoipa::openapi::Paths::new(),
    );
    for r in admin_routes() {
        let mut op = OperationBuilder::new()
            .operation_id(Some(r.id))
            .tag("admin")
            .summary(Some(r.summary))
            .parameters(Some(r.params))
            .responses(r.responses)
            .security(SecurityRequirement::new("AdminToken", Vec::<String>::new()));
        if let Some(body) = r.body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(reference(body))).build(),
                    )
                    .build(),
            ));
        }
        doc.paths
            .add_path_operation(r.path, vec![r.method], op.build());
    }
    let error = ObjectBuilder::new()
        .property("error", string())
        .required("error");
    doc.components = Some(
        ComponentsBuilder::new()
            .schema("AdminError", error)
            .schema(ScriptBody::name(), ScriptBody::schema())
            .schema(ChargebackBody::name(), ChargebackBody::schema())
            .schema(JobView::name(), JobView::schema())
            .schema(NotificationView::name(), NotificationView::schema())
            .schema(NotificationDetail::name(), NotificationDetail::schema())
            .schema(AttemptView::name(), AttemptView::schema())
            .security_scheme(
                "AdminToken",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "The admin token: --admin-token, or generated into DATA_DIR/admin-token.",
                        ))
                        .build(),
                ),
            )
            .build(),
    );
    doc
}
