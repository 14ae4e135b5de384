//! A throwaway PostgreSQL server for the test suite (and `cargo xtask pg`): Debian's PostgreSQL
//! binaries run as the `postgres` user on a data folder in a temporary directory, listening on
//! 127.0.0.1 at a free port. It is stopped (`pg_ctl -m immediate`) and its folder removed when
//! the `TestPostgres` value is dropped, also when the tests failed. It never touches a system
//! cluster.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The PostgreSQL major versions tried, newest first (Debian 12 ships 15).
const VERSIONS: &[&str] = &["17", "16", "15"];
/// Connections the server accepts: tests run in parallel, each with a pool of its own.
const CONNECTIONS_MAX: u32 = 300;

/// The `bin` folder of an installed PostgreSQL server.
fn bin_dir() -> Option<PathBuf> {
    VERSIONS
        .iter()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

/// Makes sure PostgreSQL's server binaries are installed (as root, with apt-get).
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    if let Some(dir) = bin_dir() {
        return Ok(dir);
    }
    crate::ensure_packages(&[("ls /usr/lib/postgresql/*/bin/initdb", "postgresql")])?;
    bin_dir().context(
        "PostgreSQL's server binaries are missing (/usr/lib/postgresql/VERSION/bin/initdb): \
         install them with `sudo apt-get install -y postgresql`",
    )
}

/// A running throwaway server.
pub struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`: trust authentication on loopback.
    pub url: String,
    running: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A free loopback port (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl TestPostgres {
    /// Initialises a new cluster in a temporary folder and starts it.
    pub fn start() -> anyhow::Result<Self> {
        let bin = ensure_installed()?;
        let dir = std::env::temp_dir().join(format!("tocsin-xtask-pg-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the old {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut server = Self {
            bin,
            dir,
            url: String::new(),
            running: false,
        };
        if is_root() {
            crate::run(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&server.dir),
            )?;
        }
        let data = server.dir.join("data");
        // No fsync while the empty cluster is written (it is thrown away anyway); the server
        // itself runs with fsync on, as in production.
        crate::run(
            as_postgres(&server.bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ])
                .stdout(std::process::Stdio::null()),
        )?;
        let port = free_port()?;
        let conf = format!(
            "\n# cargo xtask's throwaway server\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nfsync = on\nmax_connections = {CONNECTIONS_MAX}\n",
            server.dir.display()
        );
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path)
            .with_context(|| format!("reading {}", conf_path.display()))?;
        text.push_str(&conf);
        std::fs::write(&conf_path, text)
            .with_context(|| format!("writing {}", conf_path.display()))?;
        crate::run(
            as_postgres(&server.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(server.dir.join("server.log"))
                .args(["-w", "-t", "60", "start"])
                .stdout(std::process::Stdio::null()),
        )
        .with_context(|| {
            format!(
                "starting PostgreSQL (its log: {})",
                server.dir.join("server.log").display()
            )
        })?;
        server.running = true;
        server.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        eprintln!("xtask: PostgreSQL is listening at {}", server.url);
        Ok(server)
    }

    /// `pg_ctl restart -m fast` (for `cargo xtask chaos`): every session is ended, the server
    /// comes back on the same port; returns once it accepts connections again.
    pub fn restart(&self) -> anyhow::Result<()> {
        crate::run(
            as_postgres(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-m", "fast", "-w", "-t", "60", "restart"])
                .stdout(std::process::Stdio::null()),
        )
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let status = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status()
            .context("running pg_ctl stop")?;
        if !status.success() {
            bail!("pg_ctl stop failed with {status}");
        }
        Ok(())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("xtask: stopping the test PostgreSQL: {e:#}");
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: removing {}: {e}", self.dir.display());
        }
    }
}

/// `cargo xtask pg`: starts a throwaway server for running tests by hand, prints how to use it,
/// and stops it when Enter is pressed (or standard input closes).
pub fn serve() -> anyhow::Result<()> {
    let server = TestPostgres::start()?;
    println!("export TOCSIN_TEST_DATABASE_URL={}", server.url);
    eprintln!(
        "xtask: tests in another shell now run on this server as well; press Enter to stop it"
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(server);
    Ok(())
}
