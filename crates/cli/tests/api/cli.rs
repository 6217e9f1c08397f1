//! The `backflow` binary, run as a user would.

use crate::helpers::{backflow, run_ok};

#[test]
fn merchant_create_prints_credentials_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_ok(
        &[
            "merchant",
            "create",
            "--name",
            "Shop",
            "--client-id",
            "SANDBOX_SHOP",
            "--json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["clientId"], "SANDBOX_SHOP");
    for field in [
        "merchantPrivateKeyPkcs1",
        "merchantPrivateKeyPkcs8",
        "merchantPublicKey",
        "platformPublicKey",
        "legacyMd5Key",
    ] {
        assert!(
            v[field].as_str().is_some_and(|s| s.len() > 30),
            "{field}: {v}"
        );
    }
    let partner = v["legacyPartnerId"].as_str().expect("partner");
    assert!(
        partner.len() == 16 && partner.starts_with("2088"),
        "{partner}"
    );

    // The same id again is a clear error and a non-zero exit.
    let again = backflow()
        .args([
            "merchant",
            "create",
            "--name",
            "Shop",
            "--client-id",
            "SANDBOX_SHOP",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // A merchant that brings its own public key gets no private key back.
    let key_file = dir.path().join("pub.pem");
    std::fs::write(
        &key_file,
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            v["merchantPublicKey"].as_str().expect("key")
        ),
    )
    .expect("write");
    let own = backflow()
        .args([
            "merchant",
            "create",
            "--name",
            "Own",
            "--json",
            "--public-key",
        ])
        .arg(&key_file)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&own.stdout).expect("json");
    assert!(
        v.get("merchantPrivateKeyPkcs1").is_none() && v.get("merchantPrivateKeyPkcs8").is_none(),
        "{v}"
    );
}

#[test]
fn bad_flags_fail_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backflow()
        .args([
            "merchant",
            "create",
            "--name",
            "X",
            "--settlement-currency",
            "ZZZ",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown currency"));
    let out = backflow()
        .args(["serve", "--http-addr", "not-an-address"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn ledger_check_passes_then_catches_a_corrupted_posting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    run_ok(
        &[
            "merchant",
            "create",
            "--name",
            "Shop",
            "--client-id",
            "SANDBOX_LEDGER",
            "--overdraft",
            "500",
        ],
        d,
    );
    run_ok(
        &[
            "merchant",
            "fund",
            "--merchant",
            "SANDBOX_LEDGER",
            "--amount",
            "100.00",
            "--currency",
            "USD",
        ],
        d,
    );
    run_ok(
        &[
            "merchant",
            "adjust",
            "--merchant",
            "SANDBOX_LEDGER",
            "--amount",
            "-104.99",
            "--currency",
            "USD",
        ],
        d,
    );
    let balance = run_ok(&["ledger", "balance", "--merchant", "SANDBOX_LEDGER"], d);
    assert!(balance.contains("-4.99"), "{balance}");
    // Beyond the overdraft is refused with a message.
    let out = backflow()
        .args([
            "merchant",
            "adjust",
            "--merchant",
            "SANDBOX_LEDGER",
            "--amount",
            "-495.02",
            "--currency",
            "USD",
            "--data-dir",
        ])
        .arg(d)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("below its floor"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run_ok(&["ledger", "check"], d).contains("ledger ok"));

    // Corrupt one leg behind the engine's back: the check names the breach and exits non-zero.
    let db = d.join("backflow.db");
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.execute(\"UPDATE ledger_legs SET amount = amount + 1 WHERE leg_no = 1\"); c.commit()",
            db.display().to_string()
        ))
        .status()
        .expect("python3");
    assert!(status.success());
    let out = backflow()
        .args(["ledger", "check", "--data-dir"])
        .arg(d)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("BREACH") && stdout.contains("sum to"),
        "{stdout}"
    );
}

#[test]
fn fx_rates_import_and_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let csv = d.join("rates.csv");
    std::fs::write(
        &csv,
        "date,pair,rate\n2026-11-25,USD/SGD,1.3456\n2026-11-25,EUR/USD,1.05\n",
    )
    .expect("write");
    assert!(run_ok(&["fx", "import", csv.to_str().expect("path")], d).contains("imported 2"));
    let listed = run_ok(&["fx", "list", "--date", "2026-11-25"], d);
    assert_eq!(
        listed,
        "2026-11-25,EUR/USD,1.05\n2026-11-25,USD/SGD,1.3456\n"
    );
    std::fs::write(&csv, "2026-11-26,USD/SGD,1.3\n2026-11-26,USD/ZZZ,1\n").expect("write");
    let out = backflow()
        .args(["fx", "import"])
        .arg(&csv)
        .arg("--data-dir")
        .arg(d)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    assert!(
        !run_ok(&["fx", "list"], d).contains("2026-11-26"),
        "a bad file imports nothing"
    );
}
