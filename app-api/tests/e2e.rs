//! End to end: the `mlsx` binary as a delivery service and as three
//! clients, each command its own process. Runs the README's walk-through
//! exactly (checking the lines it marks `#>`), then two members
//! committing the same epoch at the same instant, then bad input through
//! files: each refused with a one-line error and the store unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mlsx");

struct Ds(Child);

impl Drop for Ds {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mlsx ds` on a free port; its address.
fn start_ds(dir: &Path, args: &[String]) -> (Ds, String) {
    let mut args = args.to_vec();
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        args[i + 1] = "127.0.0.1:0".into();
    }
    launch_ds(dir, &args)
}

/// Starts `mlsx` with `args` (a `ds` command line): the address it says
/// it listens on.
fn launch_ds(dir: &Path, args: &[String]) -> (Ds, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("://").nth(1).unwrap().split(',').next().unwrap().to_owned();
    (Ds(child), addr)
}

fn words(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn mlsx(dir: &Path, args: &[String]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(dir: &Path, line: &str) -> Output {
    mlsx(dir, &words(line))
}

fn ok(dir: &Path, line: &str) -> String {
    let o = run(dir, line);
    assert!(o.status.success(), "{line}: {}", text(&o));
    text(&o)
}

fn fails(dir: &Path, line: &str) -> String {
    let o = run(dir, line);
    assert_eq!(o.status.code(), Some(1), "{line} should fail: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("mlsx: "), "{err}");
    err
}

/// The walk-through's steps: `mlsx` commands (without the name), and
/// other programs' (`openssl`) as `!` followed by the command line.
fn walkthrough() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("<!-- walkthrough -->").unwrap();
    let end = readme.find("<!-- /walkthrough -->").unwrap();
    let mut steps: Vec<(String, Vec<String>)> = vec![];
    for line in readme[start..end].lines() {
        if let Some(cmd) = line.strip_prefix("mlsx ") {
            steps.push((cmd.to_owned(), vec![]));
        } else if line.starts_with("openssl ") {
            steps.push((format!("!{line}"), vec![]));
        } else if let Some(want) = line.strip_prefix("#> ") {
            steps.last_mut().unwrap().1.push(want.to_owned());
        }
    }
    assert!(steps.len() > 30, "the walk-through has its commands");
    steps
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mlsx-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn info(dir: &Path, who: &str, group: &str) -> serde_json::Value {
    serde_json::from_str(&ok(dir, &format!("group info --dir {who} {group} --json"))).unwrap()
}

/// Runs the README's walk-through in `dir`: the service it starts (and
/// its address). With `postgres`, the service is two processes on that
/// database behind one address (`--reuse-port`), as the README's
/// PostgreSQL section runs it.
fn run_walkthrough(dir: &Path, postgres: Option<&str>) -> (Vec<Ds>, String) {
    let mut ds = vec![];
    let mut addr = String::new();
    for (cmd, wants) in walkthrough() {
        if cmd.starts_with("ds ") {
            let mut args = words(&cmd);
            match postgres {
                None => {
                    let (d, a) = start_ds(dir, &args);
                    ds.push(d);
                    addr = a;
                }
                Some(url) => {
                    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
                    addr = format!("127.0.0.1:{port}");
                    let i = args.iter().position(|a| a == "--db").unwrap();
                    args[i + 1] = url.to_owned();
                    let i = args.iter().position(|a| a == "--listen").unwrap();
                    args[i + 1] = addr.clone();
                    args.push("--reuse-port".into());
                    for _ in 0..2 {
                        let (d, listening) = launch_ds(dir, &args);
                        assert_eq!(listening, addr);
                        ds.push(d);
                    }
                }
            }
            continue;
        }
        if let Some(other) = cmd.strip_prefix('!') {
            let args = words(other);
            let o = Command::new(&args[0]).args(&args[1..]).current_dir(dir).output().unwrap();
            assert!(o.status.success(), "{other}: {}", text(&o));
            continue;
        }
        let port = addr.rsplit(':').next().unwrap().to_owned();
        let cmd = cmd
            .replace("127.0.0.1:8700", &addr)
            .replace("localhost:8700", &format!("localhost:{port}"));
        let args = words(&cmd);
        let o = mlsx(dir, &args);
        let out = text(&o);
        let must_fail = wants.iter().any(|w| w.starts_with("mlsx: "));
        assert_eq!(o.status.success(), !must_fail, "mlsx {cmd}: {out}");
        for w in &wants {
            assert!(out.lines().any(|l| l == w), "mlsx {cmd}: expected {w:?}, got:\n{out}");
        }
    }
    (ds, addr)
}

/// The walk-through on PostgreSQL, the service two processes behind one
/// address: the same lines, the same end.
#[test]
fn readme_walkthrough_on_postgres_with_two_processes() {
    let dir = temp_dir("walk-pg");
    let url = mlsx_app::ds::cluster::Cluster::shared().unwrap().fresh_database("walk").unwrap();
    let (ds, _) = run_walkthrough(&dir, Some(&url));
    assert_eq!(ds.len(), 2);
    let (a, b) = (info(&dir, "alice", "team"), info(&dir, "bob", "team"));
    assert_eq!(a["epoch_authenticator"], b["epoch_authenticator"]);
    assert_eq!(a["pq_epoch"], b["pq_epoch"]);
}

#[test]
fn readme_walkthrough_then_races_and_bad_input() {
    let dir = temp_dir("walk");
    let (ds, addr) = run_walkthrough(&dir, None);
    let (a, b) = (info(&dir, "alice", "team"), info(&dir, "bob", "team"));
    assert_eq!(a["epoch_authenticator"], b["epoch_authenticator"]);
    assert_eq!(a["pq_epoch"], b["pq_epoch"]);

    // Two processes commit the same epoch at the same instant: exactly one
    // wins; the other is refused, rolled back, and catches up.
    let before = info(&dir, "bob", "team")["epoch"].as_u64().unwrap();
    let spawn = |who: &str| {
        Command::new(BIN)
            .args(["group", "update", "--dir", who, "team"])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (pa, pb) = (spawn("alice"), spawn("bob"));
    let (oa, ob) = (pa.wait_with_output().unwrap(), pb.wait_with_output().unwrap());
    assert!(
        oa.status.success() != ob.status.success(),
        "one wins: {} / {}",
        text(&oa),
        text(&ob)
    );
    let loser = if oa.status.success() { "bob" } else { "alice" };
    let lost = if oa.status.success() { &ob } else { &oa };
    assert!(text(lost).contains("refused our commit"), "{}", text(lost));
    assert_eq!(info(&dir, loser, "team")["epoch"].as_u64().unwrap(), before, "the loser went back");
    ok(&dir, &format!("receive --dir {loser}"));
    let (a, b) = (info(&dir, "alice", "team"), info(&dir, "bob", "team"));
    assert_eq!(a["epoch"].as_u64().unwrap(), before + 1);
    assert_eq!(a["epoch_authenticator"], b["epoch_authenticator"], "no fork");
    ok(&dir, "send --dir bob team after-the-race");
    assert!(ok(&dir, "receive --dir alice").contains("[team] bob: after-the-race"));

    // Two commands on the same client at once take turns (a lock on the
    // folder): both messages are sent with their own ratchet generations
    // and bob reads both.
    let send = |text: &str| {
        Command::new(BIN)
            .args(["send", "--dir", "alice", "team", text])
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let (s1, s2) = std::thread::scope(|sc| {
        let h = sc.spawn(|| send("same-client-1"));
        let o2 = send("same-client-2");
        (h.join().unwrap(), o2)
    });
    assert!(s1.status.success() && s2.status.success(), "{} {}", text(&s1), text(&s2));
    let got = ok(&dir, "receive --dir bob");
    assert!(
        got.contains("alice: same-client-1") && got.contains("alice: same-client-2"),
        "{got}"
    );

    // A DS refusal leaves the loser's group as it was.
    ok(&dir, "group update --dir alice team");
    let before = info(&dir, "bob", "team");
    let err = fails(&dir, "group update --dir bob team");
    assert!(err.contains("refused our commit"), "{err}");
    assert_eq!(info(&dir, "bob", "team"), before);
    ok(&dir, "receive --dir bob");

    // dave joins by external commit from the GroupInfo the last committer
    // left at the service (a pair of external commits), and hears bob;
    // first the group is closed to strangers, until alice opens it.
    let port = addr.rsplit(':').next().unwrap().to_owned();
    ok(
        &dir,
        &format!("init --dir dave --name dave --ds https://localhost:{port} --ds-ca ds.pem"),
    );
    // Group ids are random: the name "team" is alice's label (and the
    // group's name), not its id, which dave learns from a member.
    let id = info(&dir, "alice", "team")["id"].as_str().unwrap().to_owned();
    assert!(fails(&dir, "group join-external --dir dave team").contains("404"));
    assert!(fails(&dir, &format!("group join-external --dir dave {id}")).contains("closed to external joins"));
    assert!(ok(&dir, "group external-joins --dir alice team open").contains("opened to external joins"));
    ok(&dir, "receive --dir bob");
    assert!(ok(&dir, &format!("group join-external --dir dave {id}")).contains("joined team by external commit"));
    assert!(ok(&dir, "receive --dir alice").contains("[team] dave joined"));
    ok(&dir, "receive --dir bob");
    ok(&dir, "send --dir bob team welcome-dave");
    assert!(ok(&dir, "receive --dir dave").contains("[team] bob: welcome-dave"));
    let (a, d) = (info(&dir, "alice", "team"), info(&dir, "dave", "team"));
    assert_eq!(a["epoch_authenticator"], d["epoch_authenticator"]);
    assert_eq!(a["pq_epoch"], d["pq_epoch"]);

    // A session in other suites than the clients' defaults: T 0x0003 with
    // PQ TBD10 in mode 1 (PQ authenticity).
    ok(
        &dir,
        "key-package publish --dir bob --kind hybrid --count 1 --t-suite 3 --pq-suite tbd10 --mode 1",
    );
    ok(&dir, "group create --dir alice pq1 --hybrid --t-suite 3 --pq-suite tbd10 --mode 1");
    assert!(ok(&dir, "group add --dir alice pq1 bob").contains("FULL commit"));
    assert!(ok(&dir, "receive --dir bob").contains("[pq1] joined"));
    let b = info(&dir, "bob", "pq1");
    assert_eq!(b["cipher_suite"], 3);
    assert_eq!(b["epoch_authenticator"], info(&dir, "alice", "pq1")["epoch_authenticator"]);

    bad_input_through_files(&dir);
    drop(ds);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn db_bytes(dir: &Path, who: &str) -> Vec<u8> {
    std::fs::read(dir.join(who).join("mlsx.db")).unwrap()
}

/// Refused input: one line, exit 1, the database file byte for byte as
/// it was.
fn refused_unchanged(dir: &Path, who: &str, line: &str, reason: &str) {
    let before = db_bytes(dir, who);
    let err = fails(dir, line);
    assert!(err.contains(reason), "{line}: {err}");
    assert!(db_bytes(dir, who) == before, "{line} changed the store");
}

fn bad_input_through_files(dir: &Path) {
    // A plain group run through files alone: KeyPackage offer, Welcome,
    // commits and messages.
    ok(dir, "key-package publish --dir bob --kind plain --count 1 --out bob.offer");
    ok(dir, "group create --dir alice files");
    ok(dir, "group add --dir alice files --offer bob.offer --out add.msg");
    assert!(ok(dir, "receive --dir bob --file add.welcome").contains("joined"));
    ok(dir, "send --dir alice files one --out m1.msg");
    assert!(ok(dir, "receive --dir bob --file m1.msg --group files").contains("[files] alice: one"));
    ok(dir, "group update --dir alice files --out c1.msg");
    ok(dir, "receive --dir bob --file c1.msg --group files");
    ok(dir, "group update --dir alice files --out c2.msg");
    ok(dir, "receive --dir bob --file c2.msg --group files");
    ok(dir, "send --dir alice files two --out m2.msg");

    let m2 = std::fs::read(dir.join("m2.msg")).unwrap();
    std::fs::write(dir.join("trunc.msg"), &m2[..m2.len() - 7]).unwrap();
    refused_unchanged(dir, "bob", "receive --dir bob --file trunc.msg --group files", "mlsx: ");
    // A message of the team session, given for the plain group.
    ok(dir, "send --dir alice team for-the-team --out team.msg");
    refused_unchanged(dir, "bob", "receive --dir bob --file team.msg --group files", "mlsx: ");
    // A commit of a past epoch.
    refused_unchanged(dir, "bob", "receive --dir bob --file c1.msg --group files", "mlsx: ");
    // A group we are not in.
    refused_unchanged(dir, "bob", "receive --dir bob --file m2.msg --group nowhere", "no group nowhere");
    // A replay.
    assert!(ok(dir, "receive --dir bob --file m2.msg --group files").contains("[files] alice: two"));
    refused_unchanged(dir, "bob", "receive --dir bob --file m2.msg --group files", "mlsx: ");
    // A Welcome for KeyPackages we no longer hold.
    refused_unchanged(dir, "bob", "receive --dir bob --file add.welcome", "none of our KeyPackages");

    // An external PSK: a commit that injects it cannot be followed without
    // it (refused, store unchanged), then can.
    let hex = "5a".repeat(32);
    ok(dir, &format!("psk add --dir alice board --hex {hex}"));
    assert!(fails(dir, "group psk --dir alice files nope").contains("no PSK nope"));
    assert!(ok(dir, "group psk --dir alice files board --out p1.msg").contains("injected the PSK(s): commit"));
    refused_unchanged(dir, "bob", "receive --dir bob --file p1.msg --group files", "mlsx: ");
    std::fs::write(dir.join("board.key"), [0x5a; 32]).unwrap();
    ok(dir, "psk add --dir bob board --file board.key");
    assert_eq!(ok(dir, "psk list --dir bob --json").trim(), r#"["board"]"#);
    ok(dir, "receive --dir bob --file p1.msg --group files");
    let (a, b) = (info(dir, "alice", "files"), info(dir, "bob", "files"));
    assert_eq!(a["epoch_authenticator"], b["epoch_authenticator"]);
    ok(dir, "psk remove --dir bob board");
    assert!(fails(dir, "psk remove --dir bob board").contains("no PSK board"));

    // An external join through files: erin, who has no delivery service,
    // joins from a GroupInfo file; alice and bob read her commit. While
    // the group is closed, its members refuse her commit themselves.
    ok(dir, "group group-info --dir alice files --out closed.gi");
    ok(dir, "init --dir frank --name frank");
    ok(
        dir,
        "group join-external --dir frank files --kind plain --group-info closed.gi --out e0.msg",
    );
    refused_unchanged(
        dir,
        "alice",
        "receive --dir alice --file e0.msg --group files",
        "mlsx: this group is closed",
    );
    ok(dir, "init --dir erin --name erin");
    ok(dir, "group external-joins --dir alice files open --out o1.msg");
    ok(dir, "receive --dir bob --file o1.msg --group files");
    ok(dir, "group group-info --dir alice files --out files.gi");
    let err = fails(
        dir,
        "group join-external --dir erin other --kind plain --group-info files.gi --out e1.msg",
    );
    assert!(err.contains("for group files, not other"), "{err}");
    assert_eq!(
        ok(dir, "group list --dir erin").trim(),
        "no groups",
        "the refused join left nothing"
    );
    assert!(
        ok(
            dir,
            "group join-external --dir erin files --kind plain --group-info files.gi --out e1.msg"
        )
        .contains("joined files by external commit")
    );
    assert!(ok(dir, "receive --dir alice --file e1.msg --group files").contains("[files] erin joined"));
    ok(dir, "receive --dir bob --file e1.msg --group files");
    ok(dir, "send --dir erin files from-erin --out e2.msg");
    assert!(ok(dir, "receive --dir bob --file e2.msg --group files").contains("[files] erin: from-erin"));
    let (a, e) = (info(dir, "alice", "files"), info(dir, "erin", "files"));
    assert_eq!(a["epoch_authenticator"], e["epoch_authenticator"]);
    // Control characters from other members are printed escaped.
    ok(dir, "send --dir erin files \u{1b}[2Jwiped --out e3.msg");
    let got = ok(dir, "receive --dir bob --file e3.msg --group files");
    assert!(got.contains("erin: \\u{1b}[2Jwiped") && !got.contains('\u{1b}'), "{got}");
}
