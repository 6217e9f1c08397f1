//! A crash, or a stop, at any instant loses no refund that was answered.

use crate::helpers::{pay_body, run_ok, serve, Server, TestMerchant};
use backflow::demo::MerchantCredentialsFile;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sends `op` as the merchant to the server at `addr`; `None` when the server is gone.
async fn call(
    http: &reqwest::Client,
    addr: SocketAddr,
    m: &TestMerchant,
    op: &str,
    body: Value,
) -> Option<Value> {
    let req = m.signed(op, serde_json::to_vec(&body).expect("json"));
    let sent = req.post(http, &format!("http://{addr}")).send().await;
    sent.ok()?.json().await.ok()
}

/// Refunds stream in from many connections when the server is killed with
/// SIGKILL; after a restart, every refund that was answered `S` is there and
/// successful, and the ledger balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_refund_load_loses_no_answered_refund() {
    answered_refunds_survive(drop).await;
}

/// SIGTERM under the same load: the server finishes what it answered and exits 0
/// within its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_refund_load_exits_cleanly_and_loses_no_answered_refund() {
    answered_refunds_survive(|server| {
        let status = server.terminate(Duration::from_secs(30));
        assert!(status.success(), "backflow serve stopped with {status}");
    })
    .await;
}

/// Runs refund load against a server, stops it with `stop` in the middle of it,
/// and checks after a restart that every refund answered `S` is there.
async fn answered_refunds_survive(stop: impl FnOnce(Server)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = serve(dir.path());
    let creds: MerchantCredentialsFile = serde_json::from_slice(
        &std::fs::read(dir.path().join("demo-merchant.json")).expect("credentials"),
    )
    .expect("json");
    let merchant = TestMerchant::from_credentials(creds);
    backflow::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let paid = call(
        &http,
        first.addr,
        &merchant,
        "pay",
        pay_body("GCASH", "AGREEMENT_PAYMENT", "USD", "1000000", false),
    )
    .await
    .expect("pay");
    let payment_id = paid["paymentId"].as_str().expect("paymentId").to_owned();

    let answered = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..32)
        .map(|lane| {
            let (http, merchant, payment_id, answered) = (
                http.clone(),
                merchant.clone(),
                payment_id.clone(),
                answered.clone(),
            );
            let addr = first.addr;
            tokio::spawn(async move {
                for n in 0.. {
                    let request_id = format!("crash-{lane}-{n}");
                    let Some(answer) = call(
                        &http,
                        addr,
                        &merchant,
                        "refund",
                        json!({
                            "refundRequestId": request_id,
                            "paymentId": payment_id,
                            "refundAmount": {"currency": "USD", "value": "1"},
                        }),
                    )
                    .await
                    else {
                        return;
                    };
                    assert_eq!(answer["result"]["resultStatus"], "S", "{answer}");
                    answered.lock().expect("lock").push(request_id);
                }
            })
        })
        .collect();
    // Let the load run, then kill the server in the middle of it.
    while answered.lock().expect("lock").len() < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop(first);
    for sender in senders {
        sender.await.expect("sender");
    }
    let answered = answered.lock().expect("lock").clone();

    let second = serve(dir.path());
    for request_id in &answered {
        let found = call(
            &http,
            second.addr,
            &merchant,
            "inquiryRefund",
            json!({
                "refundRequestId": request_id,
            }),
        )
        .await
        .expect("inquiry");
        assert_eq!(
            found["refundStatus"], "SUCCESS",
            "{request_id} was answered S before the crash: {found}"
        );
    }
    drop(second);
    assert!(run_ok(&["ledger", "check"], dir.path()).contains("ledger ok"));
}
