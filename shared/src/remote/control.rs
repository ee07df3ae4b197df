//! Which ControlMaster socket ssh would use for a host, so that `mux` and `forward` can use it
//! without starting ssh. ssh alone knows (its configuration has `Match`, `Include` and `%`
//! tokens), so we ask it once with `ssh -G` and remember the answer in the user's cache folder,
//! keyed by the whole command line, until a configuration file ssh reads changes or an hour
//! passes. A stale answer costs nothing worse than a miss: a socket that is not there (or not
//! ours) sends the command through ssh as before.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::command::config_query_line;
use super::SshHost;

/// How long an answer is trusted even when no configuration file changed (a `Match exec` can
/// depend on anything).
const FRESH_FOR: Duration = Duration::from_secs(3600);

/// How long `ssh -G` may take before we give up on it and run ssh the ordinary way.
const ASK_SSH_FOR: Duration = Duration::from_secs(5);

/// The cache file's name inside agentd's cache folder.
const CACHE_FILE: &str = "ssh-control.json";

/// At most this many command lines are remembered; the oldest go first.
const KEPT: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Answer {
    /// ssh's `controlpath`, expanded; `None` for `none`.
    control_path: Option<PathBuf>,
    /// The modification times of the files ssh read, when asked.
    stamps: Vec<(PathBuf, i64)>,
    /// When ssh was asked, in seconds since the epoch.
    at: u64,
    /// The far agentd's socket, as the far `ash` reported it, when the host URL names none.
    #[serde(default)]
    far_socket: Option<String>,
    /// Until when (seconds since the epoch) not to try forwarding the far socket again after
    /// it failed: a far sshd that refuses socket forwarding should not cost every command a
    /// try.
    #[serde(default)]
    no_forward_until: u64,
}

type Cache = BTreeMap<String, Answer>;

/// What is known of the way to a host that has a ControlPath.
#[derive(Debug, Clone)]
pub(super) struct Route {
    /// ssh's ControlPath for the host.
    pub control: PathBuf,
    /// The far agentd's socket, when learned earlier (or named in the URL).
    pub far_socket: Option<String>,
    /// Whether forwarding the far socket may be tried now.
    pub may_forward: bool,
    key: String,
}

/// What ssh would do for `host`, if it has a ControlPath; `None` also when ssh cannot be
/// asked.
pub(super) async fn route(host: &SshHost) -> Option<Route> {
    let line = config_query_line(host).ok()?;
    let key = key_of(&line);
    let file = cache_file();
    let mut cache = file.as_deref().map(read_cache).unwrap_or_default();
    let stamps = stamps(&line);
    let now = now_secs();
    if let Some(answer) = cache.get(&key) {
        if answer.stamps == stamps && now.saturating_sub(answer.at) < FRESH_FOR.as_secs() {
            return Route::of(host, key, answer, now);
        }
    }
    // An ssh command that cannot answer `-G` (a wrapper that does not pass it on, a config
    // error ssh itself would also stop at) is remembered as having no ControlPath, so it is not
    // asked again before every command.
    let control_path = ask_ssh(&line).await.flatten();
    let answer = Answer {
        control_path,
        stamps,
        at: now,
        far_socket: None,
        no_forward_until: 0,
    };
    let route = Route::of(host, key.clone(), &answer, now);
    cache.insert(key, answer);
    while cache.len() > KEPT {
        let oldest = cache
            .iter()
            .min_by_key(|(_, a)| a.at)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => cache.remove(&k),
            None => break,
        };
    }
    if let Some(file) = file {
        // A cache that cannot be written only costs the next command the same question.
        let _ = write_cache(&file, &cache);
    }
    route
}

impl Route {
    fn of(host: &SshHost, key: String, answer: &Answer, now: u64) -> Option<Route> {
        Some(Route {
            control: answer.control_path.clone()?,
            far_socket: host.socket.clone().or_else(|| answer.far_socket.clone()),
            may_forward: now >= answer.no_forward_until,
            key,
        })
    }

    /// Remembers the far agentd's socket as the far `ash` reported it.
    pub fn remember_far_socket(&self, socket: &str) {
        self.update(|a| a.far_socket = Some(socket.to_string()));
    }

    /// Stops trying to forward the far socket for `pause`, and forgets the one learned (it
    /// may be what was wrong): it is asked for again when the pause is over.
    pub fn pause_forwarding(&self, pause: Duration) {
        let until = now_secs() + pause.as_secs();
        self.update(|a| {
            a.no_forward_until = until;
            a.far_socket = None;
        });
    }

