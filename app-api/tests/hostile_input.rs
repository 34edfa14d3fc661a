//! Hostile bytes at the application layer: a megabyte of nested message
//! pairs posted to every endpoint of the delivery service that decodes
//! (messages, KeyPackage publication, GroupInfo upload) and handed to a
//! client as a Welcome and as a group message; each is refused and the
//! service keeps serving. And the client's files: private on creation,
//! reported when they are not, secrets from standard input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mlsx_app::ds::Limits;
use mlsx_app::remote::DsClient;
use mlsx_app::{Client, ClientConfig, GroupKind, MemoryStore};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_mlsx");

/// `MLSMessage`s of wire format `apq_message_pair` (0x0007) nested a
/// megabyte deep: the input that aborted `mlsx ds` with one request.
fn nested_pairs() -> Vec<u8> {
    let level = [0u8, 1, 0, 7, 0, 7];
    let mut out = level.repeat((1 << 20) / level.len());
    out.extend_from_slice(&[0, 1, 0, 5]);
    out
}

fn status(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    match r {
        Ok(r) => r.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => code,
        Err(e) => panic!("the service did not answer: {e}"),
    }
}

#[test]
fn the_service_refuses_nested_bodies_and_keeps_serving() {
    let dir = tempdir("ds-nested");
    let limits = Limits {
        max_body: 4 << 20,
        ..Limits::default()
    };
    let url = format!("http://{}", mlsx_app::ds::spawn(&dir.join("ds.db"), limits).unwrap());
    let token = DsClient::new(&url, None).register_name("mallory").unwrap();
    let auth = format!("Bearer {token}");
    let body = B64.encode(nested_pairs());
    let post = |path: &str, v: serde_json::Value| status(ureq::post(&format!("{url}{path}")).header("authorization", &auth).send_json(v));
    for kind in ["message", "commit"] {
        let code = post(
            "/v1/groups/6161/messages",
            json!({"epoch": 0, "kind": kind, "message": body, "recipients": [], "welcome": body, "welcome_to": []}),
        );
        assert!((400..500).contains(&code), "{kind}: {code}");
    }
    let code = post(
        "/v1/key-packages",
        json!({"offers": [B64.encode([[1u8].as_slice(), &nested_pairs()].concat())]}),
    );
    assert!((400..500).contains(&code), "publish: {code}");
    let code = post(
        "/v1/groups/6161/group-info",
        json!({"epoch": 0, "group_info": body, "self_removes": [body]}),
    );
    assert!((400..500).contains(&code), "group info: {code}");
    // Still serving.
    let mut c = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("honest")).unwrap();
    DsClient::new(&url, None).register(&mut c).unwrap();
    let ds = mlsx_app::remote::connect(&mut c).unwrap();
    assert_eq!(ds.publish(&c.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap(), 1);
}

#[test]
fn a_client_refuses_nested_welcomes_and_messages() {
    for kind in [GroupKind::Plain, GroupKind::Hybrid] {
        let mut c = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("bob")).unwrap();
        c.create_group(b"g", kind).unwrap();
        let nested = nested_pairs();
        // A thread with a quarter of a megabyte of stack: an unbounded
        // decoder would abort the whole test process here.
        let (join, process) = std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn_scoped(s, || {
                    let join = c.join(&nested).unwrap_err();
                    let process = c.group(b"g").unwrap().process(&nested).unwrap_err();
                    (join, process)
                })
                .unwrap()
                .join()
                .unwrap()
        });
        // Refusals of the input (skipped, never retried), not failures of
        // the client.
        assert!(join.is_refusal(), "{join}");
        assert!(process.is_refusal(), "{process}");
        c.group(b"g").unwrap().send(b"still fine").unwrap();
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mlsx-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
#[test]
fn the_store_is_private_and_wider_permissions_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = tempdir("private");
    let dir = root.join("deep").join("alice");
    let out = std::process::Command::new(BIN)
        .args(["init", "--dir", dir.to_str().unwrap(), "--name", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("mlsx.db")), 0o600);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    // A secret from standard input, not the command line.
    let mut child = std::process::Command::new(BIN)
        .args(["psk", "add", "--dir", dir.to_str().unwrap(), "shared", "--hex", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"00112233445566778899aabbccddeeff\n").unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored PSK shared (16 bytes)"));
    // Opened up by someone: reported on every command, which still runs.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("mlsx.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["psk", "list", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(err.contains("mlsx.db is open to other users (mode 644)"), "{err}");
    assert!(err.contains("chmod 700"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("shared"));
}
