//! Servers a test starts for itself from the binaries Debian installs:
//! `redis-server` alone, with TLS or as a cluster, and `postgres` with TLS.
//! Each runs in a scratch directory on ports the kernel hands out, and is
//! stopped when its handle drops. When a binary is missing the test is
//! skipped, loudly, or fails under `PORTCULLIS_REQUIRE_SERVICES=1`.

// The process helpers serve only the Redis and Postgres servers below.
#![cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(unused_imports, dead_code))]

use super::skip_or_fail;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server may take to listen.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A directory that is removed with everything in it when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh, empty directory under the system's temporary directory.
    ///
    /// # Panics
    /// When it cannot be created.
    pub fn new(purpose: &str) -> Self {
        let path = std::env::temp_dir().join(format!("portcullis-{purpose}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("a scratch directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
///
/// # Panics
/// When the kernel hands out none.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address").port()
}

/// `name` on the `PATH` or in one of `directories`.
fn find_binary(name: &str, directories: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(directories.iter().cloned()).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A child process, stopped (SIGINT, then killed) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        // SIGINT lets postgres shut down fast and cleanly; redis exits too.
        let _ = Command::new("kill").arg("-INT").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `port`.
async fn listening(port: u16) -> bool {
    let deadline = Instant::now() + START_DEADLINE;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// One `redis-server` started by a test.
#[cfg(feature = "redis")]
pub struct RedisNode {
    pub port: u16,
    _process: Process,
    _dir: ScratchDir,
}

/// Starts `redis-server` listening on `port` of 127.0.0.1 (with TLS when
/// `arguments` say `--port 0 --tls-port PORT …`), without persistence;
/// `None` after a skip when `redis-server` is not installed.
///
/// # Panics
/// When the server does not come up, or it is missing under
/// `PORTCULLIS_REQUIRE_SERVICES=1`.
#[cfg(feature = "redis")]
pub async fn start_redis(port: u16, arguments: &[String]) -> Option<RedisNode> {
    let Some(binary) = find_binary("redis-server", &[]) else {
        skip_or_fail("redis-server", "install Debian's redis-server package");
        return None;
    };
    let dir = ScratchDir::new("redis");
    let process = Command::new(binary)
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(dir.path())
        .args(arguments)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let process = Process(process);
    assert!(listening(port).await, "redis-server did not listen on {port} within {START_DEADLINE:?}");
    Some(RedisNode { port, _process: process, _dir: dir })
}

/// A Redis Cluster on 127.0.0.1 made by `redis-cli --cluster create`.
#[cfg(feature = "redis")]
pub struct RedisCluster {
    pub nodes: Vec<RedisNode>,
}

#[cfg(feature = "redis")]
impl RedisCluster {
    /// Starts `masters` primaries with `replicas` replicas each, joins them,
    /// and waits until every node reports the cluster `ok`; `None` after a
    /// skip when `redis-server` or `redis-cli` is not installed.
    ///
    /// # Panics
    /// When the cluster does not form.
    pub async fn start(masters: usize, replicas: usize) -> Option<Self> {
        let Some(cli) = find_binary("redis-cli", &[]) else {
            skip_or_fail("redis-cli", "install Debian's redis-tools package");
            return None;
        };
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let (port, bus) = (free_port(), free_port());
            let arguments: Vec<String> = [
                "--port",
                &port.to_string(),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &bus.to_string(),
                "--cluster-node-timeout",
                "2000",
            ]
            .iter()
            .map(|argument| (*argument).to_owned())
            .collect();
            nodes.push(start_redis(port, &arguments).await?);
        }
        let cluster = Self { nodes };
        let mut create = Command::new(cli);
        create.args(["--cluster", "create"]);
        create.args(cluster.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)));
        create.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let output =
            tokio::task::spawn_blocking(move || create.output()).await.expect("joins").expect("redis-cli runs");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        cluster.wait_until_ok().await;
        Some(cluster)
    }

    /// The seed-node list for `REDIS_URL`: every node.
    pub fn urls(&self) -> String {
        self.nodes.iter().map(|node| format!("redis://127.0.0.1:{}", node.port)).collect::<Vec<_>>().join(",")
    }

    /// Waits until every node says `cluster_state:ok` with every slot served.
    ///
    /// # Panics
    /// When that takes longer than the start deadline.
    pub async fn wait_until_ok(&self) {
        let deadline = Instant::now() + START_DEADLINE;
        for node in &self.nodes {
            loop {
                let info: String = node.command(redis::cmd("CLUSTER").arg("INFO")).await.unwrap_or_default();
                if info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384") {
                    break;
                }
                assert!(Instant::now() < deadline, "node {} did not see the cluster ok: {info}", node.port);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(feature = "redis")]
impl RedisNode {
    /// Runs one command on this node alone (no cluster redirection).
    ///
    /// # Errors
    /// Whatever the node answers with, or a refused connection.
    pub async fn command<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> redis::RedisResult<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.port))?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        command.query_async(&mut connection).await
    }
}

