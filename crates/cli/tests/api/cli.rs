//! The `backflow` binary, run as a user would.

use std::process::Command;

fn backflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_backflow"))
}

#[test]
fn merchant_create_prints_credentials_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = backflow()
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
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
