//! Real remote-cache servers for the tests, started on 127.0.0.1 and a free
//! port, each in a temp dir of its own, killed (their whole process group)
//! on drop: Debian's nginx as a WebDAV server (Bazel's HTTP cache
//! protocol), and BuildGrid (REAPI v2, in-memory storage). `None` when the
//! server is not installed or does not start: the caller prints SKIP.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `.ci/run` installs BuildGrid (override: `TUPFS_TEST_BGD`).
const BGD: &str = "/opt/bgd-venv/bin/bgd";

/// A running server.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The URL `--remote-cache` takes.
    pub url: String,
}

impl Server {
    /// nginx with `dav_methods PUT; create_full_put_path on;` serving
    /// `data/` at `/cache`.
    pub fn nginx() -> Option<Server> {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let dir = tempfile::tempdir().ok()?;
        let port = free_port()?;
        let d = dir.path().display();
        let conf = format!(
            "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{}}\n\
             http {{\n\
               access_log {d}/access.log; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               client_max_body_size 0;\n\
               server {{ listen 127.0.0.1:{port}; root {d}/data;\n\
                 location / {{ dav_methods PUT; create_full_put_path on; }} }}\n\
             }}\n"
        );
        fs::create_dir_all(dir.path().join("data")).ok()?;
        fs::write(dir.path().join("nginx.conf"), conf).ok()?;
        let mut cmd = Command::new(nginx);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"));
        let url = format!("http://127.0.0.1:{port}/cache");
        Server::start(cmd, dir, port, url, Duration::from_secs(10))
    }

    /// BuildGrid with an in-memory CAS, ByteStream and action cache that
    /// takes updates (about 10 s to start).
    pub fn buildgrid() -> Option<Server> {
        Server::buildgrid_with(true)
    }

    /// [`Server::buildgrid`] whose action cache takes updates or not.
    pub fn buildgrid_with(allow_updates: bool) -> Option<Server> {
        let bgd = std::env::var("TUPFS_TEST_BGD").unwrap_or_else(|_| BGD.to_string());
        if !Path::new(&bgd).exists() {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let port = free_port()?;
        let conf = format!(
            "server:\n  - !channel\n    address: \"127.0.0.1:{port}\"\n    insecure-mode: true\n\
             storages:\n  - !lru-storage &store\n    size: 512MB\n\
             caches:\n  - !lru-action-cache &ac\n    storage: *store\n    max-cached-refs: 100000\n    allow-updates: {allow_updates}\n    cache-failed-actions: false\n\
             instances:\n  - name: \"\"\n    services:\n      - !action-cache\n        cache: *ac\n      - !cas\n        storage: *store\n      - !bytestream\n        storage: *store\n"
        );
        fs::write(dir.path().join("bgd.yml"), conf).ok()?;
        let mut cmd = Command::new(bgd);
        cmd.args(["server", "start"])
            .arg(dir.path().join("bgd.yml"));
        let url = format!("grpc://127.0.0.1:{port}");
        Server::start(cmd, dir, port, url, Duration::from_secs(60))
    }

    fn start(
        mut cmd: Command,
        dir: tempfile::TempDir,
        port: u16,
        url: String,
        patience: Duration,
    ) -> Option<Server> {
        let log = fs::File::create(dir.path().join("server.log")).ok()?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .current_dir(dir.path());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().ok()?;
        let mut server = Server {
            child: Some(child),
            dir,
            port,
            url,
        };
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            if server.child.as_mut()?.try_wait().ok()?.is_some() {
                eprintln!("server exited: {}", server.log());
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("server did not start: {}", server.log());
        None
    }

    /// Its data directory (nginx: what it serves).
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// nginx's access log: one line per request (`"PUT /cache/cas/<hex>
    /// HTTP/1.1" 201`).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// What it printed.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kill it (and its process group) now.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: a signal to the process group we made.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on now.
fn free_port() -> Option<u16> {
    let l = TcpListener::bind("127.0.0.1:0").ok()?;
    Some(l.local_addr().ok()?.port())
}
