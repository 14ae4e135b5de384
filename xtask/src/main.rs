//! Project automation, run as `cargo xtask …`:
//! - `test`: exactly what CI runs (format, lints, the whole test suite on SQLite and on a
//!   throwaway PostgreSQL, the contract smoke check);
//! - `pg`: a throwaway PostgreSQL for running tests by hand;
//! - `bench NAME`: a benchmark against a peer run in the same command (see docs/benchmarks.md);
//! - `fuzz`: the parsers' property-based fuzz tests and the store's model test, with many cases.

mod bench;
mod bench_dispatch;
mod bench_failover;
mod bench_monitors;
mod bench_page;
mod bench_timers;
mod bench_ui;
mod chaos;
mod pg;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&root(), &args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("pg") => pg::serve(),
        Some("chaos") => chaos::run(&root(), &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask test [--no-lint] | pg | chaos | bench ingest [--duration SECS] | bench page-latency [--incidents N] [--no-storm | --storm-only] | bench storm | bench timers [--steps N] [--delay-minutes M] | bench dispatch [--notifications N] | bench monitors [--monitors N] [--interval S] | bench heartbeats [--pings N] | bench oncall | bench failover | fuzz [--cases N]"
            );
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, failing with its name if it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: $ {shown}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub fn has(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Names the PostgreSQL server the tests make their databases on (see tocsin-store).
const TEST_DATABASE_URL_VAR: &str = "TOCSIN_TEST_DATABASE_URL";

/// Real peers the test suite runs against: (shell check, Debian package).
const TEST_PACKAGES: &[(&str, &str)] = &[
    (
        "command -v prometheus-alertmanager",
        "prometheus-alertmanager",
    ),
    // A real SMTP server for the email tests (Debian's python, which the package installs into).
    ("/usr/bin/python3 -c 'import aiosmtpd'", "python3-aiosmtpd"),
    ("command -v openssl", "openssl"),
    // The web UI's browser tests: Debian's Chromium and its matching driver.
    ("command -v chromium", "chromium"),
    ("command -v chromedriver", "chromium-driver"),
];

fn test(args: &[String]) -> anyhow::Result<()> {
    let lint = !args.iter().any(|a| a == "--no-lint");
    ensure_packages(TEST_PACKAGES)?;
    if lint {
        run(cargo().args(["fmt", "--all", "--check"]))?;
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    let nextest = cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    // The store's contract tests and the server's PostgreSQL tests run on a throwaway server,
    // one fresh database per test; it stops when `postgres` is dropped, whatever the outcome.
    let postgres = pg::TestPostgres::start()?;
    if nextest {
        run(cargo()
            .args([
                "nextest",
                "run",
                "--workspace",
                "--no-fail-fast",
                "--success-output",
                "never",
            ])
            .env(TEST_DATABASE_URL_VAR, &postgres.url))?;
    } else {
        eprintln!(
            "xtask: cargo-nextest not found (install with `cargo install cargo-nextest`); using cargo test"
        );
        run(cargo()
            .args(["test", "--workspace", "--no-fail-fast"])
            .env(TEST_DATABASE_URL_VAR, &postgres.url))?;
    }
    drop(postgres);
    // The fault run (three nodes on one PostgreSQL; kills, a pause, a database restart) needs
    // a release build and about four minutes: in CI (`CI=true`), and by hand with
    // `cargo xtask chaos`.
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        chaos::run(&root(), &[])?;
    } else {
        eprintln!("xtask: the fault run (cargo xtask chaos) runs in CI only (CI=true)");
    }
    // The public surface, walked by the shared smoke check against the binary just built.
    let smoke = root().join("../shared/checks/contract-smoke.sh");
    if smoke.exists() {
        run(cargo().args(["build", "-p", "tocsin"]))?;
        run(Command::new("bash").arg(smoke).arg("target/debug/tocsin"))?;
    } else {
        eprintln!(
            "xtask: ../shared/checks/contract-smoke.sh not found; skipping the contract smoke check"
        );
    }
    Ok(())
}

/// Runs the fuzz and model properties with many more cases than the regular suite.
fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let cases = match args {
        [flag, n] if flag == "--cases" => n.parse::<u32>().context("--cases takes a number")?,
        [] => 20_000,
        _ => bail!("usage: cargo xtask fuzz [--cases N]"),
    };
    run(cargo()
        .args(["test", "--release", "-p", "tocsin-core", "--", "fuzz"])
        .env("PROPTEST_CASES", cases.to_string()))?;
    run(cargo()
        .args([
            "test",
            "--release",
            "-p",
            "tocsin-core",
            "-p",
            "tocsin-store",
            "--",
            "model",
            "invariants",
        ])
        .env("PROPTEST_CASES", (cases / 50).max(64).to_string()))
}

/// Makes sure each `(shell check, Debian package)` holds: as root, installs the packages whose
/// check fails with apt-get; otherwise fails saying exactly what to install.
pub fn ensure_packages(needed: &[(&str, &str)]) -> anyhow::Result<()> {
    let ok = |check: &str| {
        Command::new("sh")
            .args(["-c", &format!("{check} >/dev/null 2>&1")])
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(check, _)| !ok(check))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        bail!(
            "missing Debian packages: install them with `sudo apt-get install -y {}` and run again",
            missing.join(" ")
        );
    }
    // Another apt may be running on this machine: wait for its lock rather than failing.
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update"]))?;
    run(apt(&["install", "-y", "--no-install-recommends"]).args(&missing))?;
    let still: Vec<&str> = needed
        .iter()
        .filter(|(check, _)| !ok(check))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !still.is_empty() {
        bail!("{} still missing after apt-get install", still.join(", "));
    }
    Ok(())
}