    fn update(&self, change: impl FnOnce(&mut Answer)) {
        let Some(file) = cache_file() else { return };
        let mut cache = read_cache(&file);
        if let Some(answer) = cache.get_mut(&self.key) {
            change(answer);
            // As above: a cache that cannot be written only costs a later command a question.
            let _ = write_cache(&file, &cache);
        }
    }
}

/// Runs `ssh -G ...` and reads its `controlpath`; `None` when ssh did not answer.
async fn ask_ssh(line: &[String]) -> Option<Option<PathBuf>> {
    let run = tokio::process::Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(ASK_SSH_FOR, run).await.ok()?.ok()?;
    if !out.status.success() {
        return None;
    }
    Some(parse_control_path(&String::from_utf8_lossy(&out.stdout)))
}

/// `controlpath VALUE` from `ssh -G` output; `none` (or no line) is no ControlPath.
fn parse_control_path(config: &str) -> Option<PathBuf> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("controlpath "))
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "none")
        .map(PathBuf::from)
}

fn key_of(line: &[String]) -> String {
    let mut hash = Sha256::new();
    for word in line {
        hash.update(word.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..16])
}

/// The files ssh reads its configuration from, with their modification times (0 when absent):
/// the user's and the system's files, the system's drop-in folder, and any `-F FILE`.
fn stamps(line: &[String]) -> Vec<(PathBuf, i64)> {
    let mut files: Vec<PathBuf> = vec![
        PathBuf::from("/etc/ssh/ssh_config"),
        PathBuf::from("/etc/ssh/ssh_config.d"),
    ];
    if let Some(home) = std::env::var_os("HOME") {
        files.push(Path::new(&home).join(".ssh/config"));
    }
    let mut words = line.iter();
    while let Some(word) = words.next() {
        if word == "-F" {
            files.extend(words.next().map(PathBuf::from));
        } else if let Some(file) = word.strip_prefix("-F") {
            files.push(PathBuf::from(file));
        }
    }
    files
        .into_iter()
        .map(|f| {
            let stamp = std::fs::metadata(&f)
                .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
                .unwrap_or(0);
            (f, stamp)
        })
        .collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cache_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "agentd").map(|d| d.cache_dir().join(CACHE_FILE))
}

/// The cache, if the file is ours and only we can write it (it names sockets our sessions go
/// to); anything else, or a file that does not parse, is an empty cache.
fn read_cache(file: &Path) -> Cache {
    // Not followed: a link is not the file we wrote.
    let Ok(meta) = std::fs::symlink_metadata(file) else {
        return Cache::new();
    };
    if !meta.is_file() || meta.uid() != crate::paths::current_uid() || meta.mode() & 0o022 != 0 {
        return Cache::new();
    }
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes the cache whole, through a private temporary file renamed over the old one, so a
/// reader never sees half of it.
fn write_cache(file: &Path, cache: &Cache) -> std::io::Result<()> {
    use std::io::Write;
    let dir = file.parent().ok_or(std::io::ErrorKind::InvalidInput)?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec(cache).map_err(std::io::Error::other)?)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_control_path_from_ssh_g() {
        let config = "user dev\ncontrolmaster auto\ncontrolpath /home/dev/.ssh/cm-1afc\nport 22\n";
        assert_eq!(
            parse_control_path(config),
            Some(PathBuf::from("/home/dev/.ssh/cm-1afc"))
        );
        assert_eq!(parse_control_path("controlpath none\n"), None);
        assert_eq!(parse_control_path("controlmaster false\n"), None);
    }

    #[test]
    fn a_config_file_named_with_dash_f_is_watched() {
        let line: Vec<String> = ["ssh", "-F", "/x/agents.conf", "-F/y/more.conf", "-G"]
            .map(String::from)
            .into();
        let files: Vec<PathBuf> = stamps(&line).into_iter().map(|(f, _)| f).collect();
        assert!(files.contains(&PathBuf::from("/x/agents.conf")));
        assert!(files.contains(&PathBuf::from("/y/more.conf")));
    }

    #[test]
    fn a_cache_others_can_write_is_not_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CACHE_FILE);
        let mut cache = Cache::new();
        cache.insert(
            "k".into(),
            Answer {
                control_path: Some("/tmp/cm".into()),
                stamps: Vec::new(),
                at: 1,
                far_socket: None,
                no_forward_until: 0,
            },
        );
        write_cache(&file, &cache).unwrap();
        assert_eq!(read_cache(&file), cache);
        // A link to it is not the cache: it could lead anywhere.
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_cache(&link).is_empty());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read_cache(&file).is_empty());
        // A torn or foreign file is a cache miss (ssh is asked again and the file rewritten),
        // never an error that stops the command.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&file, "{\"k\": {\"control_path\": 7").unwrap();
        assert!(read_cache(&file).is_empty());
    }
}