/// A `postgres` server started by a test, with TLS on and trust
/// authentication for the `postgres` user.
#[cfg(feature = "postgres")]
pub struct PostgresNode {
    pub port: u16,
    _process: Process,
    _dir: ScratchDir,
}

/// Debian's Postgres binaries: the newest `/usr/lib/postgresql/*/bin`.
#[cfg(feature = "postgres")]
fn postgres_binaries() -> Option<(PathBuf, PathBuf)> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions.reverse();
    Some((find_binary("initdb", &versions)?, find_binary("postgres", &versions)?))
}

/// The command `program` run as the `postgres` user when this process is
/// root (initdb and postgres refuse to run as root), else as itself.
#[cfg(feature = "postgres")]
fn as_postgres_user(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if !root {
        return Command::new(program);
    }
    // setpriv executes the program in its own place, so the child's id is
    // postgres's own and a signal reaches it.
    let mut command = Command::new("setpriv");
    command.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
    command
}

/// Hands `path` and everything under it to the `postgres` user when root.
#[cfg(feature = "postgres")]
fn give_to_postgres_user(path: &Path) {
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if root {
        let status = Command::new("chown").arg("-R").arg("postgres:postgres").arg(path).status();
        assert!(status.is_ok_and(|status| status.success()), "chown to postgres failed");
    }
}

/// Starts a Postgres on a free port of 127.0.0.1 that serves TLS with the
/// certificate and key at the given paths; `None` after a skip when the
/// binaries are not installed.
///
/// # Panics
/// When the server does not come up.
#[cfg(feature = "postgres")]
pub async fn start_postgres_with_tls(certificate: &Path, key: &Path) -> Option<PostgresNode> {
    let Some((initdb, postgres)) = postgres_binaries() else {
        skip_or_fail("the Postgres server binaries", "install Debian's postgresql package");
        return None;
    };
    let dir = ScratchDir::new("postgres");
    let data = dir.path().join("data");
    std::fs::copy(certificate, dir.path().join("server.crt")).expect("the certificate is copied");
    std::fs::copy(key, dir.path().join("server.key")).expect("the key is copied");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path().join("server.key"), std::fs::Permissions::from_mode(0o600))
            .expect("the key is private");
    }
    give_to_postgres_user(dir.path());
    let initialised = as_postgres_user(&initdb)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data)
        .output()
        .expect("initdb runs");
    assert!(initialised.status.success(), "initdb failed: {}", String::from_utf8_lossy(&initialised.stderr));
    let port = free_port();
    let process = as_postgres_user(&postgres)
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "ssl=on"])
        .arg("-k")
        .arg(dir.path())
        .arg("-c")
        .arg(format!("ssl_cert_file={}", dir.path().join("server.crt").display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", dir.path().join("server.key").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres starts");
    let process = Process(process);
    assert!(listening(port).await, "postgres did not listen on {port} within {START_DEADLINE:?}");
    Some(PostgresNode { port, _process: process, _dir: dir })
}
