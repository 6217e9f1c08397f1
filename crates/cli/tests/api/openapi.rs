//! The OpenAPI documents (docs/operations.md#openapi): served, complete, and true to the server.

use crate::helpers::{on_both_backends, spawn_app, Backend, ADMIN_TOKEN};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Routes no document describes, and why: the portal's browser pages (docs/portal.md) are
/// nested under `/portal` and answer HTML forms; the legacy gateway speaks form-encoded
/// parameters and XML (docs/legacy.md).
const UNDOCUMENTED_CRATES: [&str; 1] = ["crates/portal"];
const UNDOCUMENTED_ROUTES: [&str; 1] = ["/gateway.do"];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `.route("path", method(..)…)` in a source text, as (path, method) pairs.
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (start, _) in source.match_indices(".route(") {
        let rest = &source[start + ".route(".len()..];
        let Some(open) = rest.find('"') else { continue };
        let Some(len) = rest[open + 1..].find('"') else {
            continue;
        };
        let path = &rest[open + 1..open + 1 + len];
        // The method chain runs to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let chain = &rest[open + 1 + len..end];
        for method in METHODS {
            let call = format!("{method}(");
            let mut at = 0;
            while let Some(i) = chain[at..].find(&call) {
                let before = chain[..at + i].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    found.push((path.to_owned(), method.to_owned()));
                }
                at += i + call.len();
            }
        }
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source tree") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The routes of every crate's `src`, so that a route in a new file is found too.
fn server_routes() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let krate = entry.expect("entry").path();
        let name = format!("crates/{}", krate.file_name().unwrap().to_string_lossy());
        if !UNDOCUMENTED_CRATES.contains(&name.as_str()) && krate.join("src").is_dir() {
            sources(&krate.join("src"), &mut files);
        }
    }
    files
        .iter()
        .flat_map(|f| routes_in(&std::fs::read_to_string(f).expect("source")))
        .filter(|(path, _)| !UNDOCUMENTED_ROUTES.contains(&path.as_str()))
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (path.clone(), (*m).to_owned()))
        })
        .collect()
}

/// Whether the route pattern `route` serves `path`: a `{param}` segment matches any segment.
fn serves(route: &str, path: &str) -> bool {
    let (r, p): (Vec<_>, Vec<_>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len()
        && r.iter()
            .zip(&p)
            .all(|(r, p)| r == p || (r.starts_with('{') && r.ends_with('}')))
}

/// The routes no document covers, and the documented operations no route serves.
fn gaps(
    routes: &BTreeSet<(String, String)>,
    docs: &BTreeSet<(String, String)>,
) -> (Vec<String>, Vec<String>) {
    let covers = |(rp, rm): &(String, String), (dp, dm): &(String, String)| {
        rm == dm && (rp == dp || serves(rp, dp))
    };
    let undocumented = routes
        .iter()
        .filter(|r| !docs.iter().any(|d| covers(r, d)))
        .map(|(p, m)| format!("{} {p}", m.to_uppercase()))
        .collect();
    let unrouted = docs
        .iter()
        .filter(|d| !routes.iter().any(|r| covers(r, d)))
        .map(|(p, m)| format!("{} {p}", m.to_uppercase()))
        .collect();
    (undocumented, unrouted)
}

fn both_documents() -> BTreeSet<(String, String)> {
    let public = serde_json::to_value(backflow::openapi::public()).unwrap();
    let admin = serde_json::to_value(backflow::openapi::admin()).unwrap();
    documented(&public)
        .union(&documented(&admin))
        .cloned()
        .collect()
}

#[test]
fn every_route_of_the_server_is_documented() {
    let routes = server_routes();
    // The scan sees the server: the AMS door, the admin API and the probes.
    for expected in [
        "/ams/api/v1/payments/{operation}",
        "/admin/jobs",
        "/admin/notifications/{id}/resend",
        "/metrics",
    ] {
        assert!(
            routes.iter().any(|(p, _)| p == expected),
            "{expected} not found"
        );
    }
    let (undocumented, unrouted) = gaps(&routes, &both_documents());
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI documents (crates/cli/src/openapi.rs): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[test]
fn a_route_added_without_documentation_fails_the_check() {
    // What a new admin file would add: found by the scan, missing from the documents.
    let source = r#"
        Router::new()
            .route("/admin/payments", get(list).post(ingest))
            .route(
                "/admin/payments/{client_id}/{payment_id}",
                get(payment),
            )
    "#;
    let routes: BTreeSet<_> = routes_in(source).into_iter().collect();
    assert_eq!(routes.len(), 3, "{routes:?}");
    let (undocumented, _) = gaps(&routes, &both_documents());
    assert_eq!(
        undocumented,
        [
            "GET /admin/payments",
            "POST /admin/payments",
            "GET /admin/payments/{client_id}/{payment_id}",
        ]
    );
}

async fn documents_are_served_read_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(get.status(), 200);
    let doc: Value = get.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::to_value(backflow::openapi::public()).unwrap()
    );
    let post = app
        .http
        .post(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);

    let admin = app.url("/admin/openapi.json");
    let anonymous = app.http.get(&admin).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let with_token = app
        .http
        .get(&admin)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    let doc: Value = with_token.json().await.unwrap();
    assert!(doc["paths"]["/admin/jobs"]["get"].is_object(), "{doc}");
    let put = app
        .http
        .put(&admin)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 405);
}
on_both_backends!(documents_are_served_read_only);

#[tokio::test]
async fn every_documented_path_is_routed() {
    let app = spawn_app(Backend::Sqlite).await;
    // A method no document uses on a routed path is 405; an unrouted path would be 404.
    for (path, _) in both_documents() {
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let status = app
            .http
            .delete(app.url(&concrete))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 405, "DELETE {concrete}");
    }
}

/// Schemathesis against `/openapi.json`, signing as the demo merchant (tests/openapi/sign_hook.py):
/// no answer may be a server error or fall outside the document, and none may refuse the
/// signature (the hook fails the run then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/openapi");
    let examples = std::env::var("BACKFLOW_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "100".into());
    let output = tokio::process::Command::new("schemathesis")
        .args([
            "run",
            &app.url("/openapi.json"),
            "--url",
            &app.url(""),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--mode",
            "positive",
            "--max-examples",
            &examples,
            "--generation-deterministic",
            "--workers",
            "2",
            "--continue-on-failure",
        ])
        // Its cache and Python's bytecode stay out of the work tree.
        .current_dir(app.data_dir.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SCHEMATHESIS_HOOKS", "sign_hook")
        .env("PYTHONPATH", hooks)
        .env(
            "BACKFLOW_CREDENTIALS",
            app.data_dir.path().join("demo-merchant.json"),
        )
        .output()
        .await
        .expect(
            "schemathesis is not installed: scripts/test installs it (pip install schemathesis)",
        );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
}
