//! A throwaway PostgreSQL cluster, for tests and benchmarks of the
//! service on PostgreSQL: `initdb` and `pg_ctl` from the installed server
//! into a temporary folder, on a free loopback port, removed when the
//! process that made it ends (a watchdog process stops the server and
//! deletes the folder when its parent goes, however it goes).
//!
//! The server's binaries are found with `MLSX_PG_BIN` (a folder), else
//! `pg_config --bindir`, else `/usr/lib/postgresql/<version>/bin`. Run as
//! root, the cluster runs as the `postgres` user (PostgreSQL refuses to
//! run as root), or `nobody`.
//!
//! ```no_run
//! let cluster = mlsx_app::ds::cluster::Cluster::start()?;
//! let url = cluster.create_database("walkthrough")?;
//! let addr = mlsx_app::ds::spawn_on(&mlsx_app::ds::Database::Postgres(url), Default::default(), None)?;
//! # Ok::<(), mlsx_app::Error>(())
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// A PostgreSQL server of this process's own.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
    /// Stops the server and removes `dir` when its stdin closes (when
    /// this process ends, or the cluster is dropped).
    watchdog: Mutex<Option<Child>>,
}

const HOW_TO_INSTALL: &str = "the PostgreSQL server's binaries (initdb, pg_ctl) were not found: install them \
     (Debian: `apt-get install postgresql`), or set MLSX_PG_BIN to the folder that holds them";

fn bin_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("MLSX_PG_BIN") {
        return Ok(PathBuf::from(d));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if d.join("initdb").exists() {
            return Ok(d);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).collect())
        .unwrap_or_default();
    found.retain(|d| d.join("initdb").exists() && d.join("pg_ctl").exists());
    // The newest version.
    found.sort_by_key(|d| {
        d.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().ok_or_else(|| Error::Config(HOW_TO_INSTALL.into()))
}

/// The user the server runs as when this process is root.
fn server_user() -> Option<String> {
    #[cfg(unix)]
    {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        for user in ["postgres", "nobody"] {
            if Command::new("id").arg("-u").arg(user).output().is_ok_and(|o| o.status.success()) {
                return Some(user.to_owned());
            }
        }
    }
    None
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

impl Cluster {
    /// Makes and starts a cluster (a few seconds).
    pub fn start() -> Result<Self> {
        let bin = bin_dir()?;
        if !bin.join("initdb").exists() {
            return Err(Error::Config(HOW_TO_INSTALL.into()));
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!("mlsx-pg-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))?;
        let user = server_user();
        #[cfg(unix)]
        if let Some(u) = &user {
            use std::os::unix::fs::PermissionsExt;
            let uid = String::from_utf8_lossy(&Command::new("id").arg("-u").arg(u).output()?.stdout)
                .trim()
                .parse::<u32>()
                .map_err(|_| Error::Config(format!("no uid for {u}")))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
            std::os::unix::fs::chown(dir.join("data"), Some(uid), None)?;
            std::os::unix::fs::chown(&dir, Some(uid), None)?;
        }
        let cluster = Self {
            port: free_port()?,
            watchdog: Mutex::new(None),
            dir,
            bin,
            user,
        };
        // The watchdog first: from here on, the folder goes with us.
        let stop = cluster.command_line("pg_ctl", &["-D", "data", "-m", "immediate", "stop"]);
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cat >/dev/null; cd {dir}; {stop} >/dev/null 2>&1; rm -rf {dir}",
                dir = sh_quote(&cluster.dir)
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        *cluster.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(watchdog);
        cluster.run(
            "initdb",
            &["-D", "data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        )?;
        // Loopback only, and room for the connections of many services
        // in one test process.
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nmax_connections = 400\nshared_buffers = 128MB\n",
            cluster.port,
            cluster.dir.display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.dir.join("data/postgresql.conf"))?
            .write_all(conf.as_bytes())?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The cluster of this process, started the first time it is asked
    /// for: tests share it, each in its own database.
    pub fn shared() -> Result<&'static Self> {
        static SHARED: std::sync::OnceLock<std::result::Result<Cluster, String>> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| Self::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Config(format!("a throwaway PostgreSQL cluster: {e}")))
    }

    fn command_line(&self, tool: &str, args: &[&str]) -> String {
        let mut line = sh_quote(&self.bin.join(tool));
        for a in args {
            line.push(' ');
            line.push_str(&format!("'{}'", a.replace('\'', r"'\''")));
        }
        match &self.user {
            Some(u) => format!("runuser -u {u} -- {line}"),
            None => line,
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(self.command_line(tool, args))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(Error::Config(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    fn start_server(&self) -> Result<()> {
        self.run("pg_ctl", &["-D", "data", "-l", "server.log", "-w", "-t", "60", "start"])
    }

    /// Stops the server (a fast shutdown: open transactions are rolled
    /// back, committed ones are kept).
    pub fn stop(&self) -> Result<()> {
        self.run("pg_ctl", &["-D", "data", "-m", "fast", "-w", "stop"])
    }

    /// Starts the server again after [`Cluster::stop`].
    pub fn restart(&self) -> Result<()> {
        self.start_server()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address of one of its databases.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database: its address.
    pub fn create_database(&self, name: &str) -> Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Config(format!("{name}: a database name is letters, digits and _")));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let made = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
                .and_then(|mut c| c.batch_execute(&format!("CREATE DATABASE {name}")));
            match made {
                Ok(()) => return Ok(self.url(name)),
                // Another CREATE DATABASE copying the template at once.
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(Error::Config(format!("CREATE DATABASE {name}: {e}"))),
            }
        }
    }

    /// A new database with a name of its own (`prefix` and a number).
    pub fn fresh_database(&self, prefix: &str) -> Result<String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let prefix: String = prefix.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        self.create_database(&format!("{}_{}", prefix.to_lowercase(), N.fetch_add(1, Ordering::Relaxed)))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the watchdog's stdin stops the server and removes the
        // folder.
        if let Some(mut w) = self.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            drop(w.stdin.take());
            let _ = w.wait();
        }
    }
}
