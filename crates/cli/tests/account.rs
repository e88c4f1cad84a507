//! `lightstreams account` through the real binary.

use std::process::Command;

fn ls(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lightstreams")).args(args).output().expect("run lightstreams")
}

#[test]
fn new_import_list_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("ks");
    let ks = ks.to_str().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "hunter2\n").unwrap();
    let pw = pw.to_str().unwrap();

    let out = ls(&["account", "new", "--keystore", ks, "--password-file", pw]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let created = stdout.lines().next().unwrap().rsplit(' ').next().unwrap().to_lowercase();
    assert!(created.starts_with("0x") && created.len() == 42, "{stdout}");

    let key = dir.path().join("key");
    std::fs::write(&key, "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n").unwrap();
    let out = ls(&["account", "import", "--keystore", ks, "--password-file", pw, key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("f39fd6e51aad88f6f4ce6ab8827279cfffb92266"));
    // Importing it again fails with a clear message.
    let out = ls(&["account", "import", "--keystore", ks, "--password-file", pw, key.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let out = ls(&["account", "list", "--keystore", ks]);
    let list = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<_> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].contains(created.trim_start_matches("0x")));
    assert!(lines[1].contains("f39fd6e51aad88f6f4ce6ab8827279cfffb92266"));

    // --lightkdf (geth's): a weak scrypt cost that unlocks all the same.
    let out = ls(&["account", "new", "--lightkdf", "--keystore", ks, "--password-file", pw]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let light = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    let file = std::fs::read_dir(ks).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().ends_with(&light[2..].to_lowercase())).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(json["crypto"]["kdfparams"]["n"], 4096, "{json}");
    let signer = ls_keystore::decrypt_file(&file, "hunter2").unwrap();
    assert_eq!(signer.address().to_string().to_lowercase(), light.to_lowercase());
    std::fs::remove_file(&file).unwrap();

    // Without a terminal or a password file, it refuses instead of hanging.
    let out = ls(&["account", "new", "--keystore", ks]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-file"));
    // A bad key file gets a clear error.
    std::fs::write(&key, "not hex").unwrap();
    let out = ls(&["account", "import", "--keystore", ks, "--password-file", pw, key.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("hex private key"));
}
